"""A notice: anything routed to recipients, whether an event from Kafka or a reminder falling due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.notifications.domain.reminders import ReminderDue
from services.notifications.domain.routing import Facts, facts_of
from shared.contracts.base import Event
from shared.envelope import Envelope


@dataclass(frozen=True)
class Notice:
    """What is routed: the payload the templates read, its facts, and the id deliveries key on."""

    id: str
    type: str
    occurred_at: datetime
    payload: Any
    facts: Facts

    @classmethod
    def of_event(cls, event: Event, envelope: Envelope) -> Notice:
        return cls(
            id=envelope.id,
            type=envelope.type,
            occurred_at=envelope.time,
            payload=event,
            facts=facts_of(event),
        )

    @classmethod
    def of_reminder(cls, due: ReminderDue) -> Notice:
        return cls(
            id=due.occurrence,
            type=ReminderDue.EVENT_TYPE,
            occurred_at=due.due_at,
            payload=due,
            facts=facts_of(due),
        )
