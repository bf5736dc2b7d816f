"""The MongoDB guarantees our stores rely on, against whatever server the ``mongo`` fixture hands out.

The dev stack runs mongo-java-server in MongoDB's place: a failure here means the stores' arguments
about concurrent writers, idempotency and durability do not hold on that server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient, ReturnDocument, WriteConcern
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, DuplicateKeyError

from tests.infra import Mongo, unique_name

# Stops and starts the shared servers (or a whole stack): runs alone, after the rest.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

DATABASE = unique_name("conformance")  # one per test session

Doc = dict[str, Any]


def _client(mongo: Mongo) -> AsyncMongoClient[Doc]:
    return AsyncMongoClient(mongo.uri, serverSelectionTimeoutMS=10_000)


@pytest_asyncio.fixture(loop_scope="session")
async def db(mongo: Mongo) -> AsyncIterator[AsyncDatabase[Doc]]:
    client = _client(mongo)
    yield client[DATABASE]
    # The dev stack's server reopens every database at start-up: leave none behind. A test
    # may have restarted the server under this client: its pooled connection is then stale,
    # and the first command on it fails once (no retryable writes without sessions).
    try:
        await client.drop_database(DATABASE)
    except AutoReconnect:
        await client.drop_database(DATABASE)
    await client.close()


async def test_concurrent_conditional_updates_lose_nothing(db: AsyncDatabase[Doc]) -> None:
    meetings = db[unique_name("meetings")]
    await meetings.insert_one({"_id": "amsterdam-2018-05-15", "version": 0, "minutes": []})

    async def record_minutes(entry: str) -> int:
        """Read, then write only if nobody wrote in between; retry on a version mismatch."""
        attempts = 0
        while True:
            attempts += 1
            meeting = await meetings.find_one({"_id": "amsterdam-2018-05-15"})
            assert meeting is not None
            result = await meetings.update_one(
                {"_id": "amsterdam-2018-05-15", "version": meeting["version"]},
                {"$inc": {"version": 1}, "$push": {"minutes": entry}},
            )
            if result.matched_count == 1:
                return attempts

    attempts = await asyncio.gather(*(record_minutes(f"item-{i}") for i in range(50)))

    meeting = await meetings.find_one({"_id": "amsterdam-2018-05-15"})
    assert meeting is not None
    assert sum(attempts) > 50, "the writers never collided, so this run proved nothing"
    assert meeting["version"] == 50, (
        f"version is {meeting['version']} after 50 successful conditional updates: the server "
        "does not keep MongoDB's guarantee that a single-document update is atomic"
    )
    assert len(meeting["minutes"]) == 50, (
        f"{len(meeting['minutes'])} of 50 pushed entries are there: the server does not keep "
        "MongoDB's guarantee that a single-document update is atomic"
    )
    assert len(set(meeting["minutes"])) == 50, (
        "an entry was pushed twice: the server does not keep MongoDB's guarantee that a "
        "conditional update matches only the state it filtered on"
    )


async def test_a_unique_index_refuses_a_second_document_with_the_same_key(
    db: AsyncDatabase[Doc],
) -> None:
    deliveries = db[unique_name("deliveries")]
    await deliveries.create_index([("event_id", 1), ("member_id", 1)], unique=True)
    await deliveries.insert_one({"event_id": "evt-1", "member_id": "amsterdam"})

    try:
        await deliveries.insert_one({"event_id": "evt-1", "member_id": "amsterdam"})
    except DuplicateKeyError:
        pass
    else:
        pytest.fail(
            "a second document with the same unique key was accepted: the server does not "
            "keep MongoDB's guarantee that a unique index refuses duplicates (DuplicateKeyError)"
        )

    count = await deliveries.count_documents({"event_id": "evt-1"})
    assert count == 1, (
        f"{count} documents share one unique key: the server does not keep MongoDB's "
        "guarantee that a unique index refuses duplicates"
    )


async def test_find_one_and_update_returns_the_updated_document(db: AsyncDatabase[Doc]) -> None:
    actions = db[unique_name("actions")]
    await actions.insert_one({"_id": "action-7", "version": 3, "status": "open"})

    updated = await actions.find_one_and_update(
        {"_id": "action-7", "version": 3},
        {"$set": {"status": "prolonged"}, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )

    assert updated == {"_id": "action-7", "version": 4, "status": "prolonged"}, (
        f"find_one_and_update returned {updated!r}: the server does not keep MongoDB's "
        "guarantee that return_document=AFTER returns the document as updated"
    )


async def test_documents_and_unique_indexes_survive_a_server_restart(
    mongo: Mongo, db: AsyncDatabase[Doc]
) -> None:
    name = unique_name("registrations")
    await db[name].create_index("email", unique=True)
    await db[name].insert_one({"_id": "reg-1", "email": "amsterdam@example.org"})

    await mongo.stop()
    await mongo.start()

    client = _client(mongo)
    try:
        registrations = client[DATABASE][name]
        found = await registrations.find_one({"_id": "reg-1"})
        assert found == {"_id": "reg-1", "email": "amsterdam@example.org"}, (
            f"after a restart the document reads {found!r}: the server does not keep "
            "MongoDB's guarantee that acknowledged writes are durable"
        )
        try:
            await registrations.insert_one({"_id": "reg-2", "email": "amsterdam@example.org"})
        except DuplicateKeyError:
            pass
        else:
            pytest.fail(
                "after a restart the unique index no longer refuses duplicates: the server "
                "does not keep MongoDB's guarantee that indexes are durable"
            )
    finally:
        await client.close()


async def test_a_journaled_write_survives_a_server_crash(
    mongo: Mongo, db: AsyncDatabase[Doc]
) -> None:
    journaled = db.get_collection(unique_name("outbox"), write_concern=WriteConcern(w=1, j=True))
    await journaled.insert_one({"_id": "evt-42", "type": "MeetingCancelled"})

    await mongo.stop(kill=True)
    await mongo.start()

    client = _client(mongo)
    try:
        found = await client[DATABASE][journaled.name].find_one({"_id": "evt-42"})
    finally:
        await client.close()
    assert found is not None, (
        "a write acknowledged with j=true is gone after SIGKILL: the server does not keep "
        "MongoDB's guarantee that journaled writes survive a crash"
    )
