"""Run a service the way operators do, `python -m services.<name>`, for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import free_port
from tests.infra import Kafka, Mongo, unique_name

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningService:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, as an orchestrator does; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)


@asynccontextmanager
async def running_service(
    name: str, *, kafka: str, mongo: str, database: str, log_dir: Path, **env: str
) -> AsyncIterator[RunningService]:
    """The service in its own process, ready (its /readyz says 200) when the block starts."""
    port = free_port()
    log = log_dir / f"{name}-{port}.log"
    environment = {
        **os.environ,
        "HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "MONGODB_URI": mongo,
        "MONGODB_DATABASE": database,
        "ENVIRONMENT": "test",
        "OUTBOX_SWEEP_INTERVAL_S": "0.5",
        # The test's own consumer group unless it names one: never the default a `make run`
        # stack on the same servers uses, whose offsets would move past what it never handled.
        "CONSUMER_GROUP": unique_name(name),
        **env,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    service = RunningService(process, f"http://127.0.0.1:{port}", log)
    try:
        await _until_ready(service)
        yield service
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def meetings_service(
    kafka: Kafka, mongo: Mongo, log_dir: Path
) -> AbstractAsyncContextManager[RunningService]:
    """The meetings service in its own process, on a database of its own."""
    return running_service(
        "meetings",
        kafka=kafka.bootstrap,
        mongo=mongo.uri,
        database=unique_name("e2e"),
        log_dir=log_dir,
    )


async def _until_ready(service: RunningService, timeout_s: float = 60) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=2) as http:
        for _ in range(int(timeout_s * 4)):
            if service.process.poll() is not None:
                break
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"service not ready; its log:\n{service.log.read_text()[-3000:]}")
