"""The scenarios `make bench` runs; each returns a dict of figures for the report.

Every scenario puts its topics under a prefix of its own, in databases of its own, and
writes to recipients at a domain of its own: runs never read each other's events or mail.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from bson import Binary
from pymongo import AsyncMongoClient
from rich.progress import Progress

from shared.auth import Role, mint_token
from shared.contracts.meetings import TOPIC as MEETINGS_TOPIC
from shared.settings import ServiceSettings
from tests.bench.baseline import raw_loop
from tests.bench.events import recipient_domain, registration_confirmed
from tests.bench.mailbox import Mailbox
from tests.bench.profile import Profiler, summarise
from tests.bench.stack import ConsumerLag, PeakRss, Servers, end_offsets, produce, service
from tests.e2e.process import RunningService

# What the services run with in every scenario: like production, but on the dev stack.
SERVICE_ENV = {"OUTBOX_SWEEP_INTERVAL_S": "10", "LOG_LEVEL": "WARNING"}


@dataclass
class Context:
    servers: Servers
    log_dir: Path
    progress: Progress
    profile: bool = False
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of a sample, in its own unit."""
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1], "n": len(values)}


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
            timeout_s=max(120.0, count / 5.0),
            on_progress=lambda seen: ctx.progress.update(task, completed=seen),
        )
    finally:
        ctx.progress.remove_task(task)


# --- the raw loop and the drain ---------------------------------------------------------


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
    return {
        "events": events,
        "sent": sent,
        "wall_s": wall,
        "emails_per_s": _rate(times),
        "arrivals_s": [(t - times[0]).total_seconds() for t in times],
    }


