"""What every route needs: the service's parts, who is calling, and how a meeting is shown."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import Body, Depends, Query, Request

from services.meetings import domain
from services.meetings.api.views import MeetingView
from services.meetings.commands import Transition
from services.meetings.domain import Meeting, MeetingNotFound, Status
from services.meetings.store import Decide, Known, MeetingStore, Seat, Wanted
from shared.auth import Principal, Role
from shared.clock import utcnow
from shared.contracts import meetings as contract
from shared.links import LinkSigner
from shared.ratelimit import RateLimiter

REGISTRATION_LINK = "meeting-registration"

log = structlog.get_logger()


@dataclass(frozen=True)
class Components:
    """What the routes need, put together by the composition root."""

    store: MeetingStore
    links: LinkSigner
    base_url: str
    link_grace_s: int
    limiter: RateLimiter
    clock: Callable[[], datetime] = utcnow
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex

    async def apply(
        self, meeting_id: str, decide: Decide, *, expected_version: int | None = None
    ) -> Meeting:
        """Decide on the stored meeting and save the result with its addressed events."""

        def addressed(meeting: Meeting) -> domain.Decided:
            changed, events = decide(meeting)
            return changed, [self._address(changed, e) for e in events]

        changed, events = await self.store.update(
            meeting_id, addressed, expected_version=expected_version
        )
        self._log(changed, events)
        return changed

    async def seat(
        self,
        meeting_id: str,
        decide: Seat,
        wanted: Wanted,
        *,
        expected_version: int | None = None,
    ) -> domain.Seated:
        """Decide on the meeting and the registrations it reads; save all with addressed events."""

        def addressed(meeting: Meeting, known: Known) -> domain.Seated:
            changed, registrations, events = decide(meeting, known)
            return changed, registrations, [self._address(changed, e) for e in events]

        changed, registrations, events = await self.store.seat(
            meeting_id, addressed, wanted, expected_version=expected_version
        )
        self._log(changed, events)
        return changed, registrations, events

    def addressed(
        self, meeting: Meeting, events: list[contract.MeetingEvent]
    ) -> list[contract.MeetingEvent]:
        return [self._address(meeting, e) for e in events]

    def _log(self, meeting: Meeting, events: list[contract.MeetingEvent]) -> None:
        if events:
            log.info(
                "meeting.changed",
                meeting_id=meeting.id,
                version=meeting.version,
                events=[e.EVENT_TYPE for e in events],
            )

    def calendar_url(self, meeting_id: str) -> str:
        return f"{self.base_url}/meetings/{meeting_id}.ics"

    def registration_url(self, meeting: Meeting, registration_id: str) -> str:
        token = self.links.sign(
            REGISTRATION_LINK,
            link_subject(meeting.id, registration_id),
            expires_in_s=self._link_lifetime_s(meeting),
        )
        return (
            f"{self.base_url}/meetings/{meeting.id}/registrations/{registration_id}?token={token}"
        )

    def _address(self, meeting: Meeting, event: contract.MeetingEvent) -> contract.MeetingEvent:
        # Links are the edge's business (base URL, signing key): added here, not in the domain.
        info = event.meeting.model_copy(update={"calendar_url": self.calendar_url(meeting.id)})
        changes: dict[str, Any] = {"meeting": info}
        if isinstance(event, contract.RegistrationEvent):
            changes["self_service_url"] = self.registration_url(
                meeting, event.registration.registration_id
            )
        return event.model_copy(update=changes)

    def _link_lifetime_s(self, meeting: Meeting) -> int:
        remaining = meeting.details.ends_at - self.clock()
        return max(int(remaining.total_seconds()), 0) + self.link_grace_s


def components(request: Request) -> Components:
    meetings: Components = request.app.state.components
    return meetings


def link_subject(meeting_id: str, registration_id: str) -> str:
    return f"{meeting_id}/{registration_id}"


ComponentsDep = Annotated[Components, Depends(components)]
OptionalTransition = Annotated[Transition | None, Body()]
LinkToken = Annotated[
    str | None,
    Query(max_length=2000, description="The signed token from the registration's e-mail link"),
]


def is_secretariat(viewer: Principal | None) -> bool:
    return viewer is not None and viewer.has_any(Role.SECRETARIAT)


def view_of(c: Components, meeting: Meeting, *, secretariat: bool = True) -> MeetingView:
    return MeetingView.of_meeting(
        meeting, calendar_url=c.calendar_url(meeting.id), secretariat=secretariat
    )


async def visible(c: Components, meeting_id: str, viewer: Principal | None) -> Meeting:
    # Drafts are the secretariat's work in progress: to everyone else they do not exist.
    meeting = await c.store.get(meeting_id)
    if meeting.status is Status.DRAFT and not is_secretariat(viewer):
        raise MeetingNotFound(meeting_id)
    return meeting


def version_of(body: Transition | None) -> int | None:
    return body.expected_version if body is not None else None
