"""Every PyMongo operation the services use, against whatever server the ``mongo`` fixture hands out.

The conformance tests check MongoDB's guarantees; these check that the dev stack's server speaks
the rest of the query and update language the stores use, with MongoDB's results.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from tests.infra import Mongo, unique_name

pytestmark = pytest.mark.integration

DATABASE = unique_name("operations")

Doc = dict[str, Any]


@pytest_asyncio.fixture(loop_scope="session")
async def collection(mongo: Mongo) -> AsyncIterator[AsyncCollection[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo.uri, serverSelectionTimeoutMS=10_000)
    yield client[DATABASE][unique_name("things")]
    # The dev stack's server reopens every database at start-up: leave none behind.
    await client.drop_database(DATABASE)
    await client.close()


async def test_find_sorts_on_two_keys_then_skips_and_limits(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_many([{"_id": i, "city": i % 3, "rank": i} for i in range(10)])

    page = collection.find({}).sort([("city", ASCENDING), ("rank", DESCENDING)]).skip(2).limit(4)

    assert [(d["city"], d["rank"]) async for d in page] == [(0, 3), (0, 0), (1, 7), (1, 4)]


async def test_a_versioned_update_sets_increments_pushes_many_and_pulls(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_one(
        {"_id": "m-11", "version": 0, "tags": ["housing", "jobs"], "outbox": [{"id": "e-0"}]}
    )

    result = await collection.update_one(
        {"_id": "m-11", "version": 0},
        {
            "$set": {"status": "held"},
            "$inc": {"version": 1},
            "$push": {"outbox": {"$each": [{"id": "e-1"}, {"id": "e-2"}]}},
            "$pull": {"tags": "jobs"},
        },
    )
    stale = await collection.update_one({"_id": "m-11", "version": 0}, {"$inc": {"version": 1}})

    assert (result.matched_count, result.modified_count, stale.matched_count) == (1, 1, 0)
    assert await collection.find_one({"_id": "m-11"}) == {
        "_id": "m-11",
        "version": 1,
        "tags": ["housing"],
        "outbox": [{"id": "e-0"}, {"id": "e-1"}, {"id": "e-2"}],
        "status": "held",
    }


async def test_pull_with_in_removes_exactly_the_published_outbox_entries(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_one({"_id": "m-12", "outbox": [{"id": "e-1"}, {"id": "e-2"}]})

    await collection.update_one({"_id": "m-12"}, {"$pull": {"outbox": {"id": {"$in": ["e-1"]}}}})

    assert await collection.find_one({"_id": "m-12"}) == {"_id": "m-12", "outbox": [{"id": "e-2"}]}


async def test_find_one_and_update_upserts_and_returns_before_or_nothing(
    collection: AsyncCollection[Doc],
) -> None:
    created = await collection.find_one_and_update(
        {"_id": "seq"},
        {"$setOnInsert": {"kind": "counter"}, "$inc": {"value": 1}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    before = await collection.find_one_and_update(
        {"_id": "seq"}, {"$inc": {"value": 1}}, return_document=ReturnDocument.BEFORE
    )
    missing = await collection.find_one_and_update({"_id": "none"}, {"$inc": {"value": 1}})

    assert created == {"_id": "seq", "kind": "counter", "value": 1}
    assert before == {"_id": "seq", "kind": "counter", "value": 1}
    assert missing is None


async def test_update_one_upserts_with_the_filtered_id(collection: AsyncCollection[Doc]) -> None:
    result = await collection.update_one({"_id": "u-1"}, {"$set": {"seen": True}}, upsert=True)

    assert result.upserted_id == "u-1"
    assert await collection.find_one({"_id": "u-1"}) == {"_id": "u-1", "seen": True}


async def test_delete_one_and_delete_many_report_what_they_removed(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_many([{"_id": i, "city": i % 2} for i in range(6)])

    one = await collection.delete_one({"_id": 0})
    many = await collection.delete_many({"city": 1})

    assert (one.deleted_count, many.deleted_count) == (1, 3)
    assert await collection.count_documents({}) == 2


async def test_count_documents_counts_what_matches(collection: AsyncCollection[Doc]) -> None:
    await collection.insert_many([{"status": s} for s in ["open", "open", "closed"]])

    assert await collection.count_documents({"status": "open"}) == 2


async def test_a_compound_unique_index_refuses_duplicates_on_insert_and_update(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.create_index([("event_id", ASCENDING), ("member_id", ASCENDING)], unique=True)
    await collection.insert_many(
        [
            {"_id": 1, "event_id": "e", "member_id": "a"},
            {"_id": 2, "event_id": "e", "member_id": "b"},
        ]
    )

    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": 3, "event_id": "e", "member_id": "a"})
    with pytest.raises(DuplicateKeyError):
        await collection.update_one({"_id": 2}, {"$set": {"member_id": "a"}})
    with pytest.raises(DuplicateKeyError):
        await collection.find_one_and_update({"_id": 2}, {"$set": {"member_id": "a"}})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"_id": 1})


async def test_an_unordered_batch_inserts_all_but_the_duplicates(
    collection: AsyncCollection[Doc],
) -> None:
    with pytest.raises(BulkWriteError) as failure:
        await collection.insert_many([{"_id": "a"}, {"_id": "a"}, {"_id": "b"}], ordered=False)

    assert [error["code"] for error in failure.value.details["writeErrors"]] == [11000]
    assert await collection.count_documents({}) == 2


async def test_aggregate_matches_groups_and_sorts(collection: AsyncCollection[Doc]) -> None:
    await collection.insert_many(
        [{"city": c, "seats": n} for c, n in [("Amsterdam", 3), ("Berlin", 1), ("Amsterdam", 2)]]
    )

    cursor = await collection.aggregate(
        [
            {"$match": {"seats": {"$gte": 1}}},
            {"$group": {"_id": "$city", "seats": {"$sum": "$seats"}, "entries": {"$sum": 1}}},
            {"$sort": {"seats": -1}},
        ]
    )

    assert [d async for d in cursor] == [
        {"_id": "Amsterdam", "seats": 5, "entries": 2},
        {"_id": "Berlin", "seats": 1, "entries": 1},
    ]


async def test_aware_datetimes_round_trip_at_millisecond_precision_and_compare(
    collection: AsyncCollection[Doc],
) -> None:
    noon = datetime(2018, 5, 15, 12, 0, 0, 123000, tzinfo=UTC)
    await collection.insert_one({"_id": "m", "starts_at": noon})

    found = await collection.find_one({"starts_at": {"$lt": noon + timedelta(seconds=1)}})

    assert found is not None
    assert found["starts_at"].replace(tzinfo=UTC) == noon


async def test_a_positional_update_changes_the_matched_array_element(
    collection: AsyncCollection[Doc],
) -> None:
    await collection.insert_one(
        {"_id": "p", "members": [{"id": "1", "role": "member"}, {"id": "2", "role": "member"}]}
    )

    await collection.update_one(
        {"_id": "p", "members.id": "2"}, {"$set": {"members.$.role": "lead"}}
    )

    found = await collection.find_one({"members": {"$elemMatch": {"id": "2", "role": "lead"}}})
    assert found is not None
    assert found["members"][0]["role"] == "member"