async def seed_history(ctx: Context, database: str, rows: int) -> float:
    """Fill the delivery ledger with `rows` sent e-mails, as months of use would."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(ctx.servers.mongo, tz_aware=True)
    db = mongo[database]
    message = Binary(b"x" * 6000)
    then = datetime.now(UTC) - timedelta(days=90)
    task = ctx.progress.add_task(f"history: {rows} ledger rows", total=rows)
    started = time.monotonic()
    for chunk in range(0, rows, 1000):
        ids = [f"h{i:08d}" for i in range(chunk, min(chunk + 1000, rows))]
        await db["deliveries"].insert_many(
            [
                {
                    "_id": i,
                    "event_id": f"history-{i}",
                    "event_type": "eu.urbanagenda.inclusion.meeting.registration_confirmed.v1",
                    "template": "registration_confirmed",
                    "recipient_id": f"c-history-{n % 5000}",
                    "category": "personal",
                    "created_at": then + timedelta(seconds=n),
                    "status": "sent",
                    "attempts": 1,
                    "attempt_limit": 8,
                    "last_error": None,
                    "next_attempt_at": then + timedelta(seconds=n),
                    "sent_at": then + timedelta(seconds=n, milliseconds=80),
                    "failed_at": None,
                    "lease_until": None,
                    "lease_owner": None,
                    "outbox": [],
                    "outbox_pending": False,
                    "outbox_write": None,
                    "outbox_lease_owner": None,
                    "outbox_lease_until": None,
                }
                for n, i in enumerate(ids, start=chunk)
            ]
        )
        await db["delivery_messages"].insert_many(
            [
                {"_id": i, "to": f"{i}@history.example.org", "message": message, "language": "en"}
                for i in ids
            ]
        )
        ctx.progress.update(task, completed=chunk + len(ids))
    ctx.progress.remove_task(task)
    await mongo.close()
    return time.monotonic() - started


async def drain(ctx: Context, *, events: int, history: int) -> dict[str, Any]:
    """`events` registration events already on the topic; the service starts afterwards."""
    run = f"{ctx.run}d{history}"
    prefix = f"bench-{run}."
    database = f"bench-{run}"
    await end_offsets(ctx.servers.kafka, f"{prefix}{MEETINGS_TOPIC}")
    await produce(
        ctx.servers.kafka,
        f"{prefix}{MEETINGS_TOPIC}",
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
        **SERVICE_ENV,
    ) as notifications:
        profiler = (
            Profiler(notifications.process.pid, ctx.log_dir / f"drain-{history}.collapsed")
            if ctx.profile
            else None
        )
        async with PeakRss(notifications.process.pid) as rss:
            arrived = await _wait_mail(ctx, mailbox, query, events, f"drain, {history} rows")
        if profiler is not None:
            profiler.stop()
    times = await mailbox.arrival_times(query)
    await mailbox.close()
    return {
        "events": events,
        "history_rows": history,
        "history_seed_s": seeded_s,
        "arrived": arrived,
        "emails_per_s": _rate(times),
        "peak_rss_mb": rss.peak,
        "arrivals_s": [(t - times[0]).total_seconds() for t in times] if times else [],
        "profile": summarise(profiler.out) if profiler is not None else None,
    }


# --- registrations over HTTP ------------------------------------------------------------


@dataclass
class Stack:
    """Both services as processes, on prefixed topics and databases of one run."""

    meetings: RunningService
    notifications: RunningService
    prefix: str
    run: str
    http: httpx.AsyncClient
    secretariat: dict[str, str]

    async def meeting(self, title: str, *, capacity: int | None) -> str:
        """A scheduled workshop open for registration; returns its id."""
        planned = await self.http.post(
            f"{self.meetings.url}/meetings",
            headers=self.secretariat,
            json={
                "kind": "workshop",
                "title": title,
                "organiser": "City of Rotterdam",
                "starts_at": "2031-06-03T11:00:00",
                "ends_at": "2031-06-03T16:00:00",
                "timezone": "Europe/Amsterdam",
                "venue": {
                    "name": "Huis van de Wijk De Nieuwe Gaffel",
                    "street_address": "Gaffelstraat 63B",
                    "city": "Rotterdam",
                    "country": "Netherlands",
                },
                "capacity": capacity,
            },
        )
        planned.raise_for_status()
        meeting_id: str = planned.json()["meeting_id"]
        scheduled = await self.http.post(
            f"{self.meetings.url}/meetings/{meeting_id}/schedule", headers=self.secretariat
        )
        scheduled.raise_for_status()
        return meeting_id

    async def register(self, meeting_id: str, n: int) -> tuple[float, datetime, httpx.Response]:
        """One registration; (seconds it took, when the answer came, the answer)."""
        started = time.perf_counter()
        answer = await self.http.post(
            f"{self.meetings.url}/meetings/{meeting_id}/registrations",
            json={
                "name": f"Participant {n}",
                "email": f"p{n}@{recipient_domain(self.run)}",
                "organisation": "City of Rotterdam",
                "language": "en",
            },
        )
        return time.perf_counter() - started, datetime.now(UTC), answer


@asynccontextmanager
async def stack(ctx: Context, label: str) -> AsyncIterator[Stack]:
    run = f"{ctx.run}{label}"
    prefix = f"bench-{run}."
    async with AsyncExitStack() as stack_:
        notifications = await stack_.enter_async_context(
            service(
                "notifications",
                ctx.servers,
                database=f"bench-{run}-n",
                log_dir=ctx.log_dir,
                KAFKA_TOPIC_PREFIX=prefix,
                CONSUMER_GROUP=f"{prefix}notifications",
                SEED_DIRECTORY="false",
                MAIL_DOMAIN=f"{run}.bench.example.org",
                **SERVICE_ENV,
            )
        )
        meetings = await stack_.enter_async_context(
            service(
                "meetings",
                ctx.servers,
                database=f"bench-{run}-m",
                log_dir=ctx.log_dir,
                KAFKA_TOPIC_PREFIX=prefix,
                **SERVICE_ENV,
            )
        )
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        http = await stack_.enter_async_context(httpx.AsyncClient(timeout=60, limits=limits))
        token = mint_token(ServiceSettings(), subject="bench", roles=[Role.SECRETARIAT])
        yield Stack(
            meetings, notifications, prefix, run, http, {"Authorization": f"Bearer {token}"}
        )


async def steady(ctx: Context, *, rate: float, seconds: float, meetings: int) -> dict[str, Any]:
    """Registrations at a fixed rate across many meetings: HTTP and 201 → e-mail latency."""
    async with stack(ctx, f"s{int(rate)}") as s:
        ids = [await s.meeting(f"Working conference {i}", capacity=None) for i in range(meetings)]
        total = int(rate * seconds)
        lag = ConsumerLag(ctx.servers.kafka, f"{s.prefix}notifications")
        answers: list[tuple[int, float, datetime, int]] = []
        errors: list[str] = []

        async def one(n: int) -> None:
            try:
                took, at, answer = await s.register(ids[n % meetings], n)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            answers.append((n, took, at, answer.status_code))

        task = ctx.progress.add_task(f"steady {rate:g}/s", total=total)
        started = time.monotonic()
        async with (
            PeakRss(s.meetings.process.pid) as meetings_rss,
            PeakRss(s.notifications.process.pid) as notifications_rss,
            lag,
        ):
            pending = []
            for n in range(total):
                await asyncio.sleep(max(started + n / rate - time.monotonic(), 0))
                pending.append(asyncio.create_task(one(n)))
                ctx.progress.update(task, completed=n + 1)
            await asyncio.gather(*pending)
            mailbox = Mailbox(ctx.servers.mailpit_api)
            query = f"to:{recipient_domain(s.run)}"
            await _wait_mail(ctx, mailbox, query, total, f"steady {rate:g}/s: mail")
        ctx.progress.remove_task(task)
        arrivals = await mailbox.messages_by_recipient(query)
        await mailbox.close()
    first_answer = min((at for _, _, at, _ in answers), default=datetime.now(UTC))
    end_to_end: list[float] = []
    series: list[tuple[float, float]] = []
    for n, _, at, status in sorted(answers, key=lambda a: a[2]):
        arrived = arrivals.get(f"p{n}@{recipient_domain(s.run)}")
        if status == 201 and arrived is not None:
            latency_ms = (arrived - at).total_seconds() * 1000
            end_to_end.append(latency_ms)
            series.append(((at - first_answer).total_seconds(), latency_ms))
    return {
        "rate_per_s": rate,
        "seconds": seconds,
        "meetings": meetings,
        "registrations": total,
        "answered_201": sum(1 for *_, status in answers if status == 201),
        "http_errors": len(errors),
        "http_error_kinds": sorted(set(errors))[:5],
        "emails": len(end_to_end),
        "http_ms": percentiles([took * 1000 for _, took, _, _ in answers]),
        "end_to_end_ms": percentiles(end_to_end),
        "peak_consumer_lag": lag.peak,
        "peak_rss_mb": {"meetings": meetings_rss.peak, "notifications": notifications_rss.peak},
        "series": series,
    }


async def big_meeting(
    ctx: Context, *, sequential: int, concurrent: int, seats: int
) -> dict[str, Any]:
    """One meeting takes `sequential` registrations one after another; another takes
    `concurrent` at once for `seats` seats, and the seat invariant is checked from outside."""
    async with stack(ctx, "g") as s:
        meeting_id = await s.meeting("European Week of Regions and Cities", capacity=None)
        latencies: list[float] = []
        task = ctx.progress.add_task("big meeting: one by one", total=sequential)
        async with PeakRss(s.meetings.process.pid) as meetings_rss:
            for n in range(sequential):
                took, _, answer = await s.register(meeting_id, n)
                answer.raise_for_status()
                latencies.append(took * 1000)
                ctx.progress.update(task, completed=n + 1)
            ctx.progress.remove_task(task)
            crowded = await s.meeting("Cities Forum workshop", capacity=seats)
            results = await asyncio.gather(
                *(s.register(crowded, sequential + n) for n in range(concurrent))
            )
        listed = await s.http.get(
            f"{s.meetings.url}/meetings/{crowded}/registrations",
            headers=s.secretariat,
            params={"limit": 1000},
        )
        listed.raise_for_status()
    registrations = sorted(listed.json(), key=lambda r: r["request"])
    confirmed = [r for r in registrations if r["status"] == "confirmed"]
    waitlisted = [r for r in registrations if r["status"] == "waitlisted"]
    deciles = [
        statistics.median(latencies[i * len(latencies) // 10 : (i + 1) * len(latencies) // 10])
        for i in range(10)
    ]
    window = max(len(latencies) // 100, 10)
    first, last = statistics.median(latencies[:window]), statistics.median(latencies[-window:])
    return {
        "sequential": sequential,
        "latency_ms_by_decile": deciles,
        "first_window_median_ms": first,
        "last_window_median_ms": last,
        "last_to_first": last / first if first else 0.0,
        "concurrent": concurrent,
        "seats": seats,
        "answered": sum(1 for *_, a in results if a.status_code == 201),
        "confirmed": len(confirmed),
        "waitlisted": len(waitlisted),
        "arrival_order_kept": bool(confirmed)
        and (
            not waitlisted
            or max(r["request"] for r in confirmed) < min(r["request"] for r in waitlisted)
        )
        and [r["waitlist_position"] for r in waitlisted] == list(range(1, len(waitlisted) + 1)),
        "peak_rss_mb": meetings_rss.peak,
        "series": latencies,
    }
