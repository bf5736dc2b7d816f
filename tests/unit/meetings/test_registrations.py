"""Registrations: capacity, waitlist, moderation, cancellation, check-in."""

from datetime import timedelta

import pytest

from services.meetings import domain
from services.meetings.domain import Attendance, RegistrationClosed, Status
from shared.contracts import meetings as contract
from shared.errors import IllegalTransition
from shared.lifecycle import StateConflict
from tests.unit.meetings.builders import (
    AFTER,
    BEFORE,
    SECRETARIAT,
    Book,
    a_meeting,
    registered,
)


def test_registrations_are_confirmed_until_full_then_waitlisted_in_arrival_order() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=2), 1, 2, 3, 4)

    assert book.statuses() == {
        "r-1": "confirmed",
        "r-2": "confirmed",
        "r-3": "waitlisted",
        "r-4": "waitlisted",
    }
    assert [book[f"r-{n}"].request for n in (1, 2, 3, 4)] == [1, 2, 3, 4]
    assert domain.waitlist_position(book.meeting, book["r-4"]) == 2


def test_the_meeting_counts_its_seats_without_holding_the_registrations() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=2), 1, 2, 3)

    counts = book.meeting.seating.counts

    assert (counts.confirmed, counts.waitlisted, book.meeting.seating.seats_left) == (2, 1, 0)


def test_a_confirmation_event_carries_the_person_and_the_meeting() -> None:
    [event] = Book(a_meeting(Status.SCHEDULED)).register(1, language="nl")

    assert isinstance(event, contract.RegistrationConfirmed)
    assert event.registration.name == "Delegate 1"
    assert event.registration.email == "delegate1@example.org"
    assert event.registration.language == "nl"
    assert event.meeting.title == "11th partnership meeting"


def test_a_waitlisted_registration_learns_its_position() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)

    [event] = book.register(3)

    assert isinstance(event, contract.RegistrationWaitlisted)
    assert event.waitlist_position == 2
    assert book["r-3"].request == 3


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
        Book(a_meeting(status)).register(1)

    assert closed.value.facts["reason"] == reason


def test_registration_closes_after_the_deadline() -> None:
    meeting = a_meeting(Status.SCHEDULED, registration_deadline=BEFORE - timedelta(days=1))

    with pytest.raises(RegistrationClosed, match="deadline passed on 2018-04-01 11:00 CEST"):
        Book(meeting).register(1)


def test_a_meeting_takes_ten_thousand_registrations_like_ten() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=300), *range(1, 10_001))

    counts = book.meeting.seating.counts

    assert (counts.confirmed, counts.waitlisted) == (300, 9_700)
    assert book["r-10000"].request == 10_000
    assert len(book.meeting.seating.head) <= 32


def test_a_moderated_meeting_keeps_registrations_pending_until_approved() -> None:
    book = Book(a_meeting(Status.SCHEDULED, requires_approval=True))

    [event] = book.register(1)

    assert book.statuses() == {"r-1": "pending"}
    assert isinstance(event, contract.RegistrationRequested)


def test_approval_seats_pending_registrations_in_the_order_they_were_requested() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=2, requires_approval=True), 1, 2, 3)

    events = book.apply(
        domain.approve(
            book.meeting,
            [book["r-3"], book["r-2"], book["r-1"]],
            waiting=book.waiting(),
            by=SECRETARIAT,
            now=BEFORE,
        )
    )

    assert book.statuses() == {"r-1": "confirmed", "r-2": "confirmed", "r-3": "waitlisted"}
    assert [(type(e).__name__, e.registration.registration_id) for e in events] == [  # type: ignore[attr-defined]
        ("RegistrationConfirmed", "r-1"),
        ("RegistrationConfirmed", "r-2"),
        ("RegistrationWaitlisted", "r-3"),
    ]


def test_only_a_pending_registration_can_be_approved() -> None:
    book = registered(a_meeting(Status.SCHEDULED), 1)

    with pytest.raises(IllegalTransition, match="cannot approve a registration that is confirmed"):
        domain.approve(book.meeting, [book["r-1"]], waiting=[], by=SECRETARIAT, now=BEFORE)


def test_declining_a_pending_registration_records_the_reason() -> None:
    book = registered(a_meeting(Status.SCHEDULED, requires_approval=True), 1)

    [event] = book.apply(
        domain.decline(book.meeting, book["r-1"], reason="members only", by=SECRETARIAT, now=BEFORE)
    )

    assert book.statuses() == {"r-1": "declined"}
    assert book["r-1"].reason == "members only"
    assert isinstance(event, contract.RegistrationDeclined)
    assert event.reason == "members only"


