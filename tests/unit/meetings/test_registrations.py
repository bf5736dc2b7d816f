"""Registrations: capacity, waitlist, moderation, cancellation, check-in."""

from dataclasses import replace
from datetime import timedelta

import pytest

from services.meetings import domain
from services.meetings.domain import Attendance, RegistrationClosed, RegistrationId, Status
from shared.contracts import meetings as contract
from shared.errors import IllegalTransition
from tests.unit.meetings.builders import (
    AFTER,
    BEFORE,
    SECRETARIAT,
    a_meeting,
    person,
    registered,
    statuses,
)


def register(meeting: domain.Meeting, n: int, **changes: object) -> domain.Decided:
    return domain.register(
        meeting,
        person(n, **changes),  # type: ignore[arg-type]
        registration_id=RegistrationId(f"r-{n}"),
        by=f"registration:r-{n}",
        now=BEFORE,
    )


def test_registrations_are_confirmed_until_full_then_waitlisted_in_arrival_order() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=2), 1, 2, 3, 4)

    assert statuses(meeting) == {
        "r-1": "confirmed",
        "r-2": "confirmed",
        "r-3": "waitlisted",
        "r-4": "waitlisted",
    }
    assert [r.request for r in meeting.registrations] == [1, 2, 3, 4]
    assert domain.waitlist_position(meeting, "r-4") == 2


def test_a_confirmation_event_carries_the_person_and_the_meeting() -> None:
    _, [event] = register(a_meeting(Status.SCHEDULED), 1, language="nl")

    assert isinstance(event, contract.RegistrationConfirmed)
    assert event.registration.name == "Delegate 1"
    assert event.registration.email == "delegate1@example.org"
    assert event.registration.language == "nl"
    assert event.meeting.title == "11th partnership meeting"


def test_a_waitlisted_registration_learns_its_position() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)

    _, [event] = register(meeting, 3)

    assert isinstance(event, contract.RegistrationWaitlisted)
    assert event.waitlist_position == 2


def test_registering_twice_with_the_same_email_in_any_case_returns_the_first() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)

    again, events = register(meeting, 2, email="DELEGATE1@Example.ORG")

    assert again is meeting
    assert events == []
    assert meeting.registration_for("Delegate1@example.org") == meeting.registration("r-1")


def test_a_person_who_cancelled_may_register_again_at_the_back_of_the_queue() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)
    meeting, _ = domain.cancel_registration(meeting, "r-1", reason=None, by="r-1", now=BEFORE)

    meeting, [event] = register(meeting, 3, email="delegate1@example.org")

    assert isinstance(event, contract.RegistrationWaitlisted)
    assert meeting.registration("r-3").request == 3


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (Status.DRAFT, "the meeting is not scheduled yet"),
        (Status.CANCELLED, "the meeting is cancelled"),
        (Status.HELD, "the meeting has been held"),
        (Status.MINUTES_PUBLISHED, "the meeting has been held"),
    ],
)
def test_registration_is_closed_unless_the_meeting_is_scheduled(
    status: Status, reason: str
) -> None:
    with pytest.raises(RegistrationClosed) as closed:
        register(a_meeting(status), 1)

    assert closed.value.facts["reason"] == reason


def test_registration_closes_after_the_deadline() -> None:
    meeting = a_meeting(Status.SCHEDULED, registration_deadline=BEFORE - timedelta(days=1))

    with pytest.raises(RegistrationClosed, match="deadline passed on 2018-04-01 11:00 CEST"):
        register(meeting, 1)


def test_a_meeting_takes_a_bounded_number_of_registrations() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)
    [one] = meeting.registrations
    copies = (replace(one, id=RegistrationId(f"x{i}")) for i in range(domain.MAX_REGISTRATIONS))
    full = replace(meeting, registrations=tuple(copies))

    with pytest.raises(RegistrationClosed, match="limit of 2000 registrations"):
        register(full, 99)


def test_a_moderated_meeting_keeps_registrations_pending_until_approved() -> None:
    meeting = a_meeting(Status.SCHEDULED, requires_approval=True)

    meeting, [event] = register(meeting, 1)

    assert statuses(meeting) == {"r-1": "pending"}
    assert isinstance(event, contract.RegistrationRequested)


