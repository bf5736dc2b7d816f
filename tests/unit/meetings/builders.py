"""Meetings from the partnership's own record, in any state a test needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from services.meetings import domain
from services.meetings.domain import Details, Meeting, MeetingId, Person, Status, Venue
from shared.contracts.meetings import MeetingKind

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


def registered(meeting: Meeting, *numbers: int, now: datetime = BEFORE) -> Meeting:
    """The meeting with one registration per number, in that order (ids r-<n>)."""
    for n in numbers:
        meeting, _ = domain.register(
            meeting,
            person(n),
            registration_id=domain.RegistrationId(f"r-{n}"),
            by=f"registration:r-{n}",
            now=now,
        )
    return meeting


def statuses(meeting: Meeting) -> dict[str, str]:
    return {r.id: r.status.value for r in meeting.registrations}
