"""The meetings repository: one document per meeting, one per registration.

A meeting's document holds its details, programme, minutes, latest history, its seating
(counts and the head of the waitlist) and its outbox. Registrations live in their own
collection and are decided through the meeting's seating (`shared.places`): a decision is
one write of the meeting filtered on the versions it read, carrying the registrations'
changes, which are applied right after. Writers that lose a race reload and decide again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime

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
    Person,
    Registration,
    RegistrationId,
    RegistrationNotFound,
    Seated,
    Status,
)
from shared.aggregates import Decisions, LostRace, check_version
from shared.contracts.base import Event
from shared.contracts.meetings import RegistrationEvent
from shared.errors import DomainError
from shared.fields import email_identity
from shared.outbox import OUTBOX_FIELD, OUTBOX_FIELDS, Outbox, outbox_fields, push_outbox
from shared.pagination import after, decode_cursor, encode_cursor
from shared.places import PENDING_FIELD, SEATING_FIELD, SEATING_VERSION_FIELD, PlaceChange, Places
from shared.seating import HEAD_SIZE, Counts, Seating, SeatStatus, Waiting
from shared.storage import Document, to_bson

_MEETING = TypeAdapter(Meeting)
_REGISTRATION = TypeAdapter(Registration)
# Derived, lower-cased fields that queries filter on; never read back into the entity.
_CITY = "city_key"
# Unique: "partnership_meeting:<n>" while a numbered partnership meeting is not cancelled,
# the meeting's own id otherwise (so every other meeting is trivially unique).
_NUMBER = "number_key"
_NOT_ENTITY = (*OUTBOX_FIELDS, _CITY, _NUMBER, PENDING_FIELD)
_NOT_REGISTRATION = (*OUTBOX_FIELDS, "active_key", "meeting_id", "order", "_id")

_ORDER = ("details.starts_at", "_id")


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


@dataclass(frozen=True)
class Wanted:
    """The registrations a decision reads: by id, and the first `waiting` on the waitlist."""

    registrations: Collection[str] = ()
    waiting: int = 0
    all_waiting: bool = False


@dataclass(frozen=True)
class Known:
    """The registrations the store read for a decision."""

    registrations: dict[str, Registration] = field(default_factory=dict)
    waiting: list[Registration] = field(default_factory=list)

    def registration(self, meeting_id: str, registration_id: str) -> Registration:
        found = self.registrations.get(registration_id)
        if found is None:
            raise RegistrationNotFound(meeting_id, registration_id)
        return found


Decide = Callable[[Meeting], Decided]
Seat = Callable[[Meeting, Known], Seated]


class MeetingStore:
    """Meetings and their registrations, saved with their pending events."""

    def __init__(self, database: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.collection: AsyncCollection[Document] = database["meetings"]
        self.registrations = Places(
            self.collection, database["registrations"], outbox, holder_field="meeting_id"
        )
        self._outbox = outbox
        self._decisions = Decisions("meeting")

    @property
    def outbox_collections(self) -> list[AsyncCollection[Document]]:
        return [self.collection, self.registrations.collection]

    async def create_indexes(self) -> None:
        await self.collection.create_index([("details.starts_at", ASCENDING), ("_id", ASCENDING)])
        await self.collection.create_index([("status", ASCENDING)])
        await self.collection.create_index([(_CITY, ASCENDING)])
        await self.collection.create_index([(_NUMBER, ASCENDING)], unique=True)
        await self.registrations.create_indexes()

    # --- meetings --------------------------------------------------------------------------

    async def get(self, meeting_id: str) -> Meeting:
        meeting, _ = await self._load(meeting_id)
        return meeting

    async def add(self, meeting: Meeting, events: Sequence[Event] = ()) -> Meeting:
        """Insert a new meeting at version 1."""
        stored = replace(meeting, version=1, seating_version=1)
        document = (
            _document(stored) | {PENDING_FIELD: []} | outbox_fields(self._outbox.stage(events))
        )
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError as exc:
            raise _taken(meeting, exc) from exc
        if events:
            self._outbox.written(self.collection.name, meeting.id)
        return stored

    async def update(
        self, meeting_id: str, decide: Decide, *, expected_version: int | None = None
    ) -> Decided:
        """Load, decide, save; on a lost race decide again on the fresh state.

        With `expected_version` the caller acts on what it saw: a newer version is a 409,
        never a silent retry.
        """

        def seat(meeting: Meeting, _: Known) -> Seated:
            changed, events = decide(meeting)
            return changed, [], events

        changed, _, events = await self.seat(
            meeting_id, seat, Wanted(), expected_version=expected_version
        )
        return changed, events

    async def seat(
        self,
        meeting_id: str,
        decide: Seat,
        wanted: Wanted,
        *,
        expected_version: int | None = None,
    ) -> Seated:
        """A decision on the meeting and the registrations it reads (`wanted`), saved as one."""

        async def attempt() -> Seated:
            stored, pending = await self._load(meeting_id)
            check_version("meeting", meeting_id, stored=stored.version, expected=expected_version)
            # A decision that reads registrations sees every change decided before it.
            reads = bool(wanted.registrations or wanted.waiting or wanted.all_waiting)
            await self.registrations.settle(pending, now=datetime.now(UTC), all_=reads)
            meeting, known = await self._known(stored, wanted)
            changed, registrations, events = decide(meeting, known)
            if changed is meeting and not registrations and not events:
                return stored, [], []
            saved = await self._save(stored, changed, registrations, events, pending)
            return saved, registrations, events

        return await self._decisions.run(meeting_id, attempt)

    async def list_meetings(
        self, where: MeetingFilter, *, limit: int, cursor: str | None = None
    ) -> Page:
        """Meetings in start order, `limit` at a time; the cursor continues after the last."""
        query = _query(where)
        if cursor is not None:
            query = {"$and": [query, after(_ORDER, decode_cursor(cursor, length=2))]}
        found = self.collection.find(query, {OUTBOX_FIELD: 0, PENDING_FIELD: 0}).sort(
            [(name, ASCENDING) for name in _ORDER]
        )
        meetings = [_entity(d) async for d in found.limit(limit + 1)]
        more = len(meetings) > limit
        meetings = meetings[:limit]
        last = meetings[-1] if meetings else None
        next_cursor = encode_cursor([last.details.starts_at, last.id]) if more and last else None
        return Page(meetings=meetings, next_cursor=next_cursor)

    async def list_upcoming(self, *, now: datetime, limit: int = 500) -> list[Meeting]:
        """Announced meetings not yet over, cancelled ones included so calendars drop them."""
        found = self.collection.find(
            {
                "status": {"$in": [Status.SCHEDULED.value, Status.CANCELLED.value]},
                "details.ends_at": {"$gte": now},
            },
            {OUTBOX_FIELD: 0, PENDING_FIELD: 0},
        ).sort([("details.starts_at", ASCENDING), ("_id", ASCENDING)])
        return [_entity(d) async for d in found.limit(limit)]

    # --- registrations ---------------------------------------------------------------------

    async def register(
        self,
        meeting_id: str,
        person: Person,
        *,
        registration_id: RegistrationId,
        now: datetime,
        decide: Callable[[Meeting, Registration], Seated],
    ) -> tuple[Registration, bool, Meeting]:
        """The person's registration, made now or found (False) if they have an active one,
        and the meeting as the decision left it."""
        key = active_key(meeting_id, person.email)
        arriving = Registration(
            id=registration_id,
            meeting_id=MeetingId(meeting_id),
            person=person,
            requested_at=now,
            changed_at=now,
        )
        document, created = await self.registrations.reserve(
            _registration_document(arriving) | {"active_key": key}
        )
        if not created and document.get("status") is not None:
            return _registration(document), False, await self.get(meeting_id)
        reserved = _registration(document)
        try:
            meeting, changed, _ = await self.seat(
                meeting_id,
                lambda meeting, known: decide(meeting, known.registration(meeting_id, reserved.id)),
                Wanted(registrations=[reserved.id]),
            )
        except DomainError:
            # Refused (closed, say): the request leaves nothing behind.
            await self.registrations.collection.delete_one({"_id": reserved.id, "version": 0})
            raise
        if not changed:
            return await self.get_registration(meeting_id, reserved.id), False, meeting
        return changed[0], True, meeting

    async def get_registration(self, meeting_id: str, registration_id: str) -> Registration:
        document = await self.registrations.get(registration_id)
        if document is None or document["meeting_id"] != meeting_id or document["status"] is None:
            raise RegistrationNotFound(meeting_id, registration_id)
        return _registration(document)

    async def list_registrations(
        self,
        meeting_id: str,
        *,
        status: SeatStatus | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[Registration]:
        """Registrations in arrival order, after request number `after`."""
        found = await self.registrations.list_for(
            meeting_id, status=status.value if status else None, after_order=after, limit=limit
        )
        return [_registration(d) for d in found]

    async def waitlist_positions(
        self, meeting: Meeting, registrations: Sequence[Registration], *, contiguous: bool = False
    ) -> dict[str, int]:
        """The place in the queue of each waiting registration given (1: next promoted).

        `contiguous`: the registrations are one page of the arrival order, so nobody else
        waits between two of them and one count places them all.
        """
        waiting = sorted(
            (r for r in registrations if r.status is SeatStatus.WAITLISTED), key=lambda r: r.request
        )
        positions: dict[str, int] = {}
        for r in waiting:
            if contiguous and positions:
                positions[r.id] = len(positions) + next(iter(positions.values()))
                continue
            known = meeting.seating.position(r.request)
            positions[r.id] = (
                known
                if known is not None
                else 1
                + await self.registrations.count(
                    meeting.id, status=SeatStatus.WAITLISTED.value, before_order=r.request
                )
            )
        return positions

    async def checked_in_organisations(self, meeting_id: str) -> list[str]:
        """The organisations of everyone checked in as attended, to prefill the minutes."""
        people = await self.registrations.values(meeting_id, "person", attendance="attended")
        return sorted({p["organisation"] for p in people if p and p.get("organisation")})

    async def repair(self, *, now: datetime) -> int:
        """Apply registration changes left pending by processes that died; returns how many."""
        return await self.registrations.sweep(now=now)

    # --- internals -------------------------------------------------------------------------

    async def _load(self, meeting_id: str) -> tuple[Meeting, list[Document]]:
        document = await self.collection.find_one({"_id": meeting_id}, {OUTBOX_FIELD: 0})
        if document is None:
            raise MeetingNotFound(meeting_id)
        return _entity(document), list(document.get(PENDING_FIELD, []))

    async def _known(self, meeting: Meeting, wanted: Wanted) -> tuple[Meeting, Known]:
        ids = set(wanted.registrations)
        seating = meeting.seating
        waiting_docs: list[Document] | None = None
        if wanted.all_waiting:
            waiting_docs = await self.registrations.list_for(
                meeting.id, status=SeatStatus.WAITLISTED.value
            )
        elif wanted.waiting and seating.needs_head(wanted.waiting):
            waiting_docs = await self.registrations.list_for(
                meeting.id,
                status=SeatStatus.WAITLISTED.value,
                limit=max(HEAD_SIZE, wanted.waiting),
            )
        if waiting_docs is not None:
            found = {d["_id"]: _registration(d) for d in waiting_docs}
            seating = seating.with_head([Waiting(r.request, r.id) for r in found.values()])
            meeting = replace(meeting, seating=seating)
        else:
            found = {}
        if wanted.waiting and waiting_docs is None:
            ids |= {w.key for w in seating.head}
        loaded = await self.registrations.get_many(ids - set(found))
        by_id = found | {
            key: _registration(d) for key, d in loaded.items() if d["meeting_id"] == meeting.id
        }
        if waiting_docs is not None:
            waiting = [found[d["_id"]] for d in waiting_docs]
        else:
            waiting = [by_id[w.key] for w in seating.head if w.key in by_id]
        requested = {k: by_id[k] for k in wanted.registrations if k in by_id}
        return meeting, Known(registrations=requested, waiting=waiting)

    async def _save(
        self,
        before: Meeting,
        after: Meeting,
        registrations: Sequence[Registration],
        events: Sequence[Event],
        pending: Sequence[Document],
    ) -> Meeting:
        update: Document = {"$set": {}}
        saved = after
        if _meeting_part(after) != _meeting_part(before):
            saved = replace(saved, version=before.version + 1)
            document = _document(saved)
            del document["_id"]
            update["$set"] |= {
                k: v for k, v in document.items() if k not in (SEATING_FIELD, SEATING_VERSION_FIELD)
            }
        if after.seating != before.seating:
            saved = replace(saved, seating_version=before.seating_version + 1)
            update["$set"] |= {
                SEATING_FIELD: _seating_document(after.seating),
                SEATING_VERSION_FIELD: saved.seating_version,
            }
        own = [e for e in events if not isinstance(e, RegistrationEvent)]
        update = push_outbox(update, self._outbox.stage(own))
        by_registration: dict[str, list[Event]] = {}
        for event in events:
            if isinstance(event, RegistrationEvent):
                by_registration.setdefault(event.registration.registration_id, []).append(event)
        changes = [
            PlaceChange(
                place_id=r.id,
                from_version=r.version,
                fields=_registration_fields(r),
                outbox=self._outbox.stage(by_registration.get(r.id, [])),
            )
            for r in registrations
        ]
        try:
            committed = await self.registrations.commit(
                before.id,
                version=before.version,
                seating_version=before.seating_version,
                pending=pending,
                update=update,
                changes=changes,
                now=after.updated_at,
            )
        except DuplicateKeyError as exc:
            raise _taken(after, exc) from exc
        if not committed:
            raise LostRace("meeting", before.id, version=before.version)
        if own:
            self._outbox.written(self.collection.name, before.id)
        return saved


def active_key(meeting_id: str, email: str) -> str:
    """One active registration per person and meeting: the e-mail address in any case."""
    return f"{meeting_id}/{email_identity(email)}"


def _meeting_part(meeting: Meeting) -> Meeting:
    return replace(meeting, seating=Seating(), seating_version=0)


def _document(meeting: Meeting) -> Document:
    fields_ = to_bson(_MEETING.dump_python(meeting))
    venue = meeting.details.venue
    fields_[SEATING_FIELD] = _seating_document(meeting.seating)
    return {
        "_id": fields_.pop("id"),
        **fields_,
        _CITY: venue.city.casefold() if venue else None,
        _NUMBER: _number_key(meeting),
    }


def _seating_document(seating: Seating) -> Document:
    return {
        "capacity": seating.capacity,
        "requests": seating.requests,
        "counts": {f.name: getattr(seating.counts, f.name) for f in fields(seating.counts)},
        "head": [[w.order, w.key] for w in seating.head],
    }


def _seating(document: Document) -> Seating:
    return Seating(
        capacity=document.get("capacity"),
        requests=int(document.get("requests", 0)),
        counts=Counts(**document.get("counts", {})),
        head=tuple(Waiting(int(order), key) for order, key in document.get("head", [])),
    )


def _number_key(meeting: Meeting) -> str:
    # Unique: the number's claim, or the meeting's own id (trivially unique) when it has none.
    return meeting.number_claim or f"id:{meeting.id}"


def _taken(meeting: Meeting, error: DuplicateKeyError) -> Exception:
    # The number key is the only unique field a client's data can collide on.
    if meeting.details.number is None:
        return error
    return MeetingNumberTaken(meeting.details.number)


def _entity(document: Document) -> Meeting:
    fields_ = {k: v for k, v in document.items() if k not in _NOT_ENTITY}
    fields_["id"] = MeetingId(fields_.pop("_id"))
    fields_[SEATING_FIELD] = _seating(fields_.get(SEATING_FIELD) or {})
    return _MEETING.validate_python(fields_)


def _registration_document(registration: Registration) -> Document:
    return {
        "_id": registration.id,
        "meeting_id": registration.meeting_id,
        **_registration_fields(registration),
    }


def _registration_fields(registration: Registration) -> Document:
    """What a decision changes in a registration's document (everything but its identity)."""
    fields_: Document = to_bson(_REGISTRATION.dump_python(registration))
    for name in ("id", "meeting_id", "version"):
        fields_.pop(name)
    fields_["order"] = fields_.pop("request")
    if not registration.active:
        # The person may register again: their key is released with the registration.
        fields_["active_key"] = f"released/{registration.id}"
    return fields_


def _registration(document: Document) -> Registration:
    fields_ = {k: v for k, v in document.items() if k not in _NOT_REGISTRATION}
    fields_["id"] = document["_id"]
    fields_["meeting_id"] = document["meeting_id"]
    fields_["request"] = document.get("order", 0)
    return _REGISTRATION.validate_python(fields_)


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
