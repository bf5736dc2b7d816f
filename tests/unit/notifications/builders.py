"""Events and contacts from the partnership's own record, for notification tests.

The 11th partnership meeting: Amsterdam, 15 May 2018. People are fictional, at example.org.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from services.notifications.domain.deliveries import BackoffPolicy
from services.notifications.domain.directory import (
    Contact,
    ContactOrigin,
    ContactRole,
    OrganisationId,
    new_contact,
)
from services.notifications.mail.letters import LetterWriter, MailIdentity
from services.notifications.notifier import DigestSchedule, Notifier
from services.notifications.rendering import Renderer
from services.notifications.store import Stores
from shared.contracts.base import Event
from shared.contracts.meetings import (
    Decision,
    DecisionKind,
    MeetingCancelled,
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
    RegistrationPromoted,
    RegistrationRequested,
    RegistrationWaitlisted,
    Speaker,
    Venue,
)
from shared.envelope import Envelope
from shared.links import LinkSigner
from shared.outbox import Outbox

SECRET = "unit-test-secret-unit-test-secret-0001"
AMSTERDAM = "Europe/Amsterdam"
TZ = ZoneInfo(AMSTERDAM)
STARTS = datetime(2018, 5, 15, 10, 0, tzinfo=TZ)
ENDS = datetime(2018, 5, 15, 17, 0, tzinfo=TZ)
SCHEDULED_AT = datetime(2018, 3, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2018, 4, 2, 9, 0, tzinfo=UTC)
BASE_URL = "https://notifications.inclusion.example.org"
MAIL_DOMAIN = "inclusion.example.org"

E = TypeVar("E", bound=Event)
_ids = itertools.count(1)


class Clock:
    """A settable clock: tests move time on by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def meeting(**changes: Any) -> MeetingInfo:
    base: dict[str, Any] = {
        "meeting_id": "m-11",
        "kind": MeetingKind.PARTNERSHIP_MEETING,
        "number": 11,
        "title": "11th partnership meeting",
        "starts_at": STARTS,
        "ends_at": ENDS,
        "timezone": AMSTERDAM,
        "venue": Venue(
            name="City Hall", street_address="Amstel 1", city="Amsterdam", country="Netherlands"
        ),
        "languages": ["en"],
        "sequence": 0,
        "calendar_uid": "m-11@meetings.partnership",
    }
    return MeetingInfo(**(base | changes))


def registrant(
    email: str = "participant@athens.example.org",
    *,
    name: str = "Participant from Athens",
    language: str = "en",
    registration_id: str = "r-1",
) -> Registrant:
    return Registrant(
        registration_id=registration_id,
        name=name,
        email=email,
        organisation="City of Athens",
        role="Integration policy officer",
        language=language,
    )


def envelope(event: Event, *, event_id: str | None = None, time: datetime = NOW) -> Envelope:
    return Envelope(
        id=event_id or f"evt-{next(_ids)}",
        source="meetings",
        type=event.EVENT_TYPE,
        time=time,
        subject=event.subject(),
    )


def scheduled(**changes: Any) -> MeetingScheduled:
    return MeetingScheduled(meeting=meeting(**changes), scheduled_at=SCHEDULED_AT)


def rescheduled(*, starts_at: datetime, ends_at: datetime, sequence: int = 1) -> MeetingRescheduled:
    return MeetingRescheduled(
        meeting=meeting(starts_at=starts_at, ends_at=ends_at, sequence=sequence),
        previous_starts_at=STARTS,
        previous_ends_at=ENDS,
        reason="the venue is needed for the municipal elections",
        rescheduled_at=NOW,
    )


def cancelled(sequence: int = 1) -> MeetingCancelled:
    return MeetingCancelled(
        meeting=meeting(sequence=sequence), reason="venue unavailable", cancelled_at=NOW
    )


def updated(sequence: int = 1) -> MeetingUpdated:
    """A new venue: the calendar entry changes, so the meetings service raised the sequence."""
    return MeetingUpdated(
        meeting=meeting(
            venue=Venue(name="Stopera", city="Amsterdam", country="Netherlands"),
            sequence=sequence,
        ),
        changed_fields=["venue", "capacity"],
        reason="a larger room",
        updated_at=NOW,
    )


