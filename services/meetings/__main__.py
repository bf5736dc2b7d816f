"""Composition root of the meetings service: `python -m services.meetings`.

settings → MongoDB and Kafka clients → store and outbox relay → app. The service consumes
no events; it publishes through the outbox relay only.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from fastapi import FastAPI

from services.meetings.api import ROUTERS, Components
from services.meetings.rendering import Renderer
from services.meetings.settings import MeetingsSettings
from services.meetings.store import MeetingStore
from shared.http import create_app
from shared.links import LinkSigner
from shared.logging import configure_logging
from shared.messaging import KafkaPublisher, make_broker
from shared.outbox import Outbox, OutboxRelay
from shared.ratelimit import build_rate_limiter
from shared.runtime import ServiceRuntime, serve
from shared.storage import connect_mongo
from shared.topics import MEETINGS

DESCRIPTION = (
    "Partnership meetings, working conferences, workshops and site visits: programme, "
    "registrations with capacity and waitlist, minutes with decisions, calendar files."
)


def build(settings: MeetingsSettings) -> FastAPI:
    """Wire settings → clients → store → relay → app; nothing connects until the app starts."""
    mongo = connect_mongo(settings)
    broker = make_broker(settings)
    outbox = Outbox(source=settings.event_source)
    store = MeetingStore(mongo[settings.database_name], outbox)
    relay = OutboxRelay(
        outbox,
        KafkaPublisher(broker, topic_prefix=settings.kafka_topic_prefix),
        store.outbox_collections,
        sweep_interval_s=settings.outbox_sweep_interval_s,
    )
    runtime = ServiceRuntime(settings=settings, mongo=mongo, broker=broker)

    async def relay_events() -> None:
        await runtime.wait_for_broker()
        await relay.run()

    async def repair_registrations() -> None:
        # Registration changes a dead process decided but did not apply: applied here.
        while True:
            await store.repair(now=datetime.now(UTC))
            await asyncio.sleep(settings.outbox_sweep_interval_s)

    runtime.startup = (store.create_indexes, relay.create_indexes)
    runtime.background = (relay_events, repair_registrations)
    runtime.topics = (MEETINGS,)
    app = create_app(
        settings,
        title="Meetings",
        description=DESCRIPTION,
        routers=ROUTERS,
        readiness=runtime.readiness(),
        lifespan=runtime.lifespan,
        # Public and unauthenticated: no business being large.
        body_limits={
            "POST /meetings/{meeting_id}/registrations": settings.max_registration_body_bytes
        },
    )
    app.state.components = Components(
        store=store,
        links=LinkSigner(settings.link_key()),
        base_url=settings.base_url,
        link_grace_s=settings.registration_link_grace_s,
        limiter=build_rate_limiter(
            settings, database=mongo[settings.database_name], secret=settings.link_key()
        ),
    )
    # The registration page's templates, compiled in every language before the first request.
    app.state.renderer = Renderer()
    return app


def main() -> None:
    settings = MeetingsSettings()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.json_logs)
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
