"""The meeting's lifecycle as data: which action each status allows, and where it leads."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.meetings.domain.model import Change, Meeting, MeetingStateConflict, Status

# A meeting keeps its latest changes; each registration keeps its own, so no document
# grows with the number of people (the events on Kafka are the complete record).
HISTORY_KEPT = 200

# draft → scheduled → held → minutes_published; draft/scheduled → cancelled.
LIFECYCLE: dict[Status, dict[str, Status]] = {
    Status.DRAFT: {"schedule": Status.SCHEDULED, "cancel": Status.CANCELLED},
    Status.SCHEDULED: {
        "reschedule": Status.SCHEDULED,
        "cancel": Status.CANCELLED,
        "hold": Status.HELD,
    },
    Status.HELD: {"publish_minutes": Status.MINUTES_PUBLISHED},
    Status.CANCELLED: {},
    Status.MINUTES_PUBLISHED: {},
}

# Actions that change a meeting without moving it to another status.
EDITS: dict[str, frozenset[Status]] = {
    "update": frozenset({Status.DRAFT, Status.SCHEDULED}),
    "replace_programme": frozenset({Status.DRAFT, Status.SCHEDULED}),
    "record_attendance": frozenset({Status.HELD}),
    "record_minutes": frozenset({Status.HELD}),
}


def allowed_actions(status: Status) -> list[str]:
    """Every lifecycle step and edit the status allows, sorted."""
    edits = [action for action, statuses in EDITS.items() if status in statuses]
    return sorted([*LIFECYCLE[status], *edits])


def require(meeting: Meeting, action: str) -> None:
    """Refuse an action the meeting's status does not allow, naming what it does allow."""
    status = meeting.status
    if action in LIFECYCLE[status] or status in EDITS.get(action, frozenset()):
        return
    raise MeetingStateConflict(
        current=status,
        action=action,
        allowed=allowed_actions(status),
        next_states=LIFECYCLE[status].values(),
    )


def moved(meeting: Meeting, action: str) -> Status:
    """The status a lifecycle step leads to; refuses a step the status does not allow."""
    require(meeting, action)
    return LIFECYCLE[meeting.status][action]


def recorded(
    meeting: Meeting,
    *,
    now: datetime,
    by: str,
    action: str,
    reason: str | None = None,
    detail: str | None = None,
) -> Meeting:
    """The meeting with one more line of history."""
    change = Change(at=now, by=by, action=action, reason=reason, detail=detail)
    return replace(meeting, history=(*meeting.history, change)[-HISTORY_KEPT:], updated_at=now)
