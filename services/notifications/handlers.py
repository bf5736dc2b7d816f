"""Kafka subscribers: each event becomes a notice, routed by the table; some also move participants.

Handlers are plain async functions; `__main__` binds the notifier with functools.partial.
Every event type in the routing table gets `on_event` unless it has its own handler here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

from services.notifications.domain.routing import (
    ROUTES,
    Person,
    Route,
    facts_of,
    routed_event_types,
)
from services.notifications.notices import Notice
from services.notifications.notifier import Notifier
from shared.contracts.base import Event
from shared.contracts.meetings import (
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationDeclined,
    RegistrationEvent,
    RegistrationPromoted,
)
from shared.envelope import Envelope

Handler = Callable[[Any, Envelope], Awaitable[None]]


async def on_event(event: Event, envelope: Envelope, notifier: Notifier) -> None:
    """Any routed event: keep its occasion current, then notify whoever the table names."""
    notice = Notice.of_event(event, envelope)
    await notifier.track(notice)
    await notifier.notify(notice)


async def on_registration_confirmed(
    event: RegistrationConfirmed, envelope: Envelope, notifier: Notifier
) -> None:
    await on_event(event, envelope, notifier)
    await _confirm(event, notifier)


async def on_registration_promoted(
    event: RegistrationPromoted, envelope: Envelope, notifier: Notifier
) -> None:
    await on_event(event, envelope, notifier)
    await _confirm(event, notifier)


async def on_registration_cancelled(
    event: RegistrationCancelled, envelope: Envelope, notifier: Notifier
) -> None:
    await _release(event, notifier)
    await on_event(event, envelope, notifier)


async def on_registration_declined(
    event: RegistrationDeclined, envelope: Envelope, notifier: Notifier
) -> None:
    await _release(event, notifier)
    await on_event(event, envelope, notifier)


SPECIFIC: Mapping[type[Event], Callable[..., Awaitable[None]]] = {
    RegistrationConfirmed: on_registration_confirmed,
    RegistrationPromoted: on_registration_promoted,
    RegistrationCancelled: on_registration_cancelled,
    RegistrationDeclined: on_registration_declined,
}


def lane_of(event: Event) -> str | None:
    """Events about different registrations of one meeting commute; the meeting's own do not.

    Two confirmations touch two people's records: they may be handled side by side. A
    reschedule or a cancellation reaches everyone confirmed so far, so it waits for what
    came before it and holds back what comes after.
    """
    if isinstance(event, RegistrationEvent):
        return event.registration.registration_id
    return None


def handlers_for(
    notifier: Notifier, routes: tuple[Route, ...] = ROUTES
) -> dict[type[Event], Handler]:
    """One handler per routed Kafka event type, bound to the notifier."""
    return {
        event_type: partial(SPECIFIC.get(event_type, on_event), notifier=notifier)
        for event_type in routed_event_types(routes)
        if issubclass(event_type, Event)
    }


async def _confirm(event: RegistrationEvent, notifier: Notifier) -> None:
    registrant = event.registration
    await notifier.confirm_participant(
        facts_of(event).entity,
        registration_id=registrant.registration_id,
        person=Person(registrant.name, str(registrant.email), registrant.language),
    )


async def _release(event: RegistrationEvent, notifier: Notifier) -> None:
    await notifier.release_participant(
        facts_of(event).entity, registration_id=event.registration.registration_id
    )
