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


class FakeProcessed:
    def __init__(self) -> None:
        self.done: set[tuple[str, str]] = set()

    async def seen(self, consumer: str, event_id: str) -> bool:
        return (consumer, event_id) in self.done

    async def mark(self, consumer: str, event_id: str) -> bool:
        new = (consumer, event_id) not in self.done
        self.done.add((consumer, event_id))
        return new


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


async def test_a_redelivered_event_reaches_the_handler_once() -> None:
    broker, seen = KafkaBroker(), []

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        seen.append(meta.id)

    subscribe(
        broker,
        topics=["partnership.meetings.v1"],
        group_id="g",
        handlers={MeetingCancelled: on_meeting_cancelled},
        processed=FakeProcessed(),  # type: ignore[arg-type]
    )
    [entry] = Outbox(source="/partnership/meetings").stage([cancelled()])

    async with TestKafkaBroker(broker) as test_broker:
        await publish_entry(test_broker, entry)
        await publish_entry(test_broker, entry)

    assert seen == [entry["id"]]


async def test_undecodable_and_permanently_failing_messages_go_to_the_dead_letter_topic() -> None:
    broker, dead = KafkaBroker(), []

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        raise PermanentFailure("meeting unknown here")

    subscribe(
        broker,
        topics=["partnership.meetings.v1"],
        group_id="g",
        handlers={MeetingCancelled: on_meeting_cancelled},
        processed=None,
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
