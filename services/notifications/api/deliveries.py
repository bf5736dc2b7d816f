"""Operator routes: the delivery ledger, resending, counts, and running the scheduled jobs now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.notifications.api.deps import ComponentsDep
from services.notifications.api.views import DeliveryCounts, DeliveryView, JobRun
from services.notifications.domain import deliveries as domain
from services.notifications.domain.deliveries import DeliveryId, DeliveryStatus
from services.notifications.domain.directory import ContactId
from services.notifications.store.deliveries import DeliveryQuery
from shared.auth import Operator
from shared.problems import problem_responses

router = APIRouter(tags=["operations: deliveries"])


@router.get(
    "/deliveries",
    summary="List deliveries by status, recipient or event, newest first",
    responses=problem_responses(401, 403, 422),
)
async def list_deliveries(
    c: ComponentsDep,
    _: Operator,
    status_: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    recipient_id: ContactId | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeliveryView]:
    query = DeliveryQuery(
        status=status_, recipient_id=recipient_id, event_id=event_id, limit=limit, offset=offset
    )
    return [DeliveryView.of(d) for d in await c.stores.deliveries.list(query)]


@router.get(
    "/deliveries/counts",
    summary="How many deliveries are pending, sent, failed and cancelled",
    responses=problem_responses(401, 403),
)
async def count_deliveries(c: ComponentsDep, _: Operator) -> DeliveryCounts:
    counts = await c.stores.deliveries.counts()
    return DeliveryCounts(**{s.value: counts.get(s, 0) for s in DeliveryStatus})


@router.get(
    "/deliveries/{delivery_id}",
    summary="One delivery",
    responses=problem_responses(401, 403, 404),
)
async def get_delivery(delivery_id: DeliveryId, c: ComponentsDep, _: Operator) -> DeliveryView:
    return DeliveryView.of(await c.stores.deliveries.get(delivery_id))


@router.post(
    "/deliveries/{delivery_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a failed delivery again (same Message-ID, fresh attempts)",
    responses=problem_responses(401, 403, 404, 409),
)
async def resend_delivery(delivery_id: DeliveryId, c: ComponentsDep, _: Operator) -> DeliveryView:
    delivery = domain.resend(
        await c.stores.deliveries.get(delivery_id), now=c.clock(), policy=c.policy
    )
    await c.stores.deliveries.save(delivery)
    c.wake_worker()
    return DeliveryView.of(delivery)


@router.post(
    "/digest-runs",
    summary="Write the daily digests that are due now (the scheduled job, run at once)",
    responses=problem_responses(401, 403),
)
async def run_digests(c: ComponentsDep, _: Operator) -> JobRun:
    return JobRun(job="daily_digest", count=await c.digests.run_due())


@router.post(
    "/reminder-runs",
    summary="Send the reminders that are due now (the scheduled job, run at once)",
    responses=problem_responses(401, 403),
)
async def run_reminders(c: ComponentsDep, _: Operator) -> JobRun:
    return JobRun(job="reminders", count=await c.reminders.run_due())
