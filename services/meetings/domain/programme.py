"""The programme: timed items inside the meeting, never two at once in the same track."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.meetings.domain.events import info
from services.meetings.domain.model import (
    Decided,
    Details,
    InvalidMeeting,
    Meeting,
    ProgrammeItem,
    Status,
    in_zone,
    local,
    problem,
)
from services.meetings.domain.states import recorded, require
from shared.contracts import meetings as contract
from shared.errors import Conflict

MAIN_TRACK = "main"


def replace_programme(
    meeting: Meeting, items: Sequence[ProgrammeItem], *, by: str, now: datetime
) -> Decided:
    """Set the whole programme; subscribers hear of it once the meeting is scheduled."""
    require(meeting, "replace_programme")
    programme = checked(items, meeting.details)
    if programme == meeting.programme:
        return meeting, []
    changed = recorded(
        replace(meeting, programme=programme),
        now=now,
        by=by,
        action="replace_programme",
        detail=f"{len(programme)} items",
    )
    if changed.status is not Status.SCHEDULED:
        return changed, []
    return changed, [
        contract.ProgrammeUpdated(
            meeting=info(changed), items=[_wire(i) for i in programme], updated_at=now
        )
    ]


class OutsideTheMeeting(Conflict):
    """Items that do not fit the meeting's current times: the programme or the times must move."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors), errors=errors)


def checked(items: Sequence[ProgrammeItem], details: Details) -> tuple[ProgrammeItem, ...]:
    """The items in time order.

    InvalidMeeting names every item that ends before it starts or overlaps another in its
    track (the programme is wrong in itself); OutsideTheMeeting every item outside the
    meeting's times (it does not fit the meeting as it is now).
    """
    tz = details.timezone
    errors = [
        problem(f"items.{index}.ends_at", "must be after starts_at")
        for index, item in enumerate(items)
        if item.ends_at <= item.starts_at
    ]
    if errors:
        raise InvalidMeeting(errors)
    outside = [
        problem(
            f"items.{index}",
            f"'{item.title}' ({_span(item.starts_at, item.ends_at, tz)}) is outside "
            f"the meeting ({_span(details.starts_at, details.ends_at, tz)})",
        )
        for index, item in enumerate(items)
        if item.starts_at < details.starts_at or item.ends_at > details.ends_at
    ]
    ordered = sorted(enumerate(items), key=lambda pair: (pair[1].starts_at, pair[1].ends_at))
    last_in_track: dict[str, tuple[int, ProgrammeItem]] = {}
    for index, item in ordered:
        track = item.track or MAIN_TRACK
        previous = last_in_track.get(track)
        if previous is not None and item.starts_at < previous[1].ends_at:
            other_index, other = previous
            errors.append(
                problem(
                    f"items.{index}",
                    f"'{item.title}' ({_span(item.starts_at, item.ends_at, tz)}) overlaps "
                    f"item {other_index} '{other.title}' "
                    f"({_span(other.starts_at, other.ends_at, tz)}) in track {track}",
                )
            )
        if previous is None or item.ends_at > previous[1].ends_at:
            last_in_track[track] = (index, item)
    if errors:
        raise InvalidMeeting(errors)
    if outside:
        raise OutsideTheMeeting(outside)
    return tuple(item for _, item in ordered)


def moved_with(
    programme: tuple[ProgrammeItem, ...], before: Details, after: Details
) -> tuple[ProgrammeItem, ...]:
    """The programme shifted with the meeting's start, keeping each item's local wall-clock
    offset from the start (an 11:00 item stays at 11:00 across a daylight-saving change)."""
    if (before.starts_at, before.timezone) == (after.starts_at, after.timezone):
        return programme

    def shift(moment: datetime) -> datetime:
        offset = _wall(moment, before.timezone) - _wall(before.starts_at, before.timezone)
        return in_zone(_wall(after.starts_at, after.timezone) + offset, after.timezone)

    return tuple(
        replace(item, starts_at=shift(item.starts_at), ends_at=shift(item.ends_at))
        for item in programme
    )


def _wall(moment: datetime, tz: str) -> datetime:
    return local(moment, tz).replace(tzinfo=None)


def _span(start: datetime, end: datetime, tz: str) -> str:
    first, last = local(start, tz), local(end, tz)
    if first.date() == last.date():
        return f"{first:%Y-%m-%d %H:%M}-{last:%H:%M}"
    return f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"


def _wire(item: ProgrammeItem) -> contract.ProgrammeItem:
    return contract.ProgrammeItem(
        item_id=item.id,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        title=item.title,
        kind=item.kind.value,
        track=item.track,
        speakers=[
            contract.Speaker(name=s.name, organisation=s.organisation) for s in item.speakers
        ],
        action_ids=list(item.action_ids),
    )
