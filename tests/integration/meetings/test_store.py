"""The store against the MongoDB-wire server: round trips, the version guards, and
registrations that survive a process dying between any two of their writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.meetings import domain
from services.meetings.domain import Decision, Meeting, Registration, Status
from services.meetings.store import MeetingStore
from shared import places
from shared.contracts.meetings import DecisionKind, RegistrationConfirmed
from shared.errors import ConcurrentUpdate
from shared.outbox import OUTBOX_FIELD, Outbox
from shared.seating import SeatStatus
from tests.infra import Mongo, unique_name
from tests.unit.meetings.builders import AFTER, BEFORE, SECRETARIAT, a_meeting, person

pytestmark = pytest.mark.integration

Db = AsyncDatabase[dict[str, Any]]


@pytest_asyncio.fixture
async def database(mongo: Mongo) -> AsyncIterator[Db]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    yield client[unique_name("meetings-store").replace("-", "_")]
    await client.close()


async def store_over(database: Db) -> MeetingStore:
    """A store as one process has it: a fresh one stands for a process started again."""
    store = MeetingStore(database, Outbox(source="/partnership/meetings"))
    await store.create_indexes()
    return store


@pytest_asyncio.fixture
async def store(database: Db) -> MeetingStore:
    return await store_over(database)


async def scheduled(store: MeetingStore, **details: Any) -> Meeting:
    meeting = await store.add(a_meeting(**details))
    await store.update(meeting.id, lambda m: domain.schedule(m, by=SECRETARIAT, now=BEFORE))
    return await store.get(meeting.id)


async def register(store: MeetingStore, meeting_id: str, n: int) -> tuple[Registration, bool]:
    registration, created, _ = await store.register(
        meeting_id,
        person(n),
        registration_id=domain.RegistrationId(f"r-{n}"),
        now=BEFORE,
        decide=lambda meeting, arriving: domain.register(meeting, arriving, now=BEFORE),
    )
    return registration, created


async def published_types(store: MeetingStore, registration_id: str) -> list[str]:
    """The events waiting in the registration's outbox, as the relay finds them."""
    document = await store.registrations.collection.find_one({"_id": registration_id})
    assert document is not None
    return [e["headers"]["ce_type"] for e in document[OUTBOX_FIELD]]


async def test_a_meeting_reads_back_exactly_as_it_was_saved(store: MeetingStore) -> None:
    meeting, _ = domain.hold(a_meeting(Status.SCHEDULED, capacity=1), by=SECRETARIAT, now=AFTER)
    meeting, _ = domain.record_minutes(
        meeting,
        summary="Prolonged until 1 July 2019.",
        decisions=[
            Decision(
                text="Prolong",
                kind=DecisionKind.PROLONG,
                action_ids=("2",),
                new_end_date=date(2019, 7, 1),
            )
        ],
        by=SECRETARIAT,
        now=AFTER,
    )

    added = await store.add(meeting)

    assert await store.get(meeting.id) == added
    assert added.version == 1


async def test_a_decision_on_a_stale_version_is_refused(store: MeetingStore) -> None:
    added = await store.add(a_meeting())

    def retitle(title: str) -> Callable[[Meeting], domain.Decided]:
        def decide(m: Meeting) -> domain.Decided:
            changed, _, events = domain.update(
                m, replace(m.details, title=title), by=SECRETARIAT, now=BEFORE
            )
            return changed, events

        return decide

    await store.update(added.id, retitle("First"), expected_version=added.version)

    with pytest.raises(ConcurrentUpdate):
        await store.update(added.id, retitle("Second"), expected_version=added.version)
    assert (await store.get(added.id)).details.title == "First"


async def test_events_are_written_with_the_state_in_the_same_document(store: MeetingStore) -> None:
    added = await store.add(a_meeting())

    _, events = await store.update(
        added.id, lambda m: domain.schedule(m, by=SECRETARIAT, now=BEFORE)
    )

    document = await store.collection.find_one({"_id": added.id})
    assert document is not None
    assert document["status"] == "scheduled"
    assert [e["headers"]["ce_type"] for e in document[OUTBOX_FIELD]] == [events[0].EVENT_TYPE]


async def test_registrations_do_not_race_the_secretariats_edits(store: MeetingStore) -> None:
    meeting = await scheduled(store, capacity=10)

    for n in range(1, 6):
        await register(store, meeting.id, n)

    after = await store.get(meeting.id)
    assert after.version == meeting.version
    assert after.seating.counts.confirmed == 5


