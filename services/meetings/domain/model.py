"""The meeting aggregate (details, programme, seating, minutes, history) and its registrations.

A meeting holds the state of its seats (`Seating`: counts and the head of the waitlist),
never the registrations themselves: each registration is an entity of its own, so a
meeting with ten thousand registrations costs what a small one does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import cache
from typing import NewType
from zoneinfo import ZoneInfo, available_timezones

from shared.contracts.base import calendar_uid
from shared.contracts.meetings import DecisionKind, MeetingEvent, MeetingKind
from shared.errors import Conflict, Invalid, NotFound
from shared.seating import Attendance as Attendance
from shared.seating import Seating, SeatStatus, Waiting

MeetingId = NewType("MeetingId", str)
RegistrationId = NewType("RegistrationId", str)
ItemId = NewType("ItemId", str)


# Bounds of what one request may ask, not of a meeting's size: a capacity, and the marks of
# one check-in call.
MAX_CAPACITY = 100_000
MAX_MARKS = 1_000


class Status(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HELD = "held"
    MINUTES_PUBLISHED = "minutes_published"


class ItemKind(StrEnum):
    OPENING = "opening"
    WELCOME = "welcome"
    SESSION = "session"
    INTERACTIVE_SESSION = "interactive_session"
    PANEL = "panel"
    PITCH = "pitch"
    BREAK = "break"
    LUNCH = "lunch"
    SITE_VISIT = "site_visit"
    CLOSING = "closing"
    OTHER = "other"


@dataclass(frozen=True)
class Venue:
    name: str
    city: str
    country: str
    street_address: str | None = None


@dataclass(frozen=True)
class Details:
    """What the secretariat plans and edits; times are aware, kept in UTC."""

    kind: MeetingKind
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    organiser: str
    description: str = ""
    number: int | None = None
    hosts: tuple[str, ...] = ()
    venue: Venue | None = None
    online_url: str | None = None
    languages: tuple[str, ...] = ("en",)
    capacity: int | None = None
    registration_deadline: datetime | None = None
    requires_approval: bool = False


@dataclass(frozen=True)
class Speaker:
    name: str
    organisation: str | None = None


@dataclass(frozen=True)
class ProgrammeItem:
    id: ItemId
    starts_at: datetime
    ends_at: datetime
    title: str
    kind: ItemKind
    track: str | None = None
    speakers: tuple[Speaker, ...] = ()
    action_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    organisation: str | None = None
    role: str | None = None
    language: str = "en"


@dataclass(frozen=True)
class Change:
    """One line of a meeting's or a registration's history: who did what, when, and why."""

    at: datetime
    by: str
    action: str
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Registration:
    id: RegistrationId
    meeting_id: MeetingId
    person: Person
    requested_at: datetime
    changed_at: datetime
    # None while the request waits for its seat to be decided (it has no order yet).
    status: SeatStatus | None = None
    # 1, 2, 3... per meeting, in arrival order: it decides seats and the waitlist.
    request: int = 0
    attendance: Attendance | None = None
    reason: str | None = None
    history: tuple[Change, ...] = ()
    # The version the entity was read at; the store writes only if it is still current.
    version: int = 0

    @property
    def active(self) -> bool:
        return self.status is None or self.status in (
            SeatStatus.PENDING,
            SeatStatus.CONFIRMED,
            SeatStatus.WAITLISTED,
        )

    @property
    def claim(self) -> Waiting:
        """The registration as the seating knows it: its order and its id."""
        return Waiting(self.request, self.id)


@dataclass(frozen=True)
class Decision:
    text: str
    kind: DecisionKind = DecisionKind.NOTE
    action_ids: tuple[str, ...] = ()
    new_end_date: date | None = None


@dataclass(frozen=True)
class Minutes:
    summary: str
    attending_organisations: tuple[str, ...]
    decisions: tuple[Decision, ...]
    follow_ups: tuple[str, ...]
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class Meeting:
    id: MeetingId
    details: Details
    created_at: datetime
    updated_at: datetime
    status: Status = Status.DRAFT
    sequence: int = 0
    programme: tuple[ProgrammeItem, ...] = ()
    seating: Seating = field(default_factory=Seating)
    minutes: Minutes | None = None
    cancellation_reason: str | None = None
    history: tuple[Change, ...] = ()
    # The versions the entity was read at; the store writes only if they are still current.
    # Registrations move only the seating's, so a secretariat's edit never races them.
    version: int = 0
    seating_version: int = 0

    @property
    def calendar_uid(self) -> str:
        """The iCalendar UID of the meeting's entry, for its whole life."""
        # One UID in the .ics files and in every event: an invitation e-mailed by another
        # service and the feed's entry are then one entry in a person's calendar.
        return calendar_uid("meeting", self.id)

    def count(self, status: SeatStatus) -> int:
        return int(getattr(self.seating.counts, status.value))

    def minutes_visible(self, *, secretariat: bool) -> bool:
        """Minutes in the making are the secretariat's; published ones are everyone's."""
        return self.minutes is not None and (secretariat or self.status is Status.MINUTES_PUBLISHED)

    @property
    def number_claim(self) -> str | None:
        """What the meeting's number reserves: no two partnership meetings that are not
        cancelled share a number (a cancelled meeting gives its number back)."""
        details = self.details
        numbered = details.kind is MeetingKind.PARTNERSHIP_MEETING and details.number is not None
        if numbered and self.status is not Status.CANCELLED:
            return f"partnership_meeting:{details.number}"
        return None


