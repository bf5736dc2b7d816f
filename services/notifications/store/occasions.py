"""Occasions, the people confirmed for them, and their reminders, in MongoDB."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pymongo import ASCENDING, DeleteOne, ReplaceOne, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.domain.directory import ContactId, EntityKind, EntityRef
from services.notifications.domain.occasions import Occasion, OccasionStatus, latest
from services.notifications.domain.reminders import Reminder, ReminderStatus
from shared.batching import Batcher
from shared.storage import Document


class OccasionStore(Protocol):
    async def record(self, occasion: Occasion) -> Occasion: ...
    async def get(self, entity: EntityRef) -> Occasion | None: ...
    async def add_participant(
        self, entity: EntityRef, *, registration_id: str, contact_id: ContactId
    ) -> None: ...
    async def remove_participant(self, entity: EntityRef, *, registration_id: str) -> None: ...
    async def participants(self, entity: EntityRef) -> list[ContactId]: ...
    async def participations(self, contact_id: ContactId) -> list[EntityRef]: ...
    async def forget_participant(self, contact_id: ContactId) -> None: ...


class ReminderStore(Protocol):
    async def get(self, reminder_id: str) -> Reminder | None: ...
    async def save(self, reminder: Reminder) -> None: ...
    async def save_fired(self, sent: Reminder, *, claimed: Reminder) -> bool: ...
    async def list_for(self, entity: EntityRef) -> list[Reminder]: ...
    async def claim_due(self, *, now: datetime, lease_s: float) -> Reminder | None: ...


class MongoOccasions:
    """OccasionStore on MongoDB: one document per occasion, one per participant."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._occasions = db["occasions"]
        self._participants = db["participants"]
        self._get = Batcher(self._get_many)
        self._put = Batcher(self._put_many)
        # One ordered bulk write: a confirmation and a cancellation keep their order.
        self._participation = Batcher(self._write_participations)

    async def create_indexes(self) -> None:
        await self._participants.create_index("entity")
        await self._participants.create_index("contact_id")

    async def record(self, occasion: Occasion) -> Occasion:
        """Keep the newest facts (by SEQUENCE); a cancellation stays final."""
        current = await self.get(occasion.entity)
        kept = latest(current, occasion)
        if kept != current:
            await self._put(occasion_doc(kept))
        return kept

    async def _put_many(self, docs: Sequence[Document]) -> list[None]:
        await _replace_latest(self._occasions, docs)
        return [None] * len(docs)

    async def get(self, entity: EntityRef) -> Occasion | None:
        doc = await self._get(entity.key)
        return occasion_of(doc) if doc else None

    async def _get_many(self, keys: Sequence[str]) -> list[Document | None]:
        cursor = self._occasions.find({"_id": {"$in": list(set(keys))}})
        found = {doc["_id"]: doc async for doc in cursor}
        return [found.get(key) for key in keys]

    async def add_participant(
        self, entity: EntityRef, *, registration_id: str, contact_id: ContactId
    ) -> None:
        await self._participation(
            ReplaceOne(
                {"_id": _participant_id(entity, registration_id)},
                {
                    "entity": entity.key,
                    "registration_id": registration_id,
                    "contact_id": contact_id,
                },
                upsert=True,
            )
        )

    async def remove_participant(self, entity: EntityRef, *, registration_id: str) -> None:
        await self._participation(DeleteOne({"_id": _participant_id(entity, registration_id)}))

    async def _write_participations(
        self, writes: Sequence[ReplaceOne[Document] | DeleteOne]
    ) -> list[None]:
        await self._participants.bulk_write(list(writes), ordered=True)
        return [None] * len(writes)

    async def participants(self, entity: EntityRef) -> list[ContactId]:
        cursor = self._participants.find({"entity": entity.key}).sort("_id", ASCENDING)
        return list(dict.fromkeys([ContactId(doc["contact_id"]) async for doc in cursor]))

    async def participations(self, contact_id: ContactId) -> list[EntityRef]:
        cursor = self._participants.find({"contact_id": contact_id}).sort("_id", ASCENDING)
        refs = []
        async for doc in cursor:
            kind, _, entity_id = doc["entity"].partition(":")
            refs.append(EntityRef(EntityKind(kind), entity_id))
        return refs

    async def forget_participant(self, contact_id: ContactId) -> None:
        await self._participants.delete_many({"contact_id": contact_id})


