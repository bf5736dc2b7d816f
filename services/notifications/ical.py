"""The iCalendar entry attached to meeting e-mails (iTIP, RFC 5546)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import icalendar

from services.notifications.domain.directory import EntityKind
from services.notifications.domain.occasions import Occasion
from services.notifications.domain.routing import CalendarMethod

PRODUCT_ID = "-//Partnership on Inclusion of Migrants and Refugees//Notifications//EN"

# For events that do not state the UID (published before `calendar_uid` existed): the
# domains of the owning services' own calendar feeds, so an invitation and a feed entry for
# the same meeting are still one entry in the person's calendar, not two.
UID_DOMAINS: dict[EntityKind, str] = {
    EntityKind.MEETING: "meetings.partnership",
    EntityKind.ACADEMY_MODULE: "academy.partnership",
    EntityKind.ACTION: "actions.partnership",
}


@dataclass(frozen=True)
class Party:
    name: str
    email: str


def calendar_uid(occasion: Occasion) -> str:
    """One UID per meeting for its whole life: invitation, updates and cancellation match.

    The owning service's own (`calendar_uid` in its events), so the entry is the one its
    .ics feed publishes; derived the same way for events that do not carry it.
    """
    if occasion.calendar_uid:
        return occasion.calendar_uid
    return f"{occasion.entity.id}@{UID_DOMAINS[occasion.entity.kind]}"


def calendar_entry(
    occasion: Occasion,
    *,
    method: CalendarMethod,
    attendee: Party,
    organizer: Party,
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
    event.add("organizer", _address(organizer, role=None))
    event.add("attendee", _address(attendee, role="REQ-PARTICIPANT"))
    cal.add_component(event)
    # VTIMEZONEs covering the years around the occasion only: small attachments.
    cal.add_missing_timezones(
        first_date=date(occasion.starts_at.year - 1, 1, 1),
        last_date=date(occasion.ends_at.year + 2, 1, 1),
    )
    return bytes(cal.to_ical())


def _address(party: Party, *, role: str | None) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{party.email}")
    address.params["CN"] = party.name
    if role is not None:
        address.params["ROLE"] = role
        address.params["PARTSTAT"] = "ACCEPTED"
        address.params["RSVP"] = "FALSE"
    return address
