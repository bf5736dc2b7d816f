"""A stalled partition is visible: lag and stall on /metrics, and /readyz says which."""

import asyncio

import pytest
from prometheus_client import generate_latest

from shared.contracts.meetings import MeetingCancelled
from shared.envelope import Envelope
from shared.messaging import make_broker, subscribe
from shared.outbox import Outbox
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings
from tests.infra import unique_name
from tests.integration.shared.test_consumer_delivery import eventually, publish
from tests.integration.shared.test_outbox_relay import cancellation

pytestmark = pytest.mark.integration


async def test_a_consumer_stuck_on_a_record_is_reported_stalled_until_it_moves_on(kafka, mongo):
    topic, group = unique_name("stall"), unique_name("group")
    settings = ServiceSettings(
        service_name="stall-test", kafka_bootstrap_servers=kafka.bootstrap, consumer_stall_s=1
    )
    broker = make_broker(settings)
    release = asyncio.Event()

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        await release.wait()

    consumer = subscribe(
        broker, topics=[topic], group_id=group, handlers={MeetingCancelled: on_meeting_cancelled}
    )
    runtime = ServiceRuntime(settings=settings, mongo=None, broker=broker, consumers=[consumer])  # type: ignore[arg-type]
    ready = runtime.readiness()["consumers"]
    outbox = Outbox(source="/partnership/meetings")
    for reason in ("strike", "flood"):
        [entry] = outbox.stage([cancellation("pm-20", reason)])
        await publish(kafka.bootstrap, topic, entry)
    await broker.start()
    try:

        async def stalled() -> bool:
            await consumer.observe()
            return consumer.stalled_s > settings.consumer_stall_s

        await eventually(stalled, timeout_s=60)
        metrics = generate_latest().decode()
        assert not await ready()
        assert (
            f'consumer_lag_records{{group="{group}",partition="0",topic="{topic}"}} 2.0' in metrics
        )
        assert f'consumer_stalled_seconds{{group="{group}"}}' in metrics

        release.set()

        async def moved_on() -> bool:
            await consumer.observe()
            return consumer.stalled_s == 0

        await eventually(moved_on, timeout_s=60)
        assert await ready()
    finally:
        release.set()
        await broker.stop()
