"""The fixtures hand out working servers, and fault injection leaves them working again."""

from __future__ import annotations

from email.message import EmailMessage

import aiosmtplib
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.infra import ChaosTrigger, Kafka, Smtp, unique_name

# Stops and starts the shared servers (or a whole stack): runs alone, after the rest.
pytestmark = [pytest.mark.integration, pytest.mark.serial]


async def _round_trip(bootstrap: str, topic: str, value: bytes) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"meeting-11")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=unique_name("group"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        await consumer.commit()
        return record.value or b""
    finally:
        await consumer.stop()


async def test_kafka_carries_a_message_before_and_after_a_restart(kafka: Kafka) -> None:
    before = await _round_trip(kafka.bootstrap, unique_name("topic"), b"before")

    await kafka.stop()
    await kafka.start()

    after = await _round_trip(kafka.bootstrap, unique_name("topic"), b"after")
    assert (before, after) == (b"before", b"after")


def _mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "secretariat@example.org"
    message["To"] = to
    message["Subject"] = "11th partnership meeting, Amsterdam"
    message["Message-ID"] = f"<{unique_name('mail')}@partnership.example.org>"
    message.set_content("See you on 15 May 2018.")
    return message


async def test_mailpit_shows_a_sent_message_with_headers_and_raw_source(smtp: Smtp) -> None:
    to = f"{unique_name('member')}@example.org"
    sent = _mail(to)

    await aiosmtplib.send(sent, hostname=smtp.host, port=smtp.port)

    [summary] = await smtp.wait_for_messages(1, query=f"to:{to}")
    message = await smtp.message(summary["ID"])
    assert message["Subject"] == "11th partnership meeting, Amsterdam"
    assert message["Headers"]["Message-Id"] == [sent["Message-ID"]]
    assert "See you on 15 May 2018." in message["Raw"]


async def test_mailpit_chaos_refuses_recipients_until_cleared(smtp: Smtp) -> None:
    to = f"{unique_name('member')}@example.org"

    await smtp.chaos(recipient=ChaosTrigger(error_code=451, probability=100))
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(_mail(to), hostname=smtp.host, port=smtp.port)
    finally:
        await smtp.chaos()
    await aiosmtplib.send(_mail(to), hostname=smtp.host, port=smtp.port)

    assert refused.value.recipients[0].code == 451
    assert len(await smtp.wait_for_messages(1, query=f"to:{to}")) == 1
