"""Who gets which e-mail for which event: one table, read top to bottom.

Each row says, for one event type: the template, who is reached (audiences), the category
(what followers subscribe to and preferences switch off), whether it is transactional
(cannot be switched off), and whether it carries a calendar entry. A person reached by
several rows or audiences of one event gets one e-mail: the first row that wants them.

Adding an event type: one row here and one template (its strings translated in every
catalogue, `make messages`). An event from a new
domain also needs one `facts` reader (`FACTS` below) saying what it is about.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from services.notifications.domain.directory import (
    Category,
    Contact,
    ContactId,
    ContactRole,
    DeliveryMode,
    EntityRef,
)
from services.notifications.domain.occasions import Occasion, OccasionStatus, occasion_of
from services.notifications.domain.reminders import ReminderDue
from shared.contracts.meetings import (
    MeetingCancelled,
    MeetingEvent,
    MeetingHeld,
    MeetingRescheduled,
    MeetingScheduled,
    MeetingUpdated,
    MinutesPublished,
    ProgrammeUpdated,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationDeclined,
    RegistrationEvent,
    RegistrationPromoted,
    RegistrationRequested,
    RegistrationWaitlisted,
)


class Audience(StrEnum):
    """Who a row reaches."""

    PERSON = "person"  # the person the event names: registrant, enrolled participant, respondent
    ORGANISATIONS = "organisations"  # contacts of the organisations the event names
    SECRETARIAT = "secretariat"  # contacts with the secretariat role
    PARTICIPANTS = "participants"  # people confirmed for the meeting or module
    FOLLOWERS = "followers"  # followers of the entity, or of the row's category


class CalendarMethod(StrEnum):
    """iTIP method of the attached .ics (RFC 5546)."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


PERSON = Audience.PERSON
ORGANISATIONS = Audience.ORGANISATIONS
SECRETARIAT = Audience.SECRETARIAT
PARTICIPANTS = Audience.PARTICIPANTS
FOLLOWERS = Audience.FOLLOWERS
REQUEST = CalendarMethod.REQUEST
CANCEL = CalendarMethod.CANCEL


@dataclass(frozen=True)
class Route:
    """One row of the routing table."""

    on: type[Any]
    template: str
    audiences: tuple[Audience, ...]
    category: Category
    transactional: bool = False
    calendar: CalendarMethod | None = None
    # A daily-digest reader gets it in the digest; False for what must arrive on time.
    digestible: bool = True
    # For ORGANISATIONS: only contacts with one of these roles (empty: every contact).
    roles: frozenset[ContactRole] = field(default_factory=frozenset)

    @property
    def event_type(self) -> str:
        return str(self.on.EVENT_TYPE)


# fmt: off
ROUTES: tuple[Route, ...] = (
    #     event                   template                   audiences                                 category
    Route(MeetingScheduled,       "meeting_scheduled",       (FOLLOWERS,),                             Category.NEW_MEETINGS),
    Route(MeetingRescheduled,     "meeting_rescheduled",     (PARTICIPANTS,),                          Category.PERSONAL, transactional=True, calendar=REQUEST),
    Route(MeetingRescheduled,     "meeting_rescheduled",     (FOLLOWERS,),                             Category.MEETING_CHANGES),
    Route(MeetingUpdated,         "meeting_updated",         (PARTICIPANTS,),                          Category.PERSONAL, transactional=True, calendar=REQUEST),
    Route(MeetingUpdated,         "meeting_updated",         (FOLLOWERS,),                             Category.MEETING_CHANGES),
    Route(MeetingCancelled,       "meeting_cancelled",       (PARTICIPANTS,),                          Category.PERSONAL, transactional=True, calendar=CANCEL),
    Route(MeetingCancelled,       "meeting_cancelled",       (FOLLOWERS,),                             Category.MEETING_CHANGES),
    Route(ProgrammeUpdated,       "programme_updated",       (PARTICIPANTS, FOLLOWERS),                Category.MEETING_CHANGES),
    Route(MeetingHeld,            "meeting_held",            (FOLLOWERS,),                             Category.MEETING_CHANGES),
    Route(MinutesPublished,       "minutes_published",       (ORGANISATIONS, PARTICIPANTS, FOLLOWERS), Category.MINUTES),
    Route(RegistrationRequested,  "registration_requested",  (PERSON,),                                Category.PERSONAL, transactional=True),
    Route(RegistrationRequested,  "registration_to_approve", (SECRETARIAT,),                           Category.REGISTRATION_REQUESTS),
    Route(RegistrationConfirmed,  "registration_confirmed",  (PERSON,),                                Category.PERSONAL, transactional=True, calendar=REQUEST),
    Route(RegistrationWaitlisted, "registration_waitlisted", (PERSON,),                                Category.PERSONAL, transactional=True),
    Route(RegistrationPromoted,   "registration_promoted",   (PERSON,),                                Category.PERSONAL, transactional=True, calendar=REQUEST),
    Route(RegistrationDeclined,   "registration_declined",   (PERSON,),                                Category.PERSONAL, transactional=True),
    Route(RegistrationCancelled,  "registration_cancelled",  (PERSON,),                                Category.PERSONAL, transactional=True, calendar=CANCEL),
    Route(ReminderDue,            "reminder",                (PARTICIPANTS,),                          Category.REMINDERS, digestible=False),
)
# fmt: on


