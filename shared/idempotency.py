"""Which events a consumer has already handled, kept in the consumer's own database.

Effects must still be idempotent on their own (deterministic ids, duplicate key = done):
the mark is written after the effect, so a crash in between repeats the effect once more,
and the effect's own key absorbs it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError


class ProcessedEvents:
    """The "already processed" ledger: one document per (consumer, event id).

    Marks expire after `retention` (a TTL index), so the ledger does not grow without bound.
    Keep it longer than Kafka may redeliver an event (the topics' retention); past it, a
    replayed event is absorbed by the effect's own key instead.
    """

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        *,
        retention: timedelta = timedelta(days=30),
        collection: str = "processed_events",
    ):
        self._events = db[collection]
        self._retention = retention

    async def create_indexes(self) -> None:
        # The _id is the unique key; the TTL index expires old marks.
        await self._events.create_index(
            "processed_at",
            name="processed_at_ttl",
            expireAfterSeconds=int(self._retention.total_seconds()),
        )

    async def seen(self, consumer: str, event_id: str) -> bool:
        """True if this consumer already handled the event."""
        return (
            await self._events.find_one({"_id": _key(consumer, event_id)}, {"_id": 1}) is not None
        )

    async def mark(self, consumer: str, event_id: str) -> bool:
        """Record the event as handled; False if it already was."""
        try:
            await self._events.insert_one(
                {"_id": _key(consumer, event_id), "processed_at": datetime.now(UTC)}
            )
        except DuplicateKeyError:
            return False
        return True


def _key(consumer: str, event_id: str) -> str:
    return f"{consumer}:{event_id}"
