"""The .ics files, read back with a real iCalendar parser."""

from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar

from services.meetings import domain, ical
from services.meetings.domain import Status
from services.meetings.domain.lifecycle import CALENDAR_FIELDS
from shared.contracts.meetings import MeetingKind
from tests.unit.meetings.builders import BEFORE, ENDS, SECRETARIAT, STARTS, a_meeting

BARCELONA = "Europe/Madrid"

# For each detail, a value other than the 11th partnership meeting's.
OTHER_DETAILS: dict[str, Any] = {
    "kind": MeetingKind.WORKSHOP,
    "title": "Partnership meeting 11",
    "starts_at": STARTS + timedelta(hours=1),
    "ends_at": ENDS + timedelta(hours=1),
    "timezone": BARCELONA,
    "organiser": "European Commission DG HOME",
    "description": "Six sessions on the state of play of the actions.",
    "number": 12,
    "hosts": ("City of Amsterdam",),
    "venue": domain.Venue(name="Stadsarchief", city="Amsterdam", country="Netherlands"),
    "online_url": "https://meet.example.org/partnership-11",
    "languages": ("en", "fr"),
    "capacity": 40,
    "registration_deadline": STARTS - timedelta(days=7),
    "requires_approval": True,
}


def parsed(*meetings: domain.Meeting) -> Calendar:
    return Calendar.from_ical(ical.render(meetings, name="Partnership meetings"))


def test_a_meeting_becomes_one_event_in_its_own_time_zone() -> None:
    ics = parsed(a_meeting(Status.SCHEDULED))

    [event] = ics.events
    assert str(event["uid"]) == "m-11@meetings.partnership"
    assert str(event["summary"]) == "11th partnership meeting"
    assert event.start == STARTS
    assert event.end == ENDS
    assert event["dtstart"].params["TZID"] == "Europe/Amsterdam"
    assert str(event["location"]) == "City Hall, Amstel 1, Amsterdam, Netherlands"
    assert str(event["status"]) == "CONFIRMED"
    assert [tz.tz_name for tz in ics.timezones] == ["Europe/Amsterdam"]
    assert str(ics["method"]) == "PUBLISH"
    assert str(ics["version"]) == "2.0"


def test_rescheduling_keeps_the_uid_and_raises_the_sequence() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    moved, _ = domain.reschedule(
        meeting,
        starts_at=domain.in_zone(datetime(2018, 9, 27, 10), BARCELONA),
        ends_at=domain.in_zone(datetime(2018, 9, 27, 17), BARCELONA),
        timezone=BARCELONA,
        reason=None,
        by=SECRETARIAT,
        now=BEFORE,
    )

    before, after = parsed(meeting).events[0], parsed(moved).events[0]

    assert after["uid"] == before["uid"]
    assert int(after["sequence"]) == int(before["sequence"]) + 1
    assert after["dtstart"].params["TZID"] == BARCELONA


def test_the_details_that_raise_the_sequence_are_exactly_those_the_file_shows() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    original = ical.render([meeting], name="x")

    shown = {
        name
        for name, value in OTHER_DETAILS.items()
        if ical.render(
            [replace(meeting, details=replace(meeting.details, **{name: value}))], name="x"
        )
        != original
    }

    assert set(OTHER_DETAILS) == {f.name for f in fields(domain.Details)}
    assert shown == CALENDAR_FIELDS


def test_a_new_venue_reaches_the_file_and_the_event_with_one_uid_and_sequence() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    venue = domain.Venue(name="Stadsarchief", city="Amsterdam", country="Netherlands")

    moved, _, [event] = domain.update(
        meeting, replace(meeting.details, venue=venue), by=SECRETARIAT, now=BEFORE
    )

    before, after = parsed(meeting).events[0], parsed(moved).events[0]
    assert event.meeting.calendar_uid == str(after["uid"]) == str(before["uid"])
    assert event.meeting.sequence == int(after["sequence"]) == int(before["sequence"]) + 1
    assert str(after["location"]) == "Stadsarchief, Amsterdam, Netherlands"


def test_a_cancelled_meeting_says_so_and_why() -> None:
    meeting, _ = domain.cancel(
        a_meeting(Status.SCHEDULED), reason="venue closed", by=SECRETARIAT, now=BEFORE
    )

    [event] = parsed(meeting).events

    assert str(event["status"]) == "CANCELLED"
    assert str(event["description"]).startswith("Cancelled: venue closed")


def test_the_same_meeting_always_renders_the_same_bytes() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    assert ical.render([meeting], name="x") == ical.render([meeting], name="x")


def test_a_feed_holds_every_meeting_with_each_time_zone_once() -> None:
    amsterdam = a_meeting(Status.SCHEDULED)
    barcelona = domain.plan(
        domain.MeetingId("m-12"),
        domain.Details(
            kind=amsterdam.details.kind,
            number=12,
            title="12th partnership meeting",
            starts_at=domain.in_zone(datetime(2018, 9, 27, 10), BARCELONA),
            ends_at=domain.in_zone(datetime(2018, 9, 27, 17), BARCELONA),
            timezone=BARCELONA,
            organiser="Barcelona City Council",
            online_url="https://meet.example.org/partnership-12",
        ),
        by=SECRETARIAT,
        now=BEFORE,
    )

    ics = parsed(amsterdam, barcelona, amsterdam)

    assert [str(e["uid"]) for e in ics.events] == [
        "m-11@meetings.partnership",
        "m-12@meetings.partnership",
        "m-11@meetings.partnership",
    ]
    assert sorted(tz.tz_name for tz in ics.timezones) == ["Europe/Amsterdam", BARCELONA]
    assert str(ics.events[1]["url"]) == "https://meet.example.org/partnership-12"


def test_an_empty_feed_is_still_a_valid_calendar() -> None:
    ics = parsed()

    assert ics.events == []
    assert str(ics["prodid"]).startswith("-//Partnership")
