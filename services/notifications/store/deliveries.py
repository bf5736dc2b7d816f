"""The delivery ledger in MongoDB: one document per (event, recipient, template), with its outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import Binary
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.notifications.domain.deliveries import Delivery, DeliveryId, DeliveryStatus
from services.notifications.domain.directory import Category, ContactId
from services.notifications.letters import Letter
from shared.errors import NotFound
from shared.outbox import outbox_fields, push_outbox
from shared.storage import Document, is_duplicate_key

ERASED_PREFIX = "erased:"


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one worker for one attempt, with the bytes to send (None: erased)."""

    delivery: Delivery
    to: str | None
    message: bytes | None


@dataclass(frozen=True)
class DeliveryQuery:
    status: DeliveryStatus | None = None
    recipient_id: ContactId | None = None
    event_id: str | None = None
    limit: int = 100
    offset: int = 0


class DeliveryStore(Protocol):
    async def add_once(
        self, delivery: Delivery, letter: Letter | None, outbox: Sequence[Document] = ()
    ) -> bool: ...
    async def exists(self, delivery_id: DeliveryId) -> bool: ...
    async def get(self, delivery_id: DeliveryId) -> Delivery: ...
    async def claim_due(self, *, now: datetime, lease_s: float) -> Claimed | None: ...
    async def record(self, delivery: Delivery, outbox: Sequence[Document]) -> bool: ...
    async def save(self, delivery: Delivery) -> None: ...
    async def list(self, query: DeliveryQuery) -> list[Delivery]: ...
    async def counts(self) -> dict[DeliveryStatus, int]: ...
    async def oldest_pending(self) -> datetime | None: ...
    async def erase_recipient(self, contact_id: ContactId) -> int: ...


