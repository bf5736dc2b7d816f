"""Registration routes: public registration, self-service by signed link, the secretariat's
approvals, declines and check-in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from services.meetings import domain
from services.meetings.api.deps import (
    REGISTRATION_LINK,
    Components,
    ComponentsDep,
    LinkToken,
    components,
    is_secretariat,
    link_subject,
)
from services.meetings.api.views import RegistrationReceipt, RegistrationView
from services.meetings.commands import (
    ApproveRegistrations,
    CancelRegistration,
    DeclineRegistration,
    RecordAttendance,
    Register,
)
from services.meetings.store import Known, Wanted
from shared.auth import Principal, Secretariat, Viewer
from shared.errors import Forbidden, Unauthenticated
from shared.problems import problem_or_page_responses, problem_responses
from shared.ratelimit import RateLimiter, Scope, per_client
from shared.seating import SeatStatus

ALREADY_REGISTERED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already registered: the existing registration"}
}

# The e-mail's link answers a browser with HTML (pages.py).
PAGE_TOO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "JSON, or the page for a browser"}
}

router = APIRouter(tags=["registrations"])

# Request numbers count a meeting's registrations; BSON integers stop at 2**63.
MAX_REQUEST_NUMBER = 2**53


def limiter_of(request: Request) -> RateLimiter:
    return components(request).limiter


@router.post(
    "/meetings/{meeting_id}/registrations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(per_client(limiter_of, Scope.REGISTRATION))],
    responses=ALREADY_REGISTERED | problem_responses(404, 409, 422, 429),
    summary="Register for a scheduled meeting (public)",
    description="The body is at most MAX_REGISTRATION_BODY_BYTES (16 KiB by default); "
    "a larger one is answered 413 before it is read. Registrations are limited per client "
    "address and per e-mail address (429 with Retry-After).",
)
async def register(
    meeting_id: str, body: Register, c: ComponentsDep, response: Response
) -> RegistrationReceipt:
    await c.limiter.hit_email(Scope.REGISTRATION, body.email)
    now = c.clock()

    def decide(meeting: domain.Meeting, arriving: domain.Registration) -> domain.Seated:
        changed, registrations, events = domain.register(meeting, arriving, now=now)
        return changed, registrations, c.addressed(changed, events)

    registration, created, meeting = await c.store.register(
        meeting_id,
        body.person(),
        registration_id=domain.RegistrationId(c.new_id()),
        now=now,
        decide=decide,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/meetings/{meeting_id}/registrations/{registration.id}"
    positions = await c.store.waitlist_positions(meeting, [registration])
    return RegistrationReceipt.of(registration, positions.get(registration.id))


@router.get(
    "/meetings/{meeting_id}/registrations",
    responses=problem_responses(401, 403, 404),
    summary="The meeting's registrations, in arrival order, a page at a time",
)
async def list_registrations(
    meeting_id: str,
    c: ComponentsDep,
    _: Secretariat,
    response: Response,
    status_: Annotated[SeatStatus | None, Query(alias="status")] = None,
    after: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_REQUEST_NUMBER,
            description="Continue after this request number (the last one seen)",
        ),
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> list[RegistrationView]:
    meeting = await c.store.get(meeting_id)
    chosen = await c.store.list_registrations(meeting_id, status=status_, after=after, limit=limit)
    if len(chosen) == limit:
        query = f"after={chosen[-1].request}&limit={limit}"
        if status_ is not None:
            query += f"&status={status_.value}"
        response.headers["Link"] = f'</meetings/{meeting_id}/registrations?{query}>; rel="next"'
    positions = await c.store.waitlist_positions(meeting, chosen, contiguous=True)
    return RegistrationView.of_many(chosen, positions)


@router.post(
    "/meetings/{meeting_id}/registrations/approve",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Approve pending registrations (seated in the order they were requested)",
)
async def approve_registrations(
    meeting_id: str, body: ApproveRegistrations, c: ComponentsDep, who: Secretariat
) -> list[RegistrationView]:
    now = c.clock()
    ids = list(dict.fromkeys(body.registration_ids))

    def decide(meeting: domain.Meeting, known: Known) -> domain.Seated:
        missing = [r for r in ids if r not in known.registrations]
        if missing:
            raise domain.UnknownRegistrations(meeting_id, missing, field="registration_ids")
        pending = [known.registration(meeting_id, r) for r in ids]
        return domain.approve(meeting, pending, waiting=known.waiting, by=who.subject, now=now)

    meeting, _, _ = await c.seat(meeting_id, decide, Wanted(registrations=ids, all_waiting=True))
    return await _views(c, meeting, ids)


@router.get(
    "/meetings/{meeting_id}/registrations/{registration_id}",
    responses=PAGE_TOO | problem_responses(401) | problem_or_page_responses(403, 404),
    summary="One registration: with the e-mail link's token, or as the secretariat",
    description="The e-mail's link. A request that prefers `text/html` (a browser's) gets "
    "the person's page instead, with a button that cancels (pages.py).",
)
async def get_registration(
    meeting_id: str,
    registration_id: str,
    c: ComponentsDep,
    viewer: Viewer,
    response: Response,
    token: LinkToken = None,
) -> RegistrationView:
    # The same URL answers a browser with a page: a cache must keep the two apart.
    response.headers["Vary"] = "Accept"
    _authorise_registration(c, meeting_id, registration_id, viewer, token)
    meeting = await c.store.get(meeting_id)
    [view] = await _views(c, meeting, [registration_id])
    return view


@router.post(
    "/meetings/{meeting_id}/registrations/{registration_id}/cancel",
    responses=PAGE_TOO | problem_responses(401, 422) | problem_or_page_responses(403, 404, 409),
    summary="Cancel a registration: with the e-mail link's token, or as the secretariat",
    description="A JSON body or none, as here. The page's button posts a form "
    "(`application/x-www-form-urlencoded` with `token`) to this URL, which the page's own "
    "route answers with HTML (pages.py).",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "token": {
                                "type": "string",
                                "description": "The signed token from the e-mail's link",
                            }
                        },
                    }
                }
            }
        }
    },
)
async def cancel_registration(
    meeting_id: str,
    registration_id: str,
    c: ComponentsDep,
    viewer: Viewer,
    token: LinkToken = None,
    body: Annotated[CancelRegistration | None, Body()] = None,
) -> RegistrationView:
    by = _authorise_registration(c, meeting_id, registration_id, viewer, token)
    reason = body.reason if body is not None else None
    meeting, _, _ = await cancel(c, meeting_id, registration_id, reason=reason, by=by)
    [view] = await _views(c, meeting, [registration_id])
    return view


async def cancel(
    c: Components, meeting_id: str, registration_id: str, *, reason: str | None, by: str
) -> domain.Seated:
    """Withdraw a registration (the API's and the page's); one already cancelled stays so."""
    now = c.clock()

    def decide(meeting: domain.Meeting, known: Known) -> domain.Seated:
        return domain.cancel_registration(
            meeting,
            known.registration(meeting_id, registration_id),
            waiting=known.waiting,
            reason=reason,
            by=by,
            now=now,
        )

    return await c.seat(meeting_id, decide, Wanted(registrations=[registration_id], waiting=1))


@router.post(
    "/meetings/{meeting_id}/registrations/{registration_id}/decline",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Decline a pending registration, with a reason",
)
async def decline_registration(
    meeting_id: str,
    registration_id: str,
    body: DeclineRegistration,
    c: ComponentsDep,
    who: Secretariat,
) -> RegistrationView:
    now = c.clock()

    def decide(meeting: domain.Meeting, known: Known) -> domain.Seated:
        return domain.decline(
            meeting,
            known.registration(meeting_id, registration_id),
            reason=body.reason,
            by=who.subject,
            now=now,
        )

    meeting, _, _ = await c.seat(meeting_id, decide, Wanted(registrations=[registration_id]))
    [view] = await _views(c, meeting, [registration_id])
    return view


@router.post(
    "/meetings/{meeting_id}/attendance",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Check-in: mark registrations attended or no_show once the meeting is held",
)
async def record_attendance(
    meeting_id: str, body: RecordAttendance, c: ComponentsDep, who: Secretariat
) -> list[RegistrationView]:
    now = c.clock()
    ids = list(body.marks)

    def decide(meeting: domain.Meeting, known: Known) -> domain.Seated:
        return domain.record_attendance(
            meeting, list(known.registrations.values()), body.marks, by=who.subject, now=now
        )

    meeting, _, _ = await c.seat(meeting_id, decide, Wanted(registrations=ids))
    return await _views(c, meeting, ids)


async def _views(
    c: Components, meeting: domain.Meeting, registration_ids: list[str]
) -> list[RegistrationView]:
    registrations = [await c.store.get_registration(meeting.id, r) for r in registration_ids]
    positions = await c.store.waitlist_positions(meeting, registrations)
    return RegistrationView.of_many(registrations, positions)


def _authorise_registration(
    c: Components,
    meeting_id: str,
    registration_id: str,
    viewer: Principal | None,
    token: str | None,
) -> str:
    """Who acts on a registration: the secretariat, or the person holding its signed link."""
    if is_secretariat(viewer):
        assert viewer is not None
        return viewer.subject
    if token is None:
        if viewer is not None:
            raise Forbidden("this needs the registration's link or the secretariat role")
        raise Unauthenticated("this needs the registration's link token or a secretariat token")
    if c.links.verify(token, REGISTRATION_LINK) != link_subject(meeting_id, registration_id):
        raise Forbidden("the link is for another registration")
    return f"registration:{registration_id}"
