"""Public events of the meetings service, on topic `partnership.meetings.v1`.

Each event carries what a subscriber needs without calling back: the meeting's title,
times, time zone and venue, its calendar entry's UID and SEQUENCE, and for registration
events the person's name, e-mail and language.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from shared.contracts.base import TYPE_PREFIX, Event, topic

TOPIC = topic("meetings")


class MeetingKind(StrEnum):
    PARTNERSHIP_MEETING = "partnership_meeting"
    WORKING_CONFERENCE = "working_conference"
    WORKSHOP = "workshop"
    SITE_VISIT = "site_visit"
    PUBLIC_EVENT = "public_event"
    ONLINE = "online"


class Venue(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    street_address: str | None = None
    city: str
    country: str


class MeetingInfo(BaseModel):
    """The facts about a meeting that every meeting event repeats."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    meeting_id: str
    kind: MeetingKind
    number: int | None = None
    title: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    timezone: str = Field(
        description="IANA time zone the meeting is held in, e.g. Europe/Amsterdam"
    )
    venue: Venue | None = None
    online_url: str | None = None
    languages: list[str] = Field(default_factory=list)
    sequence: int = Field(
        default=0,
        description=(
            "iCalendar SEQUENCE: goes up on each reschedule, each change to what the calendar "
            "entry shows (title, description, venue, online URL) and on cancellation"
        ),
    )
    calendar_url: str | None = None
    calendar_uid: str | None = Field(
        default=None,
        description=(
            "iCalendar UID of the meeting's entry, the same in its .ics and every event; "
            "use it for invitations so they update that entry. Absent in older events"
        ),
    )


class Registrant(BaseModel):
    """The person a registration event is about."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    registration_id: str
    name: str
    email: EmailStr
    organisation: str | None = None
    role: str | None = None
    language: str = "en"


class MeetingEvent(Event):
    meeting: MeetingInfo
    TOPIC: ClassVar[str] = TOPIC

    def subject(self) -> str:
        return self.meeting.meeting_id


class MeetingScheduled(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.scheduled.v1"
    scheduled_at: AwareDatetime


class MeetingRescheduled(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.rescheduled.v1"
    previous_starts_at: AwareDatetime
    previous_ends_at: AwareDatetime
    reason: str | None = None
    rescheduled_at: AwareDatetime


class MeetingUpdated(MeetingEvent):
    """A scheduled meeting's details changed (title, venue, online URL, capacity...).

    Its times change only by rescheduling (`MeetingRescheduled`). `meeting.sequence` is
    higher than before when the calendar entry changed (title, description, venue, online
    URL), the same when only other details did (capacity, hosts...).
    """

    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.updated.v1"
    changed_fields: list[str]
    reason: str | None = None
    updated_at: AwareDatetime


class MeetingCancelled(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.cancelled.v1"
    reason: str
    cancelled_at: AwareDatetime


class Speaker(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    organisation: str | None = None


class ProgrammeItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    item_id: str
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    title: str
    kind: str
    track: str | None = None
    speakers: list[Speaker] = Field(default_factory=list)
    action_ids: list[str] = Field(default_factory=list)


class ProgrammeUpdated(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.programme_updated.v1"
    items: list[ProgrammeItem]
    updated_at: AwareDatetime


class MeetingHeld(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.held.v1"
    held_at: AwareDatetime


class DecisionKind(StrEnum):
    PROLONG = "prolong"
    ADOPT = "adopt"
    NOTE = "note"


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    text: str
    kind: DecisionKind = DecisionKind.NOTE
    action_ids: list[str] = Field(default_factory=list)
    new_end_date: date | None = Field(
        default=None, description="For `prolong`: the date the concerned actions now end"
    )


class MinutesPublished(MeetingEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.minutes_published.v1"
    summary: str
    attending_organisations: list[str]
    decisions: list[Decision]
    follow_ups: list[str] = Field(default_factory=list)
    published_at: AwareDatetime


class RegistrationEvent(MeetingEvent):
    registration: Registrant
    self_service_url: str | None = Field(
        default=None, description="Signed link that lets the person cancel their registration"
    )


class RegistrationRequested(RegistrationEvent):
    """A moderated meeting: the registration waits for the secretariat's approval."""

    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_requested.v1"
    requested_at: AwareDatetime


class RegistrationConfirmed(RegistrationEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_confirmed.v1"
    confirmed_at: AwareDatetime


class RegistrationWaitlisted(RegistrationEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_waitlisted.v1"
    waitlist_position: int = Field(ge=1)
    waitlisted_at: AwareDatetime


class RegistrationPromoted(RegistrationEvent):
    """A seat freed up: the first person on the waitlist is now confirmed."""

    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_promoted.v1"
    promoted_at: AwareDatetime


class RegistrationDeclined(RegistrationEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_declined.v1"
    reason: str
    declined_at: AwareDatetime


class RegistrationCancelled(RegistrationEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.meeting.registration_cancelled.v1"
    reason: str | None = None
    cancelled_at: AwareDatetime


EVENTS: tuple[type[MeetingEvent], ...] = (
    MeetingScheduled,
    MeetingRescheduled,
    MeetingUpdated,
    MeetingCancelled,
    ProgrammeUpdated,
    MeetingHeld,
    MinutesPublished,
    RegistrationRequested,
    RegistrationConfirmed,
    RegistrationWaitlisted,
    RegistrationPromoted,
    RegistrationDeclined,
    RegistrationCancelled,
)

__all__ = [e.__name__ for e in EVENTS] + [
    "TOPIC",
    "Decision",
    "DecisionKind",
    "MeetingEvent",
    "MeetingInfo",
    "MeetingKind",
    "ProgrammeItem",
    "Registrant",
    "RegistrationEvent",
    "Speaker",
    "Venue",
]
