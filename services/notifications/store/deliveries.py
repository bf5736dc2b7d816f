"""The delivery ledger in MongoDB: one document per (event, recipient, template), with its outbox.

Three collections, each written for one reason:
- `deliveries`, the ledger: what each e-mail is and what became of it. Small documents,
  updated on every attempt.
- `delivery_messages`: the bytes to send and the address, written once and read at each
  attempt, so the updates of the ledger never rewrite an e-mail.
- `delivery_queue`: one tiny document per delivery still pending, with the time it is due.
  The worker's only query by time runs over it, so its cost depends on the work waiting,
  not on the history.
Deliveries are otherwise reached by `_id`, and concurrent calls go out as one command
(`Batcher`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import Binary
from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.notifications.domain.deliveries import Delivery, DeliveryId, DeliveryStatus
from services.notifications.domain.directory import Category, ContactId
from services.notifications.mail.letters import Letter
from shared.batching import Batcher
from shared.errors import NotFound
from shared.outbox import Outbox, create_outbox_indexes, outbox_fields
from shared.storage import Document, duplicate_positions, keyset_index

ERASED_PREFIX = "erased:"
# A delivery written without a lease (a resend, a failure) is due at once, but its queue
# entry a little later: the worker is told in memory, the poll is the net underneath.
HANDOFF_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class Claimed:
    """A delivery taken by one worker for one attempt, with the bytes to send (None: erased)."""

    delivery: Delivery
    to: str | None
    message: bytes | None


@dataclass(frozen=True)
class _Outcome:
    delivery: Delivery
    outbox: list[Document]
    # Set by the write: tells which of a batch of outcomes was the one recorded.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class DeliveryQuery:
    status: DeliveryStatus | None = None
    recipient_id: ContactId | None = None
    event_id: str | None = None
    limit: int = 100
    offset: int = 0


class DeliveryStore(Protocol):
    async def add_once(
        self,
        delivery: Delivery,
        letter: Letter | None,
        outbox: Sequence[Document] = (),
        *,
        lease_s: float | None = None,
    ) -> bool: ...
    async def exists(self, delivery_id: DeliveryId) -> bool: ...
    async def get(self, delivery_id: DeliveryId) -> Delivery: ...
    async def due(self, *, now: datetime, limit: int) -> list[DeliveryId]: ...
    async def claim(
        self, delivery_ids: Sequence[DeliveryId], *, now: datetime, lease_s: float
    ) -> list[Claimed]: ...
    async def claim_due(self, *, now: datetime, lease_s: float) -> Claimed | None: ...
    async def record(self, delivery: Delivery, outbox: Sequence[Document]) -> bool: ...
    async def save(self, delivery: Delivery) -> None: ...
    async def list(self, query: DeliveryQuery) -> list[Delivery]: ...
    async def counts(self) -> dict[DeliveryStatus, int]: ...
    async def pending_count(self) -> int: ...
    async def oldest_pending(self) -> datetime | None: ...
    async def erase_recipient(self, contact_id: ContactId) -> int: ...


class MongoDeliveries:
    """DeliveryStore on MongoDB."""

    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.collection: AsyncCollection[Document] = db["deliveries"]
        self.messages: AsyncCollection[Document] = db["delivery_messages"]
        self.queue: AsyncCollection[Document] = db["delivery_queue"]
        self._outbox = outbox
        self._insert = Batcher(self._insert_many)
        self._exists = Batcher(self._exist_many)
        self._record = Batcher(self._record_many)

    async def create_indexes(self) -> None:
        # The exactly-once guard: a redelivered event or a restarted consumer hits this index.
        await self.collection.create_index(
            [("event_id", ASCENDING), ("recipient_id", ASCENDING), ("template", ASCENDING)],
            unique=True,
            name="one_email_per_event_recipient_template",
        )
        await self.collection.create_index("recipient_id")
        await self.collection.create_index("created_at")
        await self.collection.create_index("status")
        # Claims and outcomes are filtered on the attempt they are about.
        await keyset_index(self.collection, "status", "attempts")
        await create_outbox_indexes(self.collection)
        await self.queue.create_index("due_at")

    async def add_once(
        self,
        delivery: Delivery,
        letter: Letter | None,
        outbox: Sequence[Document] = (),
        *,
        lease_s: float | None = None,
    ) -> bool:
        """Record a delivery with its e-mail (None: none could be written); False if known.

        With `lease_s`, the delivery is written already claimed for its first attempt (its
        `attempts` counts it) by the worker of this process, which gets it in memory; the
        poll finds it only once that lease has run out.
        """
        lease: Document = {"lease_until": None, "lease_owner": None}
        if lease_s is not None:
            lease = {
                "lease_until": delivery.created_at + timedelta(seconds=lease_s),
                "lease_owner": "born",
                "last_attempt_at": delivery.created_at,
            }
        doc = delivery_doc(delivery) | lease | outbox_fields(list(outbox))
        message = None
        if letter is not None:
            message = {
                "_id": delivery.id,
                "to": letter.to,
                "message": Binary(letter.message),
                "message_id": letter.message_id,
                "language": letter.language,
            }
        return await self._insert((doc, message))

    async def _insert_many(self, items: Sequence[tuple[Document, Document | None]]) -> list[bool]:
        docs = [doc for doc, _ in items]
        # The message first: a delivery never exists without the e-mail it is to send.
        messages = [message for _, message in items if message is not None]
        if messages:
            try:
                await self.messages.insert_many(messages, ordered=False)
            except BulkWriteError as error:
                duplicate_positions(error)
        duplicates: set[int] = set()
        try:
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as error:
            duplicates = duplicate_positions(error)
        added = [i not in duplicates for i in range(len(docs))]
        queued = [
            {
                "_id": doc["_id"],
                "due_at": doc["lease_until"] or doc["next_attempt_at"] + HANDOFF_GRACE,
            }
            for doc, new in zip(docs, added, strict=True)
            if new and doc["status"] == DeliveryStatus.PENDING.value
        ]
        if duplicates:
            # A redelivered event: its pending deliveries may have lost their queue entry.
            again = await self.collection.find(
                {"_id": {"$in": [docs[i]["_id"] for i in duplicates]}},
                {"status": 1, "next_attempt_at": 1},
            ).to_list()
            queued += [
                {"_id": d["_id"], "due_at": d["next_attempt_at"]}
                for d in again
                if d["status"] == DeliveryStatus.PENDING.value
            ]
        if queued:
            try:
                await self.queue.insert_many(queued, ordered=False)
            except BulkWriteError as error:
                duplicate_positions(error)
        return added

    async def exists(self, delivery_id: DeliveryId) -> bool:
        return await self._exists(delivery_id)

    async def _exist_many(self, ids: Sequence[DeliveryId]) -> list[bool]:
        cursor = self.collection.find({"_id": {"$in": list(set(ids))}}, {"_id": 1})
        found = {doc["_id"] async for doc in cursor}
        return [i in found for i in ids]

    async def get(self, delivery_id: DeliveryId) -> Delivery:
        doc = await self.collection.find_one({"_id": delivery_id}, _LEDGER_FIELDS)
        if doc is None:
            raise NotFound(f"no delivery {delivery_id}", delivery_id=delivery_id)
        return delivery_of(doc)

    async def due(self, *, now: datetime, limit: int) -> list[DeliveryId]:
        """Pending deliveries whose attempt is due, most overdue first."""
        cursor = self.queue.find({"due_at": {"$lte": now}}).sort("due_at", ASCENDING).limit(limit)
        return await self._still_pending([DeliveryId(doc["_id"]) async for doc in cursor])

    async def _still_pending(self, ids: list[DeliveryId]) -> list[DeliveryId]:
        # A delivery leaves the queue lazily: an outcome is recorded without a second write,
        # and the entries of finished deliveries are dropped here, in one command.
        if not ids:
            return []
        status = {
            d["_id"]: d["status"]
            async for d in self.collection.find({"_id": {"$in": ids}}, {"status": 1})
        }
        finished = [i for i in ids if status.get(i) != DeliveryStatus.PENDING.value]
        if finished:
            await self.queue.delete_many({"_id": {"$in": finished}})
        return [i for i in ids if status.get(i) == DeliveryStatus.PENDING.value]

    async def claim(
        self, delivery_ids: Sequence[DeliveryId], *, now: datetime, lease_s: float
    ) -> list[Claimed]:
        """Take those not held by another attempt, counting the attempt before it is made."""
        ids = list(dict.fromkeys(delivery_ids))
        if not ids:
            return []
        current = await self.collection.find(
            {"_id": {"$in": ids}}, {"status": 1, "attempts": 1, "lease_until": 1}
        ).to_list()
        owner = uuid.uuid4().hex
        free = [
            d
            for d in current
            if d["status"] == DeliveryStatus.PENDING.value
            and (d.get("lease_until") is None or d["lease_until"] < now)
        ]
        if not free:
            return []
        await self.collection.bulk_write(
            [
                UpdateOne(
                    {"_id": d["_id"], "status": d["status"], "attempts": d.get("attempts", 0)},
                    {
                        "$inc": {"attempts": 1},
                        "$set": {
                            "lease_until": now + timedelta(seconds=lease_s),
                            "lease_owner": owner,
                            "last_attempt_at": now,
                        },
                    },
                )
                for d in free
            ],
            ordered=False,
        )
        taken = await self.collection.find(
            {"_id": {"$in": [d["_id"] for d in free]}}, _LEDGER_FIELDS
        ).to_list()
        by_id = {d["_id"]: d for d in taken if d.get("lease_owner") == owner}
        letters = {
            m["_id"]: m
            async for m in self.messages.find(
                {"_id": {"$in": list(by_id)}}, {"to": 1, "message": 1}
            )
        }
        claimed = []
        for delivery_id in ids:
            doc = by_id.get(delivery_id)
            if doc is not None:
                letter = letters.get(delivery_id, {})
                message = letter.get("message")
                claimed.append(
                    Claimed(
                        delivery_of(doc),
                        letter.get("to") or None,
                        bytes(message) if message else None,
                    )
                )
        return claimed

    async def claim_due(self, *, now: datetime, lease_s: float) -> Claimed | None:
        """Take the most overdue pending delivery."""
        for delivery_id in await self.due(now=now, limit=20):
            claimed = await self.claim([delivery_id], now=now, lease_s=lease_s)
            if claimed:
                return claimed[0]
        return None

    async def record(self, delivery: Delivery, outbox: Sequence[Document]) -> bool:
        """The attempt's outcome and its events in one write; False if another worker took over.

        The write is guarded by the attempt, so nobody else writes the delivery meanwhile:
        its events go straight to this process's relay. A delivery that stays pending (a
        retry) moves in the queue; a finished one leaves it at the next poll (`claim`).
        """
        return await self._record(_Outcome(delivery, list(outbox)))

    async def _record_many(self, outcomes: Sequence[_Outcome]) -> list[bool]:
        writes = []
        handovers = []
        for outcome in outcomes:
            delivery = outcome.delivery
            update, handed = self._outbox.hand_over(
                {
                    "$set": _state(delivery)
                    | {"lease_until": None, "lease_owner": None, "recorded_as": outcome.token}
                },
                outcome.outbox,
            )
            handovers.append(handed)
            writes.append(
                UpdateOne(
                    {
                        "_id": delivery.id,
                        "status": DeliveryStatus.PENDING.value,
                        "attempts": delivery.attempts,
                    },
                    update,
                )
            )
        result = await self.collection.bulk_write(writes, ordered=False)
        recorded = [True] * len(outcomes)
        if result.matched_count < len(outcomes):
            # Some attempts were taken over by another worker: find which wrote.
            ids = [o.delivery.id for o in outcomes]
            written = {
                d["_id"]: d.get("recorded_as")
                async for d in self.collection.find({"_id": {"$in": ids}}, {"recorded_as": 1})
            }
            recorded = [written.get(o.delivery.id) == o.token for o in outcomes]
        retries = [
            UpdateOne(
                {"_id": o.delivery.id},
                {"$set": {"due_at": o.delivery.next_attempt_at}},
                upsert=True,
            )
            for o, ok in zip(outcomes, recorded, strict=True)
            if ok and o.delivery.status is DeliveryStatus.PENDING
        ]
        if retries:
            await self.queue.bulk_write(retries, ordered=False)
        for outcome, handed, ok in zip(outcomes, handovers, recorded, strict=True):
            if ok:
                self._outbox.handed(self.collection.name, outcome.delivery.id, handed)
        return recorded

    async def _requeue(self, delivery: Delivery) -> None:
        await self.queue.update_one(
            {"_id": delivery.id}, {"$set": {"due_at": delivery.next_attempt_at}}, upsert=True
        )

    async def save(self, delivery: Delivery) -> None:
        result = await self.collection.update_one({"_id": delivery.id}, {"$set": _state(delivery)})
        if result.matched_count == 0:
            raise NotFound(f"no delivery {delivery.id}", delivery_id=delivery.id)
        if delivery.status is DeliveryStatus.PENDING:
            await self._requeue(delivery)

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
        """Deliveries by status, over the whole ledger (for operators, not for the hot path)."""
        counted = dict.fromkeys(DeliveryStatus, 0)
        async for row in await self.collection.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]
        ):
            counted[DeliveryStatus(row["_id"])] = int(row["n"])
        return counted

    async def pending_count(self) -> int:
        queued = [DeliveryId(d["_id"]) async for d in self.queue.find({}, {"_id": 1})]
        return len(await self._still_pending(queued))

    async def oldest_pending(self) -> datetime | None:
        # The queue holds the pending work (and finished entries not yet dropped).
        queued = [DeliveryId(d["_id"]) async for d in self.queue.find({}, {"_id": 1})]
        pending = await self._still_pending(queued)
        if not pending:
            return None
        created = [
            d["created_at"]
            async for d in self.collection.find({"_id": {"$in": pending}}, {"created_at": 1})
        ]
        return min(created, default=None)

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
                },
            )
            await self.messages.delete_one({"_id": doc["_id"]})
            await self.queue.delete_one({"_id": doc["_id"]})
            erased += 1
        return erased


_LEDGER_FIELDS: dict[str, Any] = {"outbox": 0}


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
