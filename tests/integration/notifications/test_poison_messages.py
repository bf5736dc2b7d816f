"""No single Kafka record may stop a partition: each hostile record below is followed, on the
same partition, by a valid event whose e-mail must still arrive, and no log line may carry
an e-mail address in clear."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.producer import message_accumulator
from aiokafka.producer import producer as producer_module
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from shared.contracts import meetings
from shared.contracts.base import dead_letter_topic
from shared.envelope import Envelope
from shared.kafka_records import UNREADABLE
from shared.logging import configure_logging
from tests.helpers import headers_of
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.notifications.events import Meeting, person
from tests.integration.notifications.support import (
    Running,
    TopicReader,
    mail_to,
    running,
    settings_for,
)

pytestmark = pytest.mark.integration

ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# Just under the broker's default limit for one record (message.max.bytes, 1 MiB + 12 B):
# the record fits, a copy of it with the dead-letter headers added does not.
NEARLY_ONE_MIB = 1_048_250


class NotUtf8(str):
    """A header key whose bytes are not UTF-8, as a client other than ours could write."""

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe-key"


class Hostile:
    """Writes records by hand to the service's meetings topic, the way no well-behaved
    producer would; `valid` writes a real event after them, on the same key."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def record(self, key: str, body: bytes, headers: list[tuple[str, bytes | None]]) -> None:
        await self._producer.send_and_wait(self.topic, body, key=key.encode(), headers=headers)

    async def valid(self, event: meetings.MeetingEvent, **extra: bytes | None) -> str:
        envelope = Envelope(
            id=unique_name("evt"),
            source="/partnership/meetings",
            type=event.EVENT_TYPE,
            time=datetime.now(UTC),
            subject=event.subject(),
        )
        headers: list[tuple[str, bytes | None]] = [
            (k, v.encode()) for k, v in envelope.to_headers().items()
        ]
        headers += list(extra.items())
        await self.record(event.subject(), event.model_dump_json().encode(), headers)
        return envelope.id


def cloudevent_headers(event_type: str, **changes: bytes) -> list[tuple[str, bytes | None]]:
    headers = {
        "ce_id": unique_name("evt").encode(),
        "ce_source": b"/partnership/meetings",
        "ce_type": event_type.encode(),
        "ce_specversion": b"1.0",
        "ce_time": b"2030-05-01T09:00:00Z",
        "content-type": b"application/json",
    } | changes
    return list(headers.items())


@pytest_asyncio.fixture
async def service(
    kafka: Kafka, mongo: Mongo, smtp: Smtp
) -> AsyncIterator[tuple[Running, Hostile, TopicReader]]:
    prefix = f"{unique_name('poison')}."
    settings = settings_for(kafka, mongo, smtp, kafka_topic_prefix=prefix)
    hostile = Hostile(kafka.bootstrap, f"{prefix}{meetings.TOPIC}")
    dead_letters = TopicReader(
        kafka.bootstrap, f"{prefix}{dead_letter_topic(settings.consumer_group)}"
    )
    async with running(settings, fresh_group=False) as running_service:
        await hostile.start()
        await dead_letters.start()
        try:
            yield running_service, hostile, dead_letters
        finally:
            await dead_letters.stop()
            await hostile.stop()


async def arrives(smtp: Smtp, service: Running, address: str) -> None:
    """The address's e-mail arrives within a bounded time."""
    assert await mail_to(smtp, address, domain=service.domain, timeout_s=30), address


async def test_a_message_whose_dead_letter_copy_is_too_large_is_summarised_and_the_rest_flows(
    service: tuple[Running, Hostile, TopicReader], smtp: Smtp
) -> None:
    running_service, hostile, dead_letters = service
    meeting, registrant = Meeting(), person()
    confirmed = meeting.confirmed(registrant)

    await hostile.record(
        meeting.id, b"{" + b" " * NEARLY_ONE_MIB + b"}", cloudevent_headers(confirmed.EVENT_TYPE)
    )
    await hostile.valid(confirmed)

    await arrives(smtp, running_service, str(registrant.email))
    (dead,) = await dead_letters.wait_for(lambda r: True, 1)
    headers = headers_of(dead)
    assert headers["dlq_topic"] == hostile.topic
    assert "undecodable" in headers["dlq_reason"]
    assert f"of {NEARLY_ONE_MIB + 2} bytes" in headers["dlq_summary"]
    assert len(dead.value or b"") < NEARLY_ONE_MIB


