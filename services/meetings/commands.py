"""Request bodies: what a caller may ask, validated and size-limited before the domain sees it.

Built from shared/fields.py, so JSON is taken as typed and the OpenAPI schema states every
rule it can. Times may be given with an offset, or as wall-clock times in the meeting's time
zone (`2018-05-15T10:00:00`, with `timezone` Europe/Amsterdam); a wall-clock time that does
not exist there, or exists twice, is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    MISSING,
    AnyHttpUrl,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from services.meetings import domain
from services.meetings.domain import Attendance, ItemKind
from shared.contracts.meetings import DecisionKind, MeetingKind
from shared.fields import (
    JSON_INTEGER,
    ONE_LINE,
    OPTIONAL_PROSE,
    PROSE,
    Command,
    Day,
    Email,
    Flag,
    Moment,
    Name,
    TimeZone,
)

Reason = Annotated[str, Field(max_length=1000), PROSE]
Paragraph = Annotated[str, Field(max_length=5000), OPTIONAL_PROSE]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
IDENTIFIER = r"^[A-Za-z0-9_-]{1,64}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
Version = Annotated[
    int, Field(ge=0, description="The version you read; a stale one answers 409"), JSON_INTEGER
]
Number = Annotated[int, Field(ge=1, le=1000), JSON_INTEGER]
Capacity = Annotated[int, Field(ge=1, le=domain.MAX_CAPACITY), JSON_INTEGER]
# Schemes a browser opens; the schema says so too, not only `format: uri`.
WebAddress = Annotated[
    AnyHttpUrl,
    WithJsonSchema({"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2083}),
]

MAX_PROGRAMME_ITEMS = 100


def _given(moment: Any, tz: str, field_name: str) -> Any:
    return domain.given_time(moment, tz, field_name=field_name)


def _ends_after_starts(starts_at: Any, ends_at: Any) -> None:
    """A body giving both times puts the end after the start (422, on the body alone).

    Two wall-clock times, or two with offsets, compare here; a mix is compared by the
    domain once the time zone is known.
    """
    if not isinstance(starts_at, datetime) or not isinstance(ends_at, datetime):
        return
    if (starts_at.tzinfo is None) != (ends_at.tzinfo is None):
        return
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")


class VenueBody(Command):
    name: Name
    street_address: Name | None = None
    city: Name
    country: Name

    def to_domain(self) -> domain.Venue:
        return domain.Venue(
            name=self.name, street_address=self.street_address, city=self.city, country=self.country
        )


_PLAN_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"kind": {"const": "partnership_meeting"}}},
            "then": {"required": ["number"], "properties": {"number": {"type": "integer"}}},
            "else": {"properties": {"number": {"type": "null"}}},
        },
        {
            "if": {"properties": {"kind": {"const": "online"}}},
            "then": {"required": ["online_url"], "properties": {"online_url": {"type": "string"}}},
        },
        {
            "anyOf": [
                {"required": ["venue"], "properties": {"venue": {"type": "object"}}},
                {"required": ["online_url"], "properties": {"online_url": {"type": "string"}}},
            ]
        },
    ]
}


class PlanMeeting(Command):
    """A new meeting, saved as a draft.

    Beyond the schema: `ends_at` is after `starts_at` and at most 14 days later, and the
    registration deadline is not after the end.
    """

    model_config = ConfigDict(json_schema_extra=_PLAN_RULES)

    kind: MeetingKind
    number: Number | None = Field(
        default=None, description="Partnership meetings are numbered; no other meeting is"
    )
    title: Name
    description: Paragraph = ""
    organiser: Name
    hosts: list[Name] = Field(default_factory=list, max_length=20)
    starts_at: Moment
    ends_at: Moment
    timezone: TimeZone
    venue: VenueBody | None = None
    online_url: WebAddress | None = Field(default=None, description="Online meetings need one")
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1, max_length=24)
    capacity: Capacity | None = None
    registration_deadline: Moment | None = None
    requires_approval: Flag | None = Field(
        default=None, description="Default: partnership meetings (for members) need approval"
    )

    def details(self) -> domain.Details:
        tz = self.timezone
        approval = self.requires_approval
        deadline = self.registration_deadline
        return domain.Details(
            kind=self.kind,
            number=self.number,
            title=self.title,
            description=self.description,
            organiser=self.organiser,
            hosts=tuple(self.hosts),
            starts_at=_given(self.starts_at, tz, "starts_at"),
            ends_at=_given(self.ends_at, tz, "ends_at"),
            timezone=tz,
            venue=self.venue.to_domain() if self.venue else None,
            online_url=str(self.online_url) if self.online_url else None,
            languages=tuple(self.languages),
            capacity=self.capacity,
            registration_deadline=(
                _given(deadline, tz, "registration_deadline") if deadline else None
            ),
            requires_approval=(
                approval if approval is not None else domain.approval_by_default(self.kind)
            ),
        )


class UpdateMeeting(Command):
    """Change some details: fields left out stay as they are; `null` clears an optional one
    (number, venue, online URL, capacity, deadline), and only those may be `null`.

    Beyond the schema: the changed meeting keeps the rules of planning, and on a scheduled
    meeting kind, number, approval and times change only by rescheduling (409).
    """

    version: Version
    reason: Reason | MISSING = MISSING
    kind: MeetingKind | MISSING = MISSING
    number: Number | MISSING | None = MISSING
    title: Name | MISSING = MISSING
    description: Paragraph | MISSING = MISSING
    organiser: Name | MISSING = MISSING
    hosts: Annotated[list[Name], Field(max_length=20)] | MISSING = MISSING
    starts_at: Moment | MISSING = MISSING
    ends_at: Moment | MISSING = MISSING
    timezone: TimeZone | MISSING = MISSING
    venue: VenueBody | MISSING | None = MISSING
    online_url: WebAddress | MISSING | None = MISSING
    languages: Annotated[list[Language], Field(min_length=1, max_length=24)] | MISSING = MISSING
    capacity: Capacity | MISSING | None = MISSING
    registration_deadline: Moment | MISSING | None = MISSING
    requires_approval: Flag | MISSING = MISSING

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        _ends_after_starts(self.starts_at, self.ends_at)
        return self

    @property
    def why(self) -> str | None:
        return None if self.reason is MISSING else self.reason

    def apply_to(self, details: domain.Details) -> domain.Details:
        """The details with this update's fields in place."""
        given = self.model_fields_set - {"version", "reason"}
        tz = details.timezone if self.timezone is MISSING else self.timezone
        changes: dict[str, Any] = {name: getattr(self, name) for name in given}
        for name in ("starts_at", "ends_at", "registration_deadline"):
            if changes.get(name) is not None:
                changes[name] = _given(changes[name], tz, name)
        if "venue" in changes:
            venue = self.venue
            changes["venue"] = venue.to_domain() if isinstance(venue, VenueBody) else None
        if "online_url" in changes:
            changes["online_url"] = str(self.online_url) if self.online_url else None
        for name in ("hosts", "languages"):
            if name in changes:
                changes[name] = tuple(changes[name])
        return replace(details, **changes)


