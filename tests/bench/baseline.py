"""The raw loop every consumer is measured against: the least a consumer can do per event.

aiokafka consumer → one PyMongo insert keyed on event id + recipient → one aiosmtplib send
over one connection → commit after each fetched batch. No routing, templates, retries or
outbox: the servers' own cost for one e-mail per event, measured in the same run.

The e-mail it sends has the shape and size of the service's (text and HTML alternatives
and an .ics, about 6 KB), built once with only the recipient and Message-ID changed per
event: the SMTP server's cost per message depends on what it has to parse and store, so a
smaller e-mail would credit the baseline with work that is not the consumer's.
"""

from __future__ import annotations

import json
from email.message import EmailMessage
from email.policy import SMTP

import aiosmtplib
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError


async def raw_loop(
    *,
    bootstrap: str,
    topic: str,
    start_offsets: dict[int, int],
    count: int,
    mongo_uri: str,
    database: str,
    smtp_host: str,
    smtp_port: int,
) -> int:
    """Handle `count` events from `start_offsets` on; returns how many e-mails were sent."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{database}-raw",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_uri)
    ledger = mongo[database]["raw_deliveries"]
    smtp = aiosmtplib.SMTP(hostname=smtp_host, port=smtp_port)
    await consumer.start()
    await smtp.connect()
    partitions = [TopicPartition(topic, p) for p in start_offsets]
    consumer.assign(partitions)
    for tp in partitions:
        consumer.seek(tp, start_offsets[tp.partition])
    template = sample_message()
    handled = sent = 0
    try:
        while handled < count:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = dict(record.headers)
                    body = json.loads(record.value or b"{}")
                    person = body["registration"]
                    try:
                        await ledger.insert_one(
                            {"_id": f"{headers['ce_id'].decode()}:{person['email']}"}
                        )
                    except DuplicateKeyError:
                        handled += 1
                        continue
                    message = template.replace(
                        b"To: recipient@example.org", f"To: {person['email']}".encode()
                    ).replace(b"<message-id@", f"<{headers['ce_id'].decode()}@".encode())
                    await smtp.sendmail("bounces@inclusion.example.org", [person["email"]], message)
                    sent += 1
                    handled += 1
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()
        await smtp.quit()
        await mongo.close()
    return sent


def sample_message() -> bytes:
    """An e-mail of the service's shape and size, with placeholders for what changes."""
    message = EmailMessage()
    message["From"] = "Partnership on Inclusion <notifications@inclusion.example.org>"
    message["To"] = "recipient@example.org"
    message["Subject"] = "Registration confirmed: Cities Forum workshop, changing the narrative"
    message["Message-ID"] = "<message-id@bench.example.org>"
    paragraph = (
        "Your registration for the Cities Forum workshop is confirmed: Tuesday, 15 May 2031, "
        "10:00 - 15:00 (Central European Summer Time), Huis van de Wijk De Nieuwe Gaffel.\n"
    )
    message.set_content(paragraph * 8)
    message.add_alternative(
        "<html><body>"
        + "<p>"
        + paragraph
        + "</p>" * 1
        + ("<p>" + paragraph + "</p>") * 7
        + "</body></html>",
        subtype="html",
    )
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\n" + "X-PAD:" + "x" * 60 + "\r\n" * 1
    ) * 20 + "END:VCALENDAR\r\n"
    message.add_attachment(
        calendar.encode(), maintype="text", subtype="calendar", filename="invite.ics"
    )
    return message.as_bytes(policy=SMTP)
