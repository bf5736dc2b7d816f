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
from shared.outbox import PUBLISH_FAILURES, Outbox, OutboxRelay, push_outbox
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
    outbox.written(meetings.name, meeting_id)
    return entries


async def test_pending_events_reach_kafka_in_order_keyed_by_aggregate_and_leave_the_outbox(
    kafka, meetings
):
    topic = unique_name("relay")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(outbox, KafkaPublisher(broker), [meetings], sweep_interval_s=0.2)
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


@pytest.mark.serial  # stops the shared Kafka
async def test_an_event_written_while_kafka_is_down_arrives_once_it_is_back(kafka, meetings):
    topic = unique_name("relay-outage")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True, request_timeout_ms=5000)
    await broker.start()
    relay_task = asyncio.create_task(
        OutboxRelay(outbox, KafkaPublisher(broker), [meetings], sweep_interval_s=0.2).run()
    )
    try:
        async with kafka.stopped(kill=True):
            failures_before = PUBLISH_FAILURES._value.get()
            [entry] = await save_with_events(meetings, outbox, "pm-13", topic, "venue closed")
            # The relay tries, fails, and keeps the entry.
            async with asyncio.timeout(60):
                while PUBLISH_FAILURES._value.get() == failures_before:
                    await asyncio.sleep(0.1)
            assert len((await meetings.find_one({"_id": "pm-13"}))["outbox"]) == 1

        [record] = await read(kafka.bootstrap, topic, 1, timeout_s=90)
    finally:
        relay_task.cancel()
        await asyncio.gather(relay_task, return_exceptions=True)
        await broker.stop()

    assert dict(record.headers)["ce_id"].decode() == entry["id"]
    assert json.loads(record.value)["reason"] == "venue closed"


async def test_an_event_nobody_announced_is_found_by_the_sweep(kafka, meetings):
    topic = unique_name("relay-sweep")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    # Written by a process that died before it could tell its relay.
    [entry] = Outbox(source="/partnership/meetings").stage([cancellation("pm-14", "strike")])
    entry["topic"] = topic
    await meetings.update_one(
        {"_id": "pm-14"}, push_outbox({"$set": {"status": "cancelled"}}, [entry]), upsert=True
    )

    relay = OutboxRelay(outbox, KafkaPublisher(broker), [meetings])
    # Written a moment ago, it is left to its writer's announcement...
    left = await relay.sweep()
    # ...unless the relay is starting, when no writer of this process can be left.
    published = await relay.sweep(everything=True)
    [record] = await read(kafka.bootstrap, topic, 1)
    await broker.stop()

    assert (left, published) == (0, 1)
    assert dict(record.headers)["ce_id"].decode() == entry["id"]


async def test_entries_handed_over_with_their_write_are_published_from_memory(kafka, meetings):
    topic = unique_name("relay-handed")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(outbox, KafkaPublisher(broker), [meetings])
    [entry] = outbox.stage([cancellation("pm-15", "no quorum")])
    entry["topic"] = topic
    update, handed = outbox.hand_over({"$set": {"status": "cancelled"}}, [entry])
    await meetings.update_one({"_id": "pm-15"}, update, upsert=True)
    outbox.handed(meetings.name, "pm-15", handed)

    published = await relay.publish(outbox.take(10))
    [record] = await read(kafka.bootstrap, topic, 1)
    await broker.stop()

    stored = await meetings.find_one({"_id": "pm-15"})
    assert published == 1
    assert dict(record.headers)["ce_id"].decode() == entry["id"]
    assert (stored["outbox"], stored["outbox_pending"], stored["outbox_lease_owner"]) == (
        [],
        False,
        None,
    )