def confirmed(person: Registrant | None = None, **changes: Any) -> RegistrationConfirmed:
    return RegistrationConfirmed(
        meeting=meeting(**changes),
        registration=person or registrant(),
        self_service_url="https://meetings.inclusion.example.org/registrations/r-1?token=t",
        confirmed_at=NOW,
    )


def promoted(person: Registrant | None = None) -> RegistrationPromoted:
    return RegistrationPromoted(
        meeting=meeting(), registration=person or registrant(), promoted_at=NOW
    )


def waitlisted(person: Registrant | None = None) -> RegistrationWaitlisted:
    return RegistrationWaitlisted(
        meeting=meeting(),
        registration=person or registrant(),
        waitlist_position=3,
        waitlisted_at=NOW,
    )


def requested(person: Registrant | None = None) -> RegistrationRequested:
    return RegistrationRequested(
        meeting=meeting(), registration=person or registrant(), requested_at=NOW
    )


def registration_cancelled(person: Registrant | None = None) -> RegistrationCancelled:
    return RegistrationCancelled(
        meeting=meeting(), registration=person or registrant(), cancelled_at=NOW
    )


def minutes(*organisations: str) -> MinutesPublished:
    return MinutesPublished(
        meeting=meeting(),
        summary="Updates from DG HOME and six sessions on the state of play of the actions.",
        attending_organisations=list(organisations),
        decisions=[
            Decision(
                text="Prolong the partnership until 1 July 2019",
                kind=DecisionKind.PROLONG,
                action_ids=["2", "3", "5", "6", "8"],
                new_end_date=datetime(2019, 7, 1).date(),
            )
        ],
        follow_ups=["Next meeting on 27 September 2018 in Barcelona"],
        published_at=NOW,
    )


def programme() -> ProgrammeUpdated:
    return ProgrammeUpdated(
        meeting=meeting(),
        items=[
            ProgrammeItem(
                item_id="p-1",
                starts_at=datetime(2018, 5, 15, 10, 0, tzinfo=TZ),
                ends_at=datetime(2018, 5, 15, 10, 30, tzinfo=TZ),
                title="Updates from DG HOME",
                kind="session",
                speakers=[Speaker(name="DG HOME representative", organisation="DG HOME")],
            )
        ],
        updated_at=NOW,
    )


def a_contact(
    email: str,
    *,
    name: str = "Partnership contact",
    organisation: str | None = "amsterdam",
    roles: frozenset[ContactRole] = frozenset(),
    language: str = "en",
    origin: ContactOrigin = ContactOrigin.DIRECTORY,
) -> Contact:
    return new_contact(
        name,
        email,
        secret=SECRET,
        language=language,
        organisation_id=OrganisationId(organisation) if organisation else None,
        roles=roles,
        origin=origin,
        now=NOW,
    )


def identity() -> MailIdentity:
    return MailIdentity(
        sender="Partnership on Inclusion of Migrants and Refugees <notifications@inclusion.example.org>",
        organiser_name="Partnership on Inclusion of Migrants and Refugees",
        organiser_email="secretariat@inclusion.example.org",
        domain=MAIL_DOMAIN,
        base_url=BASE_URL,
        link_ttl_s=3600 * 24 * 365,
    )


def writer() -> LetterWriter:
    return LetterWriter(Renderer(), LinkSigner(SECRET), identity())


POLICY = BackoffPolicy(base_s=30, cap_s=3600, max_attempts=4)
DIGEST = DigestSchedule(hour=8, timezone=ZoneInfo("Europe/Brussels"))


def notifier_for(stores: Stores, clock: Clock, **options: Any) -> Notifier:
    return Notifier(
        stores,
        writer(),
        options.pop("outbox", Outbox(source="/partnership/notifications", clock=clock)),
        address_secret=SECRET,
        policy=POLICY,
        reminder_offsets=options.pop("offsets", [timedelta(days=7), timedelta(days=1)]),
        digest_schedule=DIGEST,
        clock=clock,
        **options,
    )


def seeded_rng() -> Random:
    return Random(11)
