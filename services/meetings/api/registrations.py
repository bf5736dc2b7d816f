"""Registration routes: public registration, self-service by signed link, the secretariat's
approvals, declines and check-in."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from services.meetings import domain
from services.meetings.api.context import (
    REGISTRATION_LINK,
    Context,
    LinkToken,
    Meetings,
    Secretariat,
    Viewer,
    is_secretariat,
    link_subject,
    meetings_of,
)
from services.meetings.commands import (
    ApproveRegistrations,
    CancelRegistration,
    DeclineRegistration,
    RecordAttendance,
    Register,
)
from services.meetings.views import RegistrationReceipt, RegistrationView
from shared.auth import Principal
from shared.errors import Forbidden, Invalid, Unauthenticated
from shared.problems import problem_responses
from shared.seating import Standing

ALREADY_REGISTERED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already registered: the existing registration"}
}

router = APIRouter(tags=["registrations"])


async def _small_body(request: Request) -> None:
    # Public and unauthenticated: refuse a large body before reading it.
    limit = meetings_of(request).max_registration_body_bytes
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > limit:
        raise BodyTooLarge(limit)


class BodyTooLarge(Invalid):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the request body must state its Content-Length and be at most {limit} bytes",
            errors=[{"field": "body", "reason": f"at most {limit} bytes"}],
        )


@router.post(
    "/meetings/{meeting_id}/registrations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(_small_body)],
    responses=ALREADY_REGISTERED | problem_responses(404, 409, 422),
    summary="Register for a scheduled meeting (public)",
)
async def register(
    meeting_id: str, body: Register, ctx: Context, response: Response
) -> RegistrationReceipt:
    now = ctx.clock()
    registration_id = domain.RegistrationId(ctx.new_id())
    person = body.person()
    meeting = await ctx.apply(
        meeting_id,
        lambda m: domain.register(
            m,
            person,
            registration_id=registration_id,
            by=f"registration:{registration_id}",
            now=now,
        ),
    )
    registration = meeting.registration_for(person.email)
    assert registration is not None
    if registration.id != registration_id:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/meetings/{meeting.id}/registrations/{registration.id}"
    return RegistrationReceipt.of(meeting, registration)


@router.get(
    "/meetings/{meeting_id}/registrations",
    responses=problem_responses(401, 403, 404),
    summary="The meeting's registrations, in arrival order",
)
async def list_registrations(
    meeting_id: str,
    ctx: Context,
    _: Secretariat,
    status_: Annotated[Standing | None, Query(alias="status")] = None,
) -> list[RegistrationView]:
    meeting = await ctx.store.get(meeting_id)
    chosen = [r for r in meeting.registrations if status_ is None or r.status is status_]
    return RegistrationView.of_many(meeting, chosen)


@router.post(
    "/meetings/{meeting_id}/registrations/approve",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Approve pending registrations (seated in the order they were requested)",
)
async def approve_registrations(
    meeting_id: str, body: ApproveRegistrations, ctx: Context, who: Secretariat
) -> list[RegistrationView]:
    now = ctx.clock()
    meeting = await ctx.apply(
        meeting_id, lambda m: domain.approve(m, body.registration_ids, by=who.subject, now=now)
    )
    return RegistrationView.of_many(
        meeting, [meeting.registration(r) for r in body.registration_ids]
    )


@router.get(
    "/meetings/{meeting_id}/registrations/{registration_id}",
    responses=problem_responses(401, 403, 404),
    summary="One registration: with the e-mail link's token, or as the secretariat",
)
async def get_registration(
    meeting_id: str, registration_id: str, ctx: Context, viewer: Viewer, token: LinkToken = None
) -> RegistrationView:
    _authorise_registration(ctx, meeting_id, registration_id, viewer, token)
    meeting = await ctx.store.get(meeting_id)
    return RegistrationView.of(meeting, meeting.registration(registration_id))


@router.post(
    "/meetings/{meeting_id}/registrations/{registration_id}/cancel",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Cancel a registration: with the e-mail link's token, or as the secretariat",
)
async def cancel_registration(
    meeting_id: str,
    registration_id: str,
    ctx: Context,
    viewer: Viewer,
    token: LinkToken = None,
    body: Annotated[CancelRegistration | None, Body()] = None,
) -> RegistrationView:
    by = _authorise_registration(ctx, meeting_id, registration_id, viewer, token)
    now = ctx.clock()
    reason = body.reason if body is not None else None
    meeting = await ctx.apply(
        meeting_id,
        lambda m: domain.cancel_registration(m, registration_id, reason=reason, by=by, now=now),
    )
    return RegistrationView.of(meeting, meeting.registration(registration_id))


@router.post(
    "/meetings/{meeting_id}/registrations/{registration_id}/decline",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Decline a pending registration, with a reason",
)
async def decline_registration(
    meeting_id: str, registration_id: str, body: DeclineRegistration, ctx: Context, who: Secretariat
) -> RegistrationView:
    now = ctx.clock()
    meeting = await ctx.apply(
        meeting_id,
        lambda m: domain.decline(m, registration_id, reason=body.reason, by=who.subject, now=now),
    )
    return RegistrationView.of(meeting, meeting.registration(registration_id))


@router.post(
    "/meetings/{meeting_id}/attendance",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Check-in: mark registrations attended or no_show once the meeting is held",
)
async def record_attendance(
    meeting_id: str, body: RecordAttendance, ctx: Context, who: Secretariat
) -> list[RegistrationView]:
    now = ctx.clock()
    meeting = await ctx.apply(
        meeting_id, lambda m: domain.record_attendance(m, body.marks, by=who.subject, now=now)
    )
    return RegistrationView.of_many(meeting, [meeting.registration(r) for r in body.marks])


def _authorise_registration(
    ctx: Meetings,
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
    if ctx.links.verify(token, REGISTRATION_LINK) != link_subject(meeting_id, registration_id):
        raise Forbidden("the link is for another registration")
    return f"registration:{registration_id}"
