"""Deliveries: pending until sent or failed; transient failures retried with capped, jittered backoff."""

from __future__ import annotations

from datetime import timedelta
from random import Random

import pytest

from services.notifications.domain import deliveries as d
from services.notifications.domain.deliveries import BackoffPolicy, DeliveryStatus
from services.notifications.domain.directory import Category, ContactId
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.errors import IllegalTransition
from tests.unit.notifications import builders as b

POLICY = BackoffPolicy(base_s=30, factor=2, cap_s=600, max_attempts=3)


def a_delivery() -> d.Delivery:
    return d.new_delivery(
        "evt-1",
        event_type="eu.urbanagenda.inclusion.meeting.registration_confirmed.v1",
        template="registration_confirmed",
        recipient_id=ContactId("c-1"),
        category=Category.PERSONAL,
        now=b.NOW,
        policy=POLICY,
    )


def attempted(delivery: d.Delivery) -> d.Delivery:
    return d.start_attempt(delivery, now=b.NOW)


def test_the_same_event_recipient_and_template_give_the_same_delivery_id() -> None:
    one = d.delivery_id("evt-1", ContactId("c-1"), "registration_confirmed")

    assert one == d.delivery_id("evt-1", ContactId("c-1"), "registration_confirmed")
    assert one != d.delivery_id("evt-1", ContactId("c-2"), "registration_confirmed")
    assert one != d.delivery_id("evt-1", ContactId("c-1"), "meeting_rescheduled")


def test_a_new_delivery_is_pending_and_due_at_once() -> None:
    delivery = a_delivery()

    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == b.NOW
    assert delivery.attempts == 0


def test_the_attempt_is_counted_before_the_smtp_conversation() -> None:
    assert attempted(a_delivery()).attempts == 1


def test_an_accepted_email_is_sent_and_says_so_on_the_notifications_topic() -> None:
    sent, event = d.record_sent(attempted(a_delivery()), now=b.NOW)

    assert sent.status is DeliveryStatus.SENT
    assert isinstance(event, NotificationSent)
    assert (event.delivery_id, event.recipient_id, event.attempts) == (sent.id, "c-1", 1)


def test_a_transient_failure_is_retried_later_without_an_event() -> None:
    delivery, event = d.record_failure(
        attempted(a_delivery()),
        error="451 try later",
        permanent=False,
        now=b.NOW,
        policy=POLICY,
        rng=Random(1),
    )

    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at > b.NOW
    assert delivery.last_error == "451 try later"
    assert event is None


def test_a_permanent_failure_fails_at_once() -> None:
    delivery, event = d.record_failure(
        attempted(a_delivery()),
        error="550 no such user",
        permanent=True,
        now=b.NOW,
        policy=POLICY,
        rng=Random(1),
    )

    assert delivery.status is DeliveryStatus.FAILED
    assert isinstance(event, NotificationFailed)
    assert event.error == "550 no such user"


def test_a_transient_failure_on_the_last_allowed_attempt_fails_the_delivery() -> None:
    delivery = a_delivery()
    for _ in range(POLICY.max_attempts - 1):
        delivery, _ = d.record_failure(
            attempted(delivery),
            error="421",
            permanent=False,
            now=b.NOW,
            policy=POLICY,
            rng=Random(1),
        )

    delivery, event = d.record_failure(
        attempted(delivery), error="421", permanent=False, now=b.NOW, policy=POLICY, rng=Random(1)
    )

    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == POLICY.max_attempts
    assert isinstance(event, NotificationFailed)


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 15, 30), (2, 30, 60), (3, 60, 120)])
def test_backoff_doubles_with_each_attempt_and_keeps_half_of_it_random(
    attempt: int, low: float, high: float
) -> None:
    delays = [POLICY.delay_s(attempt, Random(seed)) for seed in range(200)]

    assert all(low <= delay <= high for delay in delays)
    assert len({round(delay, 3) for delay in delays}) > 100  # jitter spreads them


def test_backoff_is_capped() -> None:
    assert POLICY.delay_s(30, Random(1)) <= POLICY.cap_s


def test_the_same_random_source_gives_the_same_schedule() -> None:
    assert POLICY.delay_s(2, Random(7)) == POLICY.delay_s(2, Random(7))


def test_an_operator_resends_a_failed_delivery_with_fresh_attempts() -> None:
    failed, _ = d.record_failure(
        attempted(a_delivery()),
        error="550",
        permanent=True,
        now=b.NOW,
        policy=POLICY,
        rng=Random(1),
    )
    later = b.NOW + timedelta(hours=1)

    resent = d.resend(failed, now=later, policy=POLICY)

    assert resent.status is DeliveryStatus.PENDING
    assert resent.next_attempt_at == later
    assert resent.attempt_limit == failed.attempts + POLICY.max_attempts
    assert resent.id == failed.id  # same Message-ID downstream


def test_only_a_failed_delivery_can_be_resent() -> None:
    sent, _ = d.record_sent(attempted(a_delivery()), now=b.NOW)

    with pytest.raises(IllegalTransition):
        d.resend(sent, now=b.NOW, policy=POLICY)


def test_a_sent_delivery_cannot_be_attempted_again() -> None:
    sent, _ = d.record_sent(attempted(a_delivery()), now=b.NOW)

    with pytest.raises(IllegalTransition):
        d.start_attempt(sent, now=b.NOW)


def test_the_message_id_lives_in_the_services_mail_domain() -> None:
    assert d.message_id(d.DeliveryId("abc"), domain="inclusion.example.org") == (
        "<abc@inclusion.example.org>"
    )
