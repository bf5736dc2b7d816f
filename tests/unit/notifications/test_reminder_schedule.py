"""Reminders: planned from the events, moved by a reschedule, removed by a cancellation, sent once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.notifications.domain.occasions import Occasion, OccasionStatus, latest, occasion_of
from services.notifications.domain.reminders import Reminder, ReminderStatus, cancel, fire, schedule
from shared.errors import IllegalTransition
from tests.unit.notifications import builders as b

WEEK, DAY = timedelta(days=7), timedelta(days=1)
KNOWN = b.SCHEDULED_AT  # 1 March 2018: the meeting was scheduled
OCCASION = occasion_of(b.meeting())


def moved(days: int, sequence: int = 1) -> Occasion:
    shift = timedelta(days=days)
    return replace(
        OCCASION,
        starts_at=OCCASION.starts_at + shift,
        ends_at=OCCASION.ends_at + shift,
        sequence=sequence,
    )


def test_a_reminder_is_due_its_offset_before_the_start() -> None:
    reminder = schedule(None, OCCASION, WEEK, known_at=KNOWN)

    assert reminder is not None
    assert reminder.due_at == b.STARTS - WEEK
    assert reminder.status is ReminderStatus.SCHEDULED


def test_no_reminder_is_planned_when_its_time_had_passed_when_the_meeting_became_known() -> None:
    two_days_before = b.STARTS - timedelta(days=2)

    assert schedule(None, OCCASION, WEEK, known_at=two_days_before) is None
    assert schedule(None, OCCASION, DAY, known_at=two_days_before) is not None


def test_a_reschedule_moves_the_reminder() -> None:
    reminder = schedule(None, OCCASION, DAY, known_at=KNOWN)

    rescheduled = schedule(reminder, moved(7), DAY, known_at=KNOWN)

    assert reminder is not None
    assert rescheduled is not None
    assert rescheduled.due_at == b.STARTS + timedelta(days=6)
    assert rescheduled.id == reminder.id


def test_an_older_version_of_the_meeting_does_not_move_the_reminder_back() -> None:
    reminder = schedule(None, moved(7, sequence=2), DAY, known_at=KNOWN)

    kept = schedule(reminder, replace(OCCASION, sequence=1), DAY, known_at=KNOWN)

    assert kept == reminder


def test_a_cancellation_removes_the_reminder() -> None:
    reminder = schedule(None, OCCASION, DAY, known_at=KNOWN)
    cancelled = replace(OCCASION, status=OccasionStatus.CANCELLED, sequence=1)

    after = schedule(reminder, cancelled, DAY, known_at=KNOWN)

    assert after is not None
    assert after.status is ReminderStatus.CANCELLED


def test_a_cancelled_reminder_stays_cancelled() -> None:
    reminder = cancel(Reminder(OCCASION, DAY))

    assert schedule(reminder, moved(7, sequence=5), DAY, known_at=KNOWN) == reminder


def test_a_due_reminder_fires_once_for_its_start_time() -> None:
    reminder = Reminder(OCCASION, DAY)

    sent, due = fire(reminder, now=reminder.due_at)

    assert sent.status is ReminderStatus.SENT
    assert sent.sent_for == OCCASION.starts_at
    assert due.occurrence == reminder.occurrence
    with pytest.raises(IllegalTransition):
        fire(sent, now=reminder.due_at)


def test_a_reminder_does_not_fire_before_it_is_due() -> None:
    reminder = Reminder(OCCASION, DAY)

    with pytest.raises(IllegalTransition):
        fire(reminder, now=reminder.due_at - timedelta(minutes=1))


def test_a_sent_reminder_is_due_again_when_the_meeting_moves_later() -> None:
    sent, _ = fire(Reminder(OCCASION, DAY), now=b.STARTS - DAY)

    again = schedule(sent, moved(7), DAY, known_at=b.STARTS - timedelta(hours=12))

    assert again is not None
    assert again.status is ReminderStatus.SCHEDULED
    assert again.occurrence != sent.occurrence  # a new start time: a new reminder


def test_a_sent_reminder_is_not_sent_again_for_the_same_start_time() -> None:
    sent, _ = fire(Reminder(OCCASION, DAY), now=b.STARTS - DAY)

    same = schedule(
        sent,
        replace(OCCASION, title="11th partnership meeting (updated)"),
        DAY,
        known_at=b.STARTS - timedelta(hours=12),
    )

    assert same is not None
    assert same.status is ReminderStatus.SENT


def test_a_meeting_moved_so_close_that_the_reminder_time_passed_skips_it() -> None:
    reminder = schedule(None, OCCASION, WEEK, known_at=KNOWN)
    sooner = moved(-30)

    after = schedule(reminder, sooner, WEEK, known_at=sooner.starts_at - timedelta(days=2))

    assert after is not None
    assert after.status is ReminderStatus.SKIPPED


def test_the_newest_facts_of_a_meeting_win_but_a_cancellation_is_final() -> None:
    cancelled = replace(OCCASION, status=OccasionStatus.CANCELLED, sequence=1)

    assert latest(OCCASION, moved(7, sequence=1)) == moved(7, sequence=1)
    assert latest(moved(7, sequence=2), OCCASION) == moved(7, sequence=2)
    assert latest(cancelled, moved(7, sequence=3)) == cancelled


def test_a_later_event_repeating_the_facts_keeps_the_held_status() -> None:
    held = replace(OCCASION, status=OccasionStatus.HELD)

    assert latest(held, OCCASION).status is OccasionStatus.HELD
