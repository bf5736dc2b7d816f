"""Meeting events for integration tests: unique meetings and people, so tests never share mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.meetings import (
    MeetingCancelled,
    MeetingHeld,
    MeetingInfo,
    MeetingKind,
    MeetingRescheduled,
    MeetingScheduled,
    MeetingUpdated,
    MinutesPublished,
    ProgrammeItem,
    ProgrammeUpdated,
    Registrant,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationDeclined,
    RegistrationPromoted,
    RegistrationRequested,
    RegistrationWaitlisted,
    Venue,
)
from tests.infra import unique_name

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# The 11th partnership meeting's date and time, in a year still to come.
STARTS = datetime(2030, 5, 15, 10, 0, tzinfo=AMSTERDAM)
ENDS = datetime(2030, 5, 15, 17, 0, tzinfo=AMSTERDAM)


class Meeting:
    """One meeting's events, with a unique id and title."""

    def __init__(self, **changes: Any) -> None:
        self.tag = unique_name("m")
        self.info = MeetingInfo(
            **(
                {
                    "meeting_id": self.tag,
                    "kind": MeetingKind.PARTNERSHIP_MEETING,
                    "number": 11,
                    "title": f"11th partnership meeting [{self.tag}]",
                    "starts_at": STARTS,
                    "ends_at": ENDS,
                    "timezone": "Europe/Amsterdam",
                    "venue": Venue(
                        name="City Hall",
                        street_address="Amstel 1",
                        city="Amsterdam",
                        country="Netherlands",
                    ),
                    "languages": ["en"],
                    # As the meetings service sends it: the UID of its own .ics entry.
                    "calendar_uid": f"{self.tag}@meetings.partnership",
                }
                | changes
            )
        )

    @property
    def id(self) -> str:
        return self.info.meeting_id

    def now(self) -> datetime:
        return datetime.now(UTC)

    def scheduled(self) -> MeetingScheduled:
        return MeetingScheduled(meeting=self.info, scheduled_at=self.now())

    def rescheduled(self, by: timedelta) -> MeetingRescheduled:
        previous = self.info
        self.info = previous.model_copy(
            update={
                "starts_at": previous.starts_at + by,
                "ends_at": previous.ends_at + by,
                "sequence": previous.sequence + 1,
            }
        )
        return MeetingRescheduled(
            meeting=self.info,
            previous_starts_at=previous.starts_at,
            previous_ends_at=previous.ends_at,
            reason="the venue is needed for the elections",
            rescheduled_at=self.now(),
        )

    def cancelled(self) -> MeetingCancelled:
        self.info = self.info.model_copy(update={"sequence": self.info.sequence + 1})
        return MeetingCancelled(
            meeting=self.info, reason="venue unavailable", cancelled_at=self.now()
        )

    def confirmed(self, person: Registrant) -> RegistrationConfirmed:
        return RegistrationConfirmed(
            meeting=self.info, registration=person, confirmed_at=self.now()
        )

    def requested(self, person: Registrant) -> RegistrationRequested:
        return RegistrationRequested(
            meeting=self.info, registration=person, requested_at=self.now()
        )

    def waitlisted(self, person: Registrant, position: int = 1) -> RegistrationWaitlisted:
        return RegistrationWaitlisted(
            meeting=self.info,
            registration=person,
            waitlist_position=position,
            waitlisted_at=self.now(),
        )

    def promoted(self, person: Registrant) -> RegistrationPromoted:
        return RegistrationPromoted(meeting=self.info, registration=person, promoted_at=self.now())

    def minutes(self, *organisations: str) -> MinutesPublished:
        return MinutesPublished(
            meeting=self.info,
            summary="Updates from DG HOME; the partnership is prolonged until 1 July 2019.",
            attending_organisations=list(organisations),
            decisions=[],
            published_at=self.now(),
        )


def person(city: str = "athens", *, language: str = "en", name: str | None = None) -> Registrant:
    """A fictional registrant with an address no other test uses."""
    tag = unique_name("p")
    return Registrant(
        registration_id=tag,
        name=name or f"Participant from {city.title()}",
        email=f"{tag}@{city}.example.org",
        organisation=f"City of {city.title()}",
        language=language,
    )


def programme_updated(meeting: Meeting) -> ProgrammeUpdated:
    starts = meeting.info.starts_at
    return ProgrammeUpdated(
        meeting=meeting.info,
        items=[
            ProgrammeItem(
                item_id="p-1",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
                title="Updates from DG HOME",
                kind="session",
            )
        ],
        updated_at=datetime.now(UTC),
    )


def updated(meeting: Meeting) -> MeetingUpdated:
    # A new venue changes the calendar entry: the meetings service raises the sequence.
    meeting.info = meeting.info.model_copy(
        update={
            "venue": Venue(name="Stopera", city="Amsterdam", country="Netherlands"),
            "sequence": meeting.info.sequence + 1,
        }
    )
    return MeetingUpdated(
        meeting=meeting.info, changed_fields=["venue"], reason=None, updated_at=datetime.now(UTC)
    )


def held(meeting: Meeting) -> MeetingHeld:
    return MeetingHeld(meeting=meeting.info, held_at=datetime.now(UTC))


def declined(meeting: Meeting, person: Registrant) -> RegistrationDeclined:
    return RegistrationDeclined(
        meeting=meeting.info,
        registration=person,
        reason="the meeting is full",
        declined_at=datetime.now(UTC),
    )


def registration_cancelled(meeting: Meeting, person: Registrant) -> RegistrationCancelled:
    return RegistrationCancelled(
        meeting=meeting.info, registration=person, cancelled_at=datetime.now(UTC)
    )
