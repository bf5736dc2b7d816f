"""Wiring only, in memory: the real broker's behaviour is in tests/integration/shared."""

from datetime import UTC, datetime

from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from shared.contracts.base import dead_letter_topic
from shared.contracts.meetings import MeetingCancelled, MeetingInfo, MeetingKind
from shared.envelope import Envelope
from shared.messaging import PermanentFailure, subscribe
from shared.outbox import Outbox

NOON = datetime(2018, 5, 15, 12, 0, tzinfo=UTC)


def cancelled() -> MeetingCancelled:
    return MeetingCancelled(
        meeting=MeetingInfo(
            meeting_id="pm-11",
            kind=MeetingKind.PARTNERSHIP_MEETING,
            title="11th partnership meeting",
            starts_at=NOON,
            ends_at=NOON,
            timezone="Europe/Amsterdam",
        ),
        reason="venue closed",
        cancelled_at=NOON,
    )


async def publish_entry(broker: KafkaBroker, entry: dict) -> None:
    await broker.publish(
        entry["body"].encode(),
        topic=entry["topic"],
        key=entry["key"].encode(),
        headers=entry["headers"],
    )


async def test_a_redelivered_event_reaches_the_handler_again_whose_effect_is_keyed_by_it() -> None:
    # At least once: the consumer keeps no ledger; effects carry ids derived from the event.
    broker, calls, effects = KafkaBroker(), [], {}

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        calls.append(meta.id)
        effects.setdefault(f"{meta.id}/secretariat", event.reason)

    subscribe(
        broker,
        topics=["partnership.meetings.v1"],
        group_id="g",
        handlers={MeetingCancelled: on_meeting_cancelled},
    )
    [entry] = Outbox(source="/partnership/meetings").stage([cancelled()])

    async with TestKafkaBroker(broker) as test_broker:
        await publish_entry(test_broker, entry)
        await publish_entry(test_broker, entry)

    assert calls == [entry["id"], entry["id"]]
    assert effects == {f"{entry['id']}/secretariat": "venue closed"}


async def test_undecodable_and_permanently_failing_messages_go_to_the_dead_letter_topic() -> None:
    broker, dead = KafkaBroker(), []

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        raise PermanentFailure("meeting unknown here")

    subscribe(
        broker,
        topics=["partnership.meetings.v1"],
        group_id="g",
        handlers={MeetingCancelled: on_meeting_cancelled},
    )

    async def raw(message: StreamMessage) -> bytes:
        return message.body

    @broker.subscriber(dead_letter_topic("g"), decoder=raw)
    async def collect(body: bytes, message: KafkaMessage) -> None:
        dead.append(message.headers)

    [entry] = Outbox(source="/partnership/meetings").stage([cancelled()])
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b"not json", topic="partnership.meetings.v1", headers=entry["headers"]
        )
        await publish_entry(test_broker, entry)

    reasons = [headers["dlq_reason"] for headers in dead]
    assert reasons[0].startswith("undecodable eu.urbanagenda.inclusion.meeting.cancelled.v1")
    assert reasons[1] == "permanent failure: meeting unknown here"
    assert dead[1]["ce_id"] == entry["id"]
    assert dead[1]["dlq_topic"] == "partnership.meetings.v1"