class Transition(Command):
    """A lifecycle step; give the version you read to refuse acting on a stale view."""

    version: Version | MISSING = MISSING

    @property
    def expected_version(self) -> int | None:
        return None if self.version is MISSING else self.version


class RescheduleMeeting(Transition):
    """New times for a scheduled meeting.

    Beyond the schema: the end is after the start, and a start that has passed is refused
    unless `into_the_past` is true (participants are mailed the new times).
    """

    starts_at: Moment
    ends_at: Moment
    timezone: TimeZone | MISSING = Field(default=MISSING, description="Default: unchanged")
    registration_deadline: Moment | MISSING = Field(
        default=MISSING, description="Default: unchanged"
    )
    reason: Reason | MISSING = MISSING
    into_the_past: Flag = Field(
        default=False, description="Move the meeting to a start that has already passed"
    )

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        _ends_after_starts(self.starts_at, self.ends_at)
        return self


class CancelMeeting(Transition):
    reason: Reason


class SpeakerBody(Command):
    name: Name
    organisation: Name | None = None


class ProgrammeItemBody(Command):
    """One item; beyond the schema, it ends after it starts and lies within the meeting."""

    item_id: Identifier | None = Field(default=None, description="Kept if given; new items get one")
    starts_at: Moment
    ends_at: Moment
    title: Name
    kind: ItemKind = ItemKind.SESSION
    track: Annotated[str, Field(max_length=50), ONE_LINE] | None = None
    speakers: list[SpeakerBody] = Field(default_factory=list, max_length=20)
    action_ids: list[Identifier] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _times_in_order(self) -> Self:
        _ends_after_starts(self.starts_at, self.ends_at)
        return self

    def to_domain(self, *, item_id: str, timezone: str, index: int) -> domain.ProgrammeItem:
        return domain.ProgrammeItem(
            id=domain.ItemId(self.item_id or item_id),
            starts_at=_given(self.starts_at, timezone, f"items.{index}.starts_at"),
            ends_at=_given(self.ends_at, timezone, f"items.{index}.ends_at"),
            title=self.title,
            kind=self.kind,
            track=self.track,
            speakers=tuple(domain.Speaker(s.name, s.organisation) for s in self.speakers),
            action_ids=tuple(self.action_ids),
        )


