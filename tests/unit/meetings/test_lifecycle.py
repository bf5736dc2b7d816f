"""The meeting's lifecycle: draft → scheduled → held → minutes_published, or cancelled."""

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.meetings import domain
from services.meetings.domain import Meeting, Status
from shared.contracts import meetings as contract
from shared.contracts.meetings import MeetingKind
from shared.lifecycle import StateConflict
from tests.unit.meetings.builders import (
    AFTER,
    AMSTERDAM,
    BEFORE,
    DURING,
    ENDS,
    SECRETARIAT,
    STARTS,
    Book,
    a_meeting,
    details,
    registered,
)

BARCELONA = "Europe/Madrid"
# The next partnership meeting was set for 27 Sep 2018 in Barcelona.
SEPTEMBER_START = domain.in_zone(datetime(2018, 9, 27, 10, 0), BARCELONA)
SEPTEMBER_END = domain.in_zone(datetime(2018, 9, 27, 17, 0), BARCELONA)


def act(meeting: Meeting, action: str) -> Any:
    """Try one lifecycle step with valid arguments."""
    steps = {
        "schedule": lambda: domain.schedule(meeting, by=SECRETARIAT, now=BEFORE),
        "reschedule": lambda: domain.reschedule(
            meeting,
            starts_at=SEPTEMBER_START,
            ends_at=SEPTEMBER_END,
            reason=None,
            by=SECRETARIAT,
            now=BEFORE,
        ),
        "cancel": lambda: domain.cancel(meeting, reason="strike", by=SECRETARIAT, now=BEFORE),
        "hold": lambda: domain.hold(meeting, by=SECRETARIAT, now=AFTER),
        "publish_minutes": lambda: domain.publish_minutes(meeting, by=SECRETARIAT, now=AFTER),
        "update": lambda: domain.update(
            meeting, replace(meeting.details, title="Renamed"), by=SECRETARIAT, now=BEFORE
        ),
        "replace_programme": lambda: domain.replace_programme(
            meeting, [], by=SECRETARIAT, now=BEFORE
        ),
        "record_minutes": lambda: domain.record_minutes(
            meeting, summary="s", decisions=[], by=SECRETARIAT, now=AFTER
        ),
        "record_attendance": lambda: domain.record_attendance(
            meeting, [], {}, by=SECRETARIAT, now=AFTER
        ),
    }
    result = steps[action]()
    # Decisions that may move registrations return them too; here only the meeting matters.
    return (result[0], result[-1]) if len(result) == 3 else result