async def test_a_registration_is_its_own_document_and_the_meeting_stays_small(
    store: MeetingStore,
) -> None:
    meeting = await scheduled(store, capacity=50)

    for n in range(1, 201):
        await register(store, meeting.id, n)

    document = await store.collection.find_one({"_id": meeting.id})
    assert document is not None
    assert "registrations" not in document
    assert len(str(document)) < 8_000
    assert await store.registrations.collection.count_documents({"meeting_id": meeting.id}) == 200


async def test_1000_concurrent_registrations_for_300_seats_keep_the_seat_invariant(
    store: MeetingStore,
) -> None:
    meeting = await scheduled(store, capacity=300)

    results = await asyncio.gather(*(register(store, meeting.id, n) for n in range(1000)))

    registrations = sorted((r for r, _ in results), key=lambda r: r.request)
    confirmed = [r for r in registrations if r.status is SeatStatus.CONFIRMED]
    waiting = [r for r in registrations if r.status is SeatStatus.WAITLISTED]
    assert (len(confirmed), len(waiting)) == (300, 700)
    assert [r.request for r in registrations] == list(range(1, 1001))
    # Arrival order decides: every confirmed request came before every waiting one.
    assert max(r.request for r in confirmed) < min(r.request for r in waiting)
    positions = await store.waitlist_positions(
        await store.get(meeting.id), waiting, contiguous=True
    )
    assert [positions[r.id] for r in waiting] == list(range(1, 701))


# --- a process dying between two writes ----------------------------------------------------


class Died(Exception):
    """The process stops here: nothing after this point of the registration runs."""


async def test_dying_after_the_request_is_reserved_leaves_nothing_a_retry_does_not_finish(
    database: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await store_over(database)
    meeting = await scheduled(first, capacity=1)

    async def die(*_: object, **__: object) -> bool:
        raise Died

    monkeypatch.setattr(first.registrations, "commit", die)
    with pytest.raises(Died):
        await register(first, meeting.id, 1)

    again = await store_over(database)
    unseated = await again.get(meeting.id)
    registration, created = await register(again, meeting.id, 1)

    assert unseated.seating.counts.confirmed == 0
    assert (registration.status, created) == (SeatStatus.CONFIRMED, True)
    assert await published_types(again, registration.id) == [RegistrationConfirmed.EVENT_TYPE]


async def test_dying_after_the_seat_is_decided_is_finished_by_the_next_decision(
    database: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await store_over(database)
    meeting = await scheduled(first, capacity=1)

    async def die(entry: dict[str, Any]) -> None:
        raise Died

    monkeypatch.setattr(first.registrations, "apply", die)
    with pytest.raises(Died):
        await register(first, meeting.id, 1)

    again = await store_over(database)
    seated = await again.get(meeting.id)
    await register(again, meeting.id, 2)

    one = await again.get_registration(meeting.id, "r-1")
    assert seated.seating.counts.confirmed == 1
    assert one.status is SeatStatus.CONFIRMED
    assert await published_types(again, "r-1") == [RegistrationConfirmed.EVENT_TYPE]


async def test_dying_after_the_seat_is_decided_is_finished_by_the_repair_sweep(
    database: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await store_over(database)
    meeting = await scheduled(first, capacity=1)

    async def die(entry: dict[str, Any]) -> None:
        raise Died

    monkeypatch.setattr(first.registrations, "apply", die)
    with pytest.raises(Died):
        await register(first, meeting.id, 1)

    again = await store_over(database)
    repaired = await again.repair(now=BEFORE + places.STALE_AFTER + timedelta(days=3650))

    assert repaired == 1
    assert (await again.get_registration(meeting.id, "r-1")).status is SeatStatus.CONFIRMED
    assert await again.repair(now=BEFORE + timedelta(days=3650)) == 0
    document = await again.collection.find_one({"_id": meeting.id})
    assert document is not None
    assert document[places.PENDING_FIELD] == []


async def test_a_change_applied_twice_has_one_effect_and_one_event(
    database: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await store_over(database)
    meeting = await scheduled(first, capacity=1)
    seen: list[dict[str, Any]] = []
    original = first.registrations.apply

    async def apply_then_die(entry: dict[str, Any]) -> None:
        seen.append(entry)
        await original(entry)
        raise Died

    monkeypatch.setattr(first.registrations, "apply", apply_then_die)
    with pytest.raises(Died):
        await register(first, meeting.id, 1)

    again = await store_over(database)
    await again.registrations.apply(seen[0])
    await register(again, meeting.id, 2)

    one = await again.get_registration(meeting.id, "r-1")
    assert one.version == 1
    assert await published_types(again, "r-1") == [RegistrationConfirmed.EVENT_TYPE]