class ReplaceProgramme(Command):
    """The whole programme, in any order; it is kept sorted by time."""

    version: Version
    items: list[ProgrammeItemBody] = Field(max_length=MAX_PROGRAMME_ITEMS)


class Register(Command):
    """A person asks for a place at a scheduled meeting."""

    name: Name
    email: Email
    organisation: Name | None = None
    role: Annotated[str, Field(max_length=100), ONE_LINE] | None = None
    language: Language = Field(default="en", description="The language to write to them in")

    def person(self) -> domain.Person:
        return domain.Person(
            name=self.name,
            email=str(self.email),
            organisation=self.organisation,
            role=self.role,
            language=self.language,
        )


class ApproveRegistrations(Command):
    """Approve pending registrations; they are seated in the order they were requested."""

    registration_ids: list[Identifier] = Field(min_length=1, max_length=500)


class DeclineRegistration(Command):
    reason: Reason


class CancelRegistration(Command):
    reason: Reason | None = None


class RecordAttendance(Command):
    """Check-in: each registration id with `attended` or `no_show`."""

    marks: dict[Identifier, Attendance] = Field(
        min_length=1,
        max_length=domain.MAX_MARKS,
        json_schema_extra={"propertyNames": {"pattern": IDENTIFIER}},
    )


class DecisionBody(Command):
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "prolong"}}, "required": ["kind"]},
            "then": {
                "required": ["new_end_date"],
                "properties": {"new_end_date": {"type": "string"}},
            },
            "else": {"properties": {"new_end_date": {"type": "null"}}},
        }
    )

    text: Annotated[str, Field(max_length=2000), PROSE]
    kind: DecisionKind = DecisionKind.NOTE
    action_ids: list[Identifier] = Field(default_factory=list, max_length=20)
    new_end_date: Day | None = Field(default=None, description="For `prolong` only")

    def to_domain(self) -> domain.Decision:
        return domain.Decision(
            text=self.text,
            kind=self.kind,
            action_ids=tuple(self.action_ids),
            new_end_date=self.new_end_date,
        )


class RecordMinutes(Transition):
    """The minutes of a held meeting; without attending organisations, check-in fills them."""

    summary: Annotated[str, Field(max_length=20000), PROSE]
    attending_organisations: list[Name] | None = Field(default=None, max_length=200)
    decisions: list[DecisionBody] = Field(default_factory=list, max_length=100)
    follow_ups: list[Reason] = Field(default_factory=list, max_length=100)
