"""Occasions and reminders as the store writes and reads them, documents from before included."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.notifications.domain import occasions
from services.notifications.domain.reminders import Reminder
from services.notifications.ical import calendar_uid
from services.notifications.store.occasions import (
    occasion_doc,
    occasion_of,
    reminder_doc,
    reminder_of,
)
from tests.unit.notifications import builders as b

OCCASION = occasions.occasion_of(b.meeting())

# An occasion as the store wrote it before events carried `calendar_uid`.
OLD_OCCASION_DOC = {
    "_id": "meeting:m-11",
    "kind": "meeting",
    "entity_id": "m-11",
    "title": "11th partnership meeting",
    "starts_at": datetime(2018, 5, 15, 8, 0, tzinfo=UTC),
    "ends_at": datetime(2018, 5, 15, 15, 0, tzinfo=UTC),
    "timezone": "Europe/Amsterdam",
    "sequence": 0,
    "location": "City Hall, Amstel 1, Amsterdam, Netherlands",
    "online_url": None,
    "status": "scheduled",
}


def test_an_occasion_reads_back_with_the_uid_its_event_gave() -> None:
    stored = occasion_doc(OCCASION)

    assert occasion_of(stored) == OCCASION
    assert stored["calendar_uid"] == "m-11@meetings.partnership"


def test_an_occasion_stored_before_events_carried_a_uid_loads_and_derives_it() -> None:
    loaded = occasion_of(OLD_OCCASION_DOC)

    assert loaded == replace(OCCASION, calendar_uid=None)
    assert calendar_uid(loaded) == "m-11@meetings.partnership"


def test_a_reminder_stored_before_events_carried_a_uid_still_loads() -> None:
    old = {
        "_id": "meeting:m-11~604800s",
        "entity": "meeting:m-11",
        "offset_s": 604800,
        "status": "scheduled",
        "due_at": datetime(2018, 5, 8, 8, 0, tzinfo=UTC),
        "sent_for": None,
        "occasion": OLD_OCCASION_DOC,
        "lease_until": None,
    }

    loaded = reminder_of(old)

    assert loaded == Reminder(replace(OCCASION, calendar_uid=None), timedelta(days=7))
    assert reminder_doc(loaded)["_id"] == old["_id"]
