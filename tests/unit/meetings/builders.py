"""Meetings from the partnership's own record, in any state a test needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.meetings import domain
from services.meetings.domain import (
    Details,
    Meeting,
    MeetingId,
    Person,
    Registration,
    Seated,
    Status,
    Venue,
)
from shared.contracts.meetings import MeetingEvent, MeetingKind
from shared.seating import SeatStatus

AMSTERDAM = "Europe/Amsterdam"
SECRETARIAT = "secretariat@example.org"

# The 11th partnership meeting: Amsterdam, 15 May 2018.
PLANNED_ON = datetime(2018, 3, 1, 9, 0, tzinfo=UTC)
BEFORE = datetime(2018, 4, 2, 9, 0, tzinfo=UTC)
STARTS = domain.in_zone(datetime(2018, 5, 15, 10, 0), AMSTERDAM)
ENDS = domain.in_zone(datetime(2018, 5, 15, 17, 0), AMSTERDAM)
DURING = STARTS + timedelta(hours=2)
AFTER = datetime(2018, 5, 16, 9, 0, tzinfo=UTC)


def details(**changes: Any) -> Details:
    base = Details(
        kind=MeetingKind.PARTNERSHIP_MEETING,
        number=11,
        title="11th partnership meeting",
        description="Updates from DG HOME and the state of play of the actions.",
        organiser="City of Amsterdam",
        hosts=("City of Amsterdam", "European Commission DG HOME"),
        starts_at=STARTS,
        ends_at=ENDS,
        timezone=AMSTERDAM,
        venue=Venue(
            name="City Hall", street_address="Amstel 1", city="Amsterdam", country="Netherlands"
        ),
        languages=("en",),
        requires_approval=False,
    )
    return replace(base, **changes)


def a_meeting(status: Status = Status.DRAFT, **changes: Any) -> Meeting:
    """The 11th partnership meeting, walked through the lifecycle up to `status`."""
    meeting = domain.plan(MeetingId("m-11"), details(**changes), by=SECRETARIAT, now=PLANNED_ON)
    if status is Status.DRAFT:
        return meeting
    if status is Status.CANCELLED:
        meeting, _ = domain.cancel(meeting, reason="venue unavailable", by=SECRETARIAT, now=BEFORE)
        return meeting
    meeting, _ = domain.schedule(meeting, by=SECRETARIAT, now=BEFORE)
    if status is Status.SCHEDULED:
        return meeting
    meeting, _ = domain.hold(meeting, by=SECRETARIAT, now=AFTER)
    if status is Status.HELD:
        return meeting
    meeting, _ = domain.record_minutes(
        meeting, summary="Done.", decisions=[], by=SECRETARIAT, now=AFTER
    )
    meeting, _ = domain.publish_minutes(meeting, by=SECRETARIAT, now=AFTER)
    return meeting


def person(n: int, **changes: Any) -> Person:
    """A fictional delegate from a member city."""
    cities = ("Amsterdam", "Athens", "Berlin", "Helsinki", "Barcelona")
    base = Person(
        name=f"Delegate {n}",
        email=f"delegate{n}@example.org",
        organisation=f"City of {cities[n % len(cities)]}",
        role="policy officer",
        language="en",
    )
    return replace(base, **changes)


class Book:
    """One meeting and its registrations, kept as the store keeps them, for domain tests.

    `apply` takes a decision's result the way the store saves it: the meeting as decided,
    each registration it changed, and the events it caused.
    """

    def __init__(self, meeting: Meeting) -> None:
        self.meeting = meeting
        self.registrations: dict[str, Registration] = {}
        self.events: list[MeetingEvent] = []

    def __getitem__(self, registration_id: str) -> Registration:
        return self.registrations[registration_id]

    def apply(self, decided: Seated) -> list[MeetingEvent]:
        self.meeting, changed, events = decided
        self.registrations |= {r.id: r for r in changed}
        self.events += events
        return events

    def register(self, n: int, *, now: datetime = BEFORE, **changes: Any) -> list[MeetingEvent]:
        arriving = Registration(
            id=domain.RegistrationId(f"r-{n}"),
            meeting_id=self.meeting.id,
            person=person(n, **changes),
            requested_at=now,
            changed_at=now,
        )
        return self.apply(domain.register(self.meeting, arriving, now=now))

    def waiting(self) -> list[Registration]:
        """The waitlist in order, as the store reads it for a promotion."""
        waiting = [r for r in self.registrations.values() if r.status is SeatStatus.WAITLISTED]
        return sorted(waiting, key=lambda r: r.request)

    def statuses(self) -> dict[str, str]:
        return {r.id: r.status.value for r in self.registrations.values() if r.status}


def registered(meeting: Meeting, *numbers: int, now: datetime = BEFORE) -> Book:
    """The meeting with one registration per number, in that order (ids r-<n>)."""
    book = Book(meeting)
    for n in numbers:
        book.register(n, now=now)
    return book
