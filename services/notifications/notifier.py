"""Turns a notice into deliveries: reach the audiences, pick one e-mail per person, record them.

Every write is keyed deterministically (delivery id, digest entry id, participant id,
reminder id), so handling the same event twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.errors import MessageError
from zoneinfo import ZoneInfo

import structlog

from services.notifications.domain import digest, reminders
from services.notifications.domain.deliveries import (
    BackoffPolicy,
    abandon,
    new_delivery,
    start_attempt,
)
from services.notifications.domain.directory import (
    DEFAULT_LANGUAGE,
    Contact,
    ContactOrigin,
    ContactRole,
    EntityRef,
    email_key,
    named_organisations,
    new_contact,
)
from services.notifications.domain.routing import (
    ROUTES,
    Addressee,
    Audience,
    Facts,
    Person,
    Reached,
    Route,
    address,
    routes_for,
)
from services.notifications.mail.letters import LetterWriter
from services.notifications.metrics import DIGEST_HELD, FAILED, ROUTED
from services.notifications.notices import Notice
from services.notifications.store import Stores
from services.notifications.store.deliveries import Claimed
from shared.logging import mask_emails
from shared.outbox import Outbox

log = structlog.get_logger()

DELIVERIES_COLLECTION = "deliveries"


@dataclass(frozen=True)
class DigestSchedule:
    hour: int
    timezone: ZoneInfo


@dataclass(frozen=True)
class Routed:
    """What one notice produced: new e-mails, and changes held for digests."""

    deliveries: int
    held_for_digest: int


class Notifier:
    """Routes notices to recipients and keeps occasions, participants and reminders current."""

    def __init__(
        self,
        stores: Stores,
        writer: LetterWriter,
        outbox: Outbox,
        *,
        address_secret: str,
        policy: BackoffPolicy,
        reminder_offsets: Sequence[timedelta],
        digest_schedule: DigestSchedule,
        clock: Callable[[], datetime],
        ready: Callable[[Claimed], None] = lambda _: None,
        lease_s: float = 120.0,
        routes: Sequence[Route] = ROUTES,
    ) -> None:
        self._stores = stores
        self._writer = writer
        self._outbox = outbox
        self._secret = address_secret
        self._policy = policy
        self._offsets = tuple(reminder_offsets)
        self._digest = digest_schedule
        self._clock = clock
        self._ready = ready
        self._lease_s = lease_s
        self._routes = tuple(routes)

    async def notify(self, notice: Notice) -> Routed:
        """Write one e-mail per person the routing table reaches (or hold it for their digest)."""
        reached = []
        for route in routes_for(type(notice.payload), self._routes):
            for audience in route.audiences:
                contacts = await self._reach(audience, route, notice.facts)
                reached.append(Reached(route, audience, contacts))
        created = held = 0
        for addressee in address(reached):
            if addressee.in_digest:
                held += await self._hold_for_digest(notice, addressee)
            else:
                created += await self._deliver(notice, addressee)
        ROUTED.labels(notice.type).inc(created)
        DIGEST_HELD.inc(held)
        log.info("notice.routed", notice_id=notice.id, deliveries=created, held_for_digest=held)
        return Routed(created, held)

    async def track(self, notice: Notice) -> None:
        """Keep the occasion's latest facts and move its reminders to match."""
        occasion = notice.facts.occasion
        if occasion is None:
            return
        kept = await self._stores.occasions.record(occasion)
        for offset in self._offsets:
            reminder_id = reminders.Reminder(kept, offset).id
            existing = await self._stores.reminders.get(reminder_id)
            updated = reminders.schedule(existing, kept, offset, known_at=notice.occurred_at)
            if updated is not None and updated != existing:
                await self._stores.reminders.save(updated)

    async def confirm_participant(
        self, entity: EntityRef, *, registration_id: str, person: Person
    ) -> None:
        """Someone is confirmed for a meeting or module: reminders and updates now reach them."""
        contact = await self.adopt(person)
        if contact is not None:
            await self._stores.occasions.add_participant(
                entity, registration_id=registration_id, contact_id=contact.id
            )

    async def release_participant(self, entity: EntityRef, *, registration_id: str) -> None:
        await self._stores.occasions.remove_participant(entity, registration_id=registration_id)

    async def adopt(self, person: Person) -> Contact | None:
        """The contact for a person an event names, added if new; None if they were erased."""
        key = email_key(person.email, secret=self._secret)
        directory = self._stores.directory
        existing = await directory.find_contact(key)
        if existing is not None:
            return existing
        if await directory.is_erased(key):
            return None
        contact = new_contact(
            person.name,
            person.email,
            secret=self._secret,
            language=person.language or DEFAULT_LANGUAGE,
            origin=ContactOrigin.EVENT,
            now=self._clock(),
        )
        added = await directory.add_contact(contact)
        if added is not None:
            return added
        return await directory.find_contact(key)

    async def _reach(self, audience: Audience, route: Route, facts: Facts) -> list[Contact]:
        directory = self._stores.directory
        match audience:
            case Audience.PERSON:
                contact = await self.adopt(facts.person) if facts.person else None
                return [contact] if contact else []
            case Audience.ORGANISATIONS:
                organisations = await directory.list_organisations()
                named = named_organisations(organisations, facts.organisations)
                return await directory.contacts_of(named, roles=route.roles)
            case Audience.SECRETARIAT:
                return await directory.list_contacts(role=ContactRole.SECRETARIAT)
            case Audience.PARTICIPANTS:
                participants = await self._stores.occasions.participants(facts.entity)
                return await directory.get_contacts(participants)
            case Audience.FOLLOWERS:
                return await directory.followers(entity=facts.entity, category=route.category)

    async def _deliver(self, notice: Notice, addressee: Addressee) -> int:
        delivery = new_delivery(
            notice.id,
            event_type=notice.type,
            template=addressee.route.template,
            recipient_id=addressee.contact.id,
            category=addressee.route.category,
            now=self._clock(),
            policy=self._policy,
        )
        deliveries = self._stores.deliveries
        # A redelivered event finds its deliveries recorded: no need to render them again.
        if await deliveries.exists(delivery.id):
            return 0
        try:
            letter = self._writer.write(notice, addressee, delivery)
        except (ValueError, MessageError) as exc:
            # Data no e-mail can carry (a name or address no header accepts) fails this
            # recipient's e-mail, on the ledger; the event still reaches everybody else.
            error = mask_emails(f"the e-mail could not be written: {exc}")
            log.warning("delivery.unwritable", delivery_id=delivery.id, error=error)
            failed, event = abandon(delivery, error=error, now=self._clock())
            outbox = self._outbox.stage([event], correlation_id=notice.id)
            if await deliveries.add_once(failed, None, outbox):
                FAILED.labels(failed.template, "unwritable").inc()
                self._outbox.written(DELIVERIES_COLLECTION, failed.id)
            return 0
        # Written already claimed for its first attempt, and handed to this process's worker
        # with its bytes: the e-mail leaves without the worker reading anything back.
        started = start_attempt(delivery, now=delivery.created_at)
        if not await deliveries.add_once(started, letter, lease_s=self._lease_s):
            return 0
        self._ready(Claimed(started, letter.to, letter.message))
        return 1

    async def _hold_for_digest(self, notice: Notice, addressee: Addressee) -> int:
        # The digest day comes from when the change reached us, not when it happened: a
        # change that arrives late still makes the next digest instead of a sent one.
        entry = digest.DigestEntry(
            contact_id=addressee.contact.id,
            notice_id=notice.id,
            template=addressee.route.template,
            category=addressee.route.category,
            summary=self._writer.summary(notice, addressee),
            occurred_at=notice.occurred_at,
            day=digest.digest_day(
                self._clock(), hour=self._digest.hour, timezone=self._digest.timezone
            ),
        )
        return int(await self._stores.digests.add_once(entry))
