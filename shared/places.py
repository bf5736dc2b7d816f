"""Places people ask for (registrations, enrolments): one document each, decided by a seating.

The meeting (or module) document holds its seating: a few counts and the head of the
waitlist (`shared.seating`). Each registration is a document of its own in a places
collection. A decision is two writes made safe by a third thing, the pending change:

1. `reserve`: the request is inserted first, with no standing yet. A unique key per person
   and holder (`active_key`) makes a second request by the same person find the first.
2. `commit`: one write to the holder, filtered on the versions it was read at, stores the
   new seating *and* the changes to make to each place, with their events (`pending`).
3. `apply`: each place is written, filtered on the version the decision saw, with its
   events in its own outbox; the relay publishes them from there.

A process that dies after (2) leaves its changes in the holder's `pending` list: the next
decision on that holder applies them first (the version filter makes a change that was
applied already a no-op), and a sweep does it for holders nobody touches. A process that
dies after (1) leaves a request without a standing: it is invisible, counts nowhere, and a
retry by the same person takes it up. Nothing is applied twice and nothing acknowledged is
lost; no document grows with the number of people, and every hot-path query is by `_id` or
by a unique key.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from shared.outbox import Outbox, create_outbox_indexes, outbox_fields, push_outbox
from shared.storage import Document, keyset_index

log = structlog.get_logger()

SEATING_FIELD = "seating"
SEATING_VERSION_FIELD = "seating_version"
PENDING_FIELD = "seating_pending"
# A pending change is left to its own process for this long before others apply it.
STALE_AFTER = timedelta(seconds=5)


@dataclass(frozen=True)
class PlaceChange:
    """One place's next state, decided in the holder's write and applied after it."""

    place_id: str
    from_version: int
    fields: Document
    outbox: list[Document] = field(default_factory=list)

    def to_document(self) -> Document:
        return {
            "_id": self.place_id,
            "from": self.from_version,
            "set": self.fields,
            "outbox": self.outbox,
        }

    @classmethod
    def of(cls, document: Document) -> PlaceChange:
        return cls(document["_id"], int(document["from"]), document["set"], document["outbox"])


class Places:
    """The places collection of one kind of holder, and the pending changes in the holders."""

    def __init__(
        self,
        holders: AsyncCollection[Document],
        places: AsyncCollection[Document],
        outbox: Outbox,
        *,
        holder_field: str,
    ) -> None:
        self.holders = holders
        self.collection = places
        self._outbox = outbox
        self._holder_field = holder_field
        # Pending changes this process has applied; the next commit leaves them out.
        self._applied: set[str] = set()

    async def create_indexes(self) -> None:
        await keyset_index(self.holders, "version", SEATING_VERSION_FIELD)
        await keyset_index(self.collection, "version")
        await self.collection.create_index("active_key", unique=True)
        await self.collection.create_index([(self._holder_field, ASCENDING), ("order", ASCENDING)])
        await create_outbox_indexes(self.collection)

    # --- reading -------------------------------------------------------------------------

    async def get(self, place_id: str) -> Document | None:
        return await self.collection.find_one({"_id": place_id})

    async def get_many(self, place_ids: Collection[str]) -> dict[str, Document]:
        if not place_ids:
            return {}
        cursor = self.collection.find({"_id": {"$in": list(place_ids)}})
        return {doc["_id"]: doc async for doc in cursor}

    async def find_active(self, active_key: str) -> Document | None:
        return await self.collection.find_one({"active_key": active_key})

    async def list_for(
        self,
        holder_id: str,
        *,
        status: str | None = None,
        after_order: int = 0,
        limit: int | None = None,
    ) -> list[Document]:
        """The holder's places in arrival order (those with a standing), `limit` at a time."""
        query: Document = {self._holder_field: holder_id, "order": {"$gt": after_order}}
        if status is not None:
            query["status"] = status
        cursor = self.collection.find(query).sort("order", ASCENDING)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [doc async for doc in cursor]

    async def count(self, holder_id: str, *, status: str, before_order: int) -> int:
        return await self.collection.count_documents(
            {self._holder_field: holder_id, "status": status, "order": {"$lt": before_order}}
        )

    async def values(self, holder_id: str, field_name: str, **equals: Any) -> list[Any]:
        """One field of the holder's places that match (e.g. organisations of attendees)."""
        cursor = self.collection.find({self._holder_field: holder_id, **equals}, {field_name: 1})
        return [doc.get(field_name) async for doc in cursor]

    # --- writing -------------------------------------------------------------------------

    async def reserve(self, document: Document) -> tuple[Document, bool]:
        """Insert a new request without a standing; the person's active one if they have one."""
        stored = {**document, "version": 0, "status": None, "order": 0} | outbox_fields([])
        try:
            await self.collection.insert_one(stored)
        except DuplicateKeyError:
            existing = await self.find_active(document["active_key"])
            if existing is None:
                # It was withdrawn in between: the key is free again.
                return await self.reserve(document)
            return existing, False
        return stored, True

    async def commit(
        self,
        holder_id: str,
        *,
        version: int,
        seating_version: int,
        pending: Sequence[Document],
        update: Document,
        changes: Sequence[PlaceChange],
        now: datetime,
    ) -> bool:
        """One guarded write of the holder: its update plus the place changes to apply.

        `pending` is the holder's pending list as read. False if the holder changed since.
        """
        kept = [p for p in pending if p["id"] not in self._applied]
        if changes:
            kept.append(
                {"id": uuid.uuid4().hex, "at": now, "changes": [c.to_document() for c in changes]}
            )
        sets = {**update.get("$set", {}), PENDING_FIELD: kept}
        result = await self.holders.update_one(
            {"_id": holder_id, "version": version, SEATING_VERSION_FIELD: seating_version},
            {**update, "$set": sets},
        )
        if result.matched_count == 0:
            return False
        self._applied -= {p["id"] for p in pending}
        if changes:
            await self.apply(kept[-1])
        return True

    async def settle(self, pending: Sequence[Document], *, now: datetime, all_: bool) -> bool:
        """Apply pending changes read from a holder (all, or those left behind); True if any."""
        applied = False
        for entry in pending:
            if entry["id"] in self._applied:
                continue
            if all_ or entry["at"] <= now - STALE_AFTER:
                await self.apply(entry)
                applied = True
        return applied

    async def apply(self, entry: Document) -> None:
        """Write each change of one pending entry to its place (idempotent)."""
        writes = []
        announced = []
        for raw in entry["changes"]:
            change = PlaceChange.of(raw)
            update = push_outbox(
                {"$set": {**change.fields, "version": change.from_version + 1}},
                list(change.outbox),
            )
            writes.append(
                UpdateOne({"_id": change.place_id, "version": change.from_version}, update)
            )
            if change.outbox:
                announced.append(change.place_id)
        if writes:
            await self.collection.bulk_write(writes, ordered=True)
        for place_id in announced:
            self._outbox.written(self.collection.name, place_id)
        self._applied.add(entry["id"])

    async def sweep(self, *, now: datetime) -> int:
        """Apply what dead processes left pending in any holder; returns how many entries."""
        count = 0
        cursor = self.holders.find({f"{PENDING_FIELD}.0": {"$exists": True}}, {PENDING_FIELD: 1})
        async for holder in cursor:
            stale = [p for p in holder.get(PENDING_FIELD, []) if p["at"] <= now - STALE_AFTER]
            for entry in stale:
                await self.apply(entry)
                count += 1
            if stale:
                await self.holders.update_one(
                    {"_id": holder["_id"]},
                    {"$pull": {PENDING_FIELD: {"id": {"$in": [p["id"] for p in stale]}}}},
                )
                self._applied -= {p["id"] for p in stale}
        if count:
            log.info("places.pending_applied", entries=count)
        return count
