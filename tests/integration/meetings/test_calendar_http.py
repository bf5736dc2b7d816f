"""The .ics routes, parsed with a real iCalendar parser."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from tests.integration.meetings.support import Service

pytestmark = pytest.mark.integration

Plan = Callable[..., Awaitable[dict[str, Any]]]


def parsed(text: bytes) -> Calendar:
    return Calendar.from_ical(text)


async def test_a_meetings_calendar_file_follows_it_through_reschedule_and_cancellation(
    service: Service, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    meeting_id = (await plan())["meeting_id"]
    await http.post(f"/meetings/{meeting_id}/schedule", headers=secretariat)
    first = await http.get(f"/meetings/{meeting_id}.ics")
    await http.post(
        f"/meetings/{meeting_id}/reschedule",
        headers=secretariat,
        json={
            "starts_at": "2018-09-27T10:00",
            "ends_at": "2018-09-27T17:00",
            "timezone": "Europe/Madrid",
            "into_the_past": True,
        },
    )
    moved = await http.get(f"/meetings/{meeting_id}.ics")
    await http.post(
        f"/meetings/{meeting_id}/cancel", headers=secretariat, json={"reason": "merged"}
    )
    cancelled = await http.get(f"/meetings/{meeting_id}.ics")

    assert first.headers["content-type"] == "text/calendar; charset=utf-8"
    versions = [parsed(r.content).events[0] for r in (first, moved, cancelled)]
    assert {str(e["uid"]) for e in versions} == {f"{meeting_id}@meetings.partnership"}
    assert [int(e["sequence"]) for e in versions] == [0, 1, 2]
    assert [str(e["status"]) for e in versions] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert versions[1]["dtstart"].params["TZID"] == "Europe/Madrid"
    assert versions[1].start == datetime(2018, 9, 27, 8, 0, tzinfo=UTC)


async def test_the_upcoming_feed_lists_announced_meetings_and_not_drafts(
    service: Service, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    start = (datetime.now(UTC) + timedelta(days=60)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    window = {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=7)).isoformat()}
    announced = (await plan(number=40, title="Partnership meeting", **window))["meeting_id"]
    draft = (await plan(number=41, title="Partnership meeting (draft)", **window))["meeting_id"]
    await http.post(f"/meetings/{announced}/schedule", headers=secretariat)

    feed = await http.get("/meetings/upcoming.ics")

    ics = parsed(feed.content)
    uids = {str(e["uid"]) for e in ics.events}
    assert f"{announced}@meetings.partnership" in uids
    assert f"{draft}@meetings.partnership" not in uids
    assert str(ics["method"]) == "PUBLISH"
    assert "Europe/Amsterdam" in {tz.tz_name for tz in ics.timezones}


async def test_a_drafts_calendar_file_is_not_public(service: Service, plan: Plan) -> None:
    meeting_id = (await plan())["meeting_id"]

    public = await service.client.get(f"/meetings/{meeting_id}.ics")
    secretariat = await service.client.get(
        f"/meetings/{meeting_id}.ics", headers=service.secretariat
    )

    assert public.status_code == 404
    assert str(parsed(secretariat.content).events[0]["status"]) == "TENTATIVE"
