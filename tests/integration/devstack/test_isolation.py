"""Tests and `make run` share nothing: other servers, and no name a test made outlives its session.

`make test` runs against a dev stack of its own. Whatever servers a session uses, the topics,
consumer groups and databases it made (their names carry its mark) are removed when it ends,
with what crashed sessions left behind; names without a mark, like `make run`'s, never are.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from shared.topics import DOMAIN_TOPICS, dead_letters, prefixed
from tests.infra import (
    SESSION,
    STALE_AFTER_S,
    Kafka,
    Mongo,
    leftovers,
    remove_kafka_leftovers,
    remove_mongo_leftovers,
)

ROOT = Path(__file__).resolve().parents[3]
INFRA_SH = ROOT / "deploy" / "local" / "infra.sh"
TEST_SH = ROOT / "deploy" / "local" / "test.sh"
PROBE = Path(__file__).with_name("session_probe.py")

# What `make run`'s services name on the cluster and in MongoDB (the defaults, no prefix).
MAKE_RUN_NAMES = [
    *(spec.name for spec in DOMAIN_TOPICS),
    dead_letters("notifications").name,
    "notifications",  # the notifications service's consumer group
    *("meetings", "notifications", "actions", "academy"),  # one database per service
    "__consumer_offsets",
    "admin",
]

# Starts sessions of its own and sweeps names on the shared servers: runs alone.
pytestmark = [pytest.mark.integration, pytest.mark.serial]


SERVER_VARIABLES = {
    *("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "SMTP_HOST", "SMTP_PORT", "MAILPIT_API_URL"),
    *("PARTNERSHIP_DEVSTACK", "PARTNERSHIP_STACK", "CI"),
}


def a_mark(*, started_s: float) -> str:
    """A session mark as tests/infra.py makes them, for a session that started then."""
    return f"test{int(started_s):08x}{secrets.token_hex(2)}"


def marked(mark: str, what: str) -> str:
    return f"{what}-{mark}-{uuid.uuid4().hex[:12]}"


def without_servers(environment: dict[str, str]) -> dict[str, str]:
    """The environment minus every server address and stack choice, and CI (whose test.sh
    would stop the test stack at its end, under this session's feet)."""
    return {key: value for key, value in environment.items() if key not in SERVER_VARIABLES}


def stack_env(stack: str) -> dict[str, str]:
    """What `infra.sh env` tells the operator about one stack."""
    output = subprocess.run(
        ["bash", str(INFRA_SH), "env"],
        env=without_servers(dict(os.environ)) | {"PARTNERSHIP_STACK": stack},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in output.splitlines())
    return {key: value for key, value in pairs}


@asynccontextmanager
async def admin_of(kafka: Kafka) -> AsyncIterator[AIOKafkaAdminClient]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


@asynccontextmanager
async def client_of(mongo: Mongo) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
    try:
        yield client
    finally:
        await client.close()


async def make_topics(kafka: Kafka, names: list[str]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for name in names:
            await producer.send_and_wait(name, b"11th partnership meeting, Amsterdam")
    finally:
        await producer.stop()


def test_make_test_and_make_run_share_no_server() -> None:
    make_run, make_test = stack_env("dev"), stack_env("test")

    addresses = ["KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "SMTP_PORT", "MAILPIT_API_URL"]
    assert make_run["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19092"  # the README's ports
    assert make_test["PARTNERSHIP_STACK"] == "test"
    for variable in addresses:
        assert make_run[variable] != make_test[variable], variable


def test_make_test_leaves_the_dev_stack_even_when_its_addresses_are_exported() -> None:
    # A shell that ran eval "$(infra.sh env)" for make run, then make test.
    environment = without_servers(dict(os.environ)) | stack_env("dev")

    done = subprocess.run(
        ["bash", str(TEST_SH), "--collect-only", "-p", "no:cacheprovider", str(PROBE)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    test_kafka = stack_env("test")["KAFKA_BOOTSTRAP_SERVERS"]
    assert f"servers: Kafka {test_kafka} (the test stack)" in done.stdout


def test_the_clean_up_never_takes_a_name_make_run_uses() -> None:
    ours = marked(SESSION, "notifications")
    names = [*MAKE_RUN_NAMES, prefixed(MAKE_RUN_NAMES[0], "bench-3abf5917d0."), ours]

    removed = leftovers(names, now_s=time.time() + 100 * STALE_AFTER_S)

    assert removed == [ours]


@pytest.mark.integration
async def test_a_session_removes_its_topics_groups_and_databases_when_it_ends(
    kafka: Kafka, mongo: Mongo, tmp_path: Path
) -> None:
    output = tmp_path / "made.json"
    environment = without_servers(dict(os.environ)) | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "MONGODB_URI": mongo.uri,
        "SESSION_PROBE_OUTPUT": str(output),
    }

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PROBE)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    made = json.loads(output.read_text())
    assert made["session"] != SESSION
    async with admin_of(kafka) as admin:
        assert made["topic"] not in await admin.list_topics()
        assert made["group"] not in {group for group, *_ in await admin.list_consumer_groups()}
    async with client_of(mongo) as client:
        assert made["database"] not in await client.list_database_names()


@pytest.mark.integration
async def test_the_clean_up_takes_crashed_sessions_names_and_leaves_live_and_unmarked_ones(
    kafka: Kafka, mongo: Mongo
) -> None:
    ending = a_mark(started_s=time.time() - 60)
    crashed = a_mark(started_s=time.time() - STALE_AFTER_S - 60)
    running = a_mark(started_s=time.time() - 60)
    topics = {
        "ending": prefixed("partnership.meetings.v1", marked(ending, "run") + "."),
        "crashed": f"partnership.dlq.{marked(crashed, 'notifications')}",
        "running": marked(running, "relay"),
        "unmarked": f"isolation-{uuid.uuid4().hex}",
    }
    databases = {
        "ending": marked(ending, "e2e"),
        "crashed": marked(crashed, "notifications").replace("-", "_"),
        "running": marked(running, "meetings").replace("-", "_"),
        "unmarked": f"isolation_{uuid.uuid4().hex}",
    }
    await make_topics(kafka, list(topics.values()))
    async with client_of(mongo) as client:
        for database in databases.values():
            await client[database]["meetings"].insert_one({"city": "Amsterdam"})

    try:
        removed_topics = await remove_kafka_leftovers(kafka.bootstrap, session=ending)
        removed_databases = await remove_mongo_leftovers(mongo.uri, session=ending)

        async with admin_of(kafka) as admin:
            remaining_topics = set(await admin.list_topics())
        async with client_of(mongo) as client:
            remaining_databases = set(await client.list_database_names())
    finally:
        async with admin_of(kafka) as admin:
            await admin.delete_topics([topics["running"], topics["unmarked"]])
        async with client_of(mongo) as client:
            for database in (databases["running"], databases["unmarked"]):
                await client.drop_database(database)

    kept = {
        kind: (topics[kind] in remaining_topics, databases[kind] in remaining_databases)
        for kind in topics
    }
    assert kept == {
        "ending": (False, False),
        "crashed": (False, False),
        "running": (True, True),
        "unmarked": (True, True),
    }
    assert {topics["ending"], topics["crashed"]} <= set(removed_topics)
    assert {databases["ending"], databases["crashed"]} <= set(removed_databases)
    assert [name for name in removed_topics + removed_databases if SESSION in name] == []
