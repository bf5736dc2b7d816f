"""The consumers' "already processed" ledger against the MongoDB-wire server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.idempotency import ProcessedEvents
from tests.infra import Mongo, unique_name

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def db(mongo: Mongo) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    try:
        yield client[unique_name("processed").replace("-", "_")]
    finally:
        await client.close()


async def test_an_event_is_marked_once_per_consumer(db: AsyncDatabase[dict[str, Any]]) -> None:
    ledger = ProcessedEvents(db)
    await ledger.create_indexes()

    first = await ledger.mark("notifications", "evt-1")
    again = await ledger.mark("notifications", "evt-1")
    other_consumer = await ledger.mark("digest", "evt-1")

    assert (first, again, other_consumer) == (True, False, True)
    assert await ledger.seen("notifications", "evt-1")
    assert not await ledger.seen("notifications", "evt-2")


async def test_marks_expire_through_a_ttl_index(db: AsyncDatabase[dict[str, Any]]) -> None:
    ledger = ProcessedEvents(db, retention=timedelta(days=7))
    await ledger.create_indexes()

    indexes = {index["name"]: index async for index in await db["processed_events"].list_indexes()}

    assert indexes["processed_at_ttl"]["key"] == {"processed_at": 1}
    assert indexes["processed_at_ttl"]["expireAfterSeconds"] == 7 * 24 * 3600
