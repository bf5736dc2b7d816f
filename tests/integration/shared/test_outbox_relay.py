"""The outbox relay against the real Kafka and MongoDB-wire server."""

import asyncio
import json
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from shared.contracts.meetings import MeetingCancelled, MeetingInfo, MeetingKind
from shared.messaging import KafkaPublisher
from shared.outbox import Outbox, OutboxRelay, push_outbox
from tests.infra import unique_name

pytestmark = pytest.mark.integration

NOON = datetime(2018, 5, 15, 12, 0, tzinfo=UTC)


class CancellationOnOwnTopic(MeetingCancelled):
    """The real contract, sent to a topic of this test's own."""


def cancellation(meeting_id: str, reason: str) -> MeetingCancelled:
    return MeetingCancelled(
        meeting=MeetingInfo(
            meeting_id=meeting_id,
            kind=MeetingKind.PARTNERSHIP_MEETING,
            title="12th partnership meeting",
            starts_at=NOON,
            ends_at=NOON,
            timezone="Europe/Madrid",
        ),
        reason=reason,
        cancelled_at=NOON,
    )


async def read(bootstrap: str, topic: str, count: int, timeout_s: float = 60) -> list:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=unique_name("reader"),
    )
    await consumer.start()
    records: list = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for partition_records in batch.values():
                    records.extend(partition_records)
    finally:
        await consumer.stop()
    return records


@pytest.fixture
async def meetings(mongo):
    client = AsyncMongoClient(mongo.uri, tz_aware=True)
    yield client[unique_name("outbox")]["meetings"]
    await client.close()


async def save_with_events(meetings, outbox: Outbox, meeting_id: str, topic: str, *reasons: str):
    entries = outbox.stage([cancellation(meeting_id, r) for r in reasons])
    for entry in entries:
        entry["topic"] = topic
    await meetings.update_one(
        {"_id": meeting_id},
        push_outbox({"$set": {"status": "cancelled"}, "$inc": {"version": 1}}, entries),
        upsert=True,
    )
    outbox.wake()
    return entries


async def test_pending_events_reach_kafka_in_order_keyed_by_aggregate_and_leave_the_outbox(
    kafka, meetings
):
    topic = unique_name("relay")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(outbox, KafkaPublisher(broker), [meetings], poll_interval_s=0.2)
    entries = await save_with_events(meetings, outbox, "pm-12", topic, "first", "second", "third")

    published = await relay.drain()
    records = await read(kafka.bootstrap, topic, 3)
    await broker.stop()

    assert published == 3
    assert [json.loads(r.value)["reason"] for r in records] == ["first", "second", "third"]
    assert {r.key for r in records} == {b"pm-12"}
    assert [dict(r.headers)["ce_id"].decode() for r in records] == [e["id"] for e in entries]
    stored = await meetings.find_one({"_id": "pm-12"})
    assert stored["outbox"] == []
    assert stored["outbox_pending"] is False
    assert await relay.drain() == 0


async def test_an_event_written_while_kafka_is_down_arrives_once_it_is_back(kafka, meetings):
    topic = unique_name("relay-outage")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True, request_timeout_ms=5000)
    await broker.start()
    relay_task = asyncio.create_task(
        OutboxRelay(outbox, KafkaPublisher(broker), [meetings], poll_interval_s=0.2).run()
    )
    try:
        async with kafka.stopped(kill=True):
            [entry] = await save_with_events(meetings, outbox, "pm-13", topic, "venue closed")
            await asyncio.sleep(3)  # the relay tries, fails, and keeps the entry
            assert len((await meetings.find_one({"_id": "pm-13"}))["outbox"]) == 1

        [record] = await read(kafka.bootstrap, topic, 1, timeout_s=90)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await broker.stop()

    assert dict(record.headers)["ce_id"].decode() == entry["id"]
    assert json.loads(record.value)["reason"] == "venue closed"
