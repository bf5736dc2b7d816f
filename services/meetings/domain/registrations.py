"""Registrations: seats up to the capacity, a first-come waitlist, approval when moderated."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime

from services.meetings.domain.events import info, registrant
from services.meetings.domain.model import (
    Attendance,
    Decided,
    Meeting,
    Person,
    Registration,
    RegistrationClosed,
    RegistrationId,
    Status,
    local,
)
from services.meetings.domain.states import recorded, require
from shared import seating
from shared.contracts import meetings as contract
from shared.errors import IllegalTransition
from shared.seating import Standing

# One document holds the meeting and its registrations; this keeps it far below 16 MB.
MAX_REGISTRATIONS = 2000

# What each standing of a registration allows.
REGISTRATION_ACTIONS: dict[Standing, frozenset[str]] = {
    Standing.PENDING: frozenset({"approve", "decline", "cancel"}),
    Standing.CONFIRMED: frozenset({"cancel", "record_attendance"}),
    Standing.WAITLISTED: frozenset({"cancel", "record_attendance"}),
    Standing.DECLINED: frozenset(),
    Standing.CANCELLED: frozenset(),
}


def register(
    meeting: Meeting,
    person: Person,
    *,
    registration_id: RegistrationId,
    by: str,
    now: datetime,
) -> Decided:
    """Register a person; the same e-mail address again gets the existing registration."""
    existing = meeting.registration_for(person.email)
    if existing is not None and existing.status is not Standing.CANCELLED:
        return meeting, []
    _require_open(meeting, now=now)
    if len(meeting.registrations) >= MAX_REGISTRATIONS:
        raise RegistrationClosed(
            meeting.id, f"the meeting has reached its limit of {MAX_REGISTRATIONS} registrations"
        )
    details = meeting.details
    standing = (
        Standing.PENDING
        if details.requires_approval
        else seating.admit(meeting.claims(), capacity=details.capacity)
    )
    registration = Registration(
        id=registration_id,
        request=meeting.requests_made + 1,
        person=person,
        status=standing,
        requested_at=now,
        changed_at=now,
    )
    changed = recorded(
        replace(
            meeting,
            registrations=(*meeting.registrations, registration),
            requests_made=registration.request,
        ),
        now=now,
        by=by,
        action="register",
        detail=f"registration {registration_id}: {standing}",
    )
    if standing is Standing.PENDING:
        return changed, [
            contract.RegistrationRequested(
                meeting=info(changed), registration=registrant(registration), requested_at=now
            )
        ]
    return changed, _announce(changed, {registration_id: standing}, previous=meeting, now=now)


def approve(
    meeting: Meeting, registration_ids: Collection[str], *, by: str, now: datetime
) -> Decided:
    """Admit pending registrations, by the seating rules, in the order they were requested."""
    _require_scheduled(meeting)
    for registration_id in registration_ids:
        _require_action(meeting.registration(registration_id), "approve")
    moves = seating.approve(meeting.claims(), registration_ids, capacity=meeting.details.capacity)
    return _moved(meeting, moves, by=by, now=now, action="approve_registrations")


def decline(
    meeting: Meeting, registration_id: str, *, reason: str, by: str, now: datetime
) -> Decided:
    """Turn down a pending registration, saying why."""
    _require_scheduled(meeting)
    _require_action(meeting.registration(registration_id), "decline")
    moves = {registration_id: Standing.DECLINED}
    return _moved(meeting, moves, by=by, now=now, action="decline_registration", reason=reason)


def cancel_registration(
    meeting: Meeting, registration_id: str, *, reason: str | None, by: str, now: datetime
) -> Decided:
    """Withdraw a registration; the seat it frees goes to the first person on the waitlist."""
    registration = meeting.registration(registration_id)
    if registration.status is Standing.CANCELLED:
        return meeting, []
    _require_scheduled(meeting)
    _require_action(registration, "cancel")
    moves = seating.release(meeting.claims(), registration_id, capacity=meeting.details.capacity)
    return _moved(meeting, moves, by=by, now=now, action="cancel_registration", reason=reason)


def promote_from_waitlist(meeting: Meeting, *, now: datetime) -> Decided:
    """Fill free seats (after the capacity grew) from the waitlist, first request first."""
    moves = seating.fill(meeting.claims(), capacity=meeting.details.capacity)
    if not moves:
        return meeting, []
    changed = _apply(meeting, moves, now=now)
    return changed, _announce(changed, moves, previous=meeting, now=now)


def record_attendance(
    meeting: Meeting, marks: Mapping[str, Attendance], *, by: str, now: datetime
) -> Decided:
    """Check-in after the meeting: who attended and who did not show up."""
    require(meeting, "record_attendance")
    for registration_id in marks:
        _require_action(meeting.registration(registration_id), "record_attendance")
    registrations = tuple(
        replace(r, attendance=marks[r.id], changed_at=now)
        if r.id in marks and r.attendance is not marks[r.id]
        else r
        for r in meeting.registrations
    )
    if registrations == meeting.registrations:
        return meeting, []
    attended = sum(1 for a in marks.values() if a is Attendance.ATTENDED)
    changed = recorded(
        replace(meeting, registrations=registrations),
        now=now,
        by=by,
        action="record_attendance",
        detail=f"{attended} attended, {len(marks) - attended} no-show",
    )
    return changed, []


def checked_in_organisations(meeting: Meeting) -> tuple[str, ...]:
    """The organisations of everyone checked in as attended, to prefill the minutes."""
    return tuple(
        sorted(
            {
                r.person.organisation
                for r in meeting.registrations
                if r.attendance is Attendance.ATTENDED and r.person.organisation
            }
        )
    )


def waitlist_position(meeting: Meeting, registration_id: str) -> int | None:
    return seating.waitlist_position(meeting.claims(), registration_id)


def waitlist_positions(meeting: Meeting) -> dict[str, int]:
    """Every waiting registration's place in the queue, 1 for the next to be promoted."""
    waiting = sorted(
        (r for r in meeting.registrations if r.status is Standing.WAITLISTED),
        key=lambda r: r.request,
    )
    return {r.id: position for position, r in enumerate(waiting, start=1)}


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
    allowed = REGISTRATION_ACTIONS[registration.status]
    if action not in allowed:
        raise IllegalTransition(
            "registration", current=registration.status.value, action=action, allowed=allowed
        )


