"""Registration events as the meetings service publishes them, for scenarios that need them ready-made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.contracts.meetings import (
    MeetingInfo,
    MeetingKind,
    Registrant,
    RegistrationConfirmed,
    Venue,
)
from shared.envelope import Envelope

STARTS = datetime(2031, 5, 15, 8, 0, tzinfo=UTC)


def meeting_info(index: int, run: str) -> MeetingInfo:
    meeting_id = f"bench-{run}-m{index}"
    return MeetingInfo(
        meeting_id=meeting_id,
        kind=MeetingKind.WORKSHOP,
        title=f"Cities Forum workshop {index}: changing the narrative",
        starts_at=STARTS + timedelta(days=index),
        ends_at=STARTS + timedelta(days=index, hours=5),
        timezone="Europe/Amsterdam",
        venue=Venue(
            name="Huis van de Wijk De Nieuwe Gaffel",
            street_address="Gaffelstraat 63B",
            city="Rotterdam",
            country="Netherlands",
        ),
        languages=["en"],
        calendar_uid=f"{meeting_id}@meetings.partnership",
    )


def recipient_domain(run: str) -> str:
    return f"bench-{run}.example.org"


def registration_confirmed(
    index: int, *, run: str, meetings: int
) -> tuple[bytes, bytes, dict[str, str]]:
    """One `registration_confirmed` event: (key, body, CloudEvents headers)."""
    info = meeting_info(index % meetings, run)
    event = RegistrationConfirmed(
        meeting=info,
        registration=Registrant(
            registration_id=f"r{index}",
            name=f"Participant {index}",
            email=f"participant{index}@{recipient_domain(run)}",
            organisation="City of Rotterdam",
            language="en",
        ),
        self_service_url=f"http://127.0.0.1:8101/meetings/{info.meeting_id}/registrations/r{index}",
        confirmed_at=datetime.now(UTC),
    )
    envelope = Envelope(
        id=str(uuid.uuid4()),
        source="/partnership/meetings",
        type=event.EVENT_TYPE,
        time=datetime.now(UTC),
        subject=event.subject(),
    )
    return event.subject().encode(), event.model_dump_json().encode(), envelope.to_headers()
