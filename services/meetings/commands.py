"""Request bodies: what a caller may ask, validated and size-limited before the domain sees it.

Times may be given with an offset, or as wall-clock times in the meeting's time zone
(`2018-05-15T10:00`, with `timezone` Europe/Amsterdam).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
)

from services.meetings import domain
from services.meetings.domain import Attendance, ItemKind
from shared.contracts.meetings import DecisionKind, MeetingKind

# Names travel into e-mail headers and calendar files: no control characters (CR/LF above all).
Name = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]*$"
    ),
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Paragraph = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _in_sane_years(moment: datetime) -> datetime:
    # Far-off years overflow when moved between time zones; no meeting is held there.
    if not 1900 <= moment.year <= 2200:
        raise ValueError("must be between the years 1900 and 2200")
    return moment


Moment = Annotated[datetime, AfterValidator(_in_sane_years)]
Version = Annotated[int, Field(ge=0, description="The version you read; a stale one answers 409")]

MAX_PROGRAMME_ITEMS = 100


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_zone(name: str | None) -> str | None:
    if name is not None and not domain.is_zone(name):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name)")
    return name


class VenueBody(Body):
    name: Name
    street_address: Name | None = None
    city: Name
    country: Name

    def to_domain(self) -> domain.Venue:
        return domain.Venue(
            name=self.name, street_address=self.street_address, city=self.city, country=self.country
        )


class PlanMeeting(Body):
    """A new meeting, saved as a draft."""

    kind: MeetingKind
    number: int | None = Field(default=None, ge=1, le=1000, description="Partnership meetings")
    title: Name
    description: Paragraph = ""
    organiser: Name
    hosts: list[Name] = Field(default_factory=list, max_length=20)
    starts_at: Moment
    ends_at: Moment
    timezone: TimeZone = Field(examples=["Europe/Amsterdam"])
    venue: VenueBody | None = None
    online_url: AnyHttpUrl | None = None
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1, max_length=24)
    capacity: int | None = Field(default=None, ge=1, le=domain.MAX_CAPACITY)
    registration_deadline: Moment | None = None
    requires_approval: bool | None = Field(
        default=None, description="Default: partnership meetings (for members) need approval"
    )

    _zone = field_validator("timezone")(_known_zone)

    def details(self) -> domain.Details:
        tz = self.timezone
        approval = self.requires_approval
        return domain.Details(
            kind=self.kind,
            number=self.number,
            title=self.title,
            description=self.description,
            organiser=self.organiser,
            hosts=tuple(self.hosts),
            starts_at=domain.in_zone(self.starts_at, tz),
            ends_at=domain.in_zone(self.ends_at, tz),
            timezone=tz,
            venue=self.venue.to_domain() if self.venue else None,
            online_url=str(self.online_url) if self.online_url else None,
            languages=tuple(self.languages),
            capacity=self.capacity,
            registration_deadline=(
                domain.in_zone(self.registration_deadline, tz)
                if self.registration_deadline
                else None
            ),
            requires_approval=(
                approval if approval is not None else self.kind is MeetingKind.PARTNERSHIP_MEETING
            ),
        )


class UpdateMeeting(Body):
    """Change some details; fields left out stay as they are, `null` clears optional ones."""

    version: Version
    reason: Reason | None = None
    kind: MeetingKind | None = None
    number: int | None = Field(default=None, ge=1, le=1000)
    title: Name | None = None
    description: Paragraph | None = None
    organiser: Name | None = None
    hosts: list[Name] | None = Field(default=None, max_length=20)
    starts_at: Moment | None = None
    ends_at: Moment | None = None
    timezone: TimeZone | None = None
    venue: VenueBody | None = None
    online_url: AnyHttpUrl | None = None
    languages: list[Language] | None = Field(default=None, min_length=1, max_length=24)
    capacity: int | None = Field(default=None, ge=1, le=domain.MAX_CAPACITY)
    registration_deadline: Moment | None = None
    requires_approval: bool | None = None

    _zone = field_validator("timezone")(_known_zone)

    @field_validator(
        "kind",
        "title",
        "description",
        "organiser",
        "hosts",
        "starts_at",
        "ends_at",
        "timezone",
        "languages",
        "requires_approval",
        mode="before",
    )
    @classmethod
    def _required_fields_are_not_cleared(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value

    def apply_to(self, details: domain.Details) -> domain.Details:
        """The details with this update's fields in place."""
        given = self.model_fields_set - {"version", "reason"}
        tz = self.timezone or details.timezone
        changes: dict[str, Any] = {name: getattr(self, name) for name in given}
        for name in ("starts_at", "ends_at", "registration_deadline"):
            if changes.get(name) is not None:
                changes[name] = domain.in_zone(changes[name], tz)
        if "venue" in changes:
            changes["venue"] = self.venue.to_domain() if self.venue else None
        if "online_url" in changes:
            changes["online_url"] = str(self.online_url) if self.online_url else None
        for name in ("hosts", "languages"):
            if name in changes:
                changes[name] = tuple(changes[name])
        return replace(details, **changes)


