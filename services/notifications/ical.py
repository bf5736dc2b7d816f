"""The iCalendar entry attached to meeting e-mails (iTIP, RFC 5546)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import icalendar

from services.notifications.domain.occasions import Occasion
from services.notifications.domain.routing import CalendarMethod, Person
from shared.contracts.base import calendar_uid as contract_calendar_uid

PRODUCT_ID = "-//Partnership on Inclusion of Migrants and Refugees//Notifications//EN"


def calendar_uid(occasion: Occasion) -> str:
    """One UID per entity for its whole life: invitation, updates and cancellation match.

    The owning service's own (`calendar_uid` in its events), so the entry is the one its
    .ics feed publishes; derived the same way for events that do not carry it.
    """
    if occasion.calendar_uid:
        return occasion.calendar_uid
    return contract_calendar_uid(occasion.entity.kind.value, occasion.entity.id)


def calendar_entry(
    occasion: Occasion,
    *,
    method: CalendarMethod,
    attendee: Person,
    organiser: Person,
    stamp: datetime,
    description: str | None = None,
) -> bytes:
    """A VCALENDAR with one VEVENT for this attendee: an invitation, an update or a cancellation.

    SEQUENCE is the occasion's own: the owning service raises it on every reschedule and on
    cancellation, so clients take the newest version.
    """
    tz = ZoneInfo(occasion.timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODUCT_ID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method.value)

    event = icalendar.Event()
    event.add("uid", calendar_uid(occasion))
    event.add("sequence", occasion.sequence)
    event.add("dtstamp", stamp)
    event.add("dtstart", occasion.starts_at.astimezone(tz))
    event.add("dtend", occasion.ends_at.astimezone(tz))
    event.add("summary", occasion.title)
    event.add("status", "CANCELLED" if method is CalendarMethod.CANCEL else "CONFIRMED")
    if occasion.location:
        event.add("location", occasion.location)
    if occasion.online_url:
        event.add("url", occasion.online_url)
    if description:
        event.add("description", description)
    event.add("organizer", _address(organiser, role=None))
    event.add("attendee", _address(attendee, role="REQ-PARTICIPANT"))
    cal.add_component(event)
    # The VTIMEZONE, covering the years around the occasion only (small attachments), is the
    # same for every e-mail about meetings in that zone and those years: written once, and
    # put where `add_missing_timezones` would, before the event that refers to it.
    timezone = _timezone(occasion.timezone, occasion.starts_at.year - 1, occasion.ends_at.year + 2)
    head, event_start, rest = bytes(cal.to_ical()).partition(b"BEGIN:VEVENT\r\n")
    return head + timezone + event_start + rest


@lru_cache(maxsize=256)
def _timezone(tzid: str, first_year: int, last_year: int) -> bytes:
    component = icalendar.Timezone.from_tzid(
        tzid, first_date=date(first_year, 1, 1), last_date=date(last_year, 1, 1)
    )
    return bytes(component.to_ical())


def _address(party: Person, *, role: str | None) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{party.email}")
    address.params["CN"] = party.name
    if role is not None:
        address.params["ROLE"] = role
        address.params["PARTSTAT"] = "ACCEPTED"
        address.params["RSVP"] = "FALSE"
    return address