async def test_a_record_the_kafka_client_cannot_read_is_stepped_over_and_its_place_dead_lettered(
    service: tuple[Running, Hostile, TopicReader],
    smtp: Smtp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running_service, hostile, dead_letters = service
    meeting, registrant = Meeting(), person()
    before = UNREADABLE.labels(running_service.settings.consumer_group)._value.get()
    # The pure-Python record builder writes a header key's bytes as the key hands them over.
    for module in (message_accumulator, producer_module):
        monkeypatch.setattr(module, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy)
    await hostile.stop()
    hostile = Hostile(running_service.settings.kafka_bootstrap_servers, hostile.topic)
    await hostile.start()
    try:
        await hostile.record(meeting.id, b"{}", [(NotUtf8("x"), b"value")])
        await hostile.valid(meeting.confirmed(registrant))

        await arrives(smtp, running_service, str(registrant.email))
        (dead,) = await dead_letters.wait_for(lambda r: True, 1)
    finally:
        await hostile.stop()

    assert "unreadable record" in headers_of(dead)["dlq_reason"]
    assert headers_of(dead)["dlq_topic"] == hostile.topic
    assert UNREADABLE.labels(running_service.settings.consumer_group)._value.get() == before + 1


async def test_a_null_or_non_utf8_value_in_a_header_that_is_not_an_attribute_is_tolerated(
    service: tuple[Running, Hostile, TopicReader], smtp: Smtp
) -> None:
    running_service, hostile, _ = service
    meeting, first, second = Meeting(), person(), person()

    await hostile.valid(meeting.confirmed(first), traceparent=None)
    await hostile.valid(meeting.confirmed(second), x_origin=b"\xffnot text")

    await arrives(smtp, running_service, str(first.email))
    await arrives(smtp, running_service, str(second.email))


async def test_a_cloudevents_attribute_that_is_not_utf8_is_dead_lettered_and_the_rest_flows(
    service: tuple[Running, Hostile, TopicReader], smtp: Smtp
) -> None:
    running_service, hostile, dead_letters = service
    meeting, registrant = Meeting(), person()
    confirmed = meeting.confirmed(registrant)

    await hostile.record(
        meeting.id,
        confirmed.model_dump_json().encode(),
        cloudevent_headers(confirmed.EVENT_TYPE, ce_source=b"\xff/partnership"),
    )
    await hostile.valid(meeting.confirmed(person()))
    await hostile.valid(confirmed)

    await arrives(smtp, running_service, str(registrant.email))
    (dead,) = await dead_letters.wait_for(lambda r: True, 1)
    assert "ce_source is not UTF-8" in headers_of(dead)["dlq_reason"]


async def test_no_log_line_carries_an_address_whatever_the_messages_hold(
    service: tuple[Running, Hostile, TopicReader],
    smtp: Smtp,
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("notifications", json=True, level="DEBUG")
    running_service, hostile, dead_letters = service
    meeting, registrant = Meeting(), person()
    confirmed = meeting.confirmed(registrant)

    await hostile.record(
        meeting.id,
        b'{"registration": {"email": "leak@example.org"}}',
        cloudevent_headers(confirmed.EVENT_TYPE, ce_subject=b"\xffleak@example.org"),
    )
    await hostile.record(meeting.id, b"leak@example.org", cloudevent_headers(confirmed.EVENT_TYPE))
    await hostile.valid(confirmed, traceparent=b"\xffleak@example.org")
    await arrives(smtp, running_service, str(registrant.email))
    await dead_letters.wait_for(lambda r: True, 2)

    logged = capfd.readouterr()
    assert ADDRESS.findall(logged.out + logged.err) == []
