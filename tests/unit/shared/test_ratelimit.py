"""Abuse limits with limits' memory storage: what is counted together, what apart, and when."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Request
from limits import parse
from limits.aio.storage import MemoryStorage
from pydantic import ValidationError
from pymongo import AsyncMongoClient

from shared.errors import TooManyRequests
from shared.http import create_app
from shared.ratelimit import (
    MongoRateLimitStorage,
    RateLimiter,
    RateLimitSettings,
    Scope,
    ScopeLimits,
    build_rate_limiter,
    per_client,
)
from shared.settings import Environment, ServiceSettings

SECRET = "a-test-secret-that-is-at-least-32-characters"
ADDRESS = "198.51.100.7"
OTHER_ADDRESS = "198.51.100.8"
EMAIL = "ana.lopez@amsterdam.example"
# The 11th partnership meeting, Amsterdam, 15 May 2018, noon UTC.
MEETING_NOON = 1526385600.0


class Clock:
    """A clock the test moves; also stands in for the `time` module limits' memory storage reads."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(MEETING_NOON)
    # limits' memory storage reads the wall clock itself; only its own reference is replaced.
    monkeypatch.setattr("limits.aio.storage.memory.time", clock)
    return clock


def a_limiter(
    clock: Clock,
    *,
    per_client: str = "2/minute",
    per_email: str = "2/minute",
    enabled: bool = True,
) -> RateLimiter:
    limits = ScopeLimits(
        per_client=tuple(parse(s) for s in per_client.split(";")),
        per_email=tuple(parse(s) for s in per_email.split(";")),
    )
    return RateLimiter(
        MemoryStorage(),
        table={Scope.REGISTRATION: limits, Scope.PREFERENCES: limits},
        secret=SECRET,
        enabled=enabled,
        clock=clock,
    )


async def test_the_hit_past_the_limit_is_refused_until_the_window_ends(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="2/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    assert refused.value.retry_after_s == 60


async def test_retry_after_counts_down_to_the_end_of_the_window(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)
    clock.now += 45

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    assert refused.value.retry_after_s == 15


async def test_a_new_window_admits_the_client_again(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)
    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    clock.now += 60

    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)


async def test_separate_addresses_are_counted_separately(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    await limiter.hit_client(Scope.REGISTRATION, OTHER_ADDRESS)

    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)


async def test_scopes_and_kinds_of_key_are_counted_separately(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute", per_email="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    await limiter.hit_client(Scope.PREFERENCES, ADDRESS)
    await limiter.hit_email(Scope.REGISTRATION, ADDRESS)
    await limiter.hit_email(Scope.REGISTRATION, EMAIL)

    with pytest.raises(TooManyRequests):
        await limiter.hit_email(Scope.REGISTRATION, EMAIL)


@pytest.mark.parametrize("spelling", ["Ana.Lopez@Amsterdam.Example", f"  {EMAIL.upper()}\n"])
async def test_an_email_is_counted_whatever_its_case_and_surrounding_spaces(
    clock: Clock, spelling: str
) -> None:
    limiter = a_limiter(clock, per_email="1/minute")
    await limiter.hit_email(Scope.REGISTRATION, EMAIL)

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_email(Scope.REGISTRATION, spelling)

    assert "e-mail address" in refused.value.detail
    assert EMAIL not in refused.value.detail.lower()


async def test_addresses_in_one_ipv6_64_network_are_counted_together(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, "2001:db8:1:2::1")

    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, "2001:db8:1:2:ffff::9")
    await limiter.hit_client(Scope.REGISTRATION, "2001:db8:1:3::1")


async def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute")
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, f"::ffff:{ADDRESS}")


async def test_the_storage_holds_neither_the_email_nor_the_address(clock: Clock) -> None:
    limiter = a_limiter(clock)

    await limiter.hit_email(Scope.REGISTRATION, EMAIL)
    await limiter.hit_client(Scope.REGISTRATION, ADDRESS)

    storage = limiter.storage
    assert isinstance(storage, MemoryStorage)
    keys = " ".join(storage.storage)
    assert len(storage.storage) == 2
    assert "ana" not in keys.lower()
    assert "@" not in keys
    assert ADDRESS not in keys


async def test_a_different_secret_counts_under_different_keys(clock: Clock) -> None:
    storage = MemoryStorage()
    limits = ScopeLimits(per_client=(parse("1/minute"),), per_email=(parse("1/minute"),))
    table = {Scope.REGISTRATION: limits, Scope.PREFERENCES: limits}
    one = RateLimiter(storage, table=table, secret=SECRET, clock=clock)
    other = RateLimiter(storage, table=table, secret=SECRET[::-1], clock=clock)
    await one.hit_email(Scope.REGISTRATION, EMAIL)

    await other.hit_email(Scope.REGISTRATION, EMAIL)

    assert len(storage.storage) == 2


