"""Occasions: the meetings and academy modules people are confirmed for, as the events tell them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from services.notifications.domain.directory import EntityKind, EntityRef
from shared.contracts.meetings import MeetingInfo


class OccasionStatus(StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Occasion:
    """What a calendar entry, a reminder and a template need to know about a meeting or module."""

    entity: EntityRef
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    sequence: int = 0
    location: str | None = None
    online_url: str | None = None
    status: OccasionStatus = OccasionStatus.SCHEDULED
    # The owning service's UID for the occasion's calendar entry; None from older events.
    calendar_uid: str | None = None

    def supersedes(self, other: Occasion) -> bool:
        """A newer version of the same occasion (its iCalendar SEQUENCE is not lower)."""
        return self.entity == other.entity and self.sequence >= other.sequence


def occasion_of(meeting: MeetingInfo) -> Occasion:
    """The occasion a meeting event describes."""
    venue = meeting.venue
    location = None
    if venue is not None:
        parts = [venue.name, venue.street_address, venue.city, venue.country]
        location = ", ".join(p for p in parts if p)
    return Occasion(
        entity=EntityRef(EntityKind.MEETING, meeting.meeting_id),
        title=meeting.title,
        # Whole seconds: the database keeps milliseconds, and reminder ids include the start.
        starts_at=meeting.starts_at.replace(microsecond=0),
        ends_at=meeting.ends_at.replace(microsecond=0),
        timezone=meeting.timezone,
        sequence=meeting.sequence,
        location=location,
        online_url=meeting.online_url,
        calendar_uid=meeting.calendar_uid,
    )


def latest(current: Occasion | None, incoming: Occasion) -> Occasion:
    """Keep whichever version is newer; a cancellation is final."""
    if current is None:
        return incoming
    if current.status is OccasionStatus.CANCELLED:
        return current
    if not incoming.supersedes(current):
        return current
    # Most events only repeat the meeting's facts; only held or cancelled move its status.
    if incoming.status is OccasionStatus.SCHEDULED:
        return replace(incoming, status=current.status)
    return incoming
