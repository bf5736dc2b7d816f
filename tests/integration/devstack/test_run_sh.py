"""`make run` started in the background stops on SIGINT as on SIGTERM, and leaves nothing running.

A non-interactive shell starts its background jobs with SIGINT ignored, and bash cannot trap a
signal ignored on entry: run.sh starts itself again with SIGINT's default action. The script
runs here as an operator's script would start it, against this session's servers under names
of its own (removed with the session's), so it neither starts nor stops a dev stack.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.infra import Kafka, Mongo, Smtp, unique_name

# Stops and starts the shared servers (or a whole stack): runs alone, after the rest.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

ROOT = Path(__file__).resolve().parents[3]
RUN_SH = ROOT / "deploy" / "local" / "run.sh"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 40.0  # run.sh gives each service 20 s before SIGKILL


def free_port_base() -> int:
    """A base whose next four ports (one per service) are free."""
    for _ in range(100):
        base = random.randrange(20_000, 40_000, 10)
        try:
            for port in range(base + 1, base + 5):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no four free ports in a row")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children_of(pid: int) -> list[int]:
    listed = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(line) for line in listed.split()]


def wait_for_line(log: Path, line: str, shell: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while line not in log.read_text():
        if shell.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"run.sh never said {line!r}; its output:\n{log.read_text()[-4000:]}"
            )
        time.sleep(0.2)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_run_sh_in_the_background_stops_everything_on(
    stop_signal: signal.Signals, kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path: Path
) -> None:
    log = tmp_path / "run.log"
    log.touch()
    names = unique_name("run")
    # Only the servers given: run.sh then starts and stops no dev stack of its own.
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PARTNERSHIP_DEVSTACK", "PARTNERSHIP_STACK")
    } | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "MONGODB_URI": mongo.uri,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "MAILPIT_API_URL": smtp.api_url,
        "HTTP_PORT_BASE": str(free_port_base()),
        "KAFKA_TOPIC_PREFIX": f"{names}.",
        "CONSUMER_GROUP": names,
        "MONGODB_DATABASE": names,
        "SEED_DIRECTORY": "false",
    }
    # As an operator's script does it: `bash deploy/local/run.sh &`, then signal its pid.
    shell = subprocess.Popen(
        ["bash", "-c", 'bash "$1" >"$2" 2>&1 </dev/null & echo $!; wait $!', "-", RUN_SH, log],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert shell.stdout is not None
    run_sh = int(shell.stdout.readline())
    try:
        wait_for_line(log, "all services ready", shell)
        started = children_of(run_sh)

        os.kill(run_sh, stop_signal)
        status = shell.wait(STOP_TIMEOUT_S)
    finally:
        if shell.poll() is None:
            os.kill(run_sh, signal.SIGKILL)
            shell.wait(10)

    assert status == 128 + stop_signal, log.read_text()[-4000:]
    assert "run: stopping the services" in log.read_text()
    assert len(started) >= 4  # the four services (and their log prefixers)
    assert [pid for pid in started if running(pid)] == []