ALL_ACTIONS = (
    "schedule",
    "reschedule",
    "cancel",
    "hold",
    "publish_minutes",
    "update",
    "replace_programme",
    "record_minutes",
    "record_attendance",
)
ILLEGAL = [
    (status, action)
    for status in Status
    for action in ALL_ACTIONS
    if action not in domain.allowed_actions(status)
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_an_action_the_status_does_not_allow_is_refused_naming_what_it_allows(
    status: Status, action: str
) -> None:
    meeting = a_meeting(status)

    with pytest.raises(StateConflict) as refused:
        act(meeting, action)

    facts = refused.value.facts
    assert facts["current_state"] == status.value
    assert facts["action"] == action
    assert facts["allowed_actions"] == domain.allowed_actions(status)
    assert facts["allowed_next_states"] == sorted(
        {s.value for s in domain.LIFECYCLE.steps[status].values()}
    )


def test_the_allowed_actions_per_status_are_the_documented_lifecycle() -> None:
    assert domain.allowed_actions(Status.DRAFT) == [
        "cancel",
        "replace_programme",
        "schedule",
        "update",
    ]
    assert domain.allowed_actions(Status.SCHEDULED) == [
        "cancel",
        "hold",
        "replace_programme",
        "reschedule",
        "update",
    ]
    assert domain.allowed_actions(Status.HELD) == [
        "publish_minutes",
        "record_attendance",
        "record_minutes",
    ]
    assert domain.allowed_actions(Status.CANCELLED) == []
    assert domain.allowed_actions(Status.MINUTES_PUBLISHED) == []


def test_a_planned_meeting_is_a_draft_with_its_planning_in_the_history() -> None:
    meeting = a_meeting()

    assert meeting.status is Status.DRAFT
    assert [(c.action, c.by) for c in meeting.history] == [("plan", SECRETARIAT)]


def test_scheduling_announces_the_meeting_with_title_times_and_venue() -> None:
    meeting, events = domain.schedule(a_meeting(), by=SECRETARIAT, now=BEFORE)

    assert meeting.status is Status.SCHEDULED
    [event] = events
    assert isinstance(event, contract.MeetingScheduled)
    assert event.meeting.title == "11th partnership meeting"
    assert event.meeting.number == 11
    assert event.meeting.starts_at == STARTS
    assert event.meeting.timezone == AMSTERDAM
    assert event.meeting.venue is not None
    assert event.meeting.venue.city == "Amsterdam"
    assert event.scheduled_at == BEFORE


def test_rescheduling_moves_the_meeting_and_raises_its_sequence() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    moved, events = domain.reschedule(
        meeting,
        starts_at=SEPTEMBER_START,
        ends_at=SEPTEMBER_END,
        timezone=BARCELONA,
        reason="the venue is booked",
        by=SECRETARIAT,
        now=BEFORE,
    )

    assert moved.status is Status.SCHEDULED
    assert moved.sequence == meeting.sequence + 1
    assert (moved.details.starts_at, moved.details.timezone) == (SEPTEMBER_START, BARCELONA)
    [event] = events
    assert isinstance(event, contract.MeetingRescheduled)
    assert (event.previous_starts_at, event.previous_ends_at) == (STARTS, ENDS)
    assert event.meeting.sequence == moved.sequence
    assert event.reason == "the venue is booked"
    assert moved.history[-1].reason == "the venue is booked"


def test_rescheduling_to_the_same_times_changes_nothing() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    same, events = domain.reschedule(
        meeting, starts_at=STARTS, ends_at=ENDS, reason=None, by=SECRETARIAT, now=BEFORE
    )

    assert same is meeting
    assert events == []


def test_a_cancellation_records_its_reason_and_emits_one_event() -> None:
    meeting, events = domain.cancel(
        a_meeting(Status.SCHEDULED), reason="venue closed", by=SECRETARIAT, now=BEFORE
    )

    assert meeting.status is Status.CANCELLED
    assert meeting.cancellation_reason == "venue closed"
    assert [type(e) for e in events] == [contract.MeetingCancelled]
    assert meeting.history[-1].reason == "venue closed"


def test_cancelling_a_scheduled_meeting_raises_its_sequence_for_calendar_clients() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    cancelled, _ = domain.cancel(meeting, reason="venue closed", by=SECRETARIAT, now=BEFORE)

    assert cancelled.sequence == meeting.sequence + 1


def test_a_draft_can_be_cancelled_too() -> None:
    meeting, events = domain.cancel(a_meeting(), reason="no quorum", by=SECRETARIAT, now=BEFORE)

    assert meeting.status is Status.CANCELLED
    assert len(events) == 1


def test_a_cancellation_needs_a_reason() -> None:
    with pytest.raises(domain.InvalidMeeting, match="reason"):
        domain.cancel(a_meeting(Status.SCHEDULED), reason="  ", by=SECRETARIAT, now=BEFORE)


def test_a_meeting_is_held_only_once_it_has_started() -> None:
    with pytest.raises(domain.NotStartedYet):
        domain.hold(a_meeting(Status.SCHEDULED), by=SECRETARIAT, now=STARTS - timedelta(minutes=1))


def test_holding_a_meeting_that_started_emits_held() -> None:
    meeting, events = domain.hold(a_meeting(Status.SCHEDULED), by=SECRETARIAT, now=DURING)

    assert meeting.status is Status.HELD
    assert [type(e) for e in events] == [contract.MeetingHeld]


def test_every_state_change_emits_exactly_one_event() -> None:
    meeting = a_meeting()
    counts = []

    for step in ("schedule", "reschedule"):
        meeting, events = act(meeting, step)
        counts.append(len(events))
    meeting, events = domain.hold(meeting, by=SECRETARIAT, now=SEPTEMBER_END)
    counts.append(len(events))
    meeting, _ = act(meeting, "record_minutes")
    meeting, events = act(meeting, "publish_minutes")
    counts.append(len(events))

    assert counts == [1, 1, 1, 1]
    assert meeting.status is Status.MINUTES_PUBLISHED


def test_updating_a_draft_changes_its_details_without_telling_anyone() -> None:
    meeting = a_meeting()

    updated, _, events = domain.update(
        meeting,
        replace(meeting.details, title="Partnership meeting 11"),
        by=SECRETARIAT,
        now=BEFORE,
    )

    assert updated.details.title == "Partnership meeting 11"
    assert events == []
    assert updated.history[-1].detail == "changed title"


def test_updating_a_scheduled_meeting_tells_subscribers_what_changed() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    venue = domain.Venue(name="Stadsarchief", city="Amsterdam", country="Netherlands")

    _, _, events = domain.update(
        meeting, replace(meeting.details, venue=venue), by=SECRETARIAT, now=BEFORE, reason="moved"
    )

    [event] = events
    assert isinstance(event, contract.MeetingUpdated)
    assert event.changed_fields == ["venue"]
    assert event.meeting.venue is not None
    assert event.meeting.venue.name == "Stadsarchief"


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Partnership meeting 11"},
        {"description": "Six sessions on the state of play of the actions."},
        {"venue": domain.Venue(name="Stadsarchief", city="Amsterdam", country="Netherlands")},
        {"online_url": "https://meet.example.org/partnership-11"},
    ],
    ids=["title", "description", "venue", "online_url"],
)
def test_changing_what_the_calendar_entry_shows_raises_the_sequence(
    changes: dict[str, Any],
) -> None:
    meeting = a_meeting(Status.SCHEDULED)

    updated, _, events = domain.update(
        meeting, replace(meeting.details, **changes), by=SECRETARIAT, now=BEFORE
    )

    assert updated.sequence == meeting.sequence + 1
    [event] = events
    assert isinstance(event, contract.MeetingUpdated)
    assert event.meeting.sequence == updated.sequence


