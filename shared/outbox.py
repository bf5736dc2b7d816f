"""The transactional outbox, on a single document.

A state change and the events it causes are one MongoDB write: the aggregate's document
carries its pending events in an `outbox` array (`$push` in the same update as the `$set`).
The relay publishes each document's pending entries in order, keyed by the aggregate id,
waits for Kafka's acknowledgement and only then removes exactly those entries. Kafka being
down, or a crash between write and publish, loses nothing; a crash after publishing and
before removal publishes again, and consumers dedupe by event id.

How the relay finds work, at a cost that does not grow with the collection:
- The writer tells it: `Outbox.written(collection, id)` right after the write, and the
  relay takes that document by `_id`, so an event leaves within milliseconds. A writer that
  is the document's only writer at the time (a delivery's outcome, guarded by its attempt)
  can also hand the entries over with the write (`Outbox.hand_over`): the write takes the
  lease for this process's relay, which then publishes from memory and finishes with one
  update, with no read and no claim.
- A sweep every `sweep_interval_s` (and at start-up) finds documents with pending entries
  that nobody announced: those of a process that died between its write and the publish.
  It is the only query by the pending flag (indexed in MongoDB; a scan on the dev stack's
  server, hence rare).

A lease (owner and expiry) keeps two relays off one document, so its order holds. Every
write that adds entries sets a new `outbox_write` id; the relay clears an outbox only if
the id is still the one it read, so entries added meanwhile are never lost. Claims and
clears are filtered on `_id`, lease owner and write id: one keyset index.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Gauge
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.base import Event
from shared.envelope import Envelope
from shared.logging import current_correlation_id
from shared.storage import Document, keyset_index

log = structlog.get_logger()

PUBLISHED = Counter("outbox_published_total", "Events the outbox relay published", ["topic"])
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Failed outbox publish rounds")
BACKLOG = Gauge(
    "outbox_backlog_documents",
    "Documents with events not yet published, as the last sweep found them",
    ["collection"],
)

OUTBOX_FIELD = "outbox"
# Set in every write that adds entries, cleared with the last of them: the sweep finds
# documents through an index on it (MongoDB), never by looking inside the arrays.
PENDING_FIELD = "outbox_pending"
WRITE_FIELD = "outbox_write"
LEASE_FIELD = "outbox_lease_until"
LEASE_OWNER_FIELD = "outbox_lease_owner"
OUTBOX_FIELDS = (OUTBOX_FIELD, PENDING_FIELD, WRITE_FIELD, LEASE_FIELD, LEASE_OWNER_FIELD)
LEASE_S = 30.0
# The sweep leaves documents written this recently to the writer's own announcement: it
# is for what a dead process left behind, and racing the announced path would reorder
# one aggregate's events across documents.
SWEEP_GRACE = timedelta(seconds=5)

_RELEASE = {LEASE_OWNER_FIELD: None, LEASE_FIELD: None}
# Writes racing one removal again and again: each lost attempt means a write went through.
REMOVE_ATTEMPTS = 20


@dataclass(frozen=True)
class Outgoing:
    """One Kafka message the relay publishes."""

    topic: str
    key: bytes
    body: bytes
    headers: dict[str, str]


class Publisher(Protocol):
    async def publish_many(self, messages: Sequence[Outgoing]) -> None:
        """Send all, in order per key, and return once the broker acknowledged every one."""


@dataclass(frozen=True)
class Handed:
    """Entries a write leased to this process's relay, and the id that write set."""

    write: str
    entries: list[dict[str, Any]]


