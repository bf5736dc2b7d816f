"""Records the Kafka client cannot read, and headers FastStream would refuse: neither may stop
a partition.

- `ResilientConsumer`: aiokafka raises while *reading* a record whose header key is not
  UTF-8 (or whose batch is corrupt), before any handler sees it, and the next fetch finds
  the same record again: the partition would be stuck for ever. This consumer finds the
  record, steps past it, commits the step when nothing before it is still in hand, and
  keeps its coordinates (`unreadable`) for the dead-letter topic; every other record of
  the fetch is returned as usual.
- `tolerant_batch_parser`: FastStream decodes every header value as UTF-8 before the
  handler runs, so a null or non-UTF-8 value makes it drop the message. The parser hands
  FastStream a copy without those headers; the handler still reads the record's own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CorruptRecordException
from faststream.message import StreamMessage
from prometheus_client import Counter

log = structlog.get_logger()

UNREADABLE = Counter(
    "events_unreadable_total",
    "Records the Kafka client could not read, stepped over (their coordinates dead-lettered)",
    ["group"],
)

# What the client raises for a record it cannot parse (as opposed to a broker it cannot reach).
_UNREADABLE_ERRORS = (UnicodeDecodeError, CorruptRecordException)


@dataclass(frozen=True)
class Unreadable:
    """Where a record the client could not read was, and why."""

    topic: str
    partition: int
    offset: int
    error: str
    at: datetime


class ResilientConsumer(AIOKafkaConsumer):  # type: ignore[misc]
    """An aiokafka consumer that steps over records it cannot read instead of failing on them."""

    def __init__(self, *topics: str, **options: Any) -> None:
        super().__init__(*topics, **options)
        self.unreadable: list[Unreadable] = []
        self._group = str(options.get("group_id") or "")

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        positions = self._positions(partitions)
        try:
            return dict(
                await super().getmany(*partitions, timeout_ms=timeout_ms, max_records=max_records)
            )
        except _UNREADABLE_ERRORS as exc:
            # The records read before the bad one are lost from this call: start again from
            # where it began, one record at a time, to find the bad one.
            for tp, offset in positions.items():
                self.seek(tp, offset)
            return await self._around_unreadable(list(positions), exc, max_records)

    def _positions(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        assignment = self._subscription.subscription
        if assignment is None or assignment.assignment is None:
            return {}
        state = assignment.assignment
        chosen = partitions or list(state.tps)
        return {
            tp: state.state_value(tp).position
            for tp in chosen
            if state.state_value(tp) is not None and state.state_value(tp).has_valid_position
        }

    async def _around_unreadable(
        self, partitions: list[TopicPartition], first: BaseException, max_records: int | None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        limit = max_records or self._max_poll_records or 500
        found: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for tp in partitions:
            records: list[ConsumerRecord[Any, Any]] = []
            while len(records) < limit:
                position = await self.position(tp)
                try:
                    batch = await super().getmany(tp, timeout_ms=200, max_records=1)
                except _UNREADABLE_ERRORS as exc:
                    await self._step_over(tp, position, exc, safe_to_commit=not records)
                    continue
                if not batch:
                    break
                records.extend(batch.get(tp, []))
            if records:
                found[tp] = records
        if not any(u for u in self.unreadable):
            log.warning("kafka.unreadable_not_found", error=str(first))
        return found

    async def _step_over(
        self, tp: TopicPartition, offset: int, error: BaseException, *, safe_to_commit: bool
    ) -> None:
        self.seek(tp, offset + 1)
        self.unreadable.append(
            Unreadable(
                tp.topic,
                tp.partition,
                offset,
                f"{type(error).__name__}: {error}",
                datetime.now(UTC),
            )
        )
        UNREADABLE.labels(self._group).inc()
        log.error(
            "kafka.record_unreadable",
            topic=tp.topic,
            partition=tp.partition,
            offset=offset,
            error=type(error).__name__,
        )
        if safe_to_commit and self._group:
            # Nothing before it is in hand: commit the step now, or a restart would find it
            # again (the next batch's commit covers it otherwise).
            await self.commit({tp: offset + 1})

    def take_unreadable(self) -> list[Unreadable]:
        taken, self.unreadable = self.unreadable, []
        return taken


def readable_headers(
    headers: Sequence[tuple[str, bytes | None]],
) -> tuple[tuple[str, bytes], ...]:
    """The headers FastStream can decode: null and non-UTF-8 values left out."""
    kept = []
    for key, value in headers:
        if value is None:
            continue
        try:
            value.decode()
        except UnicodeDecodeError:
            continue
        kept.append((key, value))
    return tuple(kept)


async def tolerant_batch_parser(
    records: tuple[ConsumerRecord[Any, Any], ...],
    original: Callable[[tuple[ConsumerRecord[Any, Any], ...]], Awaitable[StreamMessage[Any]]],
) -> StreamMessage[Any]:
    """FastStream's batch parser over copies with readable headers; the records stay as they are."""
    copies = tuple(
        dataclasses.replace(r, headers=readable_headers(r.headers or ())) for r in records
    )
    message = await original(copies)
    message.raw_message = records
    return message


async def settle_unreadable(
    consumer: Any, publish: Callable[[Unreadable], Awaitable[None]]
) -> None:
    """Dead-letter the coordinates of what the consumer stepped over (if it is ours)."""
    take = getattr(consumer, "take_unreadable", None)
    if take is None:
        return
    for unreadable in take():
        await publish(unreadable)
        await asyncio.sleep(0)
