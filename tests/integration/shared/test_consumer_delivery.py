"""At-least-once consumption with one effect, and dead-lettering, against the real broker."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from shared.contracts.base import dead_letter_topic
from shared.messaging import subscribe
from shared.outbox import Outbox
from tests.helpers import eventually
from tests.infra import unique_name
from tests.integration.shared.test_outbox_relay import cancellation

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def start_consumer(kafka, mongo, database: str, topic: str, group: str, *, hang: bool):
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "MONGODB_URI": mongo.uri,
        "TEST_DATABASE": database,
        "TEST_TOPIC": topic,
        "TEST_GROUP": group,
        "HANG_ON_FIRST_ATTEMPT": "1" if hang else "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.shared.consumer_process"], cwd=ROOT, env=env
    )


async def publish(bootstrap: str, topic: str, entry: dict) -> None:
    broker = KafkaBroker(bootstrap)
    await broker.start()
    await broker.publish(
        entry["body"].encode(), topic=topic, key=entry["key"].encode(), headers=entry["headers"]
    )
    await broker.stop()


async def test_a_consumer_killed_mid_handler_gets_the_event_again_and_its_effect_happens_once(
    kafka, mongo
):
    database, topic, group = unique_name("killed"), unique_name("meetings"), unique_name("group")
    client = AsyncMongoClient(mongo.uri)
    db = client[database]
    [entry] = Outbox(source="/partnership/meetings").stage([cancellation("pm-11", "venue closed")])
    await publish(kafka.bootstrap, topic, entry)

    first = start_consumer(kafka, mongo, database, topic, group, hang=True)
    try:
        await eventually(lambda: db.attempts.count_documents({}))
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert await db.effects.find_one({"_id": "pm-11", "cancellations": 1}) is None

        second = start_consumer(kafka, mongo, database, topic, group, hang=False)
        try:
            effect = await eventually(
                lambda: db.effects.find_one({"_id": "pm-11", "cancellations": {"$gte": 1}}),
                timeout_s=90,
            )
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        finally:
            second.kill()

        # A third start must find the offset committed: nothing is delivered again.
        third = start_consumer(kafka, mongo, database, topic, group, hang=False)
        try:
            await eventually(lambda: _count(db.ready, 3))
            await asyncio.sleep(3)
        finally:
            third.send_signal(signal.SIGTERM)
            third.wait(30)
    finally:
        first.kill()

    attempts = await db.attempts.count_documents({"event_id": entry["id"]})
    final = await db.effects.find_one({"_id": "pm-11"})
    await client.close()
    assert attempts == 2
    assert effect["applied"] == [entry["id"]]
    assert final["cancellations"] == 1


async def _count(collection, at_least: int) -> bool:
    return await collection.count_documents({}) >= at_least


async def test_an_undecodable_message_is_dead_lettered_and_the_consumer_carries_on(kafka):
    topic, group = unique_name("meetings"), unique_name("group")
    handled: list[str] = []
    broker = KafkaBroker(kafka.bootstrap)

    async def on_meeting_cancelled(event, meta) -> None:
        handled.append(event.reason)

    from shared.contracts.meetings import MeetingCancelled

    subscribe(
        broker,
        topics=[topic],
        group_id=group,
        handlers={MeetingCancelled: on_meeting_cancelled},
    )
    [good] = Outbox(source="/partnership/meetings").stage([cancellation("pm-12", "strike")])
    await broker.start()
    try:
        await broker.publish(
            b'{"meeting": 42}',
            topic=topic,
            key=b"pm-12",
            headers=good["headers"] | {"ce_id": "bad-1"},
        )
        await broker.publish(
            good["body"].encode(), topic=topic, key=b"pm-12", headers=good["headers"]
        )
        await eventually(lambda: _is(handled, ["strike"]), timeout_s=60)

        reader = AIOKafkaConsumer(
            dead_letter_topic(group),
            bootstrap_servers=kafka.bootstrap,
            auto_offset_reset="earliest",
            group_id=unique_name("dlq-reader"),
        )
        await reader.start()
        try:
            record = await asyncio.wait_for(reader.getone(), 60)
        finally:
            await reader.stop()
    finally:
        await broker.stop()

    headers = {k: v.decode() for k, v in record.headers}
    assert record.value == b'{"meeting": 42}'
    assert headers["ce_id"] == "bad-1"
    assert headers["dlq_topic"] == topic
    assert headers["dlq_offset"] == "0"
    assert headers["dlq_group"] == group
    assert headers["dlq_reason"].startswith(
        "undecodable eu.urbanagenda.inclusion.meeting.cancelled.v1: meeting"
    )


async def _is(value, expected) -> bool:
    return value == expected
