"""Exactly once in effect: redelivered events, a restarted service, SMTP outages and refusals."""

from __future__ import annotations

import pytest

from shared.auth import Role
from shared.contracts.notifications import NotificationFailed, NotificationSent
from tests.helpers import body_of, eventually, free_port, headers_of
from tests.infra import Kafka, Mongo, Smtp
from tests.integration.notifications.events import Meeting, person
from tests.integration.notifications.smtp_proxy import SmtpProxy
from tests.integration.notifications.support import (
    NOTIFICATIONS_TOPIC,
    Publisher,
    Running,
    TopicReader,
    dlq_of,
    running,
    settings_for,
    settled_count,
    summaries,
)

pytestmark = pytest.mark.integration


async def test_the_same_event_delivered_twice_sends_one_email(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    meeting, registrant = Meeting(), person()
    event = meeting.confirmed(registrant)

    async with running(settings_for(kafka, mongo, smtp)) as service:
        envelope = await publisher.publish(event)
        await publisher.publish(event, event_id=envelope.id)
        await service.until_settled(among=publisher.published, expected=1)

        assert (
            await settled_count(service, smtp, str(registrant.email), among=publisher.published)
            == 1
        )
        assert len(await service.deliveries(event_id=envelope.id)) == 1


async def test_a_restart_mid_stream_sends_every_email_exactly_once(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    settings = settings_for(kafka, mongo, smtp)
    meeting = Meeting()
    people = [person() for _ in range(20)]

    async with running(settings) as service:
        for registrant in people[:10]:
            await publisher.publish(meeting.confirmed(registrant))
        await eventually(lambda: _has_deliveries(service, publisher, 3))
    # Stopped mid-stream: the next events arrive while the service is down.
    for registrant in people[10:]:
        await publisher.publish(meeting.confirmed(registrant))
    async with running(settings, fresh_group=False) as service:
        deliveries = await service.until_settled(
            among=publisher.published, expected=20, timeout_s=60
        )

        assert {d["status"] for d in deliveries} == {"sent"}
        for registrant in people:
            found = await summaries(smtp, f"to:{registrant.email}", domain=service.domain)
            assert len(found) == 1, registrant.email


async def test_an_smtp_outage_then_recovery_delivers_every_email_exactly_once(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    proxy = SmtpProxy(smtp.host, smtp.port, port=free_port())
    settings = settings_for(kafka, mongo, smtp, smtp_port=proxy.port)
    meeting = Meeting()
    people = [person() for _ in range(8)]

    async with running(settings) as service:
        for registrant in people:  # the SMTP server is down: connection refused
            await publisher.publish(meeting.confirmed(registrant))
        await eventually(lambda: _all_retried(service, publisher, len(people)))
        await proxy.up()
        try:
            deliveries = await service.until_settled(
                among=publisher.published, expected=len(people), timeout_s=60
            )
        finally:
            await proxy.down()

        assert {d["status"] for d in deliveries} == {"sent"}
        assert all(d["attempts"] >= 2 for d in deliveries)
        for registrant in people:
            assert (
                await settled_count(service, smtp, str(registrant.email), among=publisher.published)
                == 1
            )
        metrics = (await service.http.get("/metrics")).text
        assert 'notifications_retried_total{template="registration_confirmed"}' in metrics


async def test_a_busy_server_answering_421_is_retried_until_it_accepts(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    proxy = SmtpProxy(smtp.host, smtp.port, port=free_port(), busy=True)
    await proxy.up()
    settings = settings_for(kafka, mongo, smtp, smtp_port=proxy.port)
    meeting, registrant = Meeting(), person()

    try:
        async with running(settings) as service:
            await publisher.publish(meeting.confirmed(registrant))
            await eventually(lambda: _all_retried(service, publisher, 1))
            proxy.busy = False
            (delivery,) = await service.until_settled(among=publisher.published, expected=1)

            assert delivery["status"] == "sent"
            assert delivery["last_error"] is None
            assert (
                await settled_count(service, smtp, str(registrant.email), among=publisher.published)
                == 1
            )
    finally:
        await proxy.down()


async def test_a_hanging_server_cuts_the_attempt_short_within_the_lease_and_sends_once(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    proxy = SmtpProxy(smtp.host, smtp.port, port=free_port(), stall=True)
    await proxy.up()
    # Each SMTP command may wait 60 s; the whole attempt gets 5 s, the lease 20 s.
    settings = settings_for(kafka, mongo, smtp, smtp_port=proxy.port, smtp_timeout_s=60.0)
    meeting, registrant = Meeting(), person()

    try:
        async with running(settings) as service:
            await publisher.publish(meeting.confirmed(registrant))
            await eventually(lambda: _cut_short(service, publisher), timeout_s=60)
            proxy.stall = False
            (delivery,) = await service.until_settled(among=publisher.published, expected=1)

            assert delivery["status"] == "sent"
            assert delivery["attempts"] >= 2
            assert (
                await settled_count(service, smtp, str(registrant.email), among=publisher.published)
                == 1
            )
    finally:
        await proxy.down()


# Reads outcomes off the shared notifications topic: services of tests running alongside
# handle the same event and publish their own outcomes of it, so this one runs alone.
@pytest.mark.serial
async def test_a_refused_recipient_fails_at_once_and_an_operator_resends_it(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    proxy = SmtpProxy(smtp.host, smtp.port, port=free_port(), refuse_marker="refused-")
    await proxy.up()
    settings = settings_for(kafka, mongo, smtp, smtp_port=proxy.port)
    meeting, accepted, refused = Meeting(), person(), person()
    refused = refused.model_copy(update={"email": f"refused-{refused.email}"})
    outcomes = TopicReader(kafka.bootstrap, NOTIFICATIONS_TOPIC)
    await outcomes.start()

    try:
        async with running(settings) as service:
            await publisher.publish(meeting.confirmed(refused))
            await publisher.publish(meeting.confirmed(accepted))
            deliveries = await service.until_settled(among=publisher.published, expected=2)
            failed = next(d for d in deliveries if d["status"] == "failed")
            sent = next(d for d in deliveries if d["status"] == "sent")
            failure_events = await outcomes.wait_for(
                lambda r: (
                    body_of(r).get("delivery_id") == failed["id"]
                    and headers_of(r)["ce_type"] == NotificationFailed.EVENT_TYPE
                ),
                1,
            )
            proxy.refuse_marker = None
            resent = await service.http.post(
                f"/deliveries/{failed['id']}/resend", headers=service.token(Role.OPERATOR)
            )
            await service.until_settled(among=publisher.published, expected=2)
            success_events = await outcomes.wait_for(
                lambda r: (
                    body_of(r).get("delivery_id") in (failed["id"], sent["id"])
                    and headers_of(r)["ce_type"] == NotificationSent.EVENT_TYPE
                ),
                2,
            )
            final = (await service.deliveries(recipient_id=failed["recipient_id"]))[0]
    finally:
        await proxy.down()
        await outcomes.stop()

    assert failed["attempts"] == 1  # permanent: no retry
    assert "550" in failed["last_error"]
    assert "refused-" not in failed["last_error"]  # the address is masked in the ledger
    (failure,) = failure_events
    assert headers_of(failure)["ce_type"] == NotificationFailed.EVENT_TYPE
    assert "@" not in (failure.value or b"").decode()
    assert resent.status_code == 202
    assert final["status"] == "sent"
    assert len(success_events) == 2


async def test_an_undecodable_event_goes_to_the_dead_letter_topic(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    settings = settings_for(kafka, mongo, smtp)
    meeting = Meeting()
    dead_letters = TopicReader(kafka.bootstrap, dlq_of(settings.consumer_group))

    async with running(settings) as service:
        await dead_letters.start()
        try:
            headers = {
                "ce_id": "evt-undecodable",
                "ce_source": "/partnership/meetings",
                "ce_type": meeting.confirmed(person()).EVENT_TYPE,
                "ce_specversion": "1.0",
                "ce_time": "2030-05-01T09:00:00Z",
                "content-type": "application/json",
            }
            await publisher.publish_raw(b'{"meeting": "not a meeting"}', headers, key=meeting.id)
            (dead,) = await dead_letters.wait_for(
                lambda r: headers_of(r).get("ce_id") == "evt-undecodable", 1
            )
            # The consumer carries on with the next event.
            registrant = person()
            await publisher.publish(meeting.confirmed(registrant))
            await service.until_settled(among=publisher.published, expected=1)
        finally:
            await dead_letters.stop()

    assert "undecodable" in headers_of(dead)["dlq_reason"]


async def _has_deliveries(service: Running, publisher: Publisher, count: int) -> bool:
    found = await service.deliveries(among=publisher.published)
    return len([d for d in found if d["status"] == "sent"]) >= count


async def _all_retried(service: Running, publisher: Publisher, count: int) -> bool:
    found = await service.deliveries(among=publisher.published)
    return len(found) >= count and all(d["attempts"] >= 2 for d in found)


async def _cut_short(service: Running, publisher: Publisher) -> bool:
    found = await service.deliveries(among=publisher.published)
    return any(d["last_error"] == "attempt cut off after 5 s" for d in found)
