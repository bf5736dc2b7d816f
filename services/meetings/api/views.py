"""What the API answers: meetings, registrations and receipts, times in the meeting's zone."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.meetings import domain
from services.meetings.domain import Attendance, ItemKind, Meeting, Registration, Status
from shared.contracts.meetings import DecisionKind, MeetingKind
from shared.seating import SeatStatus


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class VenueView(View):
    name: str
    street_address: str | None
    city: str
    country: str


class SpeakerView(View):
    name: str
    organisation: str | None


class ProgrammeItemView(View):
    item_id: str
    starts_at: datetime
    ends_at: datetime
    title: str
    kind: ItemKind
    track: str | None
    speakers: list[SpeakerView]
    action_ids: list[str]


class RegistrationCounts(View):
    capacity: int | None
    seats_left: int | None
    pending: int
    confirmed: int
    waitlisted: int
    declined: int
    cancelled: int
    attended: int
    no_show: int


class DecisionView(View):
    text: str
    kind: DecisionKind
    action_ids: list[str]
    new_end_date: date | None


class MinutesView(View):
    summary: str
    attending_organisations: list[str]
    decisions: list[DecisionView]
    follow_ups: list[str]
    recorded_at: datetime
    recorded_by: str


class ChangeView(View):
    at: datetime
    by: str
    action: str
    reason: str | None
    detail: str | None


class MeetingSummary(View):
    meeting_id: str
    version: int = Field(description="Send it back with an update; a stale one answers 409")
    status: Status
    allowed_actions: list[str]
    kind: MeetingKind
    number: int | None
    title: str
    description: str
    organiser: str
    hosts: list[str]
    starts_at: datetime
    ends_at: datetime
    timezone: str
    venue: VenueView | None
    online_url: str | None
    languages: list[str]
    registration_deadline: datetime | None
    requires_approval: bool
    sequence: int
    cancellation_reason: str | None
    registrations: RegistrationCounts
    calendar_url: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def fields_of(cls, meeting: Meeting, *, calendar_url: str) -> dict[str, object]:
        d = meeting.details
        tz = d.timezone
        venue = d.venue
        return {
            "meeting_id": meeting.id,
            "version": meeting.version,
            "status": meeting.status,
            "allowed_actions": domain.allowed_actions(meeting.status),
            "kind": d.kind,
            "number": d.number,
            "title": d.title,
            "description": d.description,
            "organiser": d.organiser,
            "hosts": list(d.hosts),
            "starts_at": domain.local(d.starts_at, tz),
            "ends_at": domain.local(d.ends_at, tz),
            "timezone": tz,
            "venue": VenueView(
                name=venue.name,
                street_address=venue.street_address,
                city=venue.city,
                country=venue.country,
            )
            if venue
            else None,
            "online_url": d.online_url,
            "languages": list(d.languages),
            "registration_deadline": (
                domain.local(d.registration_deadline, tz) if d.registration_deadline else None
            ),
            "requires_approval": d.requires_approval,
            "sequence": meeting.sequence,
            "cancellation_reason": meeting.cancellation_reason,
            "registrations": _counts(meeting),
            "calendar_url": calendar_url,
            "created_at": meeting.created_at,
            "updated_at": meeting.updated_at,
        }

    @classmethod
    def of(cls, meeting: Meeting, *, calendar_url: str) -> MeetingSummary:
        return cls.model_validate(cls.fields_of(meeting, calendar_url=calendar_url))


class MeetingView(MeetingSummary):
    """One meeting with its programme; minutes once published, history for the secretariat."""

    programme: list[ProgrammeItemView]
    minutes: MinutesView | None
    history: list[ChangeView] | None = Field(description="Who changed what, when and why")

    @classmethod
    def of_meeting(cls, meeting: Meeting, *, calendar_url: str, secretariat: bool) -> MeetingView:
        tz = meeting.details.timezone
        minutes = meeting.minutes
        show_minutes = meeting.minutes_visible(secretariat=secretariat)
        return cls.model_validate(
            cls.fields_of(meeting, calendar_url=calendar_url)
            | {
                "programme": [
                    ProgrammeItemView(
                        item_id=i.id,
                        starts_at=domain.local(i.starts_at, tz),
                        ends_at=domain.local(i.ends_at, tz),
                        title=i.title,
                        kind=i.kind,
                        track=i.track,
                        speakers=[
                            SpeakerView(name=s.name, organisation=s.organisation)
                            for s in i.speakers
                        ],
                        action_ids=list(i.action_ids),
                    )
                    for i in meeting.programme
                ],
                "minutes": _minutes(minutes) if minutes is not None and show_minutes else None,
                "history": [
                    ChangeView(at=c.at, by=c.by, action=c.action, reason=c.reason, detail=c.detail)
                    for c in meeting.history
                ]
                if secretariat
                else None,
            }
        )


class MeetingPage(View):
    items: list[MeetingSummary]
    next_cursor: str | None = Field(description="Pass it as `cursor` for the next page")


class RegistrationReceipt(View):
    """The answer to a public registration: no personal data, since anyone can send an e-mail
    address; the person gets their details and cancel link by e-mail."""

    registration_id: str
    meeting_id: str
    status: SeatStatus
    waitlist_position: int | None
    requested_at: datetime

    @classmethod
    def of(cls, registration: Registration, position: int | None) -> RegistrationReceipt:
        assert registration.status is not None
        return cls(
            registration_id=registration.id,
            meeting_id=registration.meeting_id,
            status=registration.status,
            waitlist_position=position,
            requested_at=registration.requested_at,
        )


class RegistrationView(View):
    registration_id: str
    meeting_id: str
    request: int = Field(description="Arrival order: 1 for the first request to this meeting")
    status: SeatStatus
    waitlist_position: int | None
    name: str
    email: str
    organisation: str | None
    role: str | None
    language: str
    requested_at: datetime
    changed_at: datetime
    attendance: Attendance | None
    reason: str | None

    @classmethod
    def of_many(
        cls, registrations: list[Registration], positions: dict[str, int]
    ) -> list[RegistrationView]:
        return [cls.of(r, positions.get(r.id)) for r in registrations]

    @classmethod
    def of(cls, registration: Registration, position: int | None) -> RegistrationView:
        person = registration.person
        assert registration.status is not None
        return cls(
            registration_id=registration.id,
            meeting_id=registration.meeting_id,
            request=registration.request,
            status=registration.status,
            waitlist_position=position,
            name=person.name,
            email=person.email,
            organisation=person.organisation,
            role=person.role,
            language=person.language,
            requested_at=registration.requested_at,
            changed_at=registration.changed_at,
            attendance=registration.attendance,
            reason=registration.reason,
        )


def _counts(meeting: Meeting) -> RegistrationCounts:
    counts = meeting.seating.counts
    return RegistrationCounts(
        capacity=meeting.details.capacity,
        seats_left=meeting.seating.seats_left,
        pending=counts.pending,
        confirmed=counts.confirmed,
        waitlisted=counts.waitlisted,
        declined=counts.declined,
        cancelled=counts.cancelled,
        attended=counts.attended,
        no_show=counts.no_show,
    )


def _minutes(minutes: domain.Minutes) -> MinutesView:
    return MinutesView(
        summary=minutes.summary,
        attending_organisations=list(minutes.attending_organisations),
        decisions=[
            DecisionView(
                text=d.text,
                kind=d.kind,
                action_ids=list(d.action_ids),
                new_end_date=d.new_end_date,
            )
            for d in minutes.decisions
        ],
        follow_ups=list(minutes.follow_ups),
        recorded_at=minutes.recorded_at,
        recorded_by=minutes.recorded_by,
    )
