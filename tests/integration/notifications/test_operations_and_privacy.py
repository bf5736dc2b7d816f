"""Operators' view (ledger, counts, metrics, outcome events) and a person's rights (export, erase)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

import jsonschema  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from shared.auth import Role
from shared.contracts.notifications import NotificationSent
from tests.helpers import body_of, headers_of
from tests.infra import Kafka, Mongo, Smtp
from tests.integration.notifications.events import Meeting, person
from tests.integration.notifications.support import (
    NOTIFICATIONS_TOPIC,
    Publisher,
    Running,
    TopicReader,
    mail_to,
    running,
    settings_for,
    settled_count,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def service(kafka: Kafka, mongo: Mongo, smtp: Smtp) -> AsyncIterator[Running]:
    async with running(settings_for(kafka, mongo, smtp)) as found:
        yield found


# Reads the shared notifications topic: services of tests running alongside handle the same
# event and announce their own e-mail of it, so this one runs alone.
@pytest.mark.serial
async def test_a_sent_email_is_announced_on_the_notifications_topic_as_a_valid_cloudevent(
    service: Running, publisher: Publisher, kafka: Kafka
) -> None:
    reader = TopicReader(kafka.bootstrap, NOTIFICATIONS_TOPIC)
    await reader.start()
    try:
        envelope = await publisher.publish(Meeting().confirmed(person()))
        (record,) = await reader.wait_for(
            lambda r: body_of(r).get("source_event_id") == envelope.id, 1
        )
    finally:
        await reader.stop()

    headers = headers_of(record)
    assert headers["ce_type"] == NotificationSent.EVENT_TYPE
    assert headers["ce_source"] == "/partnership/notifications"
    assert headers["ce_correlationid"] == envelope.id
    assert record.key == body_of(record)["delivery_id"].encode()
    jsonschema.validate(json.loads(record.value or b""), NotificationSent.model_json_schema())
    assert "@" not in (record.value or b"").decode()


async def test_operators_list_deliveries_by_status_recipient_and_event_and_count_them(
    service: Running, publisher: Publisher
) -> None:
    meeting = Meeting()
    first = await publisher.publish(meeting.confirmed(person()))
    await publisher.publish(meeting.confirmed(person()))
    await service.until_settled(among=publisher.published, expected=2)
    operator = service.token(Role.OPERATOR)

    by_event = await service.deliveries(event_id=first.id)
    by_recipient = await service.deliveries(recipient_id=by_event[0]["recipient_id"])
    sent = await service.deliveries(status="sent", among=publisher.published)
    counts = (await service.http.get("/deliveries/counts", headers=operator)).json()
    one = (await service.http.get(f"/deliveries/{by_event[0]['id']}", headers=operator)).json()

    assert [d["event_id"] for d in by_event] == [first.id]
    assert [d["id"] for d in by_recipient] == [by_event[0]["id"]]
    assert len(sent) == 2
    assert set(counts) == {"pending", "sent", "failed", "cancelled"}
    assert counts["sent"] >= 2  # other runs' events on the shared topic may add to it
    assert one["status"] == "sent"
    assert one["attempts"] == 1


async def test_the_ledger_needs_an_operator(service: Running) -> None:
    response = await service.http.get("/deliveries", headers=service.token(Role.SECRETARIAT))

    assert response.status_code == 403


async def test_prometheus_counts_sent_emails_and_the_queue_age(
    service: Running, publisher: Publisher
) -> None:
    await publisher.publish(Meeting().confirmed(person()))
    await service.until_settled(among=publisher.published, expected=1)
    await service.service.worker.observe()

    metrics = (await service.http.get("/metrics")).text

    assert 'notifications_sent_total{template="registration_confirmed"}' in metrics
    assert "notifications_queue_age_seconds 0.0" in metrics
    assert "notifications_pending_deliveries 0.0" in metrics


async def test_a_contact_exports_their_data_then_erases_it_and_gets_nothing_more(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person()
    await publisher.publish(meeting.confirmed(registrant))
    await mail_to(smtp, str(registrant.email), domain=service.domain)
    contacts = await service.http.get(
        "/contacts", params={"origin": "event"}, headers=service.token(Role.SECRETARIAT)
    )
    (contact,) = [c for c in contacts.json() if c["email"] == registrant.email]
    own = service.token(Role.MEMBER, subject=contact["id"])

    export = (await service.http.get(f"/contacts/{contact['id']}/export", headers=own)).json()
    erased = await service.http.delete(f"/contacts/{contact['id']}", headers=own)
    await publisher.publish(meeting.rescheduled(by=timedelta(days=1)))
    await publisher.publish(Meeting().confirmed(registrant))

    assert export["contact"]["email"] == registrant.email
    assert export["participations"] == [{"kind": "meeting", "id": meeting.id}]
    assert [d["template"] for d in export["deliveries"]] == ["registration_confirmed"]
    assert erased.status_code == 204
    assert await settled_count(service, smtp, str(registrant.email), among=publisher.published) == 1
    ledger = await service.deliveries(among=publisher.published)
    assert [d["recipient_id"].startswith("erased:") for d in ledger] == [True]
    assert str(registrant.email) not in json.dumps(ledger)
    gone = await service.http.get(f"/contacts/{contact['id']}", headers=own)
    assert gone.status_code == 404
