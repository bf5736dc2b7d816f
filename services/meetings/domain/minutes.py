"""Minutes: what a held meeting decided, recorded by the secretariat, then published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.meetings.domain.events import info
from services.meetings.domain.model import (
    Decided,
    Decision,
    InvalidMeeting,
    Meeting,
    Minutes,
    problem,
)
from services.meetings.domain.states import moved, recorded, require
from shared.contracts import meetings as contract
from shared.contracts.meetings import DecisionKind
from shared.errors import Conflict


class MinutesMissing(Conflict):
    title = "Minutes not recorded"

    def __init__(self, meeting_id: str) -> None:
        super().__init__(
            f"meeting {meeting_id} has no minutes yet; record them before publishing",
            meeting_id=meeting_id,
        )


def record_minutes(
    meeting: Meeting,
    *,
    summary: str,
    decisions: Sequence[Decision],
    follow_ups: Sequence[str] = (),
    attending_organisations: Sequence[str] | None = None,
    checked_in: Sequence[str] = (),
    by: str,
    now: datetime,
) -> Decided:
    """Write or rewrite the minutes; without a list of attending organisations, those of
    the people checked in (`checked_in`) are taken."""
    require(meeting, "record_minutes")
    _check(decisions)
    attending = (
        tuple(attending_organisations)
        if attending_organisations is not None
        else tuple(sorted(set(checked_in)))
    )
    minutes = Minutes(
        summary=summary,
        attending_organisations=attending,
        decisions=tuple(decisions),
        follow_ups=tuple(follow_ups),
        recorded_at=now,
        recorded_by=by,
    )
    changed = recorded(
        replace(meeting, minutes=minutes),
        now=now,
        by=by,
        action="record_minutes",
        detail=f"{len(minutes.decisions)} decisions",
    )
    return changed, []


def publish_minutes(meeting: Meeting, *, by: str, now: datetime) -> Decided:
    """Make the minutes public; the event carries the decisions for the actions service."""
    status = moved(meeting, "publish_minutes")
    minutes = meeting.minutes
    if minutes is None:
        raise MinutesMissing(meeting.id)
    changed = recorded(replace(meeting, status=status), now=now, by=by, action="publish_minutes")
    return changed, [
        contract.MinutesPublished(
            meeting=info(changed),
            summary=minutes.summary,
            attending_organisations=list(minutes.attending_organisations),
            decisions=[
                contract.Decision(
                    text=d.text,
                    kind=d.kind,
                    action_ids=list(d.action_ids),
                    new_end_date=d.new_end_date,
                )
                for d in minutes.decisions
            ],
            follow_ups=list(minutes.follow_ups),
            published_at=now,
        )
    ]


def _check(decisions: Sequence[Decision]) -> None:
    errors = []
    for index, decision in enumerate(decisions):
        if decision.kind is DecisionKind.PROLONG and decision.new_end_date is None:
            errors.append(
                problem(f"decisions.{index}.new_end_date", "a prolongation needs a new end date")
            )
        if decision.kind is not DecisionKind.PROLONG and decision.new_end_date is not None:
            errors.append(
                problem(f"decisions.{index}.new_end_date", "only a prolongation has a new end date")
            )
    if errors:
        raise InvalidMeeting(errors)