async def test_every_limit_counts_the_hit_and_the_longest_refusal_decides(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="2/minute;3/hour")
    for _ in range(2):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)
    with pytest.raises(TooManyRequests):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)  # third: the minute refuses
    clock.now += 60

    with pytest.raises(TooManyRequests) as refused:
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)  # fourth: the hour refuses

    assert refused.value.retry_after_s == 3600 - 60


async def test_a_disabled_limiter_never_refuses(clock: Clock) -> None:
    limiter = a_limiter(clock, per_client="1/minute", enabled=False)

    for _ in range(5):
        await limiter.hit_client(Scope.REGISTRATION, ADDRESS)


# --------------------------------------------------------------------------------------------
# Through HTTP: a per-address dependency and a per-e-mail check in the route.


def an_app(limiter: RateLimiter) -> FastAPI:
    router = APIRouter()

    def limiter_of(request: Request) -> RateLimiter:
        found: RateLimiter = request.app.state.limiter
        return found

    @router.post(
        "/meetings/pm-11/registrations",
        dependencies=[Depends(per_client(limiter_of, Scope.REGISTRATION))],
    )
    async def register(email: Annotated[str, Body(embed=True)], request: Request) -> dict[str, str]:
        await limiter_of(request).hit_email(Scope.REGISTRATION, email)
        return {"status": "registered"}

    app = create_app(ServiceSettings(environment=Environment.TEST), title="t", routers=[router])
    app.state.limiter = limiter
    return app


@pytest.fixture
def http_limiter(clock: Clock) -> RateLimiter:
    return a_limiter(clock, per_client="2/minute", per_email="1/minute")


def a_client(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_the_per_address_dependency_answers_429_problem_json_with_retry_after(
    http_limiter: RateLimiter,
) -> None:
    app = an_app(http_limiter)
    async with a_client(app, ADDRESS) as http:
        for n in range(2):
            ok = await http.post("/meetings/pm-11/registrations", json={"email": f"{n}@x.example"})
            assert ok.status_code == 200

        refused = await http.post("/meetings/pm-11/registrations", json={"email": "3@x.example"})

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "60"
    assert refused.json()["retry_after_s"] == 60


async def test_the_per_email_check_refuses_the_same_person_from_another_address(
    http_limiter: RateLimiter,
) -> None:
    app = an_app(http_limiter)
    async with a_client(app, ADDRESS) as first, a_client(app, OTHER_ADDRESS) as second:
        ok = await first.post("/meetings/pm-11/registrations", json={"email": EMAIL})

        refused = await second.post("/meetings/pm-11/registrations", json={"email": EMAIL.title()})

    assert ok.status_code == 200
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0


# --------------------------------------------------------------------------------------------
# Settings.


def test_the_default_limits_parse_for_every_scope() -> None:
    table = RateLimitSettings().rate_limit_table()

    assert set(table) == set(Scope)
    assert all(limits.per_client and limits.per_email for limits in table.values())


def test_limits_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_PREFERENCES_PER_EMAIL", "3/10 minutes;10/day")

    table = RateLimitSettings().rate_limit_table()

    assert table[Scope.PREFERENCES].per_email == (parse("3/10 minutes"), parse("10/day"))


def test_a_limit_that_does_not_parse_stops_start_up() -> None:
    with pytest.raises(ValidationError, match="rate_limit_registration_per_client"):
        RateLimitSettings(rate_limit_registration_per_client="thirty a minute")


def test_mixed_into_service_settings_it_keeps_their_config() -> None:
    class Settings(ServiceSettings, RateLimitSettings):
        pass

    settings = Settings(environment=Environment.TEST, some_other_service_variable="ignored")

    with pytest.raises(ValidationError, match="frozen"):
        settings.rate_limits_enabled = False  # type: ignore[misc]


async def test_the_settings_choose_the_storage() -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient("mongodb://127.0.0.1:1")
    database = client["never-connected"]

    memory = build_rate_limiter(RateLimitSettings(), database=database, secret=SECRET)
    mongodb = build_rate_limiter(
        RateLimitSettings(rate_limit_storage="mongodb"), database=database, secret=SECRET
    )
    await client.close()

    assert isinstance(memory.storage, MemoryStorage)
    assert isinstance(mongodb.storage, MongoRateLimitStorage)