class Outbox:
    """Turns events into outbox entries for the aggregate's write, and tells the relay after it."""

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
        # This process's relay leases in this name, and so do writes that hand entries over.
        self.owner = uuid.uuid4().hex
        self._written: dict[tuple[str, Any], Handed | None] = {}
        self._signal = asyncio.Event()

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

    def written(self, collection: str, document_id: Any) -> None:
        """A write just added entries to this document: publish them now, not at the sweep."""
        self._written.setdefault((collection, document_id), None)
        self._signal.set()

    def hand_over(
        self, update: dict[str, Any], entries: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], Handed | None]:
        """The update with the entries pushed and leased to this process's relay.

        Only for a write that no other process makes on the document meanwhile; once it
        succeeded, pass the `Handed` to `handed`.
        """
        if not entries:
            return update, None
        handed = Handed(uuid.uuid4().hex, entries)
        pushed = _pushed(update, entries, handed.write)
        pushed["$set"] |= {
            LEASE_OWNER_FIELD: self.owner,
            LEASE_FIELD: self._clock() + timedelta(seconds=LEASE_S),
        }
        return pushed, handed

    def handed(self, collection: str, document_id: Any, handed: Handed | None) -> None:
        """The write that carried `handed` succeeded: the relay publishes from memory."""
        if handed is not None:
            self._written[(collection, document_id)] = handed
            self._signal.set()

    def take(self, limit: int) -> list[tuple[str, Any, Handed | None]]:
        """The documents announced since the last call, oldest first, at most `limit`."""
        taken = []
        for key in list(self._written)[:limit]:
            taken.append((*key, self._written.pop(key)))
        if not self._written:
            self._signal.clear()
        return taken

    async def wait(self, timeout_s: float) -> None:
        """Until a write is announced, or the timeout."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._signal.wait(), timeout_s)


def push_outbox(update: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Add `$push` of the entries to an update document (no-op without entries)."""
    if not entries:
        return update
    return _pushed(update, entries, uuid.uuid4().hex)


def _pushed(update: dict[str, Any], entries: list[dict[str, Any]], write: str) -> dict[str, Any]:
    pushes = dict(update.get("$push", {}))
    pushes[OUTBOX_FIELD] = {"$each": entries}
    sets = dict(update.get("$set", {}))
    sets |= {PENDING_FIELD: True, WRITE_FIELD: write}
    return {**update, "$push": pushes, "$set": sets}


