"""The delivery worker: claims due e-mails, sends them, records the outcome and its event in one write.

Several loops run side by side, each with its own SMTP connection; a delivery waiting for
its next try after a transient failure is simply not due yet, so it blocks nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from random import Random
from typing import Protocol

import structlog

from services.notifications.domain.deliveries import (
    BackoffPolicy,
    Delivery,
    DeliveryStatus,
    abandon,
    record_failure,
    record_sent,
    unsendable,
)
from services.notifications.metrics import DELIVERIES, FAILED, QUEUE_AGE, RETRIED, SENT
from services.notifications.schedules import finish_step
from services.notifications.sender import Outcome, SendResult
from services.notifications.store.deliveries import Claimed, DeliveryStore
from shared.contracts.base import Event
from shared.outbox import Outbox

log = structlog.get_logger()

# Kept after an SMTP conversation is cut short, to drop the connection (QUIT waits at most
# 5 s) and write the outcome: within the lease, and within the shutdown grace when the
# service stops in the middle of a send.
RECORD_S = 10.0


class Sender(Protocol):
    async def send(self, *, sender: str, recipient: str, message: bytes) -> SendResult: ...
    async def close(self) -> None: ...


class DeliveryWorker:
    def __init__(
        self,
        deliveries: DeliveryStore,
        senders: Sequence[Sender],
        outbox: Outbox,
        *,
        return_path: str,
        policy: BackoffPolicy,
        clock: Callable[[], datetime],
        rng: Random,
        lease_s: float = 120.0,
        attempt_timeout_s: float = 60.0,
        stop_grace_s: float = 10.0,
        poll_s: float = 1.0,
        watch_s: float = 15.0,
    ) -> None:
        self._deliveries = deliveries
        self._senders = list(senders)
        self._outbox = outbox
        self._return_path = return_path
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._lease_s = lease_s
        self._attempt_timeout_s = attempt_timeout_s
        self._stop_grace_s = stop_grace_s
        self._sends: set[asyncio.Timeout] = set()
        self._stopping = False
        self._poll_s = poll_s
        self._watch_s = watch_s
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """New deliveries were written: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; closes the SMTP connections on the way out."""
        try:
            # A task group, not gather: stopping waits for every loop to finish its step
            # (gather would return at the first cancelled loop, under a send in progress).
            async with asyncio.TaskGroup() as loops:
                for sender in self._senders:
                    loops.create_task(self._loop(sender))
                loops.create_task(self._watch())
        finally:
            for sender in self._senders:
                await sender.close()

    async def deliver_due(self, sender: Sender | None = None) -> int:
        """Take every delivery that is due now; returns how many were taken."""
        chosen = sender or self._senders[0]
        taken = 0
        while await finish_step(
            self._next(chosen), grace_s=self._stop_grace_s, on_cancel=self._cut_sends
        ):
            taken += 1
        return taken

    async def _next(self, sender: Sender) -> bool:
        claimed = await self._deliveries.claim_due(now=self._clock(), lease_s=self._lease_s)
        if claimed is None:
            return False
        await self.attempt(claimed, sender)
        return True

    async def attempt(self, claimed: Claimed, sender: Sender) -> Delivery:
        """Send once and record what happened, with the outcome event staged in the same write.

        A delivery that cannot be attempted (its e-mail erased, or no attempts left after
        workers died mid-attempt) fails for good instead, so it is never claimed again.
        """
        delivery, to, message = claimed.delivery, claimed.to, claimed.message
        reason = unsendable(delivery, has_message=bool(to and message))
        if reason is not None or not to or not message:
            error = reason or "nothing to send"
            abandoned, event = abandon(delivery, error=error, now=self._clock())
            return await self._record(abandoned, [event], error=error, failure="abandoned")
        result = await self._send(to, message, sender)
        now = self._clock()
        events: list[Event] = []
        if result.outcome is Outcome.SENT:
            delivery, sent = record_sent(delivery, now=now)
            events.append(sent)
        else:
            delivery, failed = record_failure(
                delivery,
                error=result.error or "unknown error",
                permanent=result.outcome is Outcome.PERMANENT,
                now=now,
                policy=self._policy,
                rng=self._rng,
            )
            if failed is not None:
                events.append(failed)
        failure = "permanent" if result.outcome is Outcome.PERMANENT else "exhausted"
        return await self._record(delivery, events, error=result.error, failure=failure)

    async def _record(
        self, delivery: Delivery, events: list[Event], *, error: str | None, failure: str
    ) -> Delivery:
        recorded = await self._deliveries.record(
            delivery, self._outbox.stage(events, correlation_id=delivery.event_id)
        )
        if not recorded:
            # Our lease ran out and another worker took the delivery over; its record stands.
            log.warning("delivery.superseded", delivery_id=delivery.id)
            return delivery
        if events:
            self._outbox.wake()
        self._count(delivery, error=error, failure=failure)
        return delivery

    async def _send(self, to: str, message: bytes, sender: Sender) -> SendResult:
        # Bounded well within the lease: a send still running when the lease ends would let
        # another loop claim the delivery and send the same e-mail again.
        try:
            async with asyncio.timeout(self._attempt_timeout_s) as deadline:
                self._sends.add(deadline)
                try:
                    return await sender.send(
                        sender=self._return_path, recipient=to, message=message
                    )
                finally:
                    self._sends.discard(deadline)
        except TimeoutError:
            # The conversation stopped half-way: its connection is of no further use.
            await sender.close()
            why = "the service stopped" if self._stopping else f"{self._attempt_timeout_s:g} s"
            return SendResult(Outcome.TRANSIENT, f"attempt cut off after {why}")

    def _cut_sends(self) -> None:
        """The service is stopping: end the sends in progress in time to record their outcome."""
        self._stopping = True
        loop = asyncio.get_running_loop()
        cut_at = loop.time() + max(self._stop_grace_s - RECORD_S, 0.0)
        for deadline in self._sends:
            when = deadline.when()
            if when is None or when > cut_at:
                deadline.reschedule(cut_at)

    async def _loop(self, sender: Sender) -> None:
        while True:
            try:
                await self.deliver_due(sender)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The database is away: the deliveries stay pending, try again after a pause.
                log.warning("delivery.loop_failed", error=str(exc))
            await self._sleep()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_s)
        self._wake.clear()

    async def _watch(self) -> None:
        while True:
            try:
                await finish_step(self.observe(), grace_s=self._stop_grace_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery.watch_failed", error=str(exc))
            await asyncio.sleep(self._watch_s)

    async def observe(self) -> None:
        """Refresh the queue-age and by-status gauges."""
        oldest = await self._deliveries.oldest_pending()
        age = (self._clock() - oldest).total_seconds() if oldest else 0.0
        QUEUE_AGE.set(max(age, 0.0))
        for status, count in (await self._deliveries.counts()).items():
            DELIVERIES.labels(status.value).set(count)

    def _count(self, delivery: Delivery, *, error: str | None, failure: str) -> None:
        """Metrics and a log line for a recorded outcome; `failure` says why, if it failed."""
        fields = {
            "delivery_id": delivery.id,
            "recipient_id": delivery.recipient_id,
            "template": delivery.template,
            "attempt": delivery.attempts,
        }
        if delivery.status is DeliveryStatus.SENT:
            SENT.labels(delivery.template).inc()
            log.info("delivery.sent", **fields)
        elif delivery.status is DeliveryStatus.FAILED:
            FAILED.labels(delivery.template, failure).inc()
            log.warning("delivery.failed", reason=failure, error=error, **fields)
        else:
            RETRIED.labels(delivery.template).inc()
            log.info(
                "delivery.retry_scheduled",
                error=error,
                next_attempt_at=delivery.next_attempt_at.isoformat(),
                **fields,
            )
