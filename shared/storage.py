"""MongoDB through PyMongo's async API; one database per service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, PyMongoError

from shared.settings import ServiceSettings

Document = dict[str, Any]


def connect_mongo(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """A client with deliberate timeouts: a dead database fails a request in seconds, not 30 s.

    Nothing connects here; the first operation does.
    """
    timeout_ms = int(settings.mongodb_timeout_s * 1000)
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * 3,
        appname=settings.service_name,
    )


def to_bson(value: Any) -> Any:
    """A dumped entity as BSON keeps it: BSON has datetimes but no plain dates."""
    if isinstance(value, dict):
        return {k: to_bson(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_bson(v) for v in value]
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    return value


async def keyset_index(collection: AsyncCollection[Document], *fields: str) -> None:
    """An index for writes filtered on `_id` plus `fields` (a version, a lease owner...).

    MongoDB serves such a filter from the `_id` index. The dev stack's MongoDB-wire server
    uses an index only when its keys are exactly the filter's keys, and otherwise reads the
    whole collection, so a guarded write would cost more as history piles up: each filter
    shape that guards a write gets its keyset index. Unique, since `_id` is.
    """
    await collection.create_index(
        [("_id", ASCENDING), *((field, ASCENDING) for field in fields)],
        unique=True,
        name="keyset_" + "_".join(fields),
    )


def duplicate_positions(error: BulkWriteError) -> set[int]:
    """Which documents of an unordered insert_many a unique index refused (already there)."""
    details = error.details.get("writeErrors", [])
    others = [e for e in details if e.get("code") != 11000]
    if others:
        raise error
    return {int(e["index"]) for e in details}


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """Readiness: the server answers."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True
