"""The scenarios `make bench` runs; each returns a dict of figures for the report."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import Binary
from pymongo import AsyncMongoClient
from rich.progress import Progress

from shared.contracts.meetings import TOPIC as MEETINGS_TOPIC
from tests.bench.baseline import raw_loop
from tests.bench.events import recipient_domain, registration_confirmed
from tests.bench.mailbox import Mailbox
from tests.bench.profile import Profiler, summarise
from tests.bench.stack import PeakRss, Servers, end_offsets, produce, service


@dataclass
class Context:
    servers: Servers
    log_dir: Path
    progress: Progress
    profile: bool = False
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


def _rate(times: list[datetime]) -> float:
    if len(times) < 2:
        return 0.0
    span = (times[-1] - times[0]).total_seconds()
    return (len(times) - 1) / span if span > 0 else 0.0


async def _wait_mail(ctx: Context, mailbox: Mailbox, query: str, count: int, label: str) -> int:
    task = ctx.progress.add_task(label, total=count)
    try:
        return await mailbox.wait_for(
            query,
            count,
            timeout_s=max(60.0, count / 2.0),
            on_progress=lambda seen: ctx.progress.update(task, completed=seen),
        )
    finally:
        ctx.progress.remove_task(task)


async def baseline(ctx: Context, *, events: int) -> dict[str, Any]:
    """The raw loop over `events` registration events, on the same servers."""
    run = f"{ctx.run}b"
    topic = f"bench-{run}.{MEETINGS_TOPIC}"
    start = await end_offsets(ctx.servers.kafka, topic)
    await produce(
        ctx.servers.kafka,
        topic,
        [registration_confirmed(i, run=run, meetings=20) for i in range(events)],
    )
    mailbox = Mailbox(ctx.servers.mailpit_api)
    query = f"to:{recipient_domain(run)}"
    started = time.monotonic()
    sent = await raw_loop(
        bootstrap=ctx.servers.kafka,
        topic=topic,
        start_offsets=start,
        count=events,
        mongo_uri=ctx.servers.mongo,
        database=f"bench-{run}",
        smtp_host=ctx.servers.smtp_host,
        smtp_port=ctx.servers.smtp_port,
    )
    wall = time.monotonic() - started
    await _wait_mail(ctx, mailbox, query, events, "baseline: mail arriving")
    times = await mailbox.arrival_times(query)
    await mailbox.close()
    return {"events": events, "sent": sent, "wall_s": wall, "emails_per_s": _rate(times)}


async def seed_history(ctx: Context, database: str, rows: int) -> float:
    """Fill the delivery ledger with `rows` sent e-mails, as months of use would."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.servers.mongo, tz_aware=True)
    deliveries = mongo[database]["deliveries"]
    message = Binary(b"x" * 6000)
    then = datetime.now(UTC) - timedelta(days=90)
    task = ctx.progress.add_task("history: seeding the ledger", total=rows)
    started = time.monotonic()
    for chunk in range(0, rows, 1000):
        docs = [
            {
                "_id": f"h{i:08d}",
                "event_id": f"history-{i}",
                "event_type": "eu.urbanagenda.inclusion.meeting.registration_confirmed.v1",
                "template": "registration_confirmed",
                "recipient_id": f"c-history-{i % 5000}",
                "category": "personal",
                "created_at": then + timedelta(seconds=i),
                "status": "sent",
                "attempts": 1,
                "attempt_limit": 8,
                "last_error": None,
                "next_attempt_at": then + timedelta(seconds=i),
                "sent_at": then + timedelta(seconds=i, milliseconds=80),
                "failed_at": None,
                "lease_until": None,
                "outbox": [],
                "outbox_pending": False,
                "to": f"history{i % 5000}@history.example.org",
                "message": message,
                "message_id": f"<h{i:08d}@history.example.org>",
                "language": "en",
            }
            for i in range(chunk, min(chunk + 1000, rows))
        ]
        await deliveries.insert_many(docs)
        ctx.progress.update(task, completed=min(chunk + 1000, rows))
    ctx.progress.remove_task(task)
    await mongo.close()
    return time.monotonic() - started


async def drain(ctx: Context, *, events: int, history: int) -> dict[str, Any]:
    """`events` registration events already on the topic; the service starts afterwards."""
    run = f"{ctx.run}d{history}"
    prefix = "" if __import__("os").environ.get("BENCH_LEGACY") else f"bench-{run}."
    topic = f"{prefix}{MEETINGS_TOPIC}"
    database = f"bench-{run}"
    await end_offsets(ctx.servers.kafka, topic)
    await produce(
        ctx.servers.kafka,
        topic,
        [registration_confirmed(i, run=run, meetings=20) for i in range(events)],
    )
    seeded_s = await seed_history(ctx, database, history) if history else 0.0
    mailbox = Mailbox(ctx.servers.mailpit_api)
    query = f"to:{recipient_domain(run)}"
    async with service(
        "notifications",
        ctx.servers,
        database=database,
        log_dir=ctx.log_dir,
        KAFKA_TOPIC_PREFIX=prefix,
        CONSUMER_GROUP=f"{prefix}notifications",
        SEED_DIRECTORY="false",
        MAIL_DOMAIN=f"{run}.bench.example.org",
    ) as notifications:
        profiler = (
            Profiler(notifications.process.pid, ctx.log_dir / f"drain-{history}.collapsed")
            if ctx.profile
            else None
        )
        async with PeakRss(notifications.process.pid) as rss:
            arrived = await _wait_mail(
                ctx, mailbox, query, events, f"drain ({history} rows of history)"
            )
        if profiler is not None:
            profiler.stop()
    times = await mailbox.arrival_times(query)
    await mailbox.close()
    profile = summarise(profiler.out) if profiler is not None else None
    return {
        "profile": profile,
        "events": events,
        "history_rows": history,
        "history_seed_s": seeded_s,
        "arrived": arrived,
        "emails_per_s": _rate(times),
        "peak_rss_mb": rss.peak,
    }
