"""Reminders before a meeting or academy module starts: planned, moved and cancelled by events."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.notifications.domain.occasions import Occasion, OccasionStatus
from shared.errors import IllegalTransition


class ReminderStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    SKIPPED = "skipped"  # its time had already passed when the start time became known
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Reminder:
    """One reminder per occasion and offset (e.g. 7 days before the 11th partnership meeting)."""

    occasion: Occasion
    offset: timedelta
    status: ReminderStatus = ReminderStatus.SCHEDULED
    sent_for: datetime | None = None  # the start time the sent reminder announced

    @property
    def id(self) -> str:
        return f"{self.occasion.entity.key}~{int(self.offset.total_seconds())}s"

    @property
    def due_at(self) -> datetime:
        return self.occasion.starts_at - self.offset

    @property
    def occurrence(self) -> str:
        """The reminder for one start time: deliveries are keyed by it, so it goes out once."""
        return f"reminder:{self.id}:{self.occasion.starts_at.isoformat()}"


@dataclass(frozen=True)
class ReminderDue:
    """A reminder's time has come: routed like an event to the people confirmed."""

    reminder_id: str
    occurrence: str
    occasion: Occasion
    offset: timedelta
    due_at: datetime

    EVENT_TYPE = "notifications.reminder_due"


def schedule(
    existing: Reminder | None, occasion: Occasion, offset: timedelta, *, known_at: datetime
) -> Reminder | None:
    """The reminder at this offset once the occasion's latest facts are known (None: none due).

    `known_at` is when those facts were decided (the event's time, not the clock's), so a
    consumer catching up after an outage plans the same reminders as one that kept up.
    """
    if occasion.status is OccasionStatus.CANCELLED:
        return cancel(existing) if existing else None
    if existing is None:
        fresh = Reminder(occasion=occasion, offset=offset)
        return fresh if fresh.due_at > known_at else None
    if existing.status is ReminderStatus.CANCELLED or not occasion.supersedes(existing.occasion):
        return existing
    moved = replace(existing, occasion=occasion)
    if existing.status is ReminderStatus.SENT and existing.sent_for == occasion.starts_at:
        return moved
    if moved.due_at > known_at:
        return replace(moved, status=ReminderStatus.SCHEDULED)
    if existing.status is ReminderStatus.SENT:
        return moved
    return replace(moved, status=ReminderStatus.SKIPPED)


def cancel(reminder: Reminder) -> Reminder:
    """A cancelled occasion needs no reminder; one already sent stays on record as sent."""
    if reminder.status is ReminderStatus.SENT:
        return reminder
    return replace(reminder, status=ReminderStatus.CANCELLED)


def fire(reminder: Reminder, *, now: datetime) -> tuple[Reminder, ReminderDue]:
    """Send a due reminder: it becomes sent for this start time and routes a ReminderDue."""
    if reminder.status is not ReminderStatus.SCHEDULED:
        raise IllegalTransition(
            "reminder", current=reminder.status, action="fire", allowed=["scheduled"]
        )
    if reminder.due_at > now:
        raise IllegalTransition("reminder", current="not yet due", action="fire", allowed=["due"])
    due = ReminderDue(
        reminder_id=reminder.id,
        occurrence=reminder.occurrence,
        occasion=reminder.occasion,
        offset=reminder.offset,
        due_at=reminder.due_at,
    )
    return replace(reminder, status=ReminderStatus.SENT, sent_for=reminder.occasion.starts_at), due
