"""MongoDB through PyMongo's async API; one database per service."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

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


def is_duplicate_key(exc: BaseException) -> bool:
    """A unique index refused the write: for idempotent writes this means "already done"."""
    return isinstance(exc, DuplicateKeyError)


async def ping(client: AsyncMongoClient[Document]) -> bool:
    """Readiness: the server answers."""
    try:
        await client.admin.command("ping")
    except PyMongoError:
        return False
    return True