async def test_entries_added_while_the_relay_publishes_are_kept_for_the_next_round(kafka, meetings):
    topic = unique_name("relay-race")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    publisher = KafkaPublisher(broker)

    class WriteWhilePublishing:
        async def publish_many(self, messages):
            await publisher.publish_many(messages)
            if not written:
                written.extend(await save_with_events(meetings, outbox, "pm-16", topic, "second"))

    written: list = []
    relay = OutboxRelay(outbox, WriteWhilePublishing(), [meetings])
    await save_with_events(meetings, outbox, "pm-16", topic, "first")

    await relay.publish(outbox.take(10))
    await relay.publish(outbox.take(10))
    records = await read(kafka.bootstrap, topic, 2)
    await broker.stop()

    assert [json.loads(r.value)["reason"] for r in records] == ["first", "second"]
    stored = await meetings.find_one({"_id": "pm-16"})
    assert stored["outbox"] == []
    assert stored["outbox_pending"] is False


async def test_entries_of_two_documents_with_one_key_leave_in_the_order_they_were_written(
    kafka, meetings, mongo
):
    # A meeting gathers entries before the relay runs; a registration of it (another
    # collection, the same key) is written between two of them.
    topic = unique_name("relay-interleaved")
    client = AsyncMongoClient(mongo.uri, tz_aware=True)
    registrations = client[meetings.database.name]["registrations"]
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(outbox, KafkaPublisher(broker), [meetings, registrations])
    await save_with_events(meetings, outbox, "pm-17", topic, "scheduled")
    [registered] = outbox.stage([cancellation("pm-17", "registered")])
    registered["topic"] = topic
    await registrations.update_one(
        {"_id": "r-1"}, push_outbox({"$set": {"meeting_id": "pm-17"}}, [registered]), upsert=True
    )
    outbox.written(registrations.name, "r-1")
    await save_with_events(meetings, outbox, "pm-17", topic, "held")

    published = await relay.publish(outbox.take(10))
    records = await read(kafka.bootstrap, topic, 3)
    await broker.stop()
    await client.close()

    assert published == 3
    assert [json.loads(r.value)["reason"] for r in records] == ["scheduled", "registered", "held"]
    assert {r.key for r in records} == {b"pm-17"}


async def test_a_write_racing_the_removal_of_published_entries_does_not_hold_the_document(
    kafka, meetings
):
    # Entries are added while the relay publishes, and once more while it removes what it
    # published: the relay must still let go of the document and publish the rest at once,
    # not after its lease runs out.
    topic = unique_name("relay-removal-race")
    outbox = Outbox(source="/partnership/meetings")
    broker = KafkaBroker(kafka.bootstrap, enable_idempotence=True)
    await broker.start()
    publisher = KafkaPublisher(broker)
    racing: list = []

    class WriteWhilePublishing:
        async def publish_many(self, messages):
            await publisher.publish_many(messages)
            if not racing:
                racing.append(await save_with_events(meetings, outbox, "pm-18", topic, "second"))

    class WriteWhileRemoving:
        """The collection, with one more write just before the relay's first removal."""

        def __getattr__(self, name):
            return getattr(meetings, name)

        async def update_one(self, query, update, *args, **kwargs):
            if "$pull" in update and len(racing) == 1:
                racing.append(await save_with_events(meetings, outbox, "pm-18", topic, "third"))
            return await meetings.update_one(query, update, *args, **kwargs)

    relay = OutboxRelay(outbox, WriteWhilePublishing(), [WriteWhileRemoving()])
    await save_with_events(meetings, outbox, "pm-18", topic, "first")

    rounds = [await relay.publish(outbox.take(10)) for _ in range(3)]
    records = await read(kafka.bootstrap, topic, 3)
    await broker.stop()

    assert rounds[0] == 1
    assert sum(rounds) == 3
    assert [json.loads(r.value)["reason"] for r in records] == ["first", "second", "third"]
    stored = await meetings.find_one({"_id": "pm-18"})
    assert (stored["outbox"], stored["outbox_pending"], stored["outbox_lease_owner"]) == (
        [],
        False,
        None,
    )
