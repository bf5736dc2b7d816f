"""The transactional outbox, on a single document.

A state change and the events it causes are one MongoDB write: the aggregate's document
carries its pending events in an `outbox` array (`$push` in the same `update_one` as the
`$set`). The relay publishes each document's pending entries in order, keyed by the
aggregate id, waits for Kafka's acknowledgement and only then removes exactly those
entries. Kafka being down, or a crash between write and publish, loses nothing; a crash
after publishing and before removal publishes again, and consumers dedupe by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from prometheus_client import Counter
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.base import Event
from shared.envelope import Envelope
from shared.logging import current_correlation_id

log = structlog.get_logger()

PUBLISHED = Counter("outbox_published_total", "Events the outbox relay published", ["topic"])
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Failed outbox publish rounds")

OUTBOX_FIELD = "outbox"
# Set in the same write that adds entries, cleared once the outbox is empty: the relay finds
# pending documents through an index instead of scanning whole collections.
PENDING_FIELD = "outbox_pending"
LEASE_FIELD = "outbox_lease_until"
LEASE_OWNER_FIELD = "outbox_lease_owner"
OUTBOX_FIELDS = (OUTBOX_FIELD, PENDING_FIELD, LEASE_FIELD, LEASE_OWNER_FIELD)


class Publisher(Protocol):
    async def publish(
        self, body: bytes, *, topic: str, key: bytes, headers: dict[str, str]
    ) -> None: ...


class Outbox:
    """Turns events into outbox entries for the aggregate's write, and wakes the relay after it."""

    def __init__(
        self,
        *,
        source: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.source = source
        self._clock = clock
        self._new_id = new_id
        self._wake = asyncio.Event()

    def stage(
        self, events: Sequence[Event], *, correlation_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries to `$push` into the aggregate's `outbox` in the same write as the change."""
        correlation = correlation_id or current_correlation_id()
        entries = []
        for event in events:
            envelope = Envelope(
                id=self._new_id(),
                source=self.source,
                type=event.EVENT_TYPE,
                time=self._clock(),
                subject=event.subject(),
                correlationid=correlation,
            )
            entries.append(
                {
                    "id": envelope.id,
                    "topic": event.TOPIC,
                    "key": event.subject(),
                    "headers": envelope.to_headers(),
                    "body": event.model_dump_json(),
                }
            )
        return entries

    def wake(self) -> None:
        """Tell the relay a write just filled the outbox, so it need not wait for its poll."""
        self._wake.set()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout_s)
        self._wake.clear()


def push_outbox(update: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add `$push` of the entries to an update document (no-op without entries)."""
    if not entries:
        return update
    pushes = dict(update.get("$push", {}))
    pushes[OUTBOX_FIELD] = {"$each": entries}
    sets = dict(update.get("$set", {}))
    sets[PENDING_FIELD] = True
    return {**update, "$push": pushes, "$set": sets}


def outbox_fields(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The outbox part of a new document, for an insert."""
    return {OUTBOX_FIELD: entries, PENDING_FIELD: bool(entries)}


class OutboxRelay:
    """Publishes pending outbox entries of the given collections until stopped."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        collections: Sequence[AsyncCollection[dict[str, Any]]],
        *,
        poll_interval_s: float = 1.0,
        lease_s: float = 30.0,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._collections = list(collections)
        self._poll_interval_s = poll_interval_s
        self._lease_s = lease_s
        self._stopping = False

    async def create_indexes(self) -> None:
        """Index the pending flag; documents written before the flag existed get it first.

        Call it at start-up, before the service takes writes (index builds racing inserts
        are best avoided, and the dev stack's server is known to fail them).
        """
        for collection in self._collections:
            await collection.update_many(
                {f"{OUTBOX_FIELD}.0": {"$exists": True}, PENDING_FIELD: {"$exists": False}},
                {"$set": {PENDING_FIELD: True}},
            )
            await collection.create_index(PENDING_FIELD)

    async def run(self) -> None:
        """Relay forever: drain, then sleep until woken or the poll interval passes."""
        failures = 0
        while True:
            try:
                await self._drain_to_a_clean_stop()
                failures = 0
                await self._outbox.wait(self._poll_interval_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                PUBLISH_FAILURES.inc()
                delay = min(self._poll_interval_s * 2**failures, 30.0)
                log.warning("outbox.publish_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)

    async def drain(self) -> int:
        """Publish every pending entry once; returns how many were published."""
        published = 0
        for collection in self._collections:
            while not self._stopping and (claimed := await self._claim(collection)) is not None:
                published += await self._publish(collection, *claimed)
        return published

    async def _drain_to_a_clean_stop(self) -> None:
        # Cancelling a task inside a driver call can leave its connection (and shutdown)
        # hanging: on cancellation, finish the document in hand, then stop.
        draining = asyncio.ensure_future(self.drain())
        try:
            await asyncio.shield(draining)
        except asyncio.CancelledError:
            self._stopping = True
            with contextlib.suppress(Exception):
                await asyncio.wait({draining}, timeout=self._lease_s)
            raise

    async def _claim(
        self, collection: AsyncCollection[dict[str, Any]]
    ) -> tuple[dict[str, Any], str] | None:
        # A lease keeps two relay replicas off the same document, so its order holds.
        now = datetime.now(UTC)
        owner = str(uuid.uuid4())
        document = await collection.find_one_and_update(
            {
                PENDING_FIELD: True,
                "$or": [{LEASE_FIELD: None}, {LEASE_FIELD: {"$lt": now}}],
            },
            {
                "$set": {
                    LEASE_FIELD: now + timedelta(seconds=self._lease_s),
                    LEASE_OWNER_FIELD: owner,
                }
            },
            projection={OUTBOX_FIELD: 1},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else (document, owner)

    async def _publish(
        self, collection: AsyncCollection[dict[str, Any]], document: dict[str, Any], owner: str
    ) -> int:
        entries = document.get(OUTBOX_FIELD, [])
        release = {"$set": {LEASE_FIELD: None, LEASE_OWNER_FIELD: None}}
        mine = {"_id": document["_id"], LEASE_OWNER_FIELD: owner}
        try:
            for entry in entries:
                await self._publisher.publish(
                    entry["body"].encode(),
                    topic=entry["topic"],
                    key=entry["key"].encode(),
                    headers=entry["headers"],
                )
                PUBLISHED.labels(entry["topic"]).inc()
        except BaseException:
            await collection.update_one(mine, release)
            raise
        # What was published leaves, whoever holds the lease now; entries written meanwhile stay.
        await collection.update_one(
            {"_id": document["_id"]},
            {"$pull": {OUTBOX_FIELD: {"id": {"$in": [e["id"] for e in entries]}}}},
        )
        await collection.update_one(mine, release)
        await collection.update_one(
            {"_id": document["_id"], OUTBOX_FIELD: {"$size": 0}}, {"$set": {PENDING_FIELD: False}}
        )
        log.debug("outbox.published", count=len(entries), aggregate_id=str(document["_id"]))
        return len(entries)


def decode_entry(entry: dict[str, Any]) -> tuple[Envelope, dict[str, Any]]:
    """An outbox entry's envelope and data, for operators and tests."""
    return Envelope.from_headers(entry["headers"]), json.loads(entry["body"])
