"""Calendar routes: a meeting, or the upcoming ones, as iCalendar files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from services.meetings import ical
from services.meetings.api.deps import ComponentsDep, visible
from shared.auth import Viewer
from shared.problems import problem_responses

ICS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/calendar": {}}, "description": "An iCalendar file"}
}

router = APIRouter(tags=["calendar"])


@router.get(
    "/meetings/upcoming.ics",
    response_class=Response,
    responses=ICS,
    summary="Upcoming meetings as an iCalendar feed",
)
async def upcoming_calendar(c: ComponentsDep) -> Response:
    meetings = await c.store.list_upcoming(now=c.clock())
    body = ical.render(meetings, name="Partnership on Inclusion: meetings")
    return Response(body, media_type=ical.MEDIA_TYPE)


@router.get(
    "/meetings/{meeting_id}.ics",
    response_class=Response,
    responses=ICS | problem_responses(401, 404),
    summary="One meeting as an iCalendar file",
)
async def meeting_calendar(meeting_id: str, c: ComponentsDep, viewer: Viewer) -> Response:
    meeting = await visible(c, meeting_id, viewer)
    body = ical.render([meeting], name=meeting.details.title)
    disposition = f'inline; filename="meeting-{meeting.id}.ics"'
    return Response(body, media_type=ical.MEDIA_TYPE, headers={"Content-Disposition": disposition})