def test_a_cancellation_gives_the_seat_to_the_first_on_the_waitlist() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2, 3)

    events = book.apply(
        domain.cancel_registration(
            book.meeting,
            book["r-1"],
            waiting=book.waiting(),
            reason="cannot travel",
            by="registration:r-1",
            now=BEFORE,
        )
    )

    assert book.statuses() == {"r-1": "cancelled", "r-2": "confirmed", "r-3": "waitlisted"}
    assert [type(e) for e in events] == [
        contract.RegistrationCancelled,
        contract.RegistrationPromoted,
    ]
    assert events[1].registration.registration_id == "r-2"  # type: ignore[attr-defined]
    assert domain.waitlist_position(book.meeting, book["r-3"]) == 1


def test_a_registration_keeps_its_own_history() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)

    book.apply(
        domain.cancel_registration(
            book.meeting, book["r-1"], waiting=book.waiting(), reason=None, by="r-1", now=BEFORE
        )
    )

    assert [c.action for c in book["r-2"].history] == ["register", "cancel"]
    assert [c.detail for c in book["r-2"].history] == ["waitlisted", "confirmed"]
    assert all(c.action != "register" for c in book.meeting.history)


def test_cancelling_a_cancelled_registration_changes_nothing() -> None:
    book = registered(a_meeting(Status.SCHEDULED), 1)
    book.apply(
        domain.cancel_registration(
            book.meeting, book["r-1"], waiting=[], reason=None, by="r-1", now=BEFORE
        )
    )

    same, changed, events = domain.cancel_registration(
        book.meeting, book["r-1"], waiting=[], reason=None, by="r-1", now=BEFORE
    )

    assert same is book.meeting
    assert (changed, events) == ([], [])


def test_a_person_who_cancelled_may_register_again_at_the_back_of_the_queue() -> None:
    book = registered(a_meeting(Status.SCHEDULED, capacity=1), 1, 2)
    book.apply(
        domain.cancel_registration(
            book.meeting, book["r-1"], waiting=book.waiting(), reason=None, by="r-1", now=BEFORE
        )
    )

    [event] = book.register(3, email="delegate1@example.org")

    assert isinstance(event, contract.RegistrationWaitlisted)
    assert book["r-3"].request == 3


def test_registrations_of_a_cancelled_meeting_cannot_be_cancelled_any_more() -> None:
    book = registered(a_meeting(Status.SCHEDULED), 1)
    meeting, _ = domain.cancel(book.meeting, reason="strike", by=SECRETARIAT, now=BEFORE)

    with pytest.raises(RegistrationClosed, match="cancelled"):
        domain.cancel_registration(
            meeting, book["r-1"], waiting=[], reason=None, by="r-1", now=BEFORE
        )


def held_with_registrations() -> Book:
    book = registered(a_meeting(Status.SCHEDULED, capacity=3), 1, 2, 3, 4)
    book.meeting, _ = domain.hold(book.meeting, by=SECRETARIAT, now=AFTER)
    return book


def test_check_in_marks_attendance_after_the_meeting() -> None:
    book = held_with_registrations()

    events = book.apply(
        domain.record_attendance(
            book.meeting,
            list(book.registrations.values()),
            {"r-1": Attendance.ATTENDED, "r-2": Attendance.NO_SHOW, "r-4": Attendance.ATTENDED},
            by=SECRETARIAT,
            now=AFTER,
        )
    )

    assert [book[f"r-{n}"].attendance for n in (1, 2, 3, 4)] == [
        Attendance.ATTENDED,
        Attendance.NO_SHOW,
        None,
        Attendance.ATTENDED,
    ]
    assert events == []
    assert (book.meeting.seating.counts.attended, book.meeting.seating.counts.no_show) == (2, 1)


def test_check_in_of_an_unknown_registration_names_it() -> None:
    book = held_with_registrations()

    with pytest.raises(domain.UnknownRegistrations) as unknown:
        domain.record_attendance(
            book.meeting, [], {"nobody": Attendance.ATTENDED}, by=SECRETARIAT, now=AFTER
        )

    assert unknown.value.facts["errors"] == [
        {"field": "marks.nobody", "reason": "no such registration"}
    ]


def test_check_in_is_refused_before_the_meeting_is_held() -> None:
    book = registered(a_meeting(Status.SCHEDULED), 1)

    with pytest.raises(StateConflict):
        domain.record_attendance(
            book.meeting, [book["r-1"]], {"r-1": Attendance.ATTENDED}, by=SECRETARIAT, now=AFTER
        )


def test_the_organisations_checked_in_prefill_the_minutes() -> None:
    book = held_with_registrations()

    meeting, _ = domain.record_minutes(
        book.meeting,
        summary="Six sessions on the actions.",
        decisions=[],
        checked_in=["City of Berlin", "City of Athens", "City of Berlin"],
        by=SECRETARIAT,
        now=AFTER,
    )

    assert meeting.minutes is not None
    assert meeting.minutes.attending_organisations == ("City of Athens", "City of Berlin")
