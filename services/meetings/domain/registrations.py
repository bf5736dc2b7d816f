"""Registrations: seats up to the capacity, a first-come waitlist, approval when moderated.

Each decision takes the meeting (with its seating) and the registrations it concerns, as
the store read them, and returns the meeting, the registrations it changed and the events.
Promotions need the first people on the waitlist: callers pass them as `waiting`, in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from services.meetings.domain.events import info, registrant
from services.meetings.domain.model import (
    Change,
    Meeting,
    Registration,
    RegistrationClosed,
    Seated,
    Status,
    local,
)
from services.meetings.domain.states import recorded, require
from shared import seating
from shared.contracts import meetings as contract
from shared.errors import Conflict, IllegalTransition
from shared.seating import Attendance, Move, SeatStatus

# What each standing of a registration allows.
REGISTRATION_ACTIONS: dict[SeatStatus, frozenset[str]] = {
    SeatStatus.PENDING: frozenset({"approve", "decline", "cancel"}),
    SeatStatus.CONFIRMED: frozenset({"cancel", "record_attendance"}),
    SeatStatus.WAITLISTED: frozenset({"cancel", "record_attendance"}),
    SeatStatus.DECLINED: frozenset(),
    SeatStatus.CANCELLED: frozenset(),
}


def register(meeting: Meeting, arriving: Registration, *, now: datetime) -> Seated:
    """Give a new request its place: its order, and a seat, a waitlist place or approval."""
    _require_open(meeting, now=now)
    seated, move = seating.request(
        meeting.seating, arriving.id, moderated=meeting.details.requires_approval
    )
    changed = replace(meeting, seating=seated)
    registration = _moved(
        arriving, move, now=now, by=f"registration:{arriving.id}", action="register"
    )
    if move.after is SeatStatus.PENDING:
        event: contract.MeetingEvent = contract.RegistrationRequested(
            meeting=info(changed), registration=registrant(registration), requested_at=now
        )
        return changed, [registration], [event]
    return changed, [registration], _announce(changed, [move], {arriving.id: registration}, now=now)


def approve(
    meeting: Meeting,
    pending: Sequence[Registration],
    *,
    waiting: Sequence[Registration],
    by: str,
    now: datetime,
) -> Seated:
    """Admit pending registrations, by the seating rules, in the order they were requested.

    `waiting` is the whole waitlist, so an approved request takes its place by order in it.
    """
    _require_scheduled(meeting)
    for registration in pending:
        _require_action(registration, "approve")
    seated, moves = seating.approve(
        meeting.seating, [r.claim for r in pending], waiting=[w.claim for w in waiting]
    )
    return _apply(
        replace(meeting, seating=seated),
        moves,
        {r.id: r for r in pending},
        by=by,
        now=now,
        action="approve",
    )


def decline(
    meeting: Meeting, registration: Registration, *, reason: str, by: str, now: datetime
) -> Seated:
    """Turn down a pending registration, saying why."""
    _require_scheduled(meeting)
    _require_action(registration, "decline")
    seated, move = seating.decline(meeting.seating, registration.claim)
    return _apply(
        replace(meeting, seating=seated),
        [move],
        {registration.id: registration},
        by=by,
        now=now,
        action="decline",
        reason=reason,
    )


def cancel_registration(
    meeting: Meeting,
    registration: Registration,
    *,
    waiting: Sequence[Registration],
    reason: str | None,
    by: str,
    now: datetime,
) -> Seated:
    """Withdraw a registration; the seat it frees goes to the first person on the waitlist."""
    if registration.status is SeatStatus.CANCELLED:
        return meeting, [], []
    _require_scheduled(meeting)
    _require_action(registration, "cancel")
    assert registration.status is not None
    seated, moves = seating.release(
        meeting.seating, registration.claim, standing=registration.status
    )
    known: dict[str, Registration] = {registration.id: registration}
    known |= {w.id: w for w in waiting}
    return _apply(
        replace(meeting, seating=seated),
        moves,
        known,
        by=by,
        now=now,
        action="cancel",
        reason=reason,
    )


def promote_from_waitlist(
    meeting: Meeting, *, waiting: Sequence[Registration], now: datetime
) -> Seated:
    """Fill free seats (after the capacity grew) from the waitlist, first request first."""
    seated, moves = seating.fill(meeting.seating)
    if not moves:
        return meeting, [], []
    return _apply(
        replace(meeting, seating=seated),
        moves,
        {w.id: w for w in waiting},
        by="waitlist",
        now=now,
        action="promote",
    )


def record_attendance(
    meeting: Meeting,
    registrations: Sequence[Registration],
    marks: Mapping[str, Attendance],
    *,
    by: str,
    now: datetime,
) -> Seated:
    """Check-in after the meeting: who attended and who did not show up."""
    require(meeting, "record_attendance")
    known: dict[str, Registration] = {r.id: r for r in registrations}
    missing = [key for key in marks if key not in known]
    if missing:
        raise UnknownRegistrations(meeting.id, missing)
    changed: list[Registration] = []
    seated = meeting.seating
    for key, mark in marks.items():
        registration = known[key]
        _require_action(registration, "record_attendance")
        if registration.attendance is mark:
            continue
        seated = seating.attend(seated, registration.attendance, mark)
        changed.append(
            _noted(
                replace(registration, attendance=mark, changed_at=now),
                now=now,
                by=by,
                action="record_attendance",
                detail=mark.value,
            )
        )
    if not changed:
        return meeting, [], []
    attended = sum(1 for r in changed if r.attendance is Attendance.ATTENDED)
    noted = recorded(
        replace(meeting, seating=seated),
        now=now,
        by=by,
        action="record_attendance",
        detail=f"{attended} attended, {len(changed) - attended} no-show",
    )
    return noted, changed, []


def _summary(moves: Sequence[Move]) -> str:
    standings = [m.after.value for m in moves]
    return ", ".join(f"{standings.count(s)} {s}" for s in dict.fromkeys(standings))


def waitlist_position(meeting: Meeting, registration: Registration) -> int | None:
    """The registration's place in the queue if the seating knows it (1: next to be promoted)."""
    if registration.status is not SeatStatus.WAITLISTED:
        return None
    return meeting.seating.position(registration.request)