def approval_by_default(kind: MeetingKind) -> bool:
    """Partnership meetings are for members: their registrations wait for the secretariat."""
    return kind is MeetingKind.PARTNERSHIP_MEETING


class MeetingNotFound(NotFound):
    def __init__(self, meeting_id: str) -> None:
        super().__init__(f"no meeting {meeting_id}", meeting_id=meeting_id)


class MeetingNumberTaken(Conflict):
    """Partnership meetings are numbered: one number, one meeting (unless it was cancelled)."""

    def __init__(self, number: int) -> None:
        super().__init__(
            f"partnership meeting number {number} is already taken by another meeting",
            number=number,
        )


class RegistrationNotFound(NotFound):
    def __init__(self, meeting_id: str, registration_id: str) -> None:
        super().__init__(
            f"meeting {meeting_id} has no registration {registration_id}",
            meeting_id=meeting_id,
            registration_id=registration_id,
        )


class RegistrationClosed(Conflict):
    title = "Registration closed"

    def __init__(self, meeting_id: str, reason: str) -> None:
        super().__init__(
            f"registration for meeting {meeting_id} is closed: {reason}",
            meeting_id=meeting_id,
            reason=reason,
        )


class NotStartedYet(Conflict):
    title = "Meeting not started"

    def __init__(self, meeting_id: str, starts_at: datetime, timezone: str) -> None:
        # In the meeting's own time zone, as every time a person reads.
        there = local(starts_at, timezone)
        super().__init__(
            f"meeting {meeting_id} starts at {spoken(there)}; "
            "it can be marked held once it has started",
            meeting_id=meeting_id,
            starts_at=there.isoformat(),
        )


class InvalidMeeting(Invalid):
    """A rule about the meeting's content is broken; `errors` names each field and reason."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors),
            errors=errors,
        )


def problem(field_name: str, reason: str) -> dict[str, str]:
    return {"field": field_name, "reason": reason}


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone(name: str) -> bool:
    """An IANA time zone name (not a folder of them, such as "Europe")."""
    return name in _zones()


def zone(name: str) -> ZoneInfo:
    """The IANA time zone; InvalidMeeting if unknown."""
    if not is_zone(name):
        raise InvalidMeeting([problem("timezone", f"unknown time zone {name!r}")])
    return ZoneInfo(name)


def in_zone(moment: datetime, name: str) -> datetime:
    """Aware UTC from an aware time, or from a wall-clock time in the named zone.

    For times the service computes; a time a person gave goes through `given_time`.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(name))
    return moment.astimezone(UTC)


def given_time(moment: datetime, name: str, *, field_name: str) -> datetime:
    """Aware UTC from a time a person gave; a wall-clock time must name one instant.

    In a daylight-saving gap (02:30 on the last Sunday of March in Europe/Amsterdam) the
    time does not exist, and in the hour the clocks go back it exists twice: guessing
    would put the meeting an hour off, so both are refused.
    """
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    tz = zone(name)
    first, second = moment.replace(tzinfo=tz, fold=0), moment.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        there = f"{moment:%Y-%m-%d %H:%M} in {name}"
        exists = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == moment
        reason = (
            f"{there} happens twice (the clocks go back): give the UTC offset"
            if exists
            else f"{there} does not exist (the clocks go forward): give another time"
        )
        raise InvalidMeeting([problem(field_name, reason)])
    return first.astimezone(UTC)


def local(moment: datetime, name: str) -> datetime:
    return moment.astimezone(zone(name))


def spoken(moment: datetime) -> str:
    """A local time as a person reads it: 2018-05-15 10:00 CEST (UTC+02:00)."""
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} {moment.tzname()} (UTC{offset[:3]}:{offset[3:]})"


# What a decision on the meeting alone returns: the meeting, and the events it caused.
Decided = tuple[Meeting, list[MeetingEvent]]
# What a decision on its registrations returns: also every registration it changed.
Seated = tuple[Meeting, list[Registration], list[MeetingEvent]]
