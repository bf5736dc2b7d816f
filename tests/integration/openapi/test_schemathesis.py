"""The OpenAPI documents say what the services do: schemathesis, every check on.

Each service runs as operators run it (`python -m services.<name>`) on the real servers, and
the `st` CLI drives it over plain HTTP from its /openapi.json: examples, coverage, fuzzing
and stateful phases, once with a token holding every role and once with none. Any failure
of any check (a 5xx, an undocumented status or content type, a schema-valid request
refused, a schema-invalid one accepted, a wrong `Allow`, ...) fails the test with
schemathesis' own report.

Bounded for `make test` (a fixed seed, few examples per operation); `make fuzz` runs the
same with a fresh seed and more examples.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio

from services.meetings.settings import MeetingsSettings
from shared.auth import Role, mint_token
from tests.e2e.process import ROOT, RunningService, running_service
from tests.infra import Kafka, Mongo, Smtp, unique_name

pytestmark = pytest.mark.integration

ST = Path(sys.executable).with_name("st")
HOOKS = "tests.integration.openapi.hooks"
EXAMPLES = os.environ.get("SCHEMATHESIS_EXAMPLES", "8")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261201")
RUN_TIMEOUT_S = float(os.environ.get("SCHEMATHESIS_TIMEOUT_S", "900"))


@pytest_asyncio.fixture(scope="module")
async def services(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, RunningService]]:
    logs = tmp_path_factory.mktemp("schemathesis")
    async with AsyncExitStack() as stack:
        running = {
            "meetings": await stack.enter_async_context(
                running_service(
                    "meetings",
                    kafka=kafka.bootstrap,
                    mongo=mongo.uri,
                    database=unique_name("st-meetings"),
                    log_dir=logs,
                )
            ),
            "notifications": await stack.enter_async_context(
                running_service(
                    "notifications",
                    kafka=kafka.bootstrap,
                    mongo=mongo.uri,
                    database=unique_name("st-notifications"),
                    log_dir=logs,
                    SMTP_HOST=smtp.host,
                    SMTP_PORT=str(smtp.port),
                    SEED_DIRECTORY="true",
                )
            ),
        }
        yield running


@pytest.mark.parametrize("service", ["meetings", "notifications"])
@pytest.mark.parametrize("authorised", [True, False], ids=["every-role", "no-token"])
async def test_the_service_does_what_its_openapi_says(
    services: dict[str, RunningService], service: str, authorised: bool
) -> None:
    running = services[service]
    headers = []
    if authorised:
        token = mint_token(MeetingsSettings(), subject="schemathesis", roles=list(Role))
        headers = ["-H", f"Authorization: Bearer {token}"]

    code, report = await _schemathesis(f"{running.url}/openapi.json", *headers)

    assert code == 0, f"schemathesis found failures (seed {SEED}):\n{report[-20000:]}"


async def _schemathesis(location: str, *options: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(ST),
        "run",
        location,
        "--checks",
        "all",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--request-timeout",
        "30",
        # The year range is a pattern on a date-time: few drawn date-times fit it, by design.
        "--suppress-health-check",
        "filter_too_much",
        "--no-color",
        *options,
        cwd=ROOT,
        env=os.environ | {"SCHEMATHESIS_HOOKS": HOOKS, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        output, _ = await process.communicate()
        return -1, f"timed out after {RUN_TIMEOUT_S} s\n" + output.decode(errors="replace")
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
