"""Planning a meeting and moving it through its lifecycle."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta

from services.meetings.domain.events import info
from services.meetings.domain.model import (
    Decided,
    Details,
    InvalidMeeting,
    Meeting,
    MeetingId,
    NotStartedYet,
    ProgrammeItem,
    Registration,
    Seated,
    Status,
    given_time,
    local,
    problem,
    spoken,
    zone,
)
from services.meetings.domain.programme import OutsideTheMeeting, checked, moved_with
from services.meetings.domain.registrations import promote_from_waitlist
from services.meetings.domain.states import moved, recorded, require
from shared.contracts import meetings as contract
from shared.contracts.meetings import MeetingKind
from shared.errors import Conflict
from shared.seating import Seating, SeatStatus

MAX_DURATION = timedelta(days=14)

# Once a meeting is scheduled, people plan around these: times move only by rescheduling.
FIXED_ONCE_SCHEDULED = ("kind", "number", "requires_approval", "starts_at", "ends_at", "timezone")

# The details the meeting's calendar entry shows (services/meetings/ical.py): changing
# one on a scheduled meeting raises its SEQUENCE, or calendar clients may keep the old entry.
CALENDAR_FIELDS = frozenset(
    {"kind", "title", "description", "starts_at", "ends_at", "timezone", "venue", "online_url"}
)


class UpdateRefused(Conflict):
    """The change does not fit the meeting's current state; `errors` names each field."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)


def plan(meeting_id: MeetingId, details: Details, *, by: str, now: datetime) -> Meeting:
    """A new meeting, as a draft only the secretariat sees."""
    check(details)
    draft = Meeting(
        id=meeting_id,
        details=details,
        created_at=now,
        updated_at=now,
        seating=Seating(capacity=details.capacity),
    )
    return recorded(draft, now=now, by=by, action="plan")


def update(
    meeting: Meeting,
    details: Details,
    *,
    waiting: Sequence[Registration] = (),
    by: str,
    now: datetime,
    reason: str | None = None,
) -> Seated:
    """Change the meeting's details; on a scheduled meeting, times change only by rescheduling.

    A scheduled meeting whose calendar entry changes (title, description, venue, online URL)
    gets a higher SEQUENCE; other changes (capacity, hosts...) keep it. Seats a larger
    capacity adds go to the first people on the waitlist (`waiting`, in order).
    """
    require(meeting, "update")
    changed_fields = [
        f.name
        for f in fields(Details)
        if getattr(details, f.name) != getattr(meeting.details, f.name)
    ]
    if not changed_fields:
        return meeting, [], []
    if meeting.status is Status.SCHEDULED:
        _check_scheduled_update(meeting, details, changed_fields)
    programme = _still_valid(meeting, details)
    sequence = meeting.sequence
    if meeting.status is Status.SCHEDULED and CALENDAR_FIELDS.intersection(changed_fields):
        sequence += 1
    changed = recorded(
        replace(
            meeting,
            details=details,
            programme=programme,
            sequence=sequence,
            # The seats themselves move below, only once the meeting is announced.
            seating=replace(meeting.seating, capacity=details.capacity),
        ),
        now=now,
        by=by,
        action="update",
        reason=reason,
        detail="changed " + ", ".join(changed_fields),
    )
    if meeting.status is not Status.SCHEDULED:
        return changed, [], []
    changed, promoted, promotions = promote_from_waitlist(changed, waiting=waiting, now=now)
    updated = contract.MeetingUpdated(
        meeting=info(changed), changed_fields=changed_fields, reason=reason, updated_at=now
    )
    return changed, promoted, [updated, *promotions]


def seats_needed(meeting: Meeting, details: Details) -> int:
    """How many people from the waitlist a change of capacity may promote."""
    if details.capacity is None:
        return meeting.seating.counts.waitlisted
    return max(details.capacity - meeting.seating.counts.confirmed, 0)


def schedule(meeting: Meeting, *, by: str, now: datetime) -> Decided:
    """Announce a draft: it appears in lists and calendars and opens for registration."""
    status = moved(meeting, "schedule")
    changed = recorded(replace(meeting, status=status), now=now, by=by, action="schedule")
    return changed, [contract.MeetingScheduled(meeting=info(changed), scheduled_at=now)]


