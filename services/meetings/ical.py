"""iCalendar (RFC 5545) files: one meeting, or a feed of upcoming ones.

The UID never changes for a meeting (`Meeting.calendar_uid`, also in every event); SEQUENCE
goes up when it is rescheduled, when what its entry shows changes (`CALENDAR_FIELDS` in the
domain) and when it is cancelled, so calendar clients update the entry they imported
instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from icalendar import Calendar, Event

from services.meetings.domain import Meeting, Status, local

PRODID = "-//Partnership on Inclusion of Migrants and Refugees//Meetings//EN"
MEDIA_TYPE = "text/calendar; charset=utf-8"

_STATUS = {
    Status.SCHEDULED: "CONFIRMED",
    Status.HELD: "CONFIRMED",
    Status.MINUTES_PUBLISHED: "CONFIRMED",
    Status.CANCELLED: "CANCELLED",
    Status.DRAFT: "TENTATIVE",
}


def render(meetings: Iterable[Meeting], *, name: str) -> bytes:
    """A VCALENDAR with one VEVENT per meeting and the VTIMEZONEs they use."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    meetings = list(meetings)
    for meeting in meetings:
        calendar.add_component(_event(meeting))
    if meetings:
        # VTIMEZONEs only need to cover the years the meetings fall in: small files.
        years = [m.details.starts_at.year for m in meetings] + [
            m.details.ends_at.year for m in meetings
        ]
        calendar.add_missing_timezones(
            first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 2, 1, 1)
        )
    return bytes(calendar.to_ical())


def _event(meeting: Meeting) -> Event:
    d = meeting.details
    event = Event()
    event.add("uid", meeting.calendar_uid)
    # DTSTAMP is the last change, not the time of the download: the same meeting gives
    # the same bytes, and clients compare it with SEQUENCE to pick the newest version.
    event.add("dtstamp", meeting.updated_at)
    event.add("created", meeting.created_at)
    event.add("last-modified", meeting.updated_at)
    event.add("sequence", meeting.sequence)
    event.add("status", _STATUS[meeting.status])
    event.add("dtstart", local(d.starts_at, d.timezone))
    event.add("dtend", local(d.ends_at, d.timezone))
    event.add("summary", d.title)
    description = d.description
    if meeting.status is Status.CANCELLED and meeting.cancellation_reason:
        description = f"Cancelled: {meeting.cancellation_reason}\n\n{description}".strip()
    if description:
        event.add("description", description)
    if d.venue is not None:
        parts = (d.venue.name, d.venue.street_address, d.venue.city, d.venue.country)
        event.add("location", ", ".join(p for p in parts if p))
    elif d.online_url is not None:
        event.add("location", d.online_url)
    if d.online_url is not None:
        event.add("url", d.online_url)
    event.add("categories", [d.kind.value.replace("_", " ")])
    return event
