"""Kafka through FastStream: an idempotent producer, and consumers that commit only after success.

A consumer takes the records Kafka has ready (a batch, across its partitions), decodes the
CloudEvents envelope and the event's model of each, and handles them side by side: records
of one partition and key wait for each other, in offset order, so one entity's events are
handled in the order they happened; everything else runs concurrently. A service may say
that some events of one key commute (its `lane_of`: two registrations of one meeting), and
they then run side by side too, while the key's other events still wait for them.

Only when the batch is done is the offset committed. A record that cannot be decoded, a
handler that raises `PermanentFailure`, or one that keeps failing after a few attempts goes
to the group's dead-letter topic with the reason, the original headers, topic, partition
and offset; the consumer then carries on. An unreachable database or broker is not the
message's fault: it is never dead-lettered. The partition is rewound to the first record it
stopped, and everything from there is delivered again once the dependency is back (the
handlers are idempotent, so what had already succeeded changes nothing the second time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from prometheus_client import Counter, Gauge
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from shared.contracts.base import Event, dead_letter_topic
from shared.envelope import Envelope
from shared.errors import Invalid
from shared.kafka_records import ResilientConsumer, Unreadable, tolerant_batch_parser
from shared.outbox import Outgoing
from shared.settings import ServiceSettings
from shared.topics import prefixed

log = structlog.get_logger()

E = TypeVar("E", bound=Event)
Handler = Callable[[Any, Envelope], Awaitable[None]]
# Which events of one key may run side by side: same lane, in order; None waits for all.
LaneOf = Callable[[Event], Hashable | None]

CONSUMED = Counter("events_consumed_total", "Events handled", ["group", "type", "outcome"])
DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Messages sent to a dead-letter topic", ["group"]
)
DEAD_LETTER_FAILED = Counter(
    "events_dead_letter_failed_total",
    "Messages the dead-letter topic refused even as a summary: logged and stepped over",
    ["group"],
)
LAG = Gauge(
    "consumer_lag_records",
    "Records on the partition not yet handled by the group",
    ["group", "topic", "partition"],
)
OLDEST_AGE = Gauge(
    "consumer_oldest_unhandled_age_seconds",
    "Age of the oldest record the group has not yet handled (0 when caught up)",
    ["group"],
)
STALLED = Gauge(
    "consumer_stalled_seconds",
    "How long the group has made no progress while records wait (0 when it advances)",
    ["group"],
)

# Errors that belong to the message, not to the broker: retrying can never help.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

# Failures of what the handler depends on, not of the message: redeliver, never dead-letter.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    ServerSelectionTimeoutError,
    KafkaError,
    ConnectionError,
    TimeoutError,
)

DLQ_HEADERS = (
    "dlq_reason",
    "dlq_topic",
    "dlq_partition",
    "dlq_offset",
    "dlq_group",
    "dlq_failed_at",
)

# A batch is at most this many records, and the consumer waits at most this long for one
# when nothing is ready (FastStream then sleeps as long again before the next fetch).
MAX_RECORDS = 500
BATCH_TIMEOUT_MS = 20
CONCURRENCY = 64
# A dead-letter copy carries at most this much of the original body; the original stays on
# its topic, at the partition and offset the copy names.
DEAD_LETTER_BODY_BYTES = 256 * 1024
DEAD_LETTER_HEADER_CHARS = 2000


class PermanentFailure(Exception):
    """The message can never be handled (e.g. it references data that cannot exist)."""


class PartnershipBroker(KafkaBroker):
    """FastStream's Kafka broker, whose consumers step over records they cannot read."""

    async def _connect(self) -> Callable[..., AIOKafkaConsumer]:
        builder = await super()._connect()
        options = builder.keywords if isinstance(builder, partial) else {}
        resilient = partial(ResilientConsumer, **options)
        self.config.broker_config.builder = resilient
        return resilient


def make_broker(settings: ServiceSettings, **options: Any) -> KafkaBroker:
    """A broker whose producer is idempotent with acks=all: no loss, no duplicates on retry."""
    return PartnershipBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_prefix}-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        graceful_timeout=settings.shutdown_grace_s,
        # FastStream's own logger writes past structlog (and its masking): ours propagates
        # to the root handler `configure_logging` sets up. Its access lines are debug.
        logger=logging.getLogger("faststream.broker"),
        log_level=logging.DEBUG,
        **options,
    )


