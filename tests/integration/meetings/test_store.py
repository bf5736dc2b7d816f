"""The store against the MongoDB-wire server: round trips and the version guard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from services.meetings import domain
from services.meetings.domain import Decision, Status
from services.meetings.store import MeetingStore
from shared.contracts.meetings import DecisionKind
from shared.errors import ConcurrentUpdate
from shared.outbox import Outbox
from tests.infra import Mongo, unique_name
from tests.unit.meetings.builders import AFTER, SECRETARIAT, a_meeting, registered

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def store(mongo: Mongo) -> AsyncIterator[MeetingStore]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    store = MeetingStore(
        client[unique_name("meetings-store").replace("-", "_")], Outbox(source="/t")
    )
    await store.create_indexes()
    yield store
    await client.close()


async def test_a_meeting_reads_back_exactly_as_it_was_saved(store: MeetingStore) -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)
    meeting, _ = domain.hold(meeting, by=SECRETARIAT, now=AFTER)
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


async def test_a_save_based_on_a_stale_version_is_refused(store: MeetingStore) -> None:
    added = await store.add(a_meeting())
    await store.save(replace(added, details=replace(added.details, title="First")), [])

    with pytest.raises(ConcurrentUpdate):
        await store.save(replace(added, details=replace(added.details, title="Second")), [])

    assert (await store.get(added.id)).details.title == "First"


async def test_events_are_written_with_the_state_in_the_same_document(store: MeetingStore) -> None:
    added = await store.add(a_meeting())
    scheduled, events = domain.schedule(added, by=SECRETARIAT, now=AFTER)

    await store.save(scheduled, events)

    document = await store.collection.find_one({"_id": added.id})
    assert document is not None
    assert document["status"] == "scheduled"
    assert [e["headers"]["ce_type"] for e in document["outbox"]] == [events[0].EVENT_TYPE]