def test_approval_seats_pending_registrations_in_the_order_they_were_requested() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=2, requires_approval=True), 1, 2, 3)

    meeting, events = domain.approve(meeting, ["r-3", "r-2", "r-1"], by=SECRETARIAT, now=BEFORE)

    assert statuses(meeting) == {"r-1": "confirmed", "r-2": "confirmed", "r-3": "waitlisted"}
    assert [(type(e).__name__, e.registration.registration_id) for e in events] == [  # type: ignore[attr-defined]
        ("RegistrationConfirmed", "r-1"),
        ("RegistrationConfirmed", "r-2"),
        ("RegistrationWaitlisted", "r-3"),
    ]


def test_only_a_pending_registration_can_be_approved() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)

    with pytest.raises(IllegalTransition, match="cannot approve a registration that is confirmed"):
        domain.approve(meeting, ["r-1"], by=SECRETARIAT, now=BEFORE)


def test_declining_a_pending_registration_records_the_reason() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, requires_approval=True), 1)

    meeting, [event] = domain.decline(
        meeting, "r-1", reason="members only", by=SECRETARIAT, now=BEFORE
    )

    assert meeting.registration("r-1").status.value == "declined"
    assert meeting.registration("r-1").reason == "members only"
    assert isinstance(event, contract.RegistrationDeclined)
    assert event.reason == "members only"


def test_a_cancellation_gives_the_seat_to_the_first_on_the_waitlist() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2, 3)

    meeting, events = domain.cancel_registration(
        meeting, "r-1", reason="cannot travel", by="registration:r-1", now=BEFORE
    )

    assert statuses(meeting) == {"r-1": "cancelled", "r-2": "confirmed", "r-3": "waitlisted"}
    assert [type(e) for e in events] == [
        contract.RegistrationCancelled,
        contract.RegistrationPromoted,
    ]
    assert events[1].registration.registration_id == "r-2"  # type: ignore[attr-defined]
    assert domain.waitlist_position(meeting, "r-3") == 1


def test_cancelling_a_cancelled_registration_changes_nothing() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)
    meeting, _ = domain.cancel_registration(meeting, "r-1", reason=None, by="r-1", now=BEFORE)

    same, events = domain.cancel_registration(meeting, "r-1", reason=None, by="r-1", now=BEFORE)

    assert same is meeting
    assert events == []


def test_an_unknown_registration_is_not_found() -> None:
    with pytest.raises(domain.RegistrationNotFound):
        domain.cancel_registration(
            a_meeting(Status.SCHEDULED), "nobody", reason=None, by="x", now=BEFORE
        )


def test_registrations_of_a_cancelled_meeting_cannot_be_cancelled_any_more() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)
    meeting, _ = domain.cancel(meeting, reason="strike", by=SECRETARIAT, now=BEFORE)

    with pytest.raises(RegistrationClosed, match="cancelled"):
        domain.cancel_registration(meeting, "r-1", reason=None, by="r-1", now=BEFORE)


def held_with_registrations() -> domain.Meeting:
    meeting = registered(a_meeting(Status.SCHEDULED, capacity=3), 1, 2, 3, 4)
    meeting, _ = domain.hold(meeting, by=SECRETARIAT, now=AFTER)
    return meeting


def test_check_in_marks_attendance_after_the_meeting() -> None:
    meeting, events = domain.record_attendance(
        held_with_registrations(),
        {"r-1": Attendance.ATTENDED, "r-2": Attendance.NO_SHOW, "r-4": Attendance.ATTENDED},
        by=SECRETARIAT,
        now=AFTER,
    )

    assert [r.attendance for r in meeting.registrations] == [
        Attendance.ATTENDED,
        Attendance.NO_SHOW,
        None,
        Attendance.ATTENDED,
    ]
    assert events == []
    assert meeting.history[-1].detail == "2 attended, 1 no-show"


def test_check_in_is_refused_before_the_meeting_is_held() -> None:
    meeting = registered(a_meeting(Status.SCHEDULED), 1)

    with pytest.raises(domain.MeetingStateConflict):
        domain.record_attendance(meeting, {"r-1": Attendance.ATTENDED}, by=SECRETARIAT, now=AFTER)


def test_the_organisations_checked_in_prefill_the_minutes() -> None:
    meeting, _ = domain.record_attendance(
        held_with_registrations(),
        {"r-1": Attendance.ATTENDED, "r-2": Attendance.ATTENDED, "r-3": Attendance.NO_SHOW},
        by=SECRETARIAT,
        now=AFTER,
    )

    meeting, _ = domain.record_minutes(
        meeting, summary="Six sessions on the actions.", decisions=[], by=SECRETARIAT, now=AFTER
    )

    assert meeting.minutes is not None
    assert meeting.minutes.attending_organisations == ("City of Athens", "City of Berlin")