class KafkaPublisher:
    """What the outbox relay publishes through: waits for the broker's acknowledgement."""

    def __init__(self, broker: KafkaBroker, *, topic_prefix: str = "") -> None:
        self._broker = broker
        self._prefix = topic_prefix

    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        # Sent without waiting one by one: the producer batches them, and keeps each
        # partition's order (idempotent producer); then every acknowledgement is awaited.
        pending = [
            await self._broker.publish(
                m.body,
                topic=prefixed(m.topic, self._prefix),
                key=m.key,
                headers=m.headers,
                no_confirm=True,
            )
            for m in messages
        ]
        if pending:
            await asyncio.gather(*pending)


@dataclass
class _Work:
    """One decoded record to handle, and what it must wait for."""

    record: ConsumerRecord[bytes, bytes]
    headers: list[tuple[str, bytes]]
    envelope: Envelope
    event: Event
    handler: Handler
    after: list[asyncio.Future[bool]] = field(default_factory=list)


@dataclass
class _KeyOrder:
    """Where a key's next event must wait: behind the last barrier, or its lane's last event."""

    barrier: asyncio.Future[bool] | None = None
    since_barrier: list[asyncio.Future[bool]] = field(default_factory=list)
    lanes: dict[Hashable, asyncio.Future[bool]] = field(default_factory=dict)


