"""The meetings repository: one document per meeting, its registrations, history and outbox inside.

A command is one `update_one` filtered on the version it read: the new state and the events
it causes land together or not at all. Writers that lose the race reload and decide again.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import structlog
from pydantic import TypeAdapter
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.meetings.domain import (
    Decided,
    Meeting,
    MeetingId,
    MeetingNotFound,
    MeetingNumberTaken,
    Status,
)
from shared.contracts.base import Event
from shared.contracts.meetings import MeetingKind
from shared.errors import ConcurrentUpdate, Invalid
from shared.outbox import OUTBOX_FIELD, OUTBOX_FIELDS, Outbox, outbox_fields, push_outbox

log = structlog.get_logger()

Document = dict[str, Any]
Decide = Callable[[Meeting], Decided]

_MEETING = TypeAdapter(Meeting)
# Derived, lower-cased fields that queries filter on; never read back into the entity.
_CITY = "city_key"
# Unique: "partnership_meeting:<n>" while a numbered partnership meeting is not cancelled,
# the meeting's own id otherwise (so every other meeting is trivially unique).
_NUMBER = "number_key"
_NOT_ENTITY = (*OUTBOX_FIELDS, _CITY, _NUMBER)

# Each lost race means another writer won, so the system always progresses; but one writer
# can lose once to every request queued in another replica: allow for long queues.
MAX_ATTEMPTS = 200
RETRY_JITTER_S = 0.002
RETRY_JITTER_CAP_S = 0.02


@dataclass(frozen=True)
class MeetingFilter:
    status: Status | None = None
    kind: str | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    city: str | None = None
    include_drafts: bool = True


@dataclass(frozen=True)
class Page:
    meetings: list[Meeting]
    next_cursor: str | None


class MeetingStore:
    """Meetings by id, saved with their pending events; lists by status, kind, dates and city."""

    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.collection: AsyncCollection[Document] = database["meetings"]
        self._outbox = outbox
        # Writers in this process take turns per meeting, so the version check rarely fails
        # here; it still guards against other processes.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def create_indexes(self) -> None:
        await self.collection.create_index([("details.starts_at", ASCENDING), ("_id", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING)])
        await self.collection.create_index([(_CITY, ASCENDING)])
        # Meetings stored before the number key existed get their own id as key first.
        async for old in self.collection.find({_NUMBER: {"$exists": False}}, {"_id": 1}):
            await self.collection.update_one(
                {"_id": old["_id"], _NUMBER: {"$exists": False}},
                {"$set": {_NUMBER: f"id:{old['_id']}"}},
            )
        await self.collection.create_index([(_NUMBER, ASCENDING)], unique=True)

    async def get(self, meeting_id: str) -> Meeting:
        document = await self.collection.find_one({"_id": meeting_id}, {OUTBOX_FIELD: 0})
        if document is None:
            raise MeetingNotFound(meeting_id)
        return _entity(document)

    async def add(self, meeting: Meeting, events: Sequence[Event] = ()) -> Meeting:
        """Insert a new meeting at version 1."""
        stored = replace(meeting, version=1)
        document = _document(stored) | outbox_fields(self._outbox.stage(events))
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise _taken(meeting, exc) from exc
        self._wake(events)
        return stored

    async def save(self, meeting: Meeting, events: Sequence[Event]) -> Meeting:
        """Write the meeting and its events if nobody changed it since it was read."""
        document = _document(meeting) | {"version": meeting.version + 1}
        del document["_id"]
        try:
            result = await self.collection.update_one(
                {"_id": meeting.id, "version": meeting.version},
                push_outbox({"$set": document}, self._outbox.stage(events)),
            )
        except DuplicateKeyError as exc:
            raise _taken(meeting, exc) from exc
        if result.matched_count == 0:
            raise ConcurrentUpdate("meeting", meeting.id, expected_version=meeting.version)
        self._wake(events)
        return replace(meeting, version=meeting.version + 1)

    async def update(
        self, meeting_id: str, decide: Decide, *, expected_version: int | None = None
    ) -> Decided:
        """Load, decide, save; on a lost race decide again on the fresh state.

        With `expected_version` the caller acts on what it saw: a newer version is a 409,
        never a silent retry.
        """
        async with self._lock(meeting_id):
            for attempt in range(1, MAX_ATTEMPTS + 1):
                current = await self.get(meeting_id)
                if expected_version is not None and current.version != expected_version:
                    raise ConcurrentUpdate("meeting", meeting_id, expected_version=expected_version)
                changed, events = decide(current)
                if changed is current:
                    return current, []
                try:
                    return await self.save(changed, events), events
                except ConcurrentUpdate:
                    if expected_version is not None or attempt == MAX_ATTEMPTS:
                        raise
                    log.debug("meeting.write_conflict", meeting_id=meeting_id, attempt=attempt)
                    await asyncio.sleep(
                        random.uniform(0, min(RETRY_JITTER_S * attempt, RETRY_JITTER_CAP_S))  # noqa: S311
                    )
        raise AssertionError("unreachable")

    async def list_meetings(
        self, where: MeetingFilter, *, limit: int, cursor: str | None = None
    ) -> Page:
        """Meetings in start order, `limit` at a time; the cursor continues after the last."""
        query = _query(where)
        if cursor is not None:
            starts_at, meeting_id = _decode_cursor(cursor)
            query = {
                "$and": [
                    query,
                    {
                        "$or": [
                            {"details.starts_at": {"$gt": starts_at}},
                            {"details.starts_at": starts_at, "_id": {"$gt": meeting_id}},
                        ]
                    },
                ]
            }
        found = self.collection.find(query, {OUTBOX_FIELD: 0}).sort(
            [("details.starts_at", ASCENDING), ("_id", ASCENDING)]
        )
        meetings = [_entity(d) async for d in found.limit(limit + 1)]
        more = len(meetings) > limit
        meetings = meetings[:limit]
        next_cursor = _encode_cursor(meetings[-1]) if more else None
        return Page(meetings=meetings, next_cursor=next_cursor)

    async def list_upcoming(self, *, now: datetime, limit: int = 500) -> list[Meeting]:
        """Announced meetings not yet over, cancelled ones included so calendars drop them."""
        found = self.collection.find(
            {
                "status": {"$in": [Status.SCHEDULED.value, Status.CANCELLED.value]},
                "details.ends_at": {"$gte": now},
            },
            {OUTBOX_FIELD: 0},
        ).sort([("details.starts_at", ASCENDING), ("_id", ASCENDING)])
        return [_entity(d) async for d in found.limit(limit)]

    def _lock(self, meeting_id: str) -> asyncio.Lock:
        lock = self._locks.get(meeting_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[meeting_id] = lock
        return lock

    def _wake(self, events: Sequence[Event]) -> None:
        if events:
            self._outbox.wake()


def _document(meeting: Meeting) -> Document:
    fields = _bson(_MEETING.dump_python(meeting))
    venue = meeting.details.venue
    return {
        "_id": fields.pop("id"),
        **fields,
        _CITY: venue.city.casefold() if venue else None,
        _NUMBER: _number_key(meeting),
    }


def _number_key(meeting: Meeting) -> str:
    details = meeting.details
    numbered = details.kind is MeetingKind.PARTNERSHIP_MEETING and details.number is not None
    if numbered and meeting.status is not Status.CANCELLED:
        return f"partnership_meeting:{details.number}"
    return f"id:{meeting.id}"


def _taken(meeting: Meeting, error: DuplicateKeyError) -> Exception:
    # The number key is the only unique field a client's data can collide on.
    if meeting.details.number is None:
        return error
    return MeetingNumberTaken(meeting.details.number)


def _entity(document: Document) -> Meeting:
    fields = {k: v for k, v in document.items() if k not in _NOT_ENTITY}
    fields["id"] = MeetingId(fields.pop("_id"))
    return _MEETING.validate_python(fields)


def _bson(value: Any) -> Any:
    # BSON has datetimes but no plain dates (a decision's new end date).
    if isinstance(value, dict):
        return {k: _bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bson(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


def _query(where: MeetingFilter) -> Document:
    statuses = [where.status] if where.status is not None else list(Status)
    if not where.include_drafts:
        statuses = [s for s in statuses if s is not Status.DRAFT]
    query: Document = {"status": {"$in": [s.value for s in statuses]}}
    if where.kind is not None:
        query["details.kind"] = where.kind
    starts: Document = {}
    if where.starts_from is not None:
        starts["$gte"] = where.starts_from
    if where.starts_before is not None:
        starts["$lt"] = where.starts_before
    if starts:
        query["details.starts_at"] = starts
    if where.city is not None:
        query[_CITY] = where.city.casefold()
    return query


def _encode_cursor(meeting: Meeting) -> str:
    raw = json.dumps([meeting.details.starts_at.isoformat(), meeting.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        starts_at, meeting_id = json.loads(raw)
        return datetime.fromisoformat(starts_at), str(meeting_id)
    except (ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc


class InvalidCursor(Invalid):
    def __init__(self, cursor: str) -> None:
        super().__init__(
            "cursor: not a cursor this service gave out",
            errors=[{"field": "cursor", "reason": "not a cursor this service gave out"}],
        )
