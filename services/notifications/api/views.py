"""Response bodies of the notifications API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.notifications.domain.deliveries import Delivery, DeliveryStatus
from services.notifications.domain.directory import (
    Category,
    Contact,
    ContactOrigin,
    ContactRole,
    DeliveryMode,
    EntityKind,
    Organisation,
    OrganisationKind,
    Preferences,
    Subscription,
)


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class OrganisationView(View):
    id: str
    name: str
    kind: OrganisationKind
    short_name: str | None
    country: str | None
    coordinator: bool

    @classmethod
    def of(cls, organisation: Organisation) -> OrganisationView:
        return cls(
            id=organisation.id,
            name=organisation.name,
            kind=organisation.kind,
            short_name=organisation.short_name,
            country=organisation.country,
            coordinator=organisation.coordinator,
        )


class PreferencesView(View):
    language: str
    muted: list[Category]
    delivery: DeliveryMode

    @classmethod
    def of(cls, preferences: Preferences) -> PreferencesView:
        return cls(
            language=preferences.language,
            muted=sorted(preferences.muted),
            delivery=preferences.delivery,
        )


class ContactView(View):
    id: str
    name: str
    email: str
    organisation_id: str | None
    roles: list[ContactRole]
    origin: ContactOrigin
    preferences: PreferencesView

    @classmethod
    def of(cls, contact: Contact) -> ContactView:
        return cls(
            id=contact.id,
            name=contact.name,
            email=contact.email,
            organisation_id=contact.organisation_id,
            roles=sorted(contact.roles),
            origin=contact.origin,
            preferences=PreferencesView.of(contact.preferences),
        )


class EntityView(View):
    kind: EntityKind
    id: str


class SubscriptionView(View):
    id: str
    category: Category | None
    entity: EntityView | None

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionView:
        entity = subscription.entity
        return cls(
            id=subscription.id,
            category=subscription.category,
            entity=EntityView(kind=entity.kind, id=entity.id) if entity else None,
        )


class DeliveryView(View):
    """A ledger entry; the recipient appears only by id, never by address."""

    id: str
    event_id: str
    event_type: str
    template: str
    recipient_id: str
    category: Category | None
    status: DeliveryStatus
    attempts: int
    attempt_limit: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryView:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            template=delivery.template,
            recipient_id=delivery.recipient_id,
            category=delivery.category,
            status=delivery.status,
            attempts=delivery.attempts,
            attempt_limit=delivery.attempt_limit,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            next_attempt_at=delivery.next_attempt_at,
            sent_at=delivery.sent_at,
            failed_at=delivery.failed_at,
        )


class DeliveryCounts(View):
    pending: int
    sent: int
    failed: int
    cancelled: int


class JobRun(View):
    """What a manually triggered job did."""

    job: str
    count: int