class UnknownRegistrations(Conflict):
    """A body names registrations the meeting does not have.

    409, not 404: the meeting (the resource addressed) exists; what the body asks does not
    fit its current registrations. `errors` names each unknown id's place in the body.
    """

    def __init__(self, meeting_id: str, keys: Sequence[str], *, field: str = "marks") -> None:
        super().__init__(
            f"meeting {meeting_id} has no registration {', '.join(keys)}",
            errors=[{"field": f"{field}.{key}", "reason": "no such registration"} for key in keys],
        )


def _require_open(meeting: Meeting, *, now: datetime) -> None:
    reasons = {
        Status.DRAFT: "the meeting is not scheduled yet",
        Status.CANCELLED: "the meeting is cancelled",
        Status.HELD: "the meeting has been held",
        Status.MINUTES_PUBLISHED: "the meeting has been held",
    }
    if meeting.status in reasons:
        raise RegistrationClosed(meeting.id, reasons[meeting.status])
    deadline = meeting.details.registration_deadline
    if deadline is not None and now > deadline:
        when = local(deadline, meeting.details.timezone)
        raise RegistrationClosed(meeting.id, f"the deadline passed on {when:%Y-%m-%d %H:%M %Z}")


def _require_scheduled(meeting: Meeting) -> None:
    if meeting.status is not Status.SCHEDULED:
        reason = (
            "the meeting is cancelled"
            if meeting.status is Status.CANCELLED
            else f"registrations change only while the meeting is scheduled, not {meeting.status}"
        )
        raise RegistrationClosed(meeting.id, reason)


def _require_action(registration: Registration, action: str) -> None:
    allowed = REGISTRATION_ACTIONS[registration.status] if registration.status else frozenset()
    if action not in allowed:
        raise IllegalTransition(
            "registration",
            current=registration.status.value if registration.status else "requested",
            action=action,
            allowed=allowed,
        )


def _apply(
    meeting: Meeting,
    moves: Sequence[Move],
    known: Mapping[str, Registration],
    *,
    by: str,
    now: datetime,
    action: str,
    reason: str | None = None,
) -> Seated:
    changed = {
        move.key: _moved(known[move.key], move, now=now, by=by, action=action, reason=reason)
        for move in moves
    }
    return (
        meeting,
        list(changed.values()),
        _announce(meeting, moves, changed, now=now, reason=reason),
    )


def _moved(
    registration: Registration,
    move: Move,
    *,
    now: datetime,
    by: str,
    action: str,
    reason: str | None = None,
) -> Registration:
    withdrawn = move.after in (SeatStatus.CANCELLED, SeatStatus.DECLINED)
    moved = replace(
        registration,
        request=move.order,
        status=move.after,
        changed_at=now,
        reason=reason if withdrawn else None,
    )
    return _noted(moved, now=now, by=by, action=action, reason=reason, detail=move.after.value)


def _noted(
    registration: Registration,
    *,
    now: datetime,
    by: str,
    action: str,
    reason: str | None = None,
    detail: str | None = None,
) -> Registration:
    change = Change(at=now, by=by, action=action, reason=reason, detail=detail)
    return replace(registration, history=(*registration.history, change))


def _announce(
    meeting: Meeting,
    moves: Sequence[Move],
    registrations: Mapping[str, Registration],
    *,
    now: datetime,
    reason: str | None = None,
) -> list[contract.MeetingEvent]:
    """One event per registration whose standing changed, in the order the rules moved them."""
    events: list[contract.MeetingEvent] = []
    for move in moves:
        about = {
            "meeting": info(meeting),
            "registration": registrant(registrations[move.key]),
        }
        match move.after:
            case SeatStatus.CONFIRMED if move.before is SeatStatus.WAITLISTED:
                events.append(contract.RegistrationPromoted(**about, promoted_at=now))
            case SeatStatus.CONFIRMED:
                events.append(contract.RegistrationConfirmed(**about, confirmed_at=now))
            case SeatStatus.WAITLISTED:
                assert move.position is not None
                events.append(
                    contract.RegistrationWaitlisted(
                        **about, waitlist_position=move.position, waitlisted_at=now
                    )
                )
            case SeatStatus.CANCELLED:
                events.append(
                    contract.RegistrationCancelled(**about, reason=reason, cancelled_at=now)
                )
            case SeatStatus.DECLINED:
                events.append(
                    contract.RegistrationDeclined(**about, reason=reason or "", declined_at=now)
                )
    return events