class MongoDeliveries:
    """DeliveryStore on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db["deliveries"]

    async def create_indexes(self) -> None:
        # The exactly-once guard: a redelivered event or a restarted consumer hits this index.
        await self.collection.create_index(
            [("event_id", ASCENDING), ("recipient_id", ASCENDING), ("template", ASCENDING)],
            unique=True,
            name="one_email_per_event_recipient_template",
        )
        await self.collection.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self.collection.create_index("recipient_id")
        await self.collection.create_index("created_at")

    async def add_once(
        self, delivery: Delivery, letter: Letter | None, outbox: Sequence[Document] = ()
    ) -> bool:
        """Record a delivery with its e-mail (None: none could be written); False if known."""
        doc = delivery_doc(delivery) | {"lease_until": None} | outbox_fields(list(outbox))
        if letter is not None:
            doc |= {
                "to": letter.to,
                "message": Binary(letter.message),
                "message_id": letter.message_id,
                "language": letter.language,
            }
        try:
            await self.collection.insert_one(doc)
        except Exception as exc:
            if is_duplicate_key(exc):
                return False
            raise
        return True

    async def exists(self, delivery_id: DeliveryId) -> bool:
        return await self.collection.find_one({"_id": delivery_id}, {"_id": 1}) is not None

    async def get(self, delivery_id: DeliveryId) -> Delivery:
        doc = await self.collection.find_one({"_id": delivery_id}, _LEDGER_FIELDS)
        if doc is None:
            raise NotFound(f"no delivery {delivery_id}", delivery_id=delivery_id)
        return delivery_of(doc)

    async def claim_due(self, *, now: datetime, lease_s: float) -> Claimed | None:
        """Take the most overdue pending delivery, counting the attempt before it is made."""
        doc = await self.collection.find_one_and_update(
            {
                "status": DeliveryStatus.PENDING.value,
                "next_attempt_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {
                "$inc": {"attempts": 1},
                "$set": {
                    "lease_until": now + timedelta(seconds=lease_s),
                    "last_attempt_at": now,
                },
            },
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        message = doc.get("message")
        return Claimed(delivery_of(doc), doc.get("to") or None, bytes(message) if message else None)

    async def record(self, delivery: Delivery, outbox: Sequence[Document]) -> bool:
        """The attempt's outcome and its events in one write; False if another worker took over."""
        update = push_outbox({"$set": _state(delivery) | {"lease_until": None}}, list(outbox))
        result = await self.collection.update_one(
            {
                "_id": delivery.id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": delivery.attempts,
            },
            update,
        )
        return result.matched_count == 1

    async def save(self, delivery: Delivery) -> None:
        result = await self.collection.update_one({"_id": delivery.id}, {"$set": _state(delivery)})
        if result.matched_count == 0:
            raise NotFound(f"no delivery {delivery.id}", delivery_id=delivery.id)

    async def list(self, query: DeliveryQuery) -> list[Delivery]:
        filters: Document = {}
        if query.status is not None:
            filters["status"] = query.status.value
        if query.recipient_id is not None:
            filters["recipient_id"] = query.recipient_id
        if query.event_id is not None:
            filters["event_id"] = query.event_id
        cursor = (
            self.collection.find(filters, _LEDGER_FIELDS)
            .sort([("created_at", DESCENDING), ("_id", ASCENDING)])
            .skip(query.offset)
            .limit(query.limit)
        )
        return [delivery_of(doc) async for doc in cursor]

    async def counts(self) -> dict[DeliveryStatus, int]:
        return {
            status: await self.collection.count_documents({"status": status.value})
            for status in DeliveryStatus
        }

    async def oldest_pending(self) -> datetime | None:
        doc = await self.collection.find_one(
            {"status": DeliveryStatus.PENDING.value},
            {"created_at": 1},
            sort=[("created_at", ASCENDING)],
        )
        return doc["created_at"] if doc else None

    async def erase_recipient(self, contact_id: ContactId) -> int:
        """Strip the person from their deliveries, keeping anonymous records for the counts."""
        erased = 0
        cursor = self.collection.find({"recipient_id": contact_id}, {"_id": 1, "status": 1})
        async for doc in cursor:
            # Only a sent e-mail stays sent: anything else has nothing left to send, and a
            # resend of it must be refused rather than claimed without a message.
            status = doc["status"]
            if status != DeliveryStatus.SENT.value:
                status = DeliveryStatus.CANCELLED.value
            await self.collection.update_one(
                {"_id": doc["_id"]},
                {
                    "$set": {
                        "recipient_id": f"{ERASED_PREFIX}{doc['_id']}",
                        "status": status,
                        "last_error": None,
                    },
                    "$unset": {"to": "", "message": ""},
                },
            )
            erased += 1
        return erased


_LEDGER_FIELDS: dict[str, Any] = {"message": 0, "to": 0, "outbox": 0}


def _state(delivery: Delivery) -> Document:
    return {
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "attempt_limit": delivery.attempt_limit,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at,
        "sent_at": delivery.sent_at,
        "failed_at": delivery.failed_at,
    }


def delivery_doc(delivery: Delivery) -> Document:
    return {
        "_id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "template": delivery.template,
        "recipient_id": delivery.recipient_id,
        "category": delivery.category.value if delivery.category else None,
        "created_at": delivery.created_at,
        **_state(delivery),
    }


def delivery_of(doc: Document) -> Delivery:
    return Delivery(
        id=DeliveryId(doc["_id"]),
        event_id=doc["event_id"],
        event_type=doc["event_type"],
        template=doc["template"],
        recipient_id=ContactId(doc["recipient_id"]),
        category=Category(doc["category"]) if doc.get("category") else None,
        created_at=doc["created_at"],
        next_attempt_at=doc["next_attempt_at"],
        attempt_limit=int(doc["attempt_limit"]),
        status=DeliveryStatus(doc["status"]),
        attempts=int(doc.get("attempts", 0)),
        last_error=doc.get("last_error"),
        sent_at=doc.get("sent_at"),
        failed_at=doc.get("failed_at"),
    )
