"""`make bench` at a small size, so the bench keeps working: every scenario runs and reports.

Figures are not asserted (machines are noisy); what the scenarios check from outside is:
every e-mail arrived, and the seat invariant held.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra import Kafka, Mongo, Smtp

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_the_bench_runs_every_scenario_and_writes_its_report(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path: Path
) -> None:
    environment = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "MONGODB_URI": mongo.uri,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "MAILPIT_API_URL": smtp.api_url,
    }

    done = subprocess.run(
        [sys.executable, "-m", "tests.bench", "--smoke", "--results", str(tmp_path)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [run] = list(tmp_path.iterdir())
    figures = json.loads((run / "results.json").read_text())
    assert (run / "latency.png").stat().st_size > 10_000
    assert figures["baseline"]["sent"] == figures["sizes"]["events"]
    for drain in (figures["drain_empty"], figures["drain_history"]):
        assert drain["arrived"] == figures["sizes"]["events"]
        assert drain["emails_per_s"] > 0
    [steady] = figures["steady"]
    assert steady["emails"] == steady["registrations"] == steady["answered_201"]
    big = figures["big_meeting"]
    assert (big["confirmed"], big["waitlisted"]) == (
        figures["sizes"]["seats"],
        figures["sizes"]["concurrent"] - figures["sizes"]["seats"],
    )
    assert big["arrival_order_kept"]
    assert "make bench" in done.stdout