@pytest.mark.parametrize(
    "changes",
    [
        {"capacity": 40},
        {"hosts": ("City of Amsterdam",)},
        {"languages": ("en", "fr")},
        {"registration_deadline": STARTS - timedelta(days=7)},
    ],
    ids=["capacity", "hosts", "languages", "registration_deadline"],
)
def test_changing_details_the_calendar_entry_does_not_show_keeps_the_sequence(
    changes: dict[str, Any],
) -> None:
    meeting = a_meeting(Status.SCHEDULED)

    updated, _, events = domain.update(
        meeting, replace(meeting.details, **changes), by=SECRETARIAT, now=BEFORE
    )

    assert updated.sequence == meeting.sequence
    [event] = events
    assert isinstance(event, contract.MeetingUpdated)
    assert event.meeting.sequence == meeting.sequence


def test_retitling_a_draft_keeps_its_sequence_as_no_calendar_holds_it_yet() -> None:
    meeting = a_meeting()

    updated, _, _ = domain.update(
        meeting,
        replace(meeting.details, title="Partnership meeting 11"),
        by=SECRETARIAT,
        now=BEFORE,
    )

    assert updated.sequence == meeting.sequence == 0


def test_every_meeting_event_names_the_meetings_calendar_entry() -> None:
    meeting, emitted = act(a_meeting(), "schedule")
    book = Book(meeting)
    emitted += book.register(1)
    meeting = book.meeting

    for step in ("update", "reschedule", "cancel"):
        meeting, events = act(meeting, step)
        emitted += events

    assert len(emitted) == 5
    assert {e.meeting.calendar_uid for e in emitted} == {"m-11@meetings.partnership"}


def test_an_update_that_changes_nothing_is_not_recorded() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    same, _, events = domain.update(meeting, meeting.details, by=SECRETARIAT, now=BEFORE)

    assert same is meeting
    assert events == []


def test_a_scheduled_meeting_moves_only_by_rescheduling() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    later = replace(meeting.details, starts_at=STARTS + timedelta(hours=1))

    with pytest.raises(domain.UpdateRefused, match=r"starts_at.*reschedule"):
        domain.update(meeting, later, by=SECRETARIAT, now=BEFORE)


