"""Abuse limits counted in the MongoDB-wire server, shared by every replica of a service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from limits import parse
from limits.aio.strategies import FixedWindowRateLimiter
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.errors import TooManyRequests
from shared.ratelimit import MongoRateLimitStorage, RateLimiter, Scope, ScopeLimits
from tests.infra import Mongo, unique_name

pytestmark = pytest.mark.integration

Database = AsyncDatabase[dict[str, Any]]

SECRET = "a-test-secret-that-is-at-least-32-characters"
ADDRESS = "198.51.100.7"
EMAIL = "ana.lopez@amsterdam.example"
# The 11th partnership meeting, Amsterdam, 15 May 2018, noon UTC: a minute boundary.
MEETING_NOON = 1526385600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def replicas(mongo: Mongo) -> AsyncIterator[tuple[Database, Database]]:
    """One database as two replicas see it: each through a client of its own."""
    name = unique_name("ratelimit").replace("-", "_")
    first: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    second: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    try:
        yield first[name], second[name]
    finally:
        await first.drop_database(name)
        await first.close()
        await second.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(MEETING_NOON)


def a_limiter(
    database: Database, clock: Clock, *, limit: str = "3/minute", sweep_interval_s: float = 60
) -> RateLimiter:
    limits = ScopeLimits(per_client=(parse(limit),), per_email=(parse(limit),))
    storage = MongoRateLimitStorage(database, sweep_interval_s=sweep_interval_s, clock=clock)
    return RateLimiter(
        storage,
        table={Scope.REGISTRATION: limits, Scope.PREFERENCES: limits},
        secret=SECRET,
        clock=clock,
    )


async def windows(database: Database) -> list[dict[str, Any]]:
    return [window async for window in database["rate_limits"].find({})]


async def test_two_replicas_share_one_limit(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    one, other = (a_limiter(database, clock, limit="3/minute") for database in replicas)
    await one.hit_client(Scope.REGISTRATION, ADDRESS)
    await other.hit_client(Scope.REGISTRATION, ADDRESS)
    await one.hit_client(Scope.REGISTRATION, ADDRESS)

    with pytest.raises(TooManyRequests):
        await other.hit_client(Scope.REGISTRATION, ADDRESS)
    with pytest.raises(TooManyRequests):
        await one.hit_client(Scope.REGISTRATION, ADDRESS)


async def test_counts_survive_a_replica_restart(mongo: Mongo, clock: Clock) -> None:
    name = unique_name("ratelimit").replace("-", "_")
    before: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    await a_limiter(before[name], clock, limit="2/minute").hit_email(Scope.REGISTRATION, EMAIL)
    await before.close()
    after: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    restarted = a_limiter(after[name], clock, limit="2/minute")
    try:
        await restarted.hit_email(Scope.REGISTRATION, EMAIL)

        with pytest.raises(TooManyRequests):
            await restarted.hit_email(Scope.REGISTRATION, EMAIL)
    finally:
        await after.drop_database(name)
        await after.close()


async def test_simultaneous_hits_on_two_replicas_admit_no_more_than_the_limit(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    one, other = (a_limiter(database, clock, limit="5/minute") for database in replicas)

    outcomes = await asyncio.gather(
        *(
            limiter.hit_client(Scope.REGISTRATION, ADDRESS)
            for _ in range(10)
            for limiter in (one, other)
        ),
        return_exceptions=True,
    )

    admitted = [outcome for outcome in outcomes if outcome is None]
    refused = [outcome for outcome in outcomes if isinstance(outcome, TooManyRequests)]
    assert len(admitted) + len(refused) == 20
    assert 1 <= len(admitted) <= 5
    [window] = await windows(replicas[0])
    assert window["count"] == 20


async def test_retry_after_is_the_time_to_the_end_of_the_window(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    limiter = a_limiter(replicas[0], clock, limit="1/minute")
    clock.now += 20
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    assert refused.value.retry_after_s == 40


async def test_the_next_window_admits_again(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    limiter = a_limiter(replicas[0], clock, limit="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)
    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    clock.now += 60

    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)


async def test_ended_windows_are_swept_away_and_live_ones_kept(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    limiter = a_limiter(replicas[0], clock, limit="1/minute", sweep_interval_s=60)
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)  # window ends at noon + 60 s
    clock.now += 90

    await limiter.hit_client(Scope.REGISTRATION, "198.51.100.8")  # sweeps: noon + 90 s

    [live] = await windows(replicas[0])
    assert live["count"] == 1
    assert live["expires_at"] == datetime.fromtimestamp(MEETING_NOON + 120, UTC)


async def test_the_collection_holds_neither_the_email_nor_the_address(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    limiter = a_limiter(replicas[0], clock)

    await limiter.hit_email(Scope.REGISTRATION, EMAIL)
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    stored = " ".join(repr(window) for window in await windows(replicas[0]))
    assert len(await windows(replicas[0])) == 2
    assert "ana" not in stored.lower()
    assert "@" not in stored
    assert ADDRESS not in stored


async def test_the_storage_answers_the_strategys_window_stats_and_clear(
    replicas: tuple[Database, Database], clock: Clock
) -> None:
    storage = MongoRateLimitStorage(replicas[0], clock=clock)
    strategy = FixedWindowRateLimiter(storage)
    item = parse("5/10 minutes")
    clock.now += 125
    await strategy.hit(item, "registration", "client", "digest")
    await strategy.hit(item, "registration", "client", "digest")

    counted = await strategy.get_window_stats(item, "registration", "client", "digest")
    await strategy.clear(item, "registration", "client", "digest")
    cleared = await strategy.get_window_stats(item, "registration", "client", "digest")

    assert counted.remaining == 3
    assert counted.reset_time == MEETING_NOON + 600
    assert cleared.remaining == 5
    assert await storage.check()
