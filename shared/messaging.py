"""Kafka through FastStream: an idempotent producer, and consumers that commit only after success.

A consumer decodes the CloudEvents envelope and the event's model, skips events its group
already handled, calls the handler, and only then lets FastStream commit the offset
(`AckPolicy.NACK_ON_ERROR`: an exception seeks back, so the message comes again).
A message that cannot be decoded, a handler that raises `PermanentFailure`, or one that
keeps failing after a few attempts goes to the group's dead-letter topic with the reason,
the original headers, topic, partition and offset; the consumer then carries on.
An unreachable database or broker is not the message's fault: it is never dead-lettered,
the message is redelivered once the dependency is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from prometheus_client import Counter
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, ServerSelectionTimeoutError

from shared.contracts.base import Event, dead_letter_topic
from shared.envelope import Envelope
from shared.errors import Invalid
from shared.idempotency import ProcessedEvents
from shared.settings import ServiceSettings

log = structlog.get_logger()

E = TypeVar("E", bound=Event)
Handler = Callable[[Any, Envelope], Awaitable[None]]

CONSUMED = Counter("events_consumed_total", "Events handled", ["group", "type", "outcome"])
DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Messages sent to a dead-letter topic", ["group"]
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


class PermanentFailure(Exception):
    """The message can never be handled (e.g. it references data that cannot exist)."""


def make_broker(settings: ServiceSettings, **options: Any) -> KafkaBroker:
    """A broker whose producer is idempotent with acks=all: no loss, no duplicates on retry."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"{settings.kafka_client_prefix}-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        graceful_timeout=settings.shutdown_grace_s,
        log_level=logging.DEBUG,
        **options,
    )


class KafkaPublisher:
    """What the outbox relay publishes through: waits for the broker's acknowledgement."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(
        self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str]
    ) -> None:
        await self._broker.publish(body, topic=topic, key=key, headers=headers)


class Consumer:
    """Decodes, dedupes, retries and dead-letters for one consumer group."""

    def __init__(
        self,
        broker: KafkaBroker,
        *,
        group_id: str,
        handlers: Mapping[type[Event], Handler],
        processed: ProcessedEvents | None,
        max_attempts: int = 3,
        retry_backoff_s: float = 0.2,
        unavailable_backoff_s: float = 1.0,
    ) -> None:
        self._broker = broker
        self.group_id = group_id
        self._handlers = {event.EVENT_TYPE: (event, handler) for event, handler in handlers.items()}
        self._processed = processed
        self._max_attempts = max_attempts
        self._retry_backoff_s = retry_backoff_s
        self._unavailable_backoff_s = unavailable_backoff_s

    async def __call__(self, message: KafkaMessage) -> None:
        record: ConsumerRecord[bytes, bytes] = message.raw_message
        headers = list(record.headers or ())
        structlog.contextvars.bind_contextvars(
            topic=record.topic, partition=record.partition, offset=record.offset
        )
        try:
            await self._consume(record, headers)
        except UNAVAILABLE as exc:
            log.warning("event.dependency_unavailable", error=str(exc))
            # Not the message's fault: pause, then let FastStream seek back and redeliver.
            await asyncio.sleep(self._unavailable_backoff_s)
            raise
        finally:
            structlog.contextvars.unbind_contextvars(
                "topic", "partition", "offset", "event_type", "correlation_id"
            )

    async def _consume(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]]
    ) -> None:
        try:
            envelope = Envelope.from_headers(headers)
        except Invalid as exc:
            await self._dead_letter(record, headers, f"undecodable envelope: {exc.detail}")
            return
        structlog.contextvars.bind_contextvars(event_type=envelope.type, correlation_id=envelope.id)
        if envelope.type not in self._handlers:
            # Any producer can write any ce_type: don't let it mint metric series.
            CONSUMED.labels(self.group_id, "other", "ignored").inc()
            return
        model, handler = self._handlers[envelope.type]
        try:
            event = model.model_validate_json(record.value or b"")
        except ValidationError as exc:
            reason = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            await self._dead_letter(record, headers, f"undecodable {envelope.type}: {reason}")
            return
        if self._processed and await self._processed.seen(self.group_id, envelope.id):
            CONSUMED.labels(self.group_id, envelope.type, "duplicate").inc()
            log.info("event.duplicate_skipped")
            return
        if not await self._handle(handler, event, envelope, record, headers):
            return
        if self._processed:
            await self._processed.mark(self.group_id, envelope.id)
        CONSUMED.labels(self.group_id, envelope.type, "handled").inc()

    async def _handle(
        self,
        handler: Handler,
        event: Event,
        envelope: Envelope,
        record: ConsumerRecord[bytes, bytes],
        headers: list[tuple[str, bytes]],
    ) -> bool:
        for attempt in range(1, self._max_attempts + 1):
            try:
                await handler(event, envelope)
                return True
            except UNAVAILABLE:
                raise
            except PermanentFailure as exc:
                await self._dead_letter(record, headers, f"permanent failure: {exc}")
                return False
            except Exception as exc:
                if attempt == self._max_attempts:
                    log.exception("event.handler_failed", attempts=attempt)
                    await self._dead_letter(
                        record,
                        headers,
                        f"handler failed {attempt} times: {type(exc).__name__}: {exc}",
                    )
                    return False
                log.warning("event.handler_retry", attempt=attempt, error=str(exc))
                await asyncio.sleep(self._retry_backoff_s * 2 ** (attempt - 1))
        return False

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], headers: list[tuple[str, bytes]], reason: str
    ) -> None:
        original = {
            k: v.decode(errors="replace")
            for k, v in headers
            if k not in DLQ_HEADERS and v is not None
        }
        await self._broker.publish(
            record.value or b"",
            topic=dead_letter_topic(self.group_id),
            key=record.key,
            headers={
                **original,
                "dlq_reason": reason[:2000],
                "dlq_topic": record.topic,
                "dlq_partition": str(record.partition),
                "dlq_offset": str(record.offset),
                "dlq_group": self.group_id,
                "dlq_failed_at": datetime.now(UTC).isoformat(),
            },
        )
        DEAD_LETTERED.labels(self.group_id).inc()
        log.error("event.dead_lettered", reason=reason)


async def _raw_body(message: StreamMessage[Any]) -> bytes:
    return message.body


def subscribe(
    broker: KafkaBroker | KafkaRouter,
    *,
    topics: Sequence[str],
    group_id: str,
    handlers: Mapping[type[Event], Handler],
    processed: ProcessedEvents | None,
    publisher: KafkaBroker | None = None,
    **consumer_options: Any,
) -> Consumer:
    """Register a consumer group on the topics; handlers are keyed by event class."""
    target = publisher if publisher is not None else broker
    assert isinstance(target, KafkaBroker), "pass publisher= when subscribing on a router"
    consumer = Consumer(
        target, group_id=group_id, handlers=handlers, processed=processed, **consumer_options
    )

    async def on_message(message: KafkaMessage) -> None:
        await consumer(message)

    broker.subscriber(
        *topics,
        # The body is decoded by the Consumer against the event's model, never by FastStream,
        # so a malformed body reaches the dead-letter topic instead of failing before us.
        decoder=_raw_body,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        # A new group must see what was published before it joined.
        auto_offset_reset="earliest",
        title=f"{group_id}:{','.join(topics)}",
    )(on_message)
    return consumer
