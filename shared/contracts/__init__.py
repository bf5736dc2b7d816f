"""The public event contract: every event type any service publishes, by its versioned name."""

from __future__ import annotations

from shared.contracts import meetings, notifications
from shared.contracts.base import Event, dead_letter_topic, topic

EVENT_TYPES: dict[str, type[Event]] = {
    event.EVENT_TYPE: event for event in (*meetings.EVENTS, *notifications.EVENTS)
}

__all__ = ["EVENT_TYPES", "Event", "dead_letter_topic", "topic"]