class MongoReminders:
    """ReminderStore on MongoDB; a lease keeps two schedulers off the same reminder."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._reminders = db["reminders"]
        self._get = Batcher(self._get_many)
        self._put = Batcher(self._put_many)

    async def create_indexes(self) -> None:
        await self._reminders.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
        await self._reminders.create_index("entity")

    async def get(self, reminder_id: str) -> Reminder | None:
        doc = await self._get(reminder_id)
        return reminder_of(doc) if doc else None

    async def _get_many(self, ids: Sequence[str]) -> list[Document | None]:
        cursor = self._reminders.find({"_id": {"$in": list(set(ids))}})
        found = {doc["_id"]: doc async for doc in cursor}
        return [found.get(i) for i in ids]

    async def save(self, reminder: Reminder) -> None:
        await self._put(reminder_doc(reminder))

    async def _put_many(self, docs: Sequence[Document]) -> list[None]:
        await _replace_latest(self._reminders, docs)
        return [None] * len(docs)

    async def save_fired(self, sent: Reminder, *, claimed: Reminder) -> bool:
        """Record a fired reminder, unless it was moved since it was claimed; False then.

        A reschedule re-saves the reminder (new due time, lease released): that newer state
        must stand, so the reminder fires again at its new time.
        """
        result = await self._reminders.replace_one(
            {
                "_id": claimed.id,
                "status": claimed.status.value,
                "due_at": claimed.due_at,
                "lease_until": {"$ne": None},
            },
            reminder_doc(sent),
        )
        return result.matched_count == 1

    async def list_for(self, entity: EntityRef) -> list[Reminder]:
        cursor = self._reminders.find({"entity": entity.key}).sort("due_at", ASCENDING)
        return [reminder_of(doc) async for doc in cursor]

    async def claim_due(self, *, now: datetime, lease_s: float) -> Reminder | None:
        doc = await self._reminders.find_one_and_update(
            {
                "status": ReminderStatus.SCHEDULED.value,
                "due_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {"$set": {"lease_until": now + timedelta(seconds=lease_s)}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return reminder_of(doc) if doc else None


async def _replace_latest(collection: AsyncCollection[Document], docs: Sequence[Document]) -> None:
    # Events about one meeting handled side by side write the same facts: once is enough,
    # and the last call wins, as if they had run one after the other.
    latest_docs = {doc["_id"]: doc for doc in docs}
    await collection.bulk_write(
        [ReplaceOne({"_id": i}, doc, upsert=True) for i, doc in latest_docs.items()],
        ordered=True,
    )


def _participant_id(entity: EntityRef, registration_id: str) -> str:
    return f"{entity.key}~{registration_id}"


def occasion_doc(occasion: Occasion) -> Document:
    return {
        "_id": occasion.entity.key,
        "kind": occasion.entity.kind.value,
        "entity_id": occasion.entity.id,
        "title": occasion.title,
        "starts_at": occasion.starts_at,
        "ends_at": occasion.ends_at,
        "timezone": occasion.timezone,
        "sequence": occasion.sequence,
        "location": occasion.location,
        "online_url": occasion.online_url,
        "status": occasion.status.value,
        "calendar_uid": occasion.calendar_uid,
    }


def occasion_of(doc: Document) -> Occasion:
    return Occasion(
        entity=EntityRef(EntityKind(doc["kind"]), doc["entity_id"]),
        title=doc["title"],
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        timezone=doc["timezone"],
        sequence=int(doc.get("sequence", 0)),
        location=doc.get("location"),
        online_url=doc.get("online_url"),
        status=OccasionStatus(doc.get("status", OccasionStatus.SCHEDULED.value)),
        # Documents written before the field existed have none: the UID is derived then.
        calendar_uid=doc.get("calendar_uid"),
    )


def reminder_doc(reminder: Reminder) -> Document:
    # The lease is released by writing the document without it.
    return {
        "_id": reminder.id,
        "entity": reminder.occasion.entity.key,
        "offset_s": int(reminder.offset.total_seconds()),
        "status": reminder.status.value,
        "due_at": reminder.due_at,
        "sent_for": reminder.sent_for,
        "occasion": occasion_doc(reminder.occasion),
        "lease_until": None,
    }


def reminder_of(doc: Document) -> Reminder:
    return Reminder(
        occasion=occasion_of(doc["occasion"]),
        offset=timedelta(seconds=doc["offset_s"]),
        status=ReminderStatus(doc["status"]),
        sent_for=doc.get("sent_for"),
    )
