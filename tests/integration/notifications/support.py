"""Helpers for the notifications integration tests.

The service runs in-process under uvicorn on a free port (real HTTP, so a real browser can
open its pages), against the real Kafka, MongoDB-wire server and Mailpit. Events are
published to the real meetings topic the way the meetings service publishes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from icalendar import Calendar

from services.notifications.__main__ import Service, build
from services.notifications.settings import NotificationSettings
from shared.auth import Role, mint_token
from shared.contracts import meetings, notifications
from shared.contracts.base import Event, dead_letter_topic
from shared.envelope import Envelope
from tests.helpers import ensure_topics, free_port
from tests.infra import Kafka, Mongo, Smtp, unique_name

SECRET = "integration-test-secret-integration-test-secret"


class TestClock:
    """Wall-clock time plus an offset the test moves (for the daily digest)."""

    __test__ = False

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def settings_for(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, *, port: int | None = None, **overrides: Any
) -> NotificationSettings:
    port = port or free_port()
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka.bootstrap,
        "mongodb_uri": mongo.uri,
        "mongodb_database": unique_name("notifications").replace("-", "_"),
        "consumer_group": unique_name("notifications"),
        "smtp_host": smtp.host,
        "smtp_port": smtp.port,
        "http_port": port,
        "public_base_url": f"http://127.0.0.1:{port}",
        # Other notifications instances may read the same topic and write to the same Mailpit
        # (a developer's running stack): this test's e-mails are the ones with its domain.
        "mail_domain": f"{unique_name('mail')}.example.org",
        "jwt_secret": SECRET,
        "link_secret": SECRET,
        "retry_base_s": 0.2,
        "retry_cap_s": 1.0,
        "retry_max_attempts": 40,
        "delivery_poll_s": 0.1,
        "delivery_lease_s": 20.0,
        "delivery_attempt_timeout_s": 5.0,
        "reminder_poll_s": 0.2,
        "digest_poll_s": 3600.0,
        "outbox_sweep_interval_s": 0.2,
        "seed_directory": True,
    }
    return NotificationSettings(**(values | overrides))


@dataclass
class Running:
    """The service while it runs: its parts, an HTTP client and tokens."""

    service: Service
    settings: NotificationSettings
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.settings.base_url

    @property
    def domain(self) -> str:
        return self.settings.mail_domain

    def token(self, role: Role, *, subject: str = "tester") -> dict[str, str]:
        token = mint_token(self.settings, subject=subject, roles=[role])
        return {"Authorization": f"Bearer {token}"}

    async def deliveries(
        self, *, among: Collection[str] | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """The ledger, optionally only the deliveries of the events `among` (this test's)."""
        response = await self.http.get(
            "/deliveries", params=params | {"limit": 1000}, headers=self.token(Role.OPERATOR)
        )
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        if among is not None:
            found = [d for d in found if d["event_id"] in among]
        return found

    async def caught_up(self, *, timeout_s: float = 30.0) -> None:
        """Until the service's consumer group has committed the meetings topic's current end:
        every event published before this call was handled (its deliveries recorded)."""
        bootstrap = self.settings.kafka_bootstrap_servers
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await reader.start()
        await admin.start()
        try:
            partitions = await partitions_of(reader, meetings.TOPIC)
            ends = await reader.end_offsets(partitions)
            async with asyncio.timeout(timeout_s):
                while True:
                    committed = await admin.list_consumer_group_offsets(
                        self.settings.consumer_group, partitions=partitions
                    )
                    if all(
                        tp in committed and committed[tp].offset >= end for tp, end in ends.items()
                    ):
                        return
                    await asyncio.sleep(0.05)
        finally:
            await admin.close()
            await reader.stop()

    async def until_sent(
        self, *, among: Collection[str] | None = None, timeout_s: float = 30.0
    ) -> None:
        """Until no delivery (of the events `among`, this test's) is pending: each was sent,
        failed or cancelled. Tests running side by side publish on the same topic."""
        async with asyncio.timeout(timeout_s):
            while await self.deliveries(among=among, status="pending"):
                await asyncio.sleep(0.05)

    async def until_settled(
        self, *, expected: int, among: Collection[str], timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        """Wait until `expected` deliveries of these events exist and none is pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.deliveries(among=among)
            settled = [d for d in found if d["status"] != "pending"]
            if len(found) >= expected and len(settled) == len(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"deliveries not settled: {found}")
            await asyncio.sleep(0.2)


@asynccontextmanager
async def running(
    settings: NotificationSettings,
    *,
    clock: Callable[[], datetime] | None = None,
    fresh_group: bool = True,
) -> AsyncIterator[Running]:
    """The service under uvicorn, ready inside the block.

    A fresh consumer group first commits the meetings topic's current end, so the service
    sees what the test publishes (even before it has joined) and not what earlier tests did.
    """
    if fresh_group:
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            meetings.TOPIC,
            notifications.TOPIC,
            dead_letter_topic(settings.consumer_group),
        )
        await start_group_at_the_end(
            settings.kafka_bootstrap_servers, settings.consumer_group, meetings.TOPIC
        )
    service = build(settings, clock=clock or TestClock())
    config = uvicorn.Config(
        service.app,
        host="127.0.0.1",
        port=settings.http_port,
        lifespan="on",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=settings.base_url, timeout=30) as http:
            await _until_ready(http, task)
            yield Running(service, settings, http)
    finally:
        server.should_exit = True
        # Generous: a Kafka broker restarted by another test run slows the consumer's exit.
        done, _ = await asyncio.wait({task}, timeout=90)
        if not done:
            stacks = "\n".join(_stack(t) for t in asyncio.all_tasks() if not t.done())
            task.cancel()
            raise RuntimeError(f"the service did not stop in 90 s; its tasks:\n{stacks}")


def _stack(task: asyncio.Task[Any]) -> str:
    frames = task.get_stack(limit=8)
    where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
    return f"{task.get_name()}: {where}"


async def _until_ready(http: httpx.AsyncClient, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if task.done():
            task.result()
            raise RuntimeError("the service stopped during start-up")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError("the service did not become ready")


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic) or set()
    while not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def start_group_at_the_end(bootstrap: str, group_id: str, topic: str) -> None:
    """A new consumer group starts after what earlier tests published, not at the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        assigned = await partitions_of(consumer, topic)
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        await consumer.commit({tp: await consumer.position(tp) for tp in assigned})
    finally:
        await consumer.stop()


class Publisher:
    """Publishes events as the meetings service does: CloudEvents headers, key = meeting id.

    `published` keeps the ids of the events the tests published: the services under test
    also see what other test runs publish on the shared topic, and the tests look only at
    deliveries of their own events.
    """

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.published: set[str] = set()

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, event: Event, *, event_id: str | None = None) -> Envelope:
        envelope = Envelope(
            id=event_id or unique_name("evt"),
            source="/partnership/meetings",
            type=event.EVENT_TYPE,
            time=datetime.now(UTC),
            subject=event.subject(),
        )
        await self.publish_raw(
            event.model_dump_json().encode(), envelope.to_headers(), key=event.subject()
        )
        self.published.add(envelope.id)
        return envelope

    async def publish_raw(
        self, body: bytes, headers: dict[str, str], *, key: str, topic: str = meetings.TOPIC
    ) -> None:
        await self._producer.send_and_wait(
            topic,
            body,
            key=key.encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )


@dataclass
class TopicReader:
    """Reads a topic from its end at start-up on, keeping every record."""

    bootstrap: str
    topic: str
    records: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        partitions = consumer.partitions_for_topic(self.topic) or set()
        while not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self.topic) or set()
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for tp in assigned:
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                self.records.extend(records)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def wait_for(
        self,
        predicate: Callable[[ConsumerRecord[bytes, bytes]], bool],
        count: int,
        timeout_s: float = 30,
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """The matching records, one per event, once `count` distinct events arrived.

        Publishing is at least once: a repeat of an event (the same CloudEvents id) is left
        out; a record without an id, such as an unreadable one, counts by itself.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            found: list[ConsumerRecord[bytes, bytes]] = []
            seen: set[bytes] = set()
            for record in self.records:
                event_id = dict(record.headers).get("ce_id")
                if not predicate(record) or (event_id is not None and event_id in seen):
                    continue
                if event_id is not None:
                    seen.add(event_id)
                found.append(record)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.1)


async def summaries(
    smtp: Smtp, query: str, *, domain: str, count: int = 0, timeout_s: float = 20
) -> list[dict[str, Any]]:
    """Mailpit's summaries matching the query whose Message-ID is in `domain`, oldest first."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [m for m in await smtp.messages(query) if m["MessageID"].endswith(f"@{domain}")]
        if len(found) >= count or time.monotonic() > deadline:
            return list(reversed(found))
        await asyncio.sleep(0.1)


def _query(address: str, about: str | None) -> str:
    # Followers of a whole category also hear of other tests' meetings: `about` narrows to one.
    return f'to:{address} subject:"{about}"' if about else f"to:{address}"


async def mail_to(
    smtp: Smtp,
    address: str,
    *,
    domain: str,
    count: int = 1,
    timeout_s: float = 20,
    about: str | None = None,
) -> list[EmailMessage]:
    """The messages Mailpit holds for one address, parsed, oldest first (waits for `count`)."""
    messages = []
    for summary in await summaries(
        smtp, _query(address, about), domain=domain, count=count, timeout_s=timeout_s
    ):
        raw = (await smtp.message(summary["ID"]))["Raw"]
        parsed = email.message_from_string(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        messages.append(parsed)
    return messages


async def settled_count(
    service: Running,
    smtp: Smtp,
    address: str,
    *,
    among: Collection[str] | None,
    about: str | None = None,
) -> int:
    """How many e-mails the address has once everything published so far has had its effect.

    Positive signals, no quiet wait: the service's consumer committed the topic's end, then
    its ledger has nothing pending for the events `among` (the test's; None: any event, as
    for reminders, whose notices are the service's own); only then is the mailbox counted.
    """
    await service.caught_up()
    await service.until_sent(among=among)
    return len(await summaries(smtp, _query(address, about), domain=service.domain))


def calendar_in(message: EmailMessage) -> Calendar:
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return Calendar.from_ical(payload)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


NOTIFICATIONS_TOPIC = notifications.TOPIC


def dlq_of(group: str) -> str:
    return dead_letter_topic(group)


def subject_of(message: EmailMessage) -> str:
    # A subject folded right after "Subject:" keeps a leading space in Python's parser.
    return str(message["Subject"]).strip()
