"""Composition root: settings → clients → stores → notifier, worker, jobs → app.

`python -m services.notifications` runs the service. Nothing connects until the app starts.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import FastAPI

from services.notifications.api import EXCEPTION_HANDLERS, ROUTERS
from services.notifications.api.deps import Components
from services.notifications.domain.deliveries import BackoffPolicy
from services.notifications.domain.routing import routed_event_types
from services.notifications.handlers import handlers_for, lane_of
from services.notifications.jobs.schedules import DigestJob, ReminderJob, every
from services.notifications.jobs.worker import DeliveryWorker
from services.notifications.mail.letters import LetterWriter, MailIdentity
from services.notifications.mail.sender import SmtpConfig, SmtpSender
from services.notifications.notifier import DigestSchedule, Notifier
from services.notifications.rendering import Renderer
from services.notifications.seed import seed_directory
from services.notifications.settings import NotificationSettings
from services.notifications.store import MongoStores
from shared.clock import utcnow
from shared.contracts.base import Event
from shared.http import create_app
from shared.links import LinkSigner
from shared.logging import configure_logging
from shared.messaging import KafkaPublisher, make_broker, subscribe
from shared.outbox import Outbox, OutboxRelay
from shared.ratelimit import build_rate_limiter
from shared.runtime import ServiceRuntime, serve
from shared.storage import connect_mongo
from shared.topics import MEETINGS, NOTIFICATIONS, dead_letters


@dataclass(frozen=True)
class Service:
    """The assembled service: the app to serve, and its parts for tests and operators."""

    app: FastAPI
    runtime: ServiceRuntime
    stores: MongoStores
    notifier: Notifier
    worker: DeliveryWorker
    reminders: ReminderJob
    digests: DigestJob
    relay: OutboxRelay


def topics() -> list[str]:
    """The topics of every event type the routing table knows."""
    return sorted({cls.TOPIC for cls in routed_event_types() if issubclass(cls, Event)})


def build(settings: NotificationSettings, *, clock: Callable[[], datetime] = utcnow) -> Service:
    """Wire the parts: stores, mail, the worker and the jobs, the consumer, the relay, the app."""
    mongo = connect_mongo(settings)
    db = mongo[settings.database_name]
    broker = make_broker(settings)
    outbox = Outbox(source=settings.event_source, clock=clock)
    stores = MongoStores.of(db, outbox)
    renderer = Renderer()
    signer = LinkSigner(settings.link_key())
    writer = letter_writer(settings, renderer, signer)
    policy = backoff_policy(settings)
    worker = delivery_worker(settings, stores, outbox, policy=policy, clock=clock)
    schedule = DigestSchedule(settings.digest_hour, ZoneInfo(settings.digest_timezone))
    notifier = Notifier(
        stores,
        writer,
        outbox,
        address_secret=settings.address_secret(),
        policy=policy,
        reminder_offsets=settings.reminder_offsets,
        digest_schedule=schedule,
        clock=clock,
        ready=worker.ready,
        lease_s=settings.delivery_lease_s,
    )
    reminder_job = ReminderJob(stores, notifier, clock=clock)
    digest_job = DigestJob(
        stores,
        writer,
        schedule=schedule,
        policy=policy,
        clock=clock,
        ready=worker.ready,
        lease_s=settings.delivery_lease_s,
    )
    # Every effect is keyed by the event's id (deliveries, digest entries, participants,
    # reminders), so a redelivered event finds it done: no separate "processed" record.
    consumer = subscribe(
        broker,
        topics=topics(),
        group_id=settings.consumer_group,
        handlers=handlers_for(notifier),
        lane_of=lane_of,
        topic_prefix=settings.kafka_topic_prefix,
    )
    relay = OutboxRelay(
        outbox,
        KafkaPublisher(broker, topic_prefix=settings.kafka_topic_prefix),
        [stores.deliveries.collection],
        sweep_interval_s=settings.outbox_sweep_interval_s,
    )
    # The relay waits for the broker the runtime connects (late-bound: the runtime is built
    # with its background loops).
    loops = background(
        settings, lambda: runtime.wait_for_broker(), worker, relay, reminder_job, digest_job
    )
    runtime = ServiceRuntime(
        settings=settings,
        mongo=mongo,
        broker=broker,
        startup=[stores.create_indexes, relay.create_indexes, seeding(settings, stores, clock)],
        background=loops,
        topics=[MEETINGS, NOTIFICATIONS, dead_letters(settings.consumer_group)],
        consumers=[consumer],
    )
    app = create_app(
        settings,
        title="Notifications",
        description=(
            "E-mail to members and participants of the Partnership on Inclusion of Migrants "
            "and Refugees: the directory, subscriptions and preferences, the delivery ledger, "
            "and the unsubscribe page."
        ),
        routers=ROUTERS,
        exception_handlers=EXCEPTION_HANDLERS,
        readiness=runtime.readiness(),
        lifespan=runtime.lifespan,
    )
    app.state.components = Components(
        stores=stores,
        notifier=notifier,
        writer=writer,
        renderer=renderer,
        signer=signer,
        reminders=reminder_job,
        digests=digest_job,
        policy=policy,
        clock=clock,
        address_secret=settings.address_secret(),
        wake_worker=worker.wake,
        limiter=build_rate_limiter(settings, database=db, secret=settings.link_key()),
    )
    return Service(
        app=app,
        runtime=runtime,
        stores=stores,
        notifier=notifier,
        worker=worker,
        reminders=reminder_job,
        digests=digest_job,
        relay=relay,
    )


def letter_writer(
    settings: NotificationSettings, renderer: Renderer, signer: LinkSigner
) -> LetterWriter:
    return LetterWriter(
        renderer,
        signer,
        MailIdentity(
            sender=settings.mail_from,
            organiser_name=settings.organiser_name,
            organiser_email=settings.organiser_email,
            domain=settings.mail_domain,
            base_url=settings.base_url,
            link_ttl_s=settings.unsubscribe_link_ttl_s,
        ),
    )


def backoff_policy(settings: NotificationSettings) -> BackoffPolicy:
    return BackoffPolicy(
        base_s=settings.retry_base_s,
        cap_s=settings.retry_cap_s,
        max_attempts=settings.retry_max_attempts,
    )


def delivery_worker(
    settings: NotificationSettings,
    stores: MongoStores,
    outbox: Outbox,
    *,
    policy: BackoffPolicy,
    clock: Callable[[], datetime],
) -> DeliveryWorker:
    smtp = SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_s=settings.smtp_timeout_s,
        validate_certs=settings.smtp_validate_certs,
    )
    return DeliveryWorker(
        stores.deliveries,
        [SmtpSender(smtp) for _ in range(settings.smtp_connections)],
        outbox,
        return_path=settings.mail_return_path,
        policy=policy,
        clock=clock,
        rng=random.Random(),  # noqa: S311 - jitter, not secrecy
        lease_s=settings.delivery_lease_s,
        attempt_timeout_s=settings.delivery_attempt_timeout_s,
        stop_grace_s=settings.step_grace_s(),
        poll_s=settings.delivery_poll_s,
    )


def seeding(
    settings: NotificationSettings, stores: MongoStores, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[None]]:
    """The start-up step that seeds the partnership's members, when the settings ask for it."""

    async def seed() -> None:
        if settings.seed_directory:
            await seed_directory(stores.directory, secret=settings.address_secret(), now=clock())

    return seed


def background(
    settings: NotificationSettings,
    wait_for_broker: Callable[[], Awaitable[None]],
    worker: DeliveryWorker,
    relay: OutboxRelay,
    reminder_job: ReminderJob,
    digest_job: DigestJob,
) -> list[Callable[[], Awaitable[None]]]:
    """The loops the service runs beside its HTTP server, until it stops."""
    grace_s = settings.step_grace_s()

    async def relay_outcomes() -> None:
        await wait_for_broker()
        await relay.run()

    async def send_reminders() -> None:
        await every(settings.reminder_poll_s, reminder_job.run_due, "reminders", grace_s=grace_s)

    async def write_digests() -> None:
        await every(settings.digest_poll_s, digest_job.run_due, "daily_digest", grace_s=grace_s)

    return [worker.run, relay_outcomes, send_reminders, write_digests]


def main() -> None:
    settings = NotificationSettings()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.json_logs)
    serve(build(settings).app, settings)


if __name__ == "__main__":
    main()