def test_raising_the_capacity_promotes_from_the_waitlist() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2, 3)
    bigger = replace(book.meeting.details, capacity=2)

    events = book.apply(
        domain.update(book.meeting, bigger, waiting=book.waiting(), by=SECRETARIAT, now=BEFORE)
    )

    assert book.statuses() == {"r-1": "confirmed", "r-2": "confirmed", "r-3": "waitlisted"}
    assert [type(e) for e in events] == [contract.MeetingUpdated, contract.RegistrationPromoted]
    assert domain.seats_needed(book.meeting, replace(bigger, capacity=5)) == 3


def test_the_capacity_cannot_drop_below_the_confirmed_registrations() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=3), 1, 2, 3)

    with pytest.raises(domain.UpdateRefused, match="3 registrations are already confirmed"):
        domain.update(
            book.meeting, replace(book.meeting.details, capacity=2), by=SECRETARIAT, now=BEFORE
        )


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"ends_at": STARTS}, "ends_at", "must be after starts_at"),
        ({"ends_at": STARTS + timedelta(days=15)}, "ends_at", "at most 14 days"),
        ({"number": None}, "number", "partnership meetings are numbered"),
        ({"kind": MeetingKind.WORKSHOP}, "number", "only partnership meetings are numbered"),
        ({"kind": MeetingKind.ONLINE, "number": None}, "online_url", "needs its URL"),
        ({"venue": None}, "venue", "a venue, an online URL or both"),
        ({"registration_deadline": ENDS + timedelta(days=1)}, "registration_deadline", "after"),
        ({"timezone": "Europe/Atlantis"}, "timezone", "unknown time zone"),
    ],
)
def test_meeting_details_that_break_a_rule_are_refused_naming_the_field(
    changes: dict[str, Any], field: str, reason: str
) -> None:
    with pytest.raises(domain.InvalidMeeting) as refused:
        domain.plan(domain.MeetingId("m"), details(**changes), by=SECRETARIAT, now=BEFORE)

    assert any(e["field"] == field and reason in e["reason"] for e in refused.value.facts["errors"])


def test_a_meeting_may_span_several_days() -> None:
    # The Amsterdam working conference ran on 17-18 May 2017.
    conference = details(
        kind=MeetingKind.WORKING_CONFERENCE,
        number=None,
        title="Working conference",
        starts_at=domain.in_zone(datetime(2017, 5, 17, 9, 0), AMSTERDAM),
        ends_at=domain.in_zone(datetime(2017, 5, 18, 16, 0), AMSTERDAM),
    )

    meeting = domain.plan(domain.MeetingId("wc"), conference, by=SECRETARIAT, now=BEFORE)

    assert meeting.details.ends_at - meeting.details.starts_at == timedelta(days=1, hours=7)


def test_rescheduling_to_a_start_that_has_passed_is_refused_unless_said_explicitly() -> None:
    meeting = a_meeting(Status.SCHEDULED)
    late = SEPTEMBER_START + timedelta(days=1)

    with pytest.raises(domain.InvalidMeeting) as refused:
        domain.reschedule(
            meeting,
            starts_at=SEPTEMBER_START,
            ends_at=SEPTEMBER_END,
            timezone=BARCELONA,
            reason=None,
            by=SECRETARIAT,
            now=late,
        )
    recorded, _ = domain.reschedule(
        meeting,
        starts_at=SEPTEMBER_START,
        ends_at=SEPTEMBER_END,
        timezone=BARCELONA,
        reason="recording what happened",
        by=SECRETARIAT,
        now=late,
        into_the_past=True,
    )

    [error] = refused.value.facts["errors"]
    assert error["field"] == "starts_at"
    # Read in the meeting's time zone: 10:00 in Barcelona, not 08:00 UTC.
    assert error["reason"].startswith("2018-09-27 10:00 CEST (UTC+02:00) has already passed")
    assert recorded.details.starts_at == SEPTEMBER_START


def test_a_meeting_not_started_yet_says_its_start_in_its_own_time_zone() -> None:
    meeting = a_meeting(Status.SCHEDULED)

    with pytest.raises(domain.NotStartedYet) as refused:
        domain.hold(meeting, by=SECRETARIAT, now=STARTS - timedelta(hours=1))

    there = STARTS.astimezone(ZoneInfo(AMSTERDAM))
    assert f"starts at {there:%Y-%m-%d %H:%M} {there.tzname()}" in refused.value.detail
    assert refused.value.facts["starts_at"] == there.isoformat()
