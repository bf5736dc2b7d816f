"""In-memory stores with the real stores' methods (fakes, not mocks), and a recording SMTP sender.

The store contract tests in tests/integration/notifications run against these and the
MongoDB stores alike, so the fakes stay honest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from services.notifications.domain.deliveries import (
    Delivery,
    DeliveryId,
    DeliveryStatus,
    start_attempt,
)
from services.notifications.domain.digest import DigestEntry
from services.notifications.domain.directory import (
    MAX_ID_CLASHES,
    Category,
    Contact,
    ContactId,
    ContactOrigin,
    ContactRole,
    EntityRef,
    Organisation,
    OrganisationId,
    OrganisationKind,
    Subscription,
    SubscriptionId,
    with_next_id,
)
from services.notifications.domain.occasions import Occasion, latest
from services.notifications.domain.reminders import Reminder, ReminderStatus
from services.notifications.mail.letters import Letter
from services.notifications.mail.sender import Outcome, SendResult
from services.notifications.store import Stores
from services.notifications.store.deliveries import (
    ERASED_PREFIX,
    HANDOFF_GRACE,
    Claimed,
    DeliveryQuery,
)
from services.notifications.store.directory import ChangesContacts
from shared.aggregates import Decisions, LostRace
from shared.errors import Conflict, NotFound


class FakeDirectory(ChangesContacts):
    def __init__(self) -> None:
        self.organisations: dict[OrganisationId, Organisation] = {}
        self.contacts: dict[ContactId, Contact] = {}
        self.erased: dict[ContactId, str] = {}  # id -> email key
        self.subscriptions: dict[SubscriptionId, Subscription] = {}
        self._decisions = Decisions("contact")

    async def add_organisation(self, organisation: Organisation) -> None:
        if organisation.id in self.organisations:
            raise Conflict(f"organisation {organisation.id} already exists")
        self.organisations[organisation.id] = organisation

    async def save_organisation(self, organisation: Organisation) -> None:
        if organisation.id not in self.organisations:
            raise NotFound(f"no organisation {organisation.id}")
        self.organisations[organisation.id] = organisation

    async def get_organisation(self, organisation_id: OrganisationId) -> Organisation:
        if organisation_id not in self.organisations:
            raise NotFound(f"no organisation {organisation_id}")
        return self.organisations[organisation_id]

    async def list_organisations(
        self, *, kind: OrganisationKind | None = None
    ) -> list[Organisation]:
        return [o for _, o in sorted(self.organisations.items()) if kind is None or o.kind is kind]

    async def remove_organisation(self, organisation_id: OrganisationId) -> None:
        if any(c.organisation_id == organisation_id for c in self.contacts.values()):
            raise Conflict(f"organisation {organisation_id} still has contacts")
        if self.organisations.pop(organisation_id, None) is None:
            raise NotFound(f"no organisation {organisation_id}")

    async def add_contact(self, contact: Contact) -> Contact | None:
        if any(c.email_key == contact.email_key for c in self.contacts.values()):
            return None
        for erased_id, key in list(self.erased.items()):
            if key == contact.email_key:
                del self.erased[erased_id]
                revived = replace(contact, id=erased_id)
                self.contacts[erased_id] = revived
                return revived
        for clash in range(MAX_ID_CLASHES):
            candidate = with_next_id(contact, clash)
            if candidate.id not in self.contacts and candidate.id not in self.erased:
                self.contacts[candidate.id] = candidate
                return candidate
        raise Conflict("every id for this e-mail address is taken")

    async def save_contact(self, contact: Contact) -> Contact:
        if contact.id not in self.contacts:
            raise NotFound(f"no contact {contact.id}")
        if any(
            c.email_key == contact.email_key and c.id != contact.id for c in self.contacts.values()
        ):
            raise Conflict("another contact already has this e-mail address")
        if self.contacts[contact.id].version != contact.version:
            raise LostRace("contact", contact.id, version=contact.version)
        saved = replace(contact, version=contact.version + 1)
        self.contacts[contact.id] = saved
        return saved

    async def get_contact(self, contact_id: ContactId) -> Contact:
        if contact_id not in self.contacts:
            raise NotFound(f"no contact {contact_id}")
        return self.contacts[contact_id]

    async def find_contact(self, email_key: str) -> Contact | None:
        return next((c for c in self.contacts.values() if c.email_key == email_key), None)

    async def is_erased(self, email_key: str) -> bool:
        return email_key in self.erased.values()

    async def get_contacts(self, contact_ids: Iterable[ContactId]) -> list[Contact]:
        ids = list(dict.fromkeys(contact_ids))
        return [self.contacts[i] for i in ids if i in self.contacts]

    async def list_contacts(
        self,
        *,
        organisation_id: OrganisationId | None = None,
        role: ContactRole | None = None,
        origin: ContactOrigin | None = None,
    ) -> list[Contact]:
        return [
            c
            for _, c in sorted(self.contacts.items())
            if (organisation_id is None or c.organisation_id == organisation_id)
            and (role is None or role in c.roles)
            and (origin is None or c.origin is origin)
        ]

    async def contacts_of(
        self, organisation_ids: Iterable[OrganisationId], *, roles: frozenset[ContactRole]
    ) -> list[Contact]:
        ids = set(organisation_ids)
        return [
            c
            for _, c in sorted(self.contacts.items())
            if c.organisation_id in ids and (not roles or c.roles & roles)
        ]

    async def erase_contact(self, contact_id: ContactId, *, now: datetime) -> None:
        contact = self.contacts.pop(contact_id, None)
        if contact is None:
            raise NotFound(f"no contact {contact_id}")
        self.erased[contact_id] = contact.email_key
        self.subscriptions = {
            i: s for i, s in self.subscriptions.items() if s.contact_id != contact_id
        }

    async def follow(self, subscription: Subscription, *, now: datetime) -> bool:
        if subscription.id in self.subscriptions:
            return False
        self.subscriptions[subscription.id] = subscription
        return True

    async def unfollow(self, contact_id: ContactId, subscription_id: SubscriptionId) -> None:
        found = self.subscriptions.get(subscription_id)
        if found is None or found.contact_id != contact_id:
            raise NotFound(f"no subscription {subscription_id}")
        del self.subscriptions[subscription_id]

    async def list_subscriptions(self, contact_id: ContactId) -> list[Subscription]:
        return [s for _, s in sorted(self.subscriptions.items()) if s.contact_id == contact_id]

    async def followers(self, *, entity: EntityRef, category: Category) -> list[Contact]:
        targets = {entity.key, f"category:{category.value}"}
        ids = sorted({s.contact_id for s in self.subscriptions.values() if s.target in targets})
        return await self.get_contacts(ids)


class FakeOccasions:
    def __init__(self) -> None:
        self.occasions: dict[str, Occasion] = {}
        self.confirmed: dict[str, tuple[str, ContactId]] = {}  # id -> (entity key, contact)

    async def record(self, occasion: Occasion) -> Occasion:
        kept = latest(self.occasions.get(occasion.entity.key), occasion)
        self.occasions[occasion.entity.key] = kept
        return kept

    async def get(self, entity: EntityRef) -> Occasion | None:
        return self.occasions.get(entity.key)

    async def add_participant(
        self, entity: EntityRef, *, registration_id: str, contact_id: ContactId
    ) -> None:
        self.confirmed[f"{entity.key}~{registration_id}"] = (entity.key, contact_id)

    async def remove_participant(self, entity: EntityRef, *, registration_id: str) -> None:
        self.confirmed.pop(f"{entity.key}~{registration_id}", None)

    async def participants(self, entity: EntityRef) -> list[ContactId]:
        found = [c for _, (key, c) in sorted(self.confirmed.items()) if key == entity.key]
        return list(dict.fromkeys(found))

    async def participations(self, contact_id: ContactId) -> list[EntityRef]:
        from services.notifications.domain.directory import EntityKind

        refs = []
        for _, (key, c) in sorted(self.confirmed.items()):
            if c == contact_id:
                kind, _, entity_id = key.partition(":")
                refs.append(EntityRef(EntityKind(kind), entity_id))
        return refs

    async def forget_participant(self, contact_id: ContactId) -> None:
        self.confirmed = {i: p for i, p in self.confirmed.items() if p[1] != contact_id}


class FakeReminders:
    def __init__(self) -> None:
        self.reminders: dict[str, Reminder] = {}
        self.leases: dict[str, datetime] = {}

    async def get(self, reminder_id: str) -> Reminder | None:
        return self.reminders.get(reminder_id)

    async def save(self, reminder: Reminder) -> None:
        self.reminders[reminder.id] = reminder
        self.leases.pop(reminder.id, None)

    async def save_fired(self, sent: Reminder, *, claimed: Reminder) -> bool:
        current = self.reminders.get(claimed.id)
        if (
            current is None
            or current.status is not claimed.status
            or current.due_at != claimed.due_at
            or claimed.id not in self.leases
        ):
            return False
        await self.save(sent)
        return True

    async def list_for(self, entity: EntityRef) -> list[Reminder]:
        found = [r for r in self.reminders.values() if r.occasion.entity == entity]
        return sorted(found, key=lambda r: r.due_at)

    async def claim_due(self, *, now: datetime, lease_s: float) -> Reminder | None:
        due = sorted(
            (
                r
                for r in self.reminders.values()
                if r.status is ReminderStatus.SCHEDULED
                and r.due_at <= now
                and self.leases.get(r.id, now - timedelta(seconds=1)) < now
            ),
            key=lambda r: r.due_at,
        )
        if not due:
            return None
        self.leases[due[0].id] = now + timedelta(seconds=lease_s)
        return due[0]


@dataclass
class StoredDelivery:
    delivery: Delivery
    to: str | None
    message: bytes | None
    letter: Letter | None
    lease_until: datetime | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)


class FakeDeliveries:
    def __init__(self) -> None:
        self.stored: dict[DeliveryId, StoredDelivery] = {}
        self.queue: dict[DeliveryId, datetime] = {}

    @property
    def pending(self) -> list[Delivery]:
        return [
            s.delivery for s in self.stored.values() if s.delivery.status is DeliveryStatus.PENDING
        ]

    def letters(self) -> list[Letter]:
        return [s.letter for s in self.stored.values() if s.letter is not None]

    async def add_once(
        self,
        delivery: Delivery,
        letter: Letter | None,
        outbox: Sequence[dict[str, Any]] = (),
        *,
        lease_s: float | None = None,
    ) -> bool:
        if delivery.id in self.stored or any(
            (s.delivery.event_id, s.delivery.recipient_id, s.delivery.template)
            == (delivery.event_id, delivery.recipient_id, delivery.template)
            for s in self.stored.values()
        ):
            return False
        self.stored[delivery.id] = (
            StoredDelivery(delivery, letter.to, letter.message, letter, outbox=list(outbox))
            if letter is not None
            else StoredDelivery(delivery, None, None, None, outbox=list(outbox))
        )
        if lease_s is not None:
            self.stored[delivery.id].lease_until = delivery.created_at + timedelta(seconds=lease_s)
        if delivery.status is DeliveryStatus.PENDING:
            lease = self.stored[delivery.id].lease_until
            self.queue[delivery.id] = lease or delivery.next_attempt_at + HANDOFF_GRACE
        return True

    async def exists(self, delivery_id: DeliveryId) -> bool:
        return delivery_id in self.stored

    async def get(self, delivery_id: DeliveryId) -> Delivery:
        if delivery_id not in self.stored:
            raise NotFound(f"no delivery {delivery_id}")
        return self.stored[delivery_id].delivery

    async def due(self, *, now: datetime, limit: int) -> list[DeliveryId]:
        due = sorted((at, i) for i, at in self.queue.items() if at <= now)
        return [i for _, i in due[:limit]]

    async def claim(
        self, delivery_ids: Sequence[DeliveryId], *, now: datetime, lease_s: float
    ) -> list[Claimed]:
        claimed = []
        for delivery_id in dict.fromkeys(delivery_ids):
            chosen = self.stored.get(delivery_id)
            if (
                chosen is None
                or chosen.delivery.status is not DeliveryStatus.PENDING
                or (chosen.lease_until is not None and chosen.lease_until >= now)
            ):
                continue
            chosen.delivery = start_attempt(chosen.delivery, now=now)
            chosen.lease_until = now + timedelta(seconds=lease_s)
            claimed.append(Claimed(chosen.delivery, chosen.to, chosen.message))
        return claimed

    async def claim_due(self, *, now: datetime, lease_s: float) -> Claimed | None:
        for delivery_id in await self.due(now=now, limit=20):
            claimed = await self.claim([delivery_id], now=now, lease_s=lease_s)
            if claimed:
                return claimed[0]
        return None

    async def record(self, delivery: Delivery, outbox: Sequence[dict[str, Any]]) -> bool:
        stored = self.stored.get(delivery.id)
        if (
            stored is None
            or stored.delivery.status is not DeliveryStatus.PENDING
            or stored.delivery.attempts != delivery.attempts
        ):
            return False
        stored.delivery = delivery
        stored.lease_until = None
        stored.outbox.extend(outbox)
        if delivery.status is DeliveryStatus.PENDING:
            self.queue[delivery.id] = delivery.next_attempt_at
        else:
            self.queue.pop(delivery.id, None)
        return True

    async def save(self, delivery: Delivery) -> None:
        if delivery.id not in self.stored:
            raise NotFound(f"no delivery {delivery.id}")
        self.stored[delivery.id].delivery = delivery
        if delivery.status is DeliveryStatus.PENDING:
            self.queue[delivery.id] = delivery.next_attempt_at

    async def pending_count(self) -> int:
        return len(self.queue)

    async def list(self, query: DeliveryQuery) -> list[Delivery]:
        found = [
            s.delivery
            for s in self.stored.values()
            if (query.status is None or s.delivery.status is query.status)
            and (query.recipient_id is None or s.delivery.recipient_id == query.recipient_id)
            and (query.event_id is None or s.delivery.event_id == query.event_id)
        ]
        found.sort(key=lambda d: d.id)
        found.sort(key=lambda d: d.created_at, reverse=True)
        return found[query.offset : query.offset + query.limit]

    async def counts(self) -> dict[DeliveryStatus, int]:
        return {
            status: sum(1 for s in self.stored.values() if s.delivery.status is status)
            for status in DeliveryStatus
        }

    async def oldest_pending(self) -> datetime | None:
        return min((d.created_at for d in self.pending), default=None)

    async def erase_recipient(self, contact_id: ContactId) -> int:
        erased = 0
        for stored in self.stored.values():
            if stored.delivery.recipient_id != contact_id:
                continue
            status = stored.delivery.status
            if status is not DeliveryStatus.SENT:
                status = DeliveryStatus.CANCELLED
            stored.delivery = replace(
                stored.delivery,
                recipient_id=ContactId(f"{ERASED_PREFIX}{stored.delivery.id}"),
                status=status,
                last_error=None,
            )
            stored.to = stored.message = None
            stored.letter = None
            self.queue.pop(stored.delivery.id, None)
            erased += 1
        return erased


class FakeDigests:
    def __init__(self) -> None:
        self.entries: dict[str, DigestEntry] = {}
        self.claims: dict[str, str] = {}  # entry id -> digest id
        self.sent: set[str] = set()  # entry ids

    async def add_once(self, entry: DigestEntry) -> bool:
        if entry.id in self.entries:
            return False
        self.entries[entry.id] = entry
        return True

    async def unclaimed(self, *, up_to: date) -> list[DigestEntry]:
        found = [e for i, e in self.entries.items() if i not in self.claims and e.day <= up_to]
        return sorted(found, key=lambda e: (e.contact_id, e.occurred_at))

    async def claimed_unsent(self) -> dict[str, list[DigestEntry]]:
        claimed: dict[str, list[DigestEntry]] = {}
        for entry_id, digest_id in self.claims.items():
            if entry_id not in self.sent:
                claimed.setdefault(digest_id, []).append(self.entries[entry_id])
        return {k: sorted(v, key=lambda e: e.occurred_at) for k, v in claimed.items()}

    async def claim(self, entries: Sequence[DigestEntry], digest_id: str) -> None:
        for entry in entries:
            self.claims.setdefault(entry.id, digest_id)

    async def mark_sent(self, digest_id: str) -> None:
        self.sent |= {i for i, d in self.claims.items() if d == digest_id}

    async def move(self, entries: Sequence[DigestEntry], *, to: date) -> None:
        for entry in entries:
            if entry.id not in self.claims:
                self.entries[entry.id] = replace(entry, day=to)

    async def list_for(self, contact_id: ContactId) -> list[DigestEntry]:
        found = [e for e in self.entries.values() if e.contact_id == contact_id]
        return sorted(found, key=lambda e: e.occurred_at)

    async def erase_contact(self, contact_id: ContactId) -> None:
        self.entries = {i: e for i, e in self.entries.items() if e.contact_id != contact_id}


def fake_stores() -> Stores:
    return Stores(
        directory=FakeDirectory(),
        occasions=FakeOccasions(),
        reminders=FakeReminders(),
        deliveries=FakeDeliveries(),
        digests=FakeDigests(),
    )


@dataclass
class RecordingSender:
    """An SMTP stand-in that answers with scripted outcomes (then SENT) and records what it sent."""

    script: list[SendResult] = field(default_factory=list)
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: int = 0
    closed: bool = False

    async def send(self, *, sender: str, recipient: str, message: bytes) -> SendResult:
        self.attempts += 1
        result = self.script.pop(0) if self.script else SendResult(Outcome.SENT)
        if result.sent:
            self.sent.append((recipient, message))
        return result

    async def close(self) -> None:
        self.closed = True
