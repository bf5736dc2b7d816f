"""Deliveries: one record per (event, recipient, template), pending until sent or failed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from random import Random
from typing import NewType

from services.notifications.domain.directory import Category, ContactId
from shared.contracts.notifications import NotificationFailed, NotificationSent
from shared.errors import IllegalTransition

DeliveryId = NewType("DeliveryId", str)

ERROR_MAX_CHARS = 500


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the recipient was erased before it went out (or after it failed)


@dataclass(frozen=True)
class BackoffPolicy:
    """How transient failures are retried: exponential, capped, with jitter, a limited number of times."""

    base_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 3600.0
    max_attempts: int = 8

    def delay_s(self, attempt: int, rng: Random) -> float:
        """Wait before the next try after `attempt` failed tries.

        Equal jitter: half of the exponential step is fixed, half random, so retries of
        e-mails that failed together (an SMTP outage) spread out but never come at once.
        """
        ceiling = min(self.cap_s, self.base_s * self.factor ** max(attempt - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Delivery:
    """One e-mail to one recipient about one event, and what became of it."""

    id: DeliveryId
    event_id: str
    event_type: str
    template: str
    recipient_id: ContactId
    category: Category | None
    created_at: datetime
    next_attempt_at: datetime
    attempt_limit: int
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


def delivery_id(event_id: str, recipient_id: ContactId, template: str) -> DeliveryId:
    """The same event, recipient and template always give the same delivery."""
    key = f"{event_id}\x1f{recipient_id}\x1f{template}"
    return DeliveryId(hashlib.sha256(key.encode()).hexdigest()[:32])


def message_id(delivery: DeliveryId, *, domain: str) -> str:
    """RFC 5322 Message-ID derived from the delivery: a resent e-mail is recognisably the same."""
    return f"<{delivery}@{domain}>"


def new_delivery(
    event_id: str,
    *,
    event_type: str,
    template: str,
    recipient_id: ContactId,
    category: Category | None,
    now: datetime,
    policy: BackoffPolicy,
) -> Delivery:
    """A pending delivery, due at once."""
    return Delivery(
        id=delivery_id(event_id, recipient_id, template),
        event_id=event_id,
        event_type=event_type,
        template=template,
        recipient_id=recipient_id,
        category=category,
        created_at=now,
        next_attempt_at=now,
        attempt_limit=policy.max_attempts,
    )


def start_attempt(delivery: Delivery, *, now: datetime) -> Delivery:
    """Count the attempt before the SMTP conversation: the ledger says what was tried."""
    _require(delivery, DeliveryStatus.PENDING, "send")
    return replace(delivery, attempts=delivery.attempts + 1)


def record_sent(delivery: Delivery, *, now: datetime) -> tuple[Delivery, NotificationSent]:
    """The SMTP server accepted the e-mail."""
    _require(delivery, DeliveryStatus.PENDING, "record as sent")
    sent = replace(delivery, status=DeliveryStatus.SENT, sent_at=now, last_error=None)
    return sent, NotificationSent(**_about(sent), attempts=max(sent.attempts, 1), sent_at=now)


def record_failure(
    delivery: Delivery,
    *,
    error: str,
    permanent: bool,
    now: datetime,
    policy: BackoffPolicy,
    rng: Random,
) -> tuple[Delivery, NotificationFailed | None]:
    """A refused or failed attempt: retried later if transient and tries remain, else failed."""
    _require(delivery, DeliveryStatus.PENDING, "record a failure of")
    error = error[:ERROR_MAX_CHARS]
    if permanent or delivery.attempts >= delivery.attempt_limit:
        return _fail(delivery, error=error, now=now)
    retry_at = now + timedelta(seconds=policy.delay_s(delivery.attempts, rng))
    return replace(delivery, next_attempt_at=retry_at, last_error=error), None


def abandon(
    delivery: Delivery, *, error: str, now: datetime
) -> tuple[Delivery, NotificationFailed]:
    """A delivery that can never be attempted fails for good instead of coming back.

    Subscribers hear of it like of any other failure: an e-mail nobody will send is news.
    """
    _require(delivery, DeliveryStatus.PENDING, "abandon")
    return _fail(delivery, error=error[:ERROR_MAX_CHARS], now=now)


def _fail(delivery: Delivery, *, error: str, now: datetime) -> tuple[Delivery, NotificationFailed]:
    failed = replace(delivery, status=DeliveryStatus.FAILED, failed_at=now, last_error=error)
    return failed, NotificationFailed(
        **_about(failed), attempts=failed.attempts, error=error, failed_at=now
    )


def _about(delivery: Delivery) -> dict[str, str]:
    """What every outcome event says of its delivery."""
    return {
        "delivery_id": delivery.id,
        "source_event_id": delivery.event_id,
        "source_event_type": delivery.event_type,
        "template": delivery.template,
        "recipient_id": delivery.recipient_id,
    }


def unsendable(delivery: Delivery, *, has_message: bool) -> str | None:
    """Why a just-claimed delivery cannot be attempted, or None if it can."""
    if not has_message:
        return "nothing to send: the e-mail is no longer stored"
    # The claim counts the attempt; workers that died mid-attempt can push it past the limit.
    if delivery.attempts > delivery.attempt_limit:
        return f"no attempts left ({delivery.attempt_limit} allowed)"
    return None


def resend(delivery: Delivery, *, now: datetime, policy: BackoffPolicy) -> Delivery:
    """An operator sends a failed e-mail again, with a fresh allowance of attempts."""
    _require(delivery, DeliveryStatus.FAILED, "resend")
    return replace(
        delivery,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        attempt_limit=delivery.attempts + policy.max_attempts,
        failed_at=None,
    )


def _require(delivery: Delivery, status: DeliveryStatus, action: str) -> None:
    if delivery.status is not status:
        raise IllegalTransition(
            "delivery", current=delivery.status, action=action, allowed=[status.value]
        )
