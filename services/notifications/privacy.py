"""A person's rights over what the service holds about them: export it, erase it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from services.notifications.domain.directory import ContactId
from services.notifications.store import Stores
from services.notifications.store.deliveries import DeliveryQuery

log = structlog.get_logger()

EXPORT_DELIVERY_LIMIT = 10_000


async def export_contact(stores: Stores, contact_id: ContactId, *, now: datetime) -> dict[str, Any]:
    """Everything held about one contact, as plain JSON-ready data."""
    contact = await stores.directory.get_contact(contact_id)
    organisation = (
        await stores.directory.get_organisation(contact.organisation_id)
        if contact.organisation_id
        else None
    )
    subscriptions = await stores.directory.list_subscriptions(contact_id)
    participations = await stores.occasions.participations(contact_id)
    deliveries = await stores.deliveries.list(
        DeliveryQuery(recipient_id=contact_id, limit=EXPORT_DELIVERY_LIMIT)
    )
    entries = await stores.digests.list_for(contact_id)
    return {
        "exported_at": now.isoformat(),
        "contact": {
            "id": contact.id,
            "name": contact.name,
            "email": contact.email,
            "organisation": (
                {"id": organisation.id, "name": organisation.name} if organisation else None
            ),
            "roles": sorted(contact.roles),
            "origin": contact.origin.value,
            "created_at": contact.created_at.isoformat() if contact.created_at else None,
        },
        "preferences": {
            "language": contact.preferences.language,
            "muted": sorted(contact.preferences.muted),
            "delivery": contact.preferences.delivery.value,
        },
        "subscriptions": [{"id": s.id, "target": s.target} for s in subscriptions],
        "participations": [{"kind": ref.kind.value, "id": ref.id} for ref in participations],
        "deliveries": [
            {
                "id": d.id,
                "event_id": d.event_id,
                "event_type": d.event_type,
                "template": d.template,
                "status": d.status.value,
                "attempts": d.attempts,
                "created_at": d.created_at.isoformat(),
                "sent_at": d.sent_at.isoformat() if d.sent_at else None,
            }
            for d in deliveries
        ],
        "digest_entries": [
            {
                "notice_id": e.notice_id,
                "template": e.template,
                "category": e.category.value,
                "summary": e.summary,
                "occurred_at": e.occurred_at.isoformat(),
                "day": e.day.isoformat(),
            }
            for e in entries
        ],
    }


async def erase_contact(stores: Stores, contact_id: ContactId, *, now: datetime) -> None:
    """Remove the person's data everywhere; pending e-mails to them are cancelled.

    Delivery records stay as anonymous counts. Only a keyed hash of the address remains,
    so a later event naming the same address sends nothing.
    """
    await stores.directory.erase_contact(contact_id, now=now)
    erased = await stores.deliveries.erase_recipient(contact_id)
    await stores.digests.erase_contact(contact_id)
    await stores.occasions.forget_participant(contact_id)
    log.info("contact.erased", contact_id=contact_id, deliveries_anonymised=erased)