class Consumer:
    """Decodes, orders, retries and dead-letters a batch of records for one consumer group."""

    def __init__(
        self,
        broker: KafkaBroker,
        *,
        group_id: str,
        handlers: Mapping[type[Event], Handler],
        lane_of: LaneOf | None = None,
        topic_prefix: str = "",
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        unavailable_backoff_s: float = 1.0,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self._broker = broker
        self.group_id = group_id
        self._handlers = {event.EVENT_TYPE: (event, handler) for event, handler in handlers.items()}
        self._lane_of = lane_of
        self._dead_letter_topic = prefixed(dead_letter_topic(group_id), topic_prefix)
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._unavailable_backoff_s = unavailable_backoff_s
        self._slots = asyncio.Semaphore(concurrency)
        # The aiokafka consumer FastStream made for this group (for lag and stalls), once started.
        self.client: Callable[[], AIOKafkaConsumer | None] = lambda: None
        self._last_progress = time.monotonic()
        self._in_hand_since: float | None = None
        self.stalled_s = 0.0

    @property
    def dead_letter_topic(self) -> str:
        return self._dead_letter_topic

    async def watch(self, every_s: float = 5.0) -> None:
        """Keep the lag and stall gauges current; dead-letter what the client stepped over."""
        while True:
            try:
                await self.observe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer.watch_failed", error=str(exc))
            await asyncio.sleep(every_s)

    async def observe(self) -> None:
        client = self.client()
        if client is None:
            return
        await self._settle_unreadable(client)
        waiting = 0
        for tp in client.assignment():
            highwater = client.highwater(tp)
            if highwater is None:
                continue
            # Behind what is committed: records fetched but still in hand count as waiting.
            committed = await client.committed(tp)
            behind = max(highwater - (committed or 0), 0)
            LAG.labels(self.group_id, tp.topic, str(tp.partition)).set(behind)
            waiting += behind
        now = time.monotonic()
        if waiting == 0 and self._in_hand_since is None:
            self._last_progress = now
        self.stalled_s = 0.0 if waiting == 0 else now - self._last_progress
        STALLED.labels(self.group_id).set(self.stalled_s)
        since = self._in_hand_since if self._in_hand_since is not None else self._last_progress
        OLDEST_AGE.labels(self.group_id).set(0.0 if waiting == 0 else now - since)

    async def _settle_unreadable(self, client: Any) -> None:
        take = getattr(client, "take_unreadable", None)
        for unreadable in take() if take is not None else []:
            await self._dead_letter_unreadable(unreadable)

    async def __call__(self, message: KafkaMessage) -> None:
        raw = message.raw_message
        records: Sequence[ConsumerRecord[bytes, bytes]] = (
            raw if isinstance(raw, tuple | list) else (raw,)
        )
        await self._settle_unreadable(message.consumer)
        self._in_hand_since = time.monotonic()
        try:
            stopped = await self.handle(records)
        finally:
            self._in_hand_since = None
        if not stopped:
            self._last_progress = time.monotonic()
        if stopped:
            log.warning(
                "event.dependency_unavailable",
                partitions=[f"{r.topic}/{r.partition}@{r.offset}" for r in stopped],
            )
            # Not the messages' fault: pause, rewind each stopped partition to its first
            # unhandled record, and let the commit keep everything handled before it.
            await asyncio.sleep(self._unavailable_backoff_s)
            for record in stopped:
                message.consumer.seek(TopicPartition(record.topic, record.partition), record.offset)

    async def handle(
        self, records: Sequence[ConsumerRecord[bytes, bytes]]
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Handle a batch; returns, per partition, the first record stopped by an outage."""
        work: list[_Work] = []
        for record in records:
            decoded = await self._decode(record)
            if decoded is not None:
                work.append(decoded)
        self._order(work)
        outcomes = [asyncio.ensure_future(self._run(w)) for w in work]
        results = await asyncio.gather(*outcomes)
        first_stopped: dict[tuple[str, int], ConsumerRecord[bytes, bytes]] = {}
        for w, ok in zip(work, results, strict=True):
            partition = (w.record.topic, w.record.partition)
            current = first_stopped.get(partition)
            if not ok and (current is None or w.record.offset < current.offset):
                first_stopped[partition] = w.record
        return list(first_stopped.values())

    async def _decode(self, record: ConsumerRecord[bytes, bytes]) -> _Work | None:
        headers = list(record.headers or ())
        try:
            envelope = Envelope.from_headers(headers)
        except Invalid as exc:
            await self._dead_letter(record, headers, f"undecodable envelope: {exc.detail}")
            return None
        if envelope.type not in self._handlers:
            # Any producer can write any ce_type: don't let it mint metric series.
            CONSUMED.labels(self.group_id, "other", "ignored").inc()
            return None
        model, handler = self._handlers[envelope.type]
        try:
            event = model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            await self._dead_letter(record, headers, f"undecodable {envelope.type}: {reason}")
            return None
        return _Work(record, headers, envelope, event, handler)

    def _order(self, work: list[_Work]) -> None:
        """Give each record the futures it waits for: its key's order, relaxed by lanes."""
        keys: dict[tuple[str, int, bytes | None], _KeyOrder] = {}
        loop = asyncio.get_running_loop()
        for w in work:
            done: asyncio.Future[bool] = loop.create_future()
            key = keys.setdefault((w.record.topic, w.record.partition, w.record.key), _KeyOrder())
            lane = self._lane_of(w.event) if self._lane_of is not None else None
            if lane is None:
                w.after = key.since_barrier or ([key.barrier] if key.barrier else [])
                key.barrier, key.since_barrier, key.lanes = done, [], {}
            else:
                previous = key.lanes.get(lane)
                w.after = [f for f in (key.barrier, previous) if f is not None]
                key.since_barrier.append(done)
                key.lanes[lane] = done
            w.after = [*w.after, done]  # the last one is the record's own

    async def _run(self, w: _Work) -> bool:
        *before, done = w.after
        try:
            # A record whose predecessor was stopped waits for the redelivery with it.
            ok = all([await f for f in before])
            if ok:
                async with self._slots:
                    ok = await self._consume(w)
        except BaseException:
            done.set_result(False)
            raise
        done.set_result(ok)
        return ok

    async def _consume(self, w: _Work) -> bool:
        """Handle one record; False if an outage stopped it (it will come again)."""
        record, envelope = w.record, w.envelope
        structlog.contextvars.bind_contextvars(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_type=envelope.type,
            correlation_id=envelope.id,
        )
        try:
            await self._handle(w)
            return True
        except UNAVAILABLE as exc:
            log.debug("event.stopped_by_outage", error=str(exc))
            return False

    async def _handle(self, w: _Work) -> bool:
        for attempt in range(1, self._max_attempts + 1):
            try:
                await w.handler(w.event, w.envelope)
                CONSUMED.labels(self.group_id, w.envelope.type, "handled").inc()
                return True
            except UNAVAILABLE:
                raise
            except PermanentFailure as exc:
                await self._dead_letter(w.record, w.headers, f"permanent failure: {exc}")
                return False
            except Exception as exc:
                if attempt == self._max_attempts:
                    log.exception("event.handler_failed", attempts=attempt)
                    await self._dead_letter(
                        w.record,
                        w.headers,
                        f"handler failed {attempt} times: {type(exc).__name__}: {exc}",
                    )
                    return False
                log.warning("event.handler_retry", attempt=attempt, error=str(exc))
                await asyncio.sleep(self._retry_backoff_s * 2 ** (attempt - 1))
        return False

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], reason: str
    ) -> None:
        """Publish the message to the group's dead-letter topic with why and where from.

        A copy too large for the broker is sent again as a summary (the body cut, its size
        said); one that cannot be written even so is logged and counted: a message's fault
        must never hold up the partition.
        """
        original = {
            k: v.decode(errors="replace")[:DEAD_LETTER_HEADER_CHARS]
            for k, v in headers
            if k not in DLQ_HEADERS and v is not None
        }
        coordinates = {
            "dlq_reason": reason[:DEAD_LETTER_HEADER_CHARS],
            "dlq_topic": record.topic,
            "dlq_partition": str(record.partition),
            "dlq_offset": str(record.offset),
            "dlq_group": self.group_id,
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }
        body = record.value or b""
        copies = [(body, original)] if len(body) <= DEAD_LETTER_BODY_BYTES else []
        cut = body[:DEAD_LETTER_BODY_BYTES]
        envelope = {k: v for k, v in original.items() if k.startswith("ce_")}
        summary = f"other headers left out; body {len(cut)} of {len(body)} bytes"
        copies.append((cut, {**envelope, "dlq_summary": summary}))
        copies.append((b"", {"dlq_summary": f"headers and body left out ({len(body)} bytes)"}))
        for value, kept in copies:
            try:
                await self._broker.publish(
                    value,
                    topic=self._dead_letter_topic,
                    key=record.key,
                    headers={**kept, **coordinates},
                )
                break
            except MESSAGE_ERRORS as exc:
                log.warning(
                    "event.dead_letter_too_large", size=len(value), error=type(exc).__name__
                )
        else:
            DEAD_LETTER_FAILED.labels(self.group_id).inc()
            log.error(
                "event.dead_letter_refused",
                reason=reason,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            return
        CONSUMED.labels(self.group_id, "other", "dead_lettered").inc()
        DEAD_LETTERED.labels(self.group_id).inc()
        log.error(
            "event.dead_lettered",
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )

    async def _dead_letter_unreadable(self, unreadable: Unreadable) -> None:
        """A record the client could not read: its coordinates, so it can be fetched by hand."""
        await self._broker.publish(
            b"",
            topic=self._dead_letter_topic,
            headers={
                "dlq_reason": f"unreadable record (skipped): {unreadable.error}"[
                    :DEAD_LETTER_HEADER_CHARS
                ],
                "dlq_topic": unreadable.topic,
                "dlq_partition": str(unreadable.partition),
                "dlq_offset": str(unreadable.offset),
                "dlq_group": self.group_id,
                "dlq_failed_at": unreadable.at.isoformat(),
            },
        )
        DEAD_LETTERED.labels(self.group_id).inc()


async def _raw_body(message: StreamMessage[Any]) -> Any:
    return message.body


def subscribe(
    broker: KafkaBroker | KafkaRouter,
    *,
    topics: Sequence[str],
    group_id: str,
    handlers: Mapping[type[Event], Handler],
    publisher: KafkaBroker | None = None,
    lane_of: LaneOf | None = None,
    topic_prefix: str = "",
    max_records: int = MAX_RECORDS,
    batch_timeout_ms: int = BATCH_TIMEOUT_MS,
    **consumer_options: Any,
) -> Consumer:
    """Register a consumer group on the topics; handlers are keyed by event class."""
    target = publisher if publisher is not None else broker
    assert isinstance(target, KafkaBroker), "pass publisher= when subscribing on a router"
    consumer = Consumer(
        target,
        group_id=group_id,
        handlers=handlers,
        lane_of=lane_of,
        topic_prefix=topic_prefix,
        **consumer_options,
    )

    async def on_messages(message: KafkaMessage) -> None:
        await consumer(message)

    names = [prefixed(t, topic_prefix) for t in topics]
    subscriber = broker.subscriber(
        *names,
        # The bodies are decoded by the Consumer against the event's model, never by
        # FastStream, so a malformed body reaches the dead-letter topic instead of failing
        # before us.
        decoder=_raw_body,
        parser=tolerant_batch_parser,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # A new group must see what was published before it joined.
        auto_offset_reset="earliest",
        title=f"{group_id}:{','.join(names)}",
    )
    subscriber(on_messages)
    consumer.client = lambda: getattr(subscriber, "consumer", None)
    return consumer
