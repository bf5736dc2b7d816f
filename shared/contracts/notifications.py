"""Public events of the notifications service, on topic `partnership.notifications.v1`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from shared.contracts.base import TYPE_PREFIX, Event, topic

TOPIC = topic("notifications")


class NotificationEvent(Event):
    TOPIC: ClassVar[str] = TOPIC
    delivery_id: str
    source_event_id: str = Field(description="ce_id of the event the e-mail is about")
    source_event_type: str
    template: str
    recipient_id: str = Field(description="Opaque id of the recipient; no personal data")
    attempts: int = Field(ge=0, description="Delivery attempts begun (claimed by a worker)")

    def subject(self) -> str:
        return self.delivery_id


class NotificationSent(NotificationEvent):
    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.notification.sent.v1"
    attempts: int = Field(ge=1, description="SMTP attempts made, the successful one included")
    sent_at: AwareDatetime


class NotificationFailed(NotificationEvent):
    """The e-mail will not go out unless an operator resends it.

    `attempts` is 0 when the e-mail could not even be written for this recipient.
    """

    EVENT_TYPE: ClassVar[str] = f"{TYPE_PREFIX}.notification.failed.v1"
    error: str
    failed_at: AwareDatetime


EVENTS: tuple[type[NotificationEvent], ...] = (NotificationSent, NotificationFailed)
