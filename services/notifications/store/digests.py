"""Changes held back for the daily digest, in MongoDB.

An entry is claimed by a digest (its `digest_id`) before that digest's delivery is
written, and marked sent after: a crash in between is finished on the next run, and an
entry that arrives for a day whose digest already went out moves to the next day.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.notifications.domain.digest import DigestEntry
from services.notifications.domain.directory import Category, ContactId
from shared.storage import Document


class DigestStore(Protocol):
    async def add_once(self, entry: DigestEntry) -> bool: ...
    async def unclaimed(self, *, up_to: date) -> list[DigestEntry]: ...
    async def claimed_unsent(self) -> dict[str, list[DigestEntry]]: ...
    async def claim(self, entries: Sequence[DigestEntry], digest_id: str) -> None: ...
    async def mark_sent(self, digest_id: str) -> None: ...
    async def move(self, entries: Sequence[DigestEntry], *, to: date) -> None: ...
    async def list_for(self, contact_id: ContactId) -> list[DigestEntry]: ...
    async def erase_contact(self, contact_id: ContactId) -> None: ...


class MongoDigests:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._entries = db["digest_entries"]

    async def create_indexes(self) -> None:
        await self._entries.create_index([("digest_id", ASCENDING), ("day", ASCENDING)])
        await self._entries.create_index("contact_id")

    async def add_once(self, entry: DigestEntry) -> bool:
        try:
            await self._entries.insert_one(entry_doc(entry))
        except DuplicateKeyError:
            return False
        return True

    async def unclaimed(self, *, up_to: date) -> list[DigestEntry]:
        cursor = self._entries.find({"digest_id": None, "day": {"$lte": up_to.isoformat()}}).sort(
            [("contact_id", ASCENDING), ("occurred_at", ASCENDING)]
        )
        return [entry_of(doc) async for doc in cursor]

    async def claimed_unsent(self) -> dict[str, list[DigestEntry]]:
        cursor = self._entries.find({"digest_id": {"$ne": None}, "sent": False}).sort(
            "occurred_at", ASCENDING
        )
        claimed: dict[str, list[DigestEntry]] = {}
        async for doc in cursor:
            claimed.setdefault(doc["digest_id"], []).append(entry_of(doc))
        return claimed

    async def claim(self, entries: Sequence[DigestEntry], digest_id: str) -> None:
        await self._entries.update_many(
            {"_id": {"$in": [e.id for e in entries]}, "digest_id": None},
            {"$set": {"digest_id": digest_id}},
        )

    async def mark_sent(self, digest_id: str) -> None:
        await self._entries.update_many({"digest_id": digest_id}, {"$set": {"sent": True}})

    async def move(self, entries: Sequence[DigestEntry], *, to: date) -> None:
        await self._entries.update_many(
            {"_id": {"$in": [e.id for e in entries]}, "digest_id": None},
            {"$set": {"day": to.isoformat()}},
        )

    async def list_for(self, contact_id: ContactId) -> list[DigestEntry]:
        cursor = self._entries.find({"contact_id": contact_id}).sort("occurred_at", ASCENDING)
        return [entry_of(doc) async for doc in cursor]

    async def erase_contact(self, contact_id: ContactId) -> None:
        await self._entries.delete_many({"contact_id": contact_id})


def entry_doc(entry: DigestEntry) -> Document:
    return {
        "_id": entry.id,
        "contact_id": entry.contact_id,
        "notice_id": entry.notice_id,
        "template": entry.template,
        "category": entry.category.value,
        "summary": entry.summary,
        "occurred_at": entry.occurred_at,
        "day": entry.day.isoformat(),
        "digest_id": None,
        "sent": False,
    }


def entry_of(doc: Document) -> DigestEntry:
    return DigestEntry(
        contact_id=ContactId(doc["contact_id"]),
        notice_id=doc["notice_id"],
        template=doc["template"],
        category=Category(doc["category"]),
        summary=doc["summary"],
        occurred_at=doc["occurred_at"],
        day=date.fromisoformat(doc["day"]),
    )
