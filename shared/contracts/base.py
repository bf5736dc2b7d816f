"""The base of every public event: a versioned type name, a topic, and the aggregate it is about."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

TYPE_PREFIX = "eu.urbanagenda.inclusion"


class Event(BaseModel):
    """One fact that happened, as published on Kafka.

    Readers ignore fields they do not know (extra="ignore"), so adding an optional
    field is a compatible change; renaming or removing one needs a new `.vN` type.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    EVENT_TYPE: ClassVar[str]
    TOPIC: ClassVar[str]

    def subject(self) -> str:
        """The aggregate id: the message key and the CloudEvents subject."""
        raise NotImplementedError


def topic(domain: str, version: int = 1) -> str:
    """One topic per domain, versioned: `partnership.<domain>.v<N>`."""
    return f"partnership.{domain}.v{version}"


def dead_letter_topic(consumer_group: str) -> str:
    """Messages a consumer group could not handle: `partnership.dlq.<group>`."""
    return f"partnership.dlq.{consumer_group}"


# The domains of each service's calendar UIDs ("<id>@<domain>"): the same entry whether a
# person imports the service's .ics feed or an invitation another service e-mailed.
CALENDAR_UID_DOMAINS = {
    "meeting": "meetings.partnership",
    "action": "actions.partnership",
    "academy_module": "academy.partnership",
}


def calendar_uid(kind: str, entity_id: str) -> str:
    """The iCalendar UID of an entity's entry, for its whole life."""
    return f"{entity_id}@{CALENDAR_UID_DOMAINS[kind]}"
