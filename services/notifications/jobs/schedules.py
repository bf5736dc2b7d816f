"""Periodic jobs: reminders that fall due, and the daily digest. Both are safe to run again."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

import structlog

from services.notifications.domain import digest, reminders
from services.notifications.domain.deliveries import (
    BackoffPolicy,
    delivery_id,
    new_delivery,
    start_attempt,
)
from services.notifications.domain.digest import DIGEST_TEMPLATE, DigestEntry
from services.notifications.domain.directory import ContactId
from services.notifications.mail.letters import LetterWriter
from services.notifications.metrics import DIGESTS_WRITTEN, REMINDERS_FIRED
from services.notifications.notices import Notice
from services.notifications.notifier import DigestSchedule, Notifier
from services.notifications.store import Stores
from services.notifications.store.deliveries import Claimed

log = structlog.get_logger()

DIGEST_EVENT_TYPE = "notifications.daily_digest"
STEP_GRACE_S = 10.0

T = TypeVar("T")


class ReminderJob:
    """Sends each due reminder once: to the people confirmed at the time it falls due."""

    def __init__(
        self,
        stores: Stores,
        notifier: Notifier,
        *,
        clock: Callable[[], datetime],
        lease_s: float = 300.0,
    ) -> None:
        self._stores = stores
        self._notifier = notifier
        self._clock = clock
        self._lease_s = lease_s

    async def run_due(self) -> int:
        """Fire every reminder that is due; returns how many."""
        fired = 0
        while (
            reminder := await self._stores.reminders.claim_due(
                now=self._clock(), lease_s=self._lease_s
            )
        ) is not None:
            sent, due = reminders.fire(reminder, now=self._clock())
            # Deliveries are keyed by the reminder's occurrence: firing again after a crash
            # between these two writes finds them already recorded.
            await self._notifier.notify(Notice.of_reminder(due))
            if not await self._stores.reminders.save_fired(sent, claimed=reminder):
                # Moved by a reschedule while it fired: it goes out again at its new time.
                log.info("reminder.moved_while_firing", reminder_id=sent.id)
                continue
            REMINDERS_FIRED.inc()
            log.info("reminder.fired", reminder_id=sent.id)
            fired += 1
        return fired


class DigestJob:
    """Writes one digest per contact and day from the changes held back for them."""

    def __init__(
        self,
        stores: Stores,
        writer: LetterWriter,
        *,
        schedule: DigestSchedule,
        policy: BackoffPolicy,
        clock: Callable[[], datetime],
        ready: Callable[[Claimed], None] = lambda _: None,
        lease_s: float = 120.0,
    ) -> None:
        self._stores = stores
        self._writer = writer
        self._schedule = schedule
        self._policy = policy
        self._clock = clock
        self._ready = ready
        self._lease_s = lease_s

    async def run_due(self) -> int:
        """Write the digests whose hour has come; returns how many were written."""
        digests = self._stores.digests
        written = 0
        for digest_id, entries in (await digests.claimed_unsent()).items():
            written += await self._write(digest_id, entries)
        up_to = digest.last_due_day(
            self._clock(), hour=self._schedule.hour, timezone=self._schedule.timezone
        )
        groups: dict[tuple[ContactId, str], list[DigestEntry]] = defaultdict(list)
        for entry in await digests.unclaimed(up_to=up_to):
            groups[(entry.contact_id, entry.day.isoformat())].append(entry)
        for (contact_id, _), entries in sorted(groups.items()):
            digest_id = digest.digest_id(contact_id, entries[0].day)
            if await self._stores.deliveries.exists(
                delivery_id(digest_id, contact_id, DIGEST_TEMPLATE)
            ):
                # Arrived after that day's digest went out: it goes in the next one.
                await digests.move(entries, to=up_to + timedelta(days=1))
                continue
            await digests.claim(entries, digest_id)
            written += await self._write(digest_id, entries)
        return written

    async def _write(self, digest_id: str, entries: list[DigestEntry]) -> int:
        contact_id, day = entries[0].contact_id, entries[0].day
        found = await self._stores.directory.get_contacts([contact_id])
        sections = digest.compose(entries, found[0].preferences) if found else ()
        created = False
        if found and sections:
            contact = found[0]
            delivery = new_delivery(
                digest_id,
                event_type=DIGEST_EVENT_TYPE,
                template=DIGEST_TEMPLATE,
                recipient_id=contact.id,
                category=None,
                now=self._clock(),
                policy=self._policy,
            )
            letter = self._writer.digest(
                contact,
                delivery,
                day=day,
                sections=sections,
                timezone=self._schedule.timezone.key,
            )
            started = start_attempt(delivery, now=delivery.created_at)
            created = await self._stores.deliveries.add_once(started, letter, lease_s=self._lease_s)
            if created:
                self._ready(Claimed(started, letter.to, letter.message))
        await self._stores.digests.mark_sent(digest_id)
        if created:
            DIGESTS_WRITTEN.inc()
            log.info("digest.written", digest_id=digest_id, entries=len(entries))
        return int(created)


async def finish_step(
    step: Awaitable[T],
    *,
    grace_s: float = STEP_GRACE_S,
    on_cancel: Callable[[], None] = lambda: None,
) -> T:
    """Run one step of background work so that stopping the service lets it finish.

    Cancelled in the middle, a PyMongo operation closes its connection and its effect is
    unknown (and a stop can hang on it): on cancellation the step is told (`on_cancel`),
    gets `grace_s` to end, then the cancellation goes on. `grace_s` must stay below the
    runtime's shutdown grace, or the database closes under the step's last write.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        on_cancel()
        await asyncio.wait({task}, timeout=grace_s)
        raise


async def every(
    interval_s: float,
    job: Callable[[], Awaitable[object]],
    name: str,
    *,
    grace_s: float = STEP_GRACE_S,
) -> None:
    """Run a job now and then every interval; a failing run is logged and tried again later."""
    while True:
        try:
            await finish_step(job(), grace_s=grace_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("schedule.run_failed", job=name, error=str(exc))
        await asyncio.sleep(interval_s)
