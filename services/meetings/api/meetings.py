"""Meeting routes: plan, list, read, change and move a meeting through its lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import MISSING

from services.meetings import domain
from services.meetings.api.deps import (
    ComponentsDep,
    OptionalTransition,
    is_secretariat,
    version_of,
    view_of,
    visible,
)
from services.meetings.api.views import MeetingPage, MeetingSummary, MeetingView
from services.meetings.commands import (
    CancelMeeting,
    PlanMeeting,
    RecordMinutes,
    ReplaceProgramme,
    RescheduleMeeting,
    UpdateMeeting,
)
from services.meetings.domain import Meeting, Status
from services.meetings.store import Known, MeetingFilter, Wanted
from shared.auth import Secretariat, Viewer
from shared.contracts.meetings import MeetingKind
from shared.fields import MomentQuery
from shared.problems import problem_responses

router = APIRouter(tags=["meetings"])


@router.post(
    "/meetings",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
    summary="Plan a meeting (saved as a draft)",
)
async def plan_meeting(
    body: PlanMeeting, c: ComponentsDep, who: Secretariat, response: Response
) -> MeetingView:
    meeting = domain.plan(
        domain.MeetingId(c.new_id()), body.details(), by=who.subject, now=c.clock()
    )
    meeting = await c.store.add(meeting)
    response.headers["Location"] = f"/meetings/{meeting.id}"
    return view_of(c, meeting)


@router.get("/meetings", responses=problem_responses(401, 422), summary="List meetings")
async def list_meetings(
    c: ComponentsDep,
    viewer: Viewer,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    kind: MeetingKind | None = None,
    starts_from: Annotated[MomentQuery | None, Query(description="Inclusive")] = None,
    starts_before: Annotated[MomentQuery | None, Query(description="Exclusive")] = None,
    city: Annotated[str | None, Query(max_length=100)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> MeetingPage:
    where = MeetingFilter(
        status=status_,
        kind=kind.value if kind else None,
        starts_from=_aware(starts_from),
        starts_before=_aware(starts_before),
        city=city,
        include_drafts=is_secretariat(viewer),
    )
    page = await c.store.list_meetings(where, limit=limit, cursor=cursor)
    return MeetingPage(
        items=[MeetingSummary.of(m, calendar_url=c.calendar_url(m.id)) for m in page.meetings],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/meetings/{meeting_id}",
    responses=problem_responses(401, 404),
    summary="A meeting with its programme, registration counts and (secretariat) history",
)
async def get_meeting(meeting_id: str, c: ComponentsDep, viewer: Viewer) -> MeetingView:
    meeting = await visible(c, meeting_id, viewer)
    return view_of(c, meeting, secretariat=is_secretariat(viewer))


@router.patch(
    "/meetings/{meeting_id}",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Change a meeting's details (optimistic concurrency: send the version you read)",
)
async def update_meeting(
    meeting_id: str, body: UpdateMeeting, c: ComponentsDep, who: Secretariat
) -> MeetingView:
    now = c.clock()
    current = await c.store.get(meeting_id)
    # A larger capacity promotes from the waitlist: read as many waiting people as it adds.
    promotable = domain.seats_needed(current, body.apply_to(current.details))

    def decide(m: Meeting, known: Known) -> domain.Seated:
        return domain.update(
            m,
            body.apply_to(m.details),
            waiting=known.waiting,
            by=who.subject,
            now=now,
            reason=body.why,
        )

    meeting, _, _ = await c.seat(
        meeting_id, decide, Wanted(waiting=promotable), expected_version=body.version
    )
    return view_of(c, meeting)


@router.post(
    "/meetings/{meeting_id}/schedule",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Announce a draft meeting and open registration",
)
async def schedule_meeting(
    meeting_id: str, c: ComponentsDep, who: Secretariat, body: OptionalTransition = None
) -> MeetingView:
    now = c.clock()
    meeting = await c.apply(
        meeting_id,
        lambda m: domain.schedule(m, by=who.subject, now=now),
        expected_version=version_of(body),
    )
    return view_of(c, meeting)


@router.post(
    "/meetings/{meeting_id}/reschedule",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Move a scheduled meeting to new times (its calendar SEQUENCE goes up)",
)
async def reschedule_meeting(
    meeting_id: str, body: RescheduleMeeting, c: ComponentsDep, who: Secretariat
) -> MeetingView:
    now = c.clock()

    def decide(m: Meeting) -> domain.Decided:
        return domain.reschedule(
            m,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            timezone=None if body.timezone is MISSING else body.timezone,
            registration_deadline=(
                None if body.registration_deadline is MISSING else body.registration_deadline
            ),
            reason=None if body.reason is MISSING else body.reason,
            by=who.subject,
            now=now,
            into_the_past=body.into_the_past,
        )

    meeting = await c.apply(meeting_id, decide, expected_version=body.expected_version)
    return view_of(c, meeting)


@router.post(
    "/meetings/{meeting_id}/cancel",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Cancel a draft or scheduled meeting, with a reason",
)
async def cancel_meeting(
    meeting_id: str, body: CancelMeeting, c: ComponentsDep, who: Secretariat
) -> MeetingView:
    now = c.clock()
    meeting = await c.apply(
        meeting_id,
        lambda m: domain.cancel(m, reason=body.reason, by=who.subject, now=now),
        expected_version=body.expected_version,
    )
    return view_of(c, meeting)


@router.post(
    "/meetings/{meeting_id}/hold",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Mark a meeting as held: check-in and minutes open",
)
async def hold_meeting(
    meeting_id: str, c: ComponentsDep, who: Secretariat, body: OptionalTransition = None
) -> MeetingView:
    now = c.clock()
    meeting = await c.apply(
        meeting_id,
        lambda m: domain.hold(m, by=who.subject, now=now),
        expected_version=version_of(body),
    )
    return view_of(c, meeting)


@router.put(
    "/meetings/{meeting_id}/programme",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Replace the programme",
)
async def replace_programme(
    meeting_id: str, body: ReplaceProgramme, c: ComponentsDep, who: Secretariat
) -> MeetingView:
    now = c.clock()
    new_ids = [c.new_id() for _ in body.items]

    def decide(m: Meeting) -> domain.Decided:
        tz = m.details.timezone
        items = [
            i.to_domain(item_id=n, timezone=tz, index=index)
            for index, (i, n) in enumerate(zip(body.items, new_ids, strict=True))
        ]
        return domain.replace_programme(m, items, by=who.subject, now=now)

    meeting = await c.apply(meeting_id, decide, expected_version=body.version)
    return view_of(c, meeting)


@router.put(
    "/meetings/{meeting_id}/minutes",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Record (or rewrite) the minutes of a held meeting",
)
async def record_minutes(
    meeting_id: str, body: RecordMinutes, c: ComponentsDep, who: Secretariat
) -> MeetingView:
    now = c.clock()
    checked_in = (
        await c.store.checked_in_organisations(meeting_id)
        if body.attending_organisations is None
        else []
    )
    meeting = await c.apply(
        meeting_id,
        lambda m: domain.record_minutes(
            m,
            summary=body.summary,
            attending_organisations=body.attending_organisations,
            checked_in=checked_in,
            decisions=[d.to_domain() for d in body.decisions],
            follow_ups=body.follow_ups,
            by=who.subject,
            now=now,
        ),
        expected_version=body.expected_version,
    )
    return view_of(c, meeting)


@router.post(
    "/meetings/{meeting_id}/minutes/publish",
    responses=problem_responses(401, 403, 404, 409, 422),
    summary="Publish the minutes; the event carries the decisions",
)
async def publish_minutes(
    meeting_id: str, c: ComponentsDep, who: Secretariat, body: OptionalTransition = None
) -> MeetingView:
    now = c.clock()
    meeting = await c.apply(
        meeting_id,
        lambda m: domain.publish_minutes(m, by=who.subject, now=now),
        expected_version=version_of(body),
    )
    return view_of(c, meeting)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
