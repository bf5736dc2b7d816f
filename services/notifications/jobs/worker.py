"""The delivery worker: claims due e-mails, sends them, records the outcome and its event in one write.

New deliveries are handed over in memory the moment they are written (`ready`), so an
e-mail leaves within milliseconds; a poll of the small queue of pending work picks up what
no hand-off announced: retries whose time has come, and deliveries of a process that died.
Several loops run side by side, each with its own SMTP connection, each taking a share of
what is ready; a delivery waiting for its next try is simply not due yet, blocking nobody.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable, Sequence
from datetime import datetime
from random import Random
from typing import Protocol

import structlog

from services.notifications.domain.deliveries import (
    BackoffPolicy,
    Delivery,
    DeliveryId,
    DeliveryStatus,
    abandon,
    record_failure,
    record_sent,
    unsendable,
)
from services.notifications.jobs.schedules import finish_step
from services.notifications.mail.sender import Outcome, SendResult
from services.notifications.metrics import FAILED, PENDING, QUEUE_AGE, RETRIED, SENT
from services.notifications.store.deliveries import Claimed, DeliveryStore
from shared.contracts.base import Event
from shared.outbox import Outbox

log = structlog.get_logger()

# Kept after an SMTP conversation is cut short, to drop the connection (QUIT waits at most
# 5 s) and write the outcome: within the lease, and within the shutdown grace when the
# service stops in the middle of a send.
RECORD_S = 10.0
# How many ready deliveries one loop claims in one go, at most.
CHUNK = 20


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
        # Written claimed by this process, with their bytes and when the lease was taken; one
        # queue per connection, chosen by recipient, so a person's e-mails go out in order.
        self._fresh: list[dict[DeliveryId, tuple[Claimed, float]]] = [{} for _ in self._senders]
        # Found by the poll: to be claimed first.
        self._ready: dict[DeliveryId, None] = {}
        self._in_hand: set[DeliveryId] = set()
        self._signals = [asyncio.Event() for _ in self._senders]
        self._poll_signal = asyncio.Event()

    def ready(self, claimed: Claimed) -> None:
        """A delivery was just written, claimed for this process: send it now."""
        shard = zlib.crc32(claimed.delivery.recipient_id.encode()) % len(self._fresh)
        self._fresh[shard][claimed.delivery.id] = (claimed, asyncio.get_running_loop().time())
        self._signals[shard].set()

    def _due(self, delivery_id: DeliveryId) -> None:
        if delivery_id not in self._in_hand and not any(delivery_id in f for f in self._fresh):
            self._ready[delivery_id] = None
            for signal in self._signals:
                signal.set()

    def _waiting(self, shard: int | None = None) -> int:
        fresh = self._fresh if shard is None else [self._fresh[shard]]
        return sum(len(f) for f in fresh) + len(self._ready)

    def wake(self) -> None:
        """Something became due (a resend, a digest): poll the queue now."""
        self._poll_signal.set()

    async def run(self) -> None:
        """Deliver until cancelled; closes the SMTP connections on the way out."""
        try:
            # A task group, not gather: stopping waits for every loop to finish its step
            # (gather would return at the first cancelled loop, under a send in progress).
            async with asyncio.TaskGroup() as loops:
                for shard, sender in enumerate(self._senders):
                    loops.create_task(self._loop(sender, shard))
                loops.create_task(self._poll())
                loops.create_task(self._watch())
        finally:
            for sender in self._senders:
                await sender.close()

    async def deliver_due(self, sender: Sender | None = None) -> int:
        """Take everything ready or due now, on one connection; returns how many were taken."""
        chosen = sender or self._senders[0]
        await self._find_due()
        taken = 0
        while self._waiting():
            for shard in range(len(self._fresh)):
                taken += await finish_step(
                    self._next(chosen, shard), grace_s=self._stop_grace_s, on_cancel=self._cut_sends
                )
        return taken

    async def _next(self, sender: Sender, shard: int) -> int:
        """Take a share of what is ready and send it; returns how many were taken."""
        share = max(
            1, min(CHUNK, -(-len(self._ready) // len(self._senders)) + len(self._fresh[shard]))
        )
        fresh = self._take_fresh(shard, share)
        ids = list(self._ready)[: max(share - len(fresh), 0)]
        for delivery_id in ids:
            del self._ready[delivery_id]
        self._in_hand.update(ids)
        self._in_hand.update(c.delivery.id for c in fresh)
        try:
            claimed = fresh + await self._deliveries.claim(
                ids, now=self._clock(), lease_s=self._lease_s
            )
            # Each outcome is written as soon as its send is over, without holding up the next
            # send: the loops' outcomes go out together, a few per database command.
            recording = []
            for one in claimed:
                recording.append(asyncio.ensure_future(self._record(*await self._try(one, sender))))
            await asyncio.gather(*recording)
        finally:
            self._in_hand.difference_update(ids)
            self._in_hand.difference_update(c.delivery.id for c in fresh)
        return len(claimed)

    def _take_fresh(self, shard: int, share: int) -> list[Claimed]:
        """Deliveries claimed at birth, as long as their lease leaves time for an attempt.

        One whose lease is nearly over (the process was paused, say) is left to the poll,
        which claims it again: never two attempts at once.
        """
        taken = []
        latest = asyncio.get_running_loop().time() - self._usable_lease_s()
        fresh = self._fresh[shard]
        for delivery_id in list(fresh)[:share]:
            claimed, at = fresh.pop(delivery_id)
            if at >= latest:
                taken.append(claimed)
        return taken

    def _usable_lease_s(self) -> float:
        return max(self._lease_s - self._attempt_timeout_s - RECORD_S, 0.0)

    async def _find_due(self) -> None:
        for delivery_id in await self._deliveries.due(now=self._clock(), limit=500):
            self._due(delivery_id)

    async def attempt(self, claimed: Claimed, sender: Sender) -> Delivery:
        """Send once and record what happened, with the outcome event staged in the same write.

        A delivery that cannot be attempted (its e-mail erased, or no attempts left after
        workers died mid-attempt) fails for good instead, so it is never claimed again.
        """
        return await self._record(*await self._try(claimed, sender))

    async def _try(
        self, claimed: Claimed, sender: Sender
    ) -> tuple[Delivery, list[Event], str | None, str]:
        """One attempt: the delivery as it now stands, its events, the error and why it failed."""
        delivery, to, message = claimed.delivery, claimed.to, claimed.message
        reason = unsendable(delivery, has_message=bool(to and message))
        if reason is not None or not to or not message:
            error = reason or "nothing to send"
            abandoned, event = abandon(delivery, error=error, now=self._clock())
            return abandoned, [event], error, "abandoned"
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
        return delivery, events, result.error, failure

    async def _record(
        self, delivery: Delivery, events: list[Event], error: str | None, failure: str
    ) -> Delivery:
        recorded = await self._deliveries.record(
            delivery, self._outbox.stage(events, correlation_id=delivery.event_id)
        )
        if not recorded:
            # Our lease ran out and another worker took the delivery over; its record stands.
            log.warning("delivery.superseded", delivery_id=delivery.id)
            return delivery
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

    async def _loop(self, sender: Sender, shard: int) -> None:
        signal = self._signals[shard]
        while True:
            await signal.wait()
            # Cleared before looking: what arrives from now on sets it again.
            signal.clear()
            try:
                while self._fresh[shard] or self._ready:
                    await finish_step(
                        self._next(sender, shard),
                        grace_s=self._stop_grace_s,
                        on_cancel=self._cut_sends,
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The database is away: the deliveries stay pending, found again by the poll.
                log.warning("delivery.loop_failed", error=str(exc))
                await asyncio.sleep(self._poll_s)

    async def _poll(self) -> None:
        while True:
            try:
                await finish_step(self._find_due(), grace_s=self._stop_grace_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("delivery.poll_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_signal.wait(), self._poll_s)
            self._poll_signal.clear()

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
        """Refresh the gauges of pending work: how much, and how old the oldest is."""
        oldest = await self._deliveries.oldest_pending()
        age = (self._clock() - oldest).total_seconds() if oldest else 0.0
        QUEUE_AGE.set(max(age, 0.0))
        PENDING.set(await self._deliveries.pending_count())

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
