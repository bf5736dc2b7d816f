"""The meeting's lifecycle as data: which action each status allows, and where it leads."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from services.meetings.domain.model import Change, Meeting, Status
from shared.lifecycle import Lifecycle, with_line

# A meeting keeps its latest changes; each registration keeps its own, so no document
# grows with the number of people (the events on Kafka are the complete record).
HISTORY_KEPT = 200

# draft → scheduled → held → minutes_published; draft/scheduled → cancelled.
LIFECYCLE = Lifecycle[Status](
    "meeting",
    steps={
        Status.DRAFT: {"schedule": Status.SCHEDULED, "cancel": Status.CANCELLED},
        Status.SCHEDULED: {
            "reschedule": Status.SCHEDULED,
            "cancel": Status.CANCELLED,
            "hold": Status.HELD,
        },
        Status.HELD: {"publish_minutes": Status.MINUTES_PUBLISHED},
        Status.CANCELLED: {},
        Status.MINUTES_PUBLISHED: {},
    },
    # Actions that change a meeting without moving it to another status.
    edits={
        "update": frozenset({Status.DRAFT, Status.SCHEDULED}),
        "replace_programme": frozenset({Status.DRAFT, Status.SCHEDULED}),
        "record_attendance": frozenset({Status.HELD}),
        "record_minutes": frozenset({Status.HELD}),
    },
)


def allowed_actions(status: Status) -> list[str]:
    """Every lifecycle step and edit the status allows, sorted."""
    return LIFECYCLE.allowed(status)


def require(meeting: Meeting, action: str) -> None:
    """Refuse an action the meeting's status does not allow, naming what it does allow."""
    LIFECYCLE.require(meeting.status, action)


def moved(meeting: Meeting, action: str) -> Status:
    """The status a lifecycle step leads to; refuses a step the status does not allow."""
    return LIFECYCLE.moved(meeting.status, action)


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
    history = with_line(meeting.history, change, kept=HISTORY_KEPT)
    return replace(meeting, history=history, updated_at=now)