def routes_for(event_class: type[Any], table: Sequence[Route] = ROUTES) -> tuple[Route, ...]:
    """The rows for one event type, in table order."""
    return tuple(route for route in table if route.on is event_class)


def routed_event_types(table: Sequence[Route] = ROUTES) -> tuple[type[Any], ...]:
    """Every event class the table routes, once each, in table order."""
    return tuple(dict.fromkeys(route.on for route in table))


def templates(table: Sequence[Route] = ROUTES) -> frozenset[str]:
    return frozenset(route.template for route in table)


# --- What an event is about -------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """The person an event names, with what the event says about them."""

    name: str
    email: str
    language: str | None = None


@dataclass(frozen=True)
class Facts:
    """What routing needs from an event, whatever its domain."""

    entity: EntityRef
    occasion: Occasion | None = None
    person: Person | None = None
    organisations: tuple[str, ...] = ()


def meeting_facts(event: MeetingEvent) -> Facts:
    occasion = occasion_of(event.meeting)
    if isinstance(event, MeetingCancelled):
        occasion = _with_status(occasion, OccasionStatus.CANCELLED)
    elif isinstance(event, MeetingHeld):
        occasion = _with_status(occasion, OccasionStatus.HELD)
    person = None
    if isinstance(event, RegistrationEvent):
        registrant = event.registration
        person = Person(registrant.name, str(registrant.email), registrant.language)
    organisations = (
        tuple(event.attending_organisations) if isinstance(event, MinutesPublished) else ()
    )
    return Facts(
        entity=occasion.entity, occasion=occasion, person=person, organisations=organisations
    )


def reminder_facts(due: ReminderDue) -> Facts:
    return Facts(entity=due.occasion.entity, occasion=due.occasion)


FACTS: Mapping[type[Any], Callable[[Any], Facts]] = {
    MeetingEvent: meeting_facts,
    ReminderDue: reminder_facts,
}


def facts_of(event: object) -> Facts:
    """Read an event's facts with the reader registered for its class or a base class."""
    for cls in type(event).__mro__:
        reader = FACTS.get(cls)
        if reader is not None:
            return reader(event)
    raise LookupError(f"no facts reader for {type(event).__name__}")


def _with_status(occasion: Occasion, status: OccasionStatus) -> Occasion:
    return replace(occasion, status=status)


# --- From candidates to recipients -------------------------------------------------------


@dataclass(frozen=True)
class Reached:
    """The contacts one audience of one row found."""

    route: Route
    audience: Audience
    contacts: Sequence[Contact]


@dataclass(frozen=True)
class Addressee:
    """One e-mail to write: to whom, by which row, why, and now or in the digest."""

    contact: Contact
    route: Route
    reasons: tuple[Audience, ...]
    in_digest: bool


def address(reached: Sequence[Reached]) -> list[Addressee]:
    """One e-mail per person: the first row that wants them wins; later rows only add reasons.

    A row wants a contact when it is transactional or the contact has not switched its
    category off. A non-transactional, digestible e-mail to a digest reader waits for the digest.
    """
    chosen: dict[ContactId, Addressee] = {}
    for found in reached:
        route = found.route
        for contact in found.contacts:
            current = chosen.get(contact.id)
            if current is not None:
                if found.audience not in current.reasons:
                    chosen[contact.id] = Addressee(
                        current.contact,
                        current.route,
                        (*current.reasons, found.audience),
                        current.in_digest,
                    )
                continue
            if not contact.preferences.wants(route.category, transactional=route.transactional):
                continue
            in_digest = (
                route.digestible
                and not route.transactional
                and contact.preferences.delivery is DeliveryMode.DAILY_DIGEST
            )
            chosen[contact.id] = Addressee(contact, route, (found.audience,), in_digest)
    return list(chosen.values())
