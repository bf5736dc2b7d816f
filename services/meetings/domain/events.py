"""The contract's view of a meeting: what every event repeats so subscribers need not call back."""

from __future__ import annotations

from services.meetings.domain.model import Meeting, Registration
from shared.contracts import meetings as contract


def info(meeting: Meeting) -> contract.MeetingInfo:
    """Title, times, time zone, venue and calendar identity, as each meeting event carries them."""
    d = meeting.details
    venue = (
        contract.Venue(
            name=d.venue.name,
            street_address=d.venue.street_address,
            city=d.venue.city,
            country=d.venue.country,
        )
        if d.venue
        else None
    )
    return contract.MeetingInfo(
        meeting_id=meeting.id,
        kind=d.kind,
        number=d.number,
        title=d.title,
        starts_at=d.starts_at,
        ends_at=d.ends_at,
        timezone=d.timezone,
        venue=venue,
        online_url=d.online_url,
        languages=list(d.languages),
        sequence=meeting.sequence,
        calendar_uid=meeting.calendar_uid,
    )


def registrant(registration: Registration) -> contract.Registrant:
    """The person a registration event is about, with the language to write to them in."""
    person = registration.person
    return contract.Registrant(
        registration_id=registration.id,
        name=person.name,
        email=person.email,
        organisation=person.organisation,
        role=person.role,
        language=person.language,
    )