class Transition(Body):
    """A lifecycle step; give the version you read to refuse acting on a stale view."""

    version: Version | None = None


class RescheduleMeeting(Transition):
    starts_at: Moment
    ends_at: Moment
    timezone: TimeZone | None = Field(default=None, description="Default: unchanged")
    registration_deadline: Moment | None = Field(default=None, description="Default: unchanged")
    reason: Reason | None = None

    _zone = field_validator("timezone")(_known_zone)


class CancelMeeting(Transition):
    reason: Reason


class SpeakerBody(Body):
    name: Name
    organisation: Name | None = None


class ProgrammeItemBody(Body):
    item_id: Identifier | None = Field(default=None, description="Kept if given; new items get one")
    starts_at: Moment
    ends_at: Moment
    title: Name
    kind: ItemKind = ItemKind.SESSION
    track: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None
    speakers: list[SpeakerBody] = Field(default_factory=list, max_length=20)
    action_ids: list[Identifier] = Field(default_factory=list, max_length=20)

    def to_domain(self, *, item_id: str, timezone: str) -> domain.ProgrammeItem:
        return domain.ProgrammeItem(
            id=domain.ItemId(self.item_id or item_id),
            starts_at=domain.in_zone(self.starts_at, timezone),
            ends_at=domain.in_zone(self.ends_at, timezone),
            title=self.title,
            kind=self.kind,
            track=self.track,
            speakers=tuple(domain.Speaker(s.name, s.organisation) for s in self.speakers),
            action_ids=tuple(self.action_ids),
        )


class ReplaceProgramme(Body):
    """The whole programme, in any order; it is kept sorted by time."""

    version: Version
    items: list[ProgrammeItemBody] = Field(max_length=MAX_PROGRAMME_ITEMS)


class Register(Body):
    """A person asks for a place at a scheduled meeting."""

    name: Name
    email: EmailStr = Field(max_length=254)
    organisation: Name | None = None
    role: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$"
            ),
        ]
        | None
    ) = None
    language: Language = Field(default="en", description="The language to write to them in")

    def person(self) -> domain.Person:
        return domain.Person(
            name=self.name,
            email=str(self.email),
            organisation=self.organisation,
            role=self.role,
            language=self.language,
        )


class ApproveRegistrations(Body):
    """Approve pending registrations; they are seated in the order they were requested."""

    registration_ids: list[Identifier] = Field(min_length=1, max_length=500)


class DeclineRegistration(Body):
    reason: Reason


class CancelRegistration(Body):
    reason: Reason | None = None


class RecordAttendance(Body):
    """Check-in: each registration id with `attended` or `no_show`."""

    marks: dict[Identifier, Attendance] = Field(min_length=1, max_length=domain.MAX_MARKS)


class DecisionBody(Body):
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    kind: DecisionKind = DecisionKind.NOTE
    action_ids: list[Identifier] = Field(default_factory=list, max_length=20)
    new_end_date: date | None = Field(default=None, description="For `prolong` only")

    def to_domain(self) -> domain.Decision:
        return domain.Decision(
            text=self.text,
            kind=self.kind,
            action_ids=tuple(self.action_ids),
            new_end_date=self.new_end_date,
        )


class RecordMinutes(Transition):
    """The minutes of a held meeting; without attending organisations, check-in fills them."""

    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)
    ]
    attending_organisations: list[Name] | None = Field(default=None, max_length=200)
    decisions: list[DecisionBody] = Field(default_factory=list, max_length=100)
    follow_ups: list[Reason] = Field(default_factory=list, max_length=100)