def outbox_fields(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The outbox part of a new document, for an insert."""
    return {
        OUTBOX_FIELD: entries,
        PENDING_FIELD: bool(entries),
        WRITE_FIELD: uuid.uuid4().hex if entries else None,
        **_RELEASE,
    }


async def create_outbox_indexes(collection: AsyncCollection[Document]) -> None:
    """What the relay's claims, clears and sweep need on a collection with an outbox."""
    await keyset_index(collection, LEASE_OWNER_FIELD, WRITE_FIELD)
    await collection.create_index(PENDING_FIELD)


@dataclass(frozen=True)
class _Claimed:
    document_id: Any
    write: str | None
    entries: list[dict[str, Any]]


class OutboxRelay:
    """Publishes the pending outbox entries of the given collections until stopped."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: Publisher,
        collections: Sequence[AsyncCollection[Document]],
        *,
        sweep_interval_s: float = 10.0,
        lease_s: float = LEASE_S,
        batch_size: int = 200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._collections = {c.name: c for c in collections}
        self._sweep_interval_s = sweep_interval_s
        self._lease_s = lease_s
        self._batch_size = batch_size
        self._clock = clock
        self._owner = outbox.owner

    async def create_indexes(self) -> None:
        """Call it at start-up, before the service takes writes (the dev stack's server is
        known to fail index builds that race inserts)."""
        for collection in self._collections.values():
            await create_outbox_indexes(collection)

    async def run(self) -> None:
        """Relay until cancelled: announced documents at once, a sweep now and then."""
        failures = 0
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        started = False
        while True:
            try:
                if loop.time() >= next_sweep:
                    await self._finish_step(self.sweep(everything=not started))
                    started = True
                    next_sweep = loop.time() + self._sweep_interval_s
                while batch := self._outbox.take(self._batch_size):
                    await self._finish_step(self.publish(batch))
                failures = 0
                await self._outbox.wait(max(next_sweep - loop.time(), 0.0))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                PUBLISH_FAILURES.inc()
                delay = min(0.2 * 2**failures, 30.0)
                log.warning("outbox.publish_failed", error=str(exc), retry_in_s=delay)
                # Nothing is lost: what was announced is found again by the next sweep.
                next_sweep = 0.0
                await asyncio.sleep(delay)

    async def drain(self) -> int:
        """Publish every pending entry of every collection now; returns how many."""
        published = 0
        while pending := await self._pending_documents():
            count = await self._publish_all(pending)
            if count == 0:
                return published
            published += count
        return published

    async def sweep(self, *, everything: bool = False) -> int:
        """Publish what no write announced: documents left behind by a process that died.

        Documents whose entries are younger than `SWEEP_GRACE` are left to the writer's
        announcement, unless `everything` (at start-up, when no writer of ours is left).
        """
        older_than = None if everything else self._clock() - SWEEP_GRACE
        return await self._publish_all(await self._pending_documents(older_than=older_than))

    async def publish(self, documents: Sequence[tuple[str, Any, Handed | None]]) -> int:
        """Publish the documents' entries in order, then remove exactly those.

        Order is the order of the writes, across documents and collections too (a meeting's
        registrations live in another collection than the meeting, and share its key): the
        entries of one round are merged by the time each was staged, so a document that
        gathered several entries cannot carry its later ones ahead of another's earlier one.
        """
        by_collection: dict[str, list[Any]] = {}
        for name, document_id, handed in documents:
            if handed is None:
                by_collection.setdefault(name, []).append(document_id)
        claimed: dict[tuple[str, Any], _Claimed] = {}
        for name, ids in by_collection.items():
            for c in await self._claim(self._collections[name], ids):
                claimed[(name, c.document_id)] = c
        ordered: list[tuple[str, _Claimed]] = []
        for name, document_id, handed in documents:
            if handed is not None:
                ordered.append((name, _Claimed(document_id, handed.write, handed.entries)))
            elif (name, document_id) in claimed:
                ordered.append((name, claimed.pop((name, document_id))))
        ordered.sort(key=lambda item: _written_at(item[1].entries))
        return await self._publish_claimed(ordered)

    async def _publish_all(self, pending: list[tuple[str, Any, Handed | None]]) -> int:
        published = 0
        for start in range(0, len(pending), self._batch_size):
            published += await self.publish(pending[start : start + self._batch_size])
        return published

    async def _pending_documents(
        self, *, older_than: datetime | None = None
    ) -> list[tuple[str, Any, Handed | None]]:
        """Documents with entries, oldest entry first, across all collections."""
        found: list[tuple[datetime, str, Any]] = []
        for name, collection in self._collections.items():
            count = 0
            async for d in collection.find({PENDING_FIELD: True}, {OUTBOX_FIELD: 1}):
                count += 1
                first = _written_at(d.get(OUTBOX_FIELD) or [])
                if older_than is None or first <= older_than:
                    found.append((first, name, d["_id"]))
            BACKLOG.labels(name).set(count)
        found.sort(key=lambda f: f[0])
        return [(name, document_id, None) for _, name, document_id in found]

    async def _claim(self, collection: AsyncCollection[Document], ids: list[Any]) -> list[_Claimed]:
        """Lease the documents nobody holds (or whose holder's lease ran out); their entries."""
        now = self._clock()
        unique_ids = list(dict.fromkeys(ids))
        read = await collection.find(
            {"_id": {"$in": unique_ids}},
            {OUTBOX_FIELD: 1, WRITE_FIELD: 1, LEASE_OWNER_FIELD: 1, LEASE_FIELD: 1},
        ).to_list()
        free = [
            d
            for d in read
            if d.get(LEASE_OWNER_FIELD) is None or (d.get(LEASE_FIELD) or now) <= now
        ]
        empty = [d for d in free if not d.get(OUTBOX_FIELD)]
        if empty:
            # Flagged, but everything went out already (a removal raced a later write).
            await collection.bulk_write(
                [
                    UpdateOne(
                        {
                            "_id": d["_id"],
                            LEASE_OWNER_FIELD: d.get(LEASE_OWNER_FIELD),
                            WRITE_FIELD: d.get(WRITE_FIELD),
                        },
                        {"$set": {PENDING_FIELD: False, **_RELEASE}},
                    )
                    for d in empty
                ],
                ordered=False,
            )
        free = [d for d in free if d.get(OUTBOX_FIELD)]
        if not free:
            return []
        lease = {
            LEASE_OWNER_FIELD: self._owner,
            LEASE_FIELD: now + timedelta(seconds=self._lease_s),
        }
        result = await collection.bulk_write(
            [
                UpdateOne(
                    {
                        "_id": d["_id"],
                        LEASE_OWNER_FIELD: d.get(LEASE_OWNER_FIELD),
                        WRITE_FIELD: d.get(WRITE_FIELD),
                    },
                    {"$set": lease},
                )
                for d in free
            ],
            ordered=False,
        )
        if result.matched_count < len(free):
            # Some changed since the read: keep the ones we hold, as they are now.
            again = await collection.find(
                {"_id": {"$in": [d["_id"] for d in free]}},
                {OUTBOX_FIELD: 1, WRITE_FIELD: 1, LEASE_OWNER_FIELD: 1},
            ).to_list()
            free = [d for d in again if d.get(LEASE_OWNER_FIELD) == self._owner]
        return [_Claimed(d["_id"], d.get(WRITE_FIELD), d.get(OUTBOX_FIELD) or []) for d in free]

    async def _publish_claimed(self, ordered: list[tuple[str, _Claimed]]) -> int:
        if not ordered:
            return 0
        entries = [entry for _, c in ordered for entry in c.entries]
        entries.sort(key=_staged_at)  # stable: one document's entries keep their order
        messages = [_outgoing(entry) for entry in entries]
        by_collection: dict[str, list[_Claimed]] = {}
        for name, c in ordered:
            by_collection.setdefault(name, []).append(c)
        try:
            await self._publisher.publish_many(messages)
        except BaseException:
            with contextlib.suppress(Exception):
                for name, claimed in by_collection.items():
                    await self._collections[name].bulk_write(
                        [UpdateOne(self._held(c), {"$set": _RELEASE}) for c in claimed],
                        ordered=False,
                    )
            raise
        for message in messages:
            PUBLISHED.labels(message.topic).inc()
        for name, claimed in by_collection.items():
            await self._clear(self._collections[name], claimed)
        log.debug("outbox.published", count=len(messages), documents=len(ordered))
        return len(messages)

    async def _clear(self, collection: AsyncCollection[Document], claimed: list[_Claimed]) -> None:
        # Usually nothing was added meanwhile: clear the outbox and release in one update.
        cleared = await collection.bulk_write(
            [
                UpdateOne(
                    self._held(c),
                    {
                        "$set": {
                            OUTBOX_FIELD: [],
                            PENDING_FIELD: False,
                            WRITE_FIELD: None,
                            **_RELEASE,
                        }
                    },
                )
                for c in claimed
            ],
            ordered=False,
        )
        if cleared.matched_count < len(claimed):
            await self._remove_published(collection, claimed)

    async def _remove_published(
        self, collection: AsyncCollection[Document], claimed: list[_Claimed]
    ) -> None:
        """A write added entries while we published: remove exactly what went out, release,
        and take the documents again for the rest.

        Each removal is guarded by the write id it read; a write racing it means reading
        again. Left holding the lease, this relay could not claim the document again until
        the lease ran out, and the aggregate's later events would wait that long.
        """
        for c in claimed:
            published = [e["id"] for e in c.entries]
            for _ in range(REMOVE_ATTEMPTS):
                held = await collection.find_one(
                    {"_id": c.document_id}, {WRITE_FIELD: 1, LEASE_OWNER_FIELD: 1}
                )
                if held is None:
                    break
                update: dict[str, Any] = {"$pull": {OUTBOX_FIELD: {"id": {"$in": published}}}}
                if held.get(LEASE_OWNER_FIELD) == self._owner:
                    update["$set"] = _RELEASE
                removed = await collection.update_one(
                    {
                        "_id": c.document_id,
                        LEASE_OWNER_FIELD: held.get(LEASE_OWNER_FIELD),
                        WRITE_FIELD: held.get(WRITE_FIELD),
                    },
                    update,
                )
                if removed.matched_count:
                    break
            else:
                log.warning("outbox.remove_raced", collection=collection.name)
            self._outbox.written(collection.name, c.document_id)

    def _held(self, claimed: _Claimed) -> dict[str, Any]:
        return {
            "_id": claimed.document_id,
            LEASE_OWNER_FIELD: self._owner,
            WRITE_FIELD: claimed.write,
        }

    async def _finish_step(self, step: Any) -> Any:
        # Cancelling a task inside a driver call can leave its connection (and shutdown)
        # hanging: on cancellation, finish the batch in hand, then stop.
        running = asyncio.ensure_future(step)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait({running}, timeout=self._lease_s)
            raise


def _written_at(entries: Sequence[dict[str, Any]]) -> datetime:
    """When the first of these entries was staged."""
    if not entries:
        return datetime.max.replace(tzinfo=UTC)
    return _staged_at(entries[0])


def _staged_at(entry: dict[str, Any]) -> datetime:
    """When the entry was staged: its CloudEvents time."""
    return datetime.fromisoformat(entry["headers"]["ce_time"])


def _outgoing(entry: dict[str, Any]) -> Outgoing:
    return Outgoing(
        topic=entry["topic"],
        key=entry["key"].encode(),
        body=entry["body"].encode(),
        headers=entry["headers"],
    )


def decode_entry(entry: dict[str, Any]) -> tuple[Envelope, dict[str, Any]]:
    """An outbox entry's envelope and data, for operators and tests."""
    return Envelope.from_headers(entry["headers"]), json.loads(entry["body"])