def _moved(
    meeting: Meeting,
    moves: dict[str, Standing],
    *,
    by: str,
    now: datetime,
    action: str,
    reason: str | None = None,
) -> Decided:
    changed = recorded(
        _apply(meeting, moves, now=now, reason=reason),
        now=now,
        by=by,
        action=action,
        reason=reason,
        detail=", ".join(f"registration {key}: {standing}" for key, standing in moves.items()),
    )
    return changed, _announce(changed, moves, previous=meeting, now=now, reason=reason)


def _apply(
    meeting: Meeting, moves: Mapping[str, Standing], *, now: datetime, reason: str | None = None
) -> Meeting:
    def moved(r: Registration) -> Registration:
        standing = moves[r.id]
        withdrawn = standing in (Standing.CANCELLED, Standing.DECLINED)
        return replace(r, status=standing, changed_at=now, reason=reason if withdrawn else None)

    return replace(
        meeting,
        registrations=tuple(moved(r) if r.id in moves else r for r in meeting.registrations),
    )


def _announce(
    meeting: Meeting,
    moves: Mapping[str, Standing],
    *,
    previous: Meeting,
    now: datetime,
    reason: str | None = None,
) -> list[contract.MeetingEvent]:
    """One event per registration whose standing changed, in the order the rules moved them."""
    was: dict[str, Standing] = {r.id: r.status for r in previous.registrations}
    events: list[contract.MeetingEvent] = []
    for key, standing in moves.items():
        about = {"meeting": info(meeting), "registration": registrant(meeting.registration(key))}
        match standing:
            case Standing.CONFIRMED if was.get(key) is Standing.WAITLISTED:
                events.append(contract.RegistrationPromoted(**about, promoted_at=now))
            case Standing.CONFIRMED:
                events.append(contract.RegistrationConfirmed(**about, confirmed_at=now))
            case Standing.WAITLISTED:
                position = waitlist_position(meeting, key)
                assert position is not None
                events.append(
                    contract.RegistrationWaitlisted(
                        **about, waitlist_position=position, waitlisted_at=now
                    )
                )
            case Standing.CANCELLED:
                events.append(
                    contract.RegistrationCancelled(**about, reason=reason, cancelled_at=now)
                )
            case Standing.DECLINED:
                events.append(
                    contract.RegistrationDeclined(**about, reason=reason or "", declined_at=now)
                )
    return events
