"""The delivery worker against the fake ledger and a scripted SMTP stand-in."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.notifications.domain.deliveries import DeliveryStatus
from services.notifications.handlers import handlers_for
from services.notifications.jobs.worker import RECORD_S, DeliveryWorker
from services.notifications.mail.sender import Outcome, SendResult
from services.notifications.settings import NotificationSettings
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.outbox import Outbox
from tests.unit.notifications import builders as b
from tests.unit.notifications.fakes import FakeDeliveries, RecordingSender, fake_stores

TRANSIENT = SendResult(Outcome.TRANSIENT, "451 4.3.0 try again later")
PERMANENT = SendResult(Outcome.PERMANENT, "550 5.1.1 mailbox unavailable")


LEASE_S = 120.0


class HangingSender(RecordingSender):
    """An SMTP server that accepts the connection and then never answers."""

    async def send(self, *, sender: str, recipient: str, message: bytes) -> SendResult:
        self.attempts += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class Rig:
    """The notifier and the worker over fakes. Without `handed_over`, deliveries reach the
    worker the way those of a process that died do: through the poll, once their lease ran out."""

    def __init__(
        self,
        *script: SendResult,
        sender: RecordingSender | None = None,
        handed_over: bool = True,
        **options: float,
    ) -> None:
        self.stores = fake_stores()
        self.clock = b.Clock()
        self.sender = sender or RecordingSender(list(script))
        self.outbox = Outbox(source="notifications", clock=self.clock)
        self.worker = DeliveryWorker(
            self.stores.deliveries,
            [self.sender],
            self.outbox,
            return_path="bounces@inclusion.example.org",
            policy=b.POLICY,
            clock=self.clock,
            rng=b.seeded_rng(),
            **options,
        )
        self.notifier = b.notifier_for(
            self.stores,
            self.clock,
            ready=self.worker.ready if handed_over else lambda _: None,
            lease_s=LEASE_S,
        )

    def after_the_lease(self) -> None:
        self.clock.advance(timedelta(seconds=LEASE_S + 1))

    @property
    def ledger(self) -> FakeDeliveries:
        assert isinstance(self.stores.deliveries, FakeDeliveries)
        return self.stores.deliveries

    async def confirm(self, email: str = "participant@athens.example.org") -> None:
        event = b.confirmed(b.registrant(email, registration_id=email))
        await handlers_for(self.notifier)[type(event)](event, b.envelope(event))

    def outcome_events(self) -> list[tuple[str, dict[str, object]]]:
        return [
            (entry["headers"]["ce_type"], json.loads(entry["body"]))
            for stored in self.ledger.stored.values()
            for entry in stored.outbox
        ]


async def test_a_delivered_email_is_recorded_sent_with_its_event() -> None:
    rig = Rig()
    await rig.confirm()

    attempts = await rig.worker.deliver_due()

    (stored,) = rig.ledger.stored.values()
    assert attempts == 1
    assert stored.delivery.status is DeliveryStatus.SENT
    assert [t for t, _ in rig.outcome_events()] == [NotificationSent.EVENT_TYPE]
    assert rig.sender.sent[0][0] == "participant@athens.example.org"


async def test_the_exact_stored_bytes_are_what_goes_over_smtp() -> None:
    rig = Rig()
    await rig.confirm()

    await rig.worker.deliver_due()

    (stored,) = rig.ledger.stored.values()
    assert rig.sender.sent[0][1] == stored.message


async def test_a_transient_failure_is_retried_after_the_backoff() -> None:
    rig = Rig(TRANSIENT)
    await rig.confirm()

    await rig.worker.deliver_due()
    (stored,) = rig.ledger.stored.values()
    waiting = stored.delivery
    rig.clock.now = waiting.next_attempt_at
    await rig.worker.deliver_due()

    assert waiting.status is DeliveryStatus.PENDING
    assert waiting.last_error == TRANSIENT.error
    assert stored.delivery.status is DeliveryStatus.SENT
    assert stored.delivery.attempts == 2
    assert len(rig.sender.sent) == 1


async def test_a_delivery_waiting_for_its_retry_does_not_hold_up_the_others() -> None:
    rig = Rig(TRANSIENT)
    await rig.confirm("first@athens.example.org")
    await rig.confirm("second@berlin.example.org")

    await rig.worker.deliver_due()

    statuses = sorted(s.delivery.status.value for s in rig.ledger.stored.values())
    assert statuses == ["pending", "sent"]


async def test_a_permanent_failure_fails_at_once_with_its_event() -> None:
    rig = Rig(PERMANENT)
    await rig.confirm()

    await rig.worker.deliver_due()
    rig.clock.advance(timedelta(days=1))
    await rig.worker.deliver_due()

    (stored,) = rig.ledger.stored.values()
    assert stored.delivery.status is DeliveryStatus.FAILED
    assert rig.sender.attempts == 1
    ((event_type, body),) = rig.outcome_events()
    assert event_type == NotificationFailed.EVENT_TYPE
    assert body["error"] == PERMANENT.error


async def test_a_delivery_out_of_attempts_fails() -> None:
    rig = Rig(*[TRANSIENT] * b.POLICY.max_attempts)
    await rig.confirm()

    for _ in range(b.POLICY.max_attempts):
        await rig.worker.deliver_due()
        rig.clock.advance(timedelta(hours=2))

    (stored,) = rig.ledger.stored.values()
    assert stored.delivery.status is DeliveryStatus.FAILED
    assert stored.delivery.attempts == b.POLICY.max_attempts


async def test_the_outcome_event_names_the_recipient_by_id_only() -> None:
    rig = Rig()
    await rig.confirm()

    await rig.worker.deliver_due()

    ((_, body),) = rig.outcome_events()
    assert "@" not in json.dumps(body)


async def test_closing_the_worker_closes_its_smtp_connections() -> None:
    rig = Rig()
    run = asyncio.create_task(rig.worker.run())
    await asyncio.sleep(0)

    run.cancel()
    await asyncio.gather(run, return_exceptions=True)

    assert rig.sender.closed


async def test_an_attempt_that_outlasts_its_timeout_is_recorded_as_a_transient_failure() -> None:
    rig = Rig(sender=HangingSender(), attempt_timeout_s=0.05)
    await rig.confirm()

    await asyncio.wait_for(rig.worker.deliver_due(), 5)

    (stored,) = rig.ledger.stored.values()
    assert stored.delivery.status is DeliveryStatus.PENDING
    assert stored.delivery.last_error == "attempt cut off after 0.05 s"
    assert stored.lease_until is None
    assert rig.sender.closed  # the half-finished SMTP session is not reused


async def test_stopping_in_the_middle_of_a_send_still_records_its_outcome() -> None:
    rig = Rig(sender=HangingSender(), attempt_timeout_s=60, stop_grace_s=RECORD_S + 0.05)
    await rig.confirm()
    run = asyncio.create_task(rig.worker.run())
    while rig.sender.attempts == 0:
        await asyncio.sleep(0.01)

    run.cancel()
    await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), 5)

    (stored,) = rig.ledger.stored.values()
    assert stored.delivery.attempts == 1
    assert stored.delivery.last_error == "attempt cut off after the service stopped"
    assert stored.lease_until is None


def test_a_lease_shorter_than_the_longest_attempt_stops_start_up() -> None:
    with pytest.raises(ValidationError, match="DELIVERY_LEASE_S"):
        NotificationSettings(delivery_lease_s=60, delivery_attempt_timeout_s=60)


def test_a_shutdown_grace_too_short_to_record_a_send_stops_start_up() -> None:
    with pytest.raises(ValidationError, match="SHUTDOWN_GRACE_S"):
        NotificationSettings(shutdown_grace_s=5)


async def test_a_pending_delivery_with_no_message_left_fails_instead_of_coming_back() -> None:
    rig = Rig(handed_over=False)
    await rig.confirm()
    (stored,) = rig.ledger.stored.values()
    stored.to = stored.message = None
    rig.after_the_lease()

    attempts = await rig.worker.deliver_due()
    rig.clock.advance(timedelta(hours=1))
    again = await rig.worker.deliver_due()

    assert (attempts, again) == (1, 0)
    assert stored.delivery.status is DeliveryStatus.FAILED
    assert stored.delivery.last_error == "nothing to send: the e-mail is no longer stored"
    assert rig.sender.attempts == 0
    [(event_type, body)] = rig.outcome_events()
    assert event_type == NotificationFailed.EVENT_TYPE
    assert body["error"] == "nothing to send: the e-mail is no longer stored"


async def test_a_delivery_claimed_past_its_attempt_limit_fails_without_sending() -> None:
    rig = Rig(handed_over=False)
    await rig.confirm()
    (stored,) = rig.ledger.stored.values()
    # Workers that died mid-attempt counted every try without recording an outcome.
    stored.delivery = replace(stored.delivery, attempts=stored.delivery.attempt_limit)
    rig.after_the_lease()

    await rig.worker.deliver_due()

    assert stored.delivery.status is DeliveryStatus.FAILED
    assert rig.sender.attempts == 0
    [(event_type, body)] = rig.outcome_events()
    assert event_type == NotificationFailed.EVENT_TYPE
    assert body["attempts"] == stored.delivery.attempt_limit + 1