def reschedule(
    meeting: Meeting,
    *,
    starts_at: datetime,
    ends_at: datetime,
    timezone: str | None = None,
    registration_deadline: datetime | None = None,
    reason: str | None,
    by: str,
    now: datetime,
    into_the_past: bool = False,
) -> Decided:
    """Move a scheduled meeting to new times; calendars see a higher SEQUENCE.

    Times as a person gave them: wall-clock times are read in the new time zone if one is
    given, else in the meeting's own. Participants are mailed the new times, so a start
    that has already passed is refused unless the secretariat says it means it
    (`into_the_past`: recording what happened).
    """
    status = moved(meeting, "reschedule")
    tz = timezone or meeting.details.timezone
    starts_at = given_time(starts_at, tz, field_name="starts_at")
    ends_at = given_time(ends_at, tz, field_name="ends_at")
    if registration_deadline is not None:
        registration_deadline = given_time(
            registration_deadline, tz, field_name="registration_deadline"
        )
    if starts_at < now and not into_the_past:
        raise InvalidMeeting(
            [
                problem(
                    "starts_at",
                    f"{spoken(local(starts_at, tz))} has already passed; to record a past "
                    "start, send into_the_past: true",
                )
            ]
        )
    before = meeting.details
    details = replace(
        before,
        starts_at=starts_at,
        ends_at=ends_at,
        timezone=tz,
        registration_deadline=registration_deadline or before.registration_deadline,
    )
    if details == before:
        return meeting, []
    programme = _still_valid(meeting, details)
    changed = recorded(
        replace(
            meeting,
            status=status,
            details=details,
            programme=programme,
            sequence=meeting.sequence + 1,
        ),
        now=now,
        by=by,
        action="reschedule",
        reason=reason,
        detail=f"from {spoken(local(before.starts_at, before.timezone))} "
        f"to {spoken(local(starts_at, details.timezone))}",
    )
    return changed, [
        contract.MeetingRescheduled(
            meeting=info(changed),
            previous_starts_at=before.starts_at,
            previous_ends_at=before.ends_at,
            reason=reason,
            rescheduled_at=now,
        )
    ]


def cancel(meeting: Meeting, *, reason: str, by: str, now: datetime) -> Decided:
    """Call the meeting off, saying why; registrations close with it."""
    status = moved(meeting, "cancel")
    if not reason.strip():
        raise InvalidMeeting([problem("reason", "a cancellation needs a reason")])
    # Calendar clients apply a cancellation only with a higher SEQUENCE (RFC 5545 §3.8.7.4).
    sequence = meeting.sequence + 1 if meeting.status is Status.SCHEDULED else meeting.sequence
    changed = recorded(
        replace(meeting, status=status, cancellation_reason=reason, sequence=sequence),
        now=now,
        by=by,
        action="cancel",
        reason=reason,
    )
    return changed, [
        contract.MeetingCancelled(meeting=info(changed), reason=reason, cancelled_at=now)
    ]


def hold(meeting: Meeting, *, by: str, now: datetime) -> Decided:
    """Mark the meeting as having taken place: check-in and minutes open."""
    status = moved(meeting, "hold")
    if now < meeting.details.starts_at:
        raise NotStartedYet(meeting.id, meeting.details.starts_at, meeting.details.timezone)
    changed = recorded(replace(meeting, status=status), now=now, by=by, action="hold")
    return changed, [contract.MeetingHeld(meeting=info(changed), held_at=now)]


def check(details: Details) -> None:
    """InvalidMeeting naming every rule the details break."""
    zone(details.timezone)
    errors = []
    if details.ends_at <= details.starts_at:
        errors.append(problem("ends_at", "must be after starts_at"))
    elif details.ends_at - details.starts_at > MAX_DURATION:
        errors.append(problem("ends_at", f"a meeting lasts at most {MAX_DURATION.days} days"))
    if details.kind is MeetingKind.PARTNERSHIP_MEETING and details.number is None:
        errors.append(problem("number", "partnership meetings are numbered"))
    if details.kind is not MeetingKind.PARTNERSHIP_MEETING and details.number is not None:
        errors.append(problem("number", "only partnership meetings are numbered"))
    if details.kind is MeetingKind.ONLINE and details.online_url is None:
        errors.append(problem("online_url", "an online meeting needs its URL"))
    if details.venue is None and details.online_url is None:
        errors.append(problem("venue", "a meeting needs a venue, an online URL or both"))
    deadline = details.registration_deadline
    if deadline is not None and deadline > details.ends_at:
        errors.append(problem("registration_deadline", "must not be after the meeting ends"))
    if errors:
        raise InvalidMeeting(errors)


def _still_valid(meeting: Meeting, details: Details) -> tuple[ProgrammeItem, ...]:
    """The programme moved with the changed details, if the meeting still keeps every rule.

    A change that breaks a rule only together with what is stored (an end before the start
    it kept, a deadline after its new end) conflicts with the meeting's state: 409, while
    a request that breaks one by itself was refused as invalid (422) before it came here.
    """
    try:
        check(details)
        return checked(moved_with(meeting.programme, meeting.details, details), details)
    except (InvalidMeeting, OutsideTheMeeting) as refused:
        raise UpdateRefused(refused.facts["errors"]) from None


def _check_scheduled_update(meeting: Meeting, details: Details, changed: list[str]) -> None:
    errors = [
        problem(name, "cannot change once the meeting is scheduled" + _hint(name))
        for name in changed
        if name in FIXED_ONCE_SCHEDULED
    ]
    confirmed = meeting.count(SeatStatus.CONFIRMED)
    if details.capacity is not None and details.capacity < confirmed:
        errors.append(problem("capacity", f"{confirmed} registrations are already confirmed"))
    if errors:
        raise UpdateRefused(errors)


def _hint(name: str) -> str:
    return "; reschedule it instead" if name in ("starts_at", "ends_at", "timezone") else ""
