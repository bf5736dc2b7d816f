"""Abuse limits for public endpoints: hits counted per client address and per e-mail address.

Counting uses the `limits` library's fixed-window strategy. Storage is limits' own memory
storage (one replica, tests) or `MongoRateLimitStorage` on PyMongo's async API, shared by
every replica. Neither an e-mail address nor a client address is ever stored: both are
replaced by a keyed hash before they reach the storage.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import structlog
from fastapi import Request
from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.errors import TooManyRequests
from shared.fields import email_identity

Document = dict[str, Any]

log = structlog.get_logger()


class Scope(StrEnum):
    """A public endpoint family with limits of its own."""

    REGISTRATION = "registration"  # the public registration form (meetings)
    PREFERENCES = "preferences"  # the unsubscribe and preferences pages (notifications)


@dataclass(frozen=True)
class ScopeLimits:
    """The limits of one scope: per client address and per e-mail address."""

    per_client: tuple[RateLimitItem, ...]
    per_email: tuple[RateLimitItem, ...]


class RateLimitSettings(BaseSettings):
    """Abuse limits, mixed into a service's settings; each limit is a `limits` string.

    Several limits in one string ("30/minute;300/day") each cost one storage write per hit.
    """

    # The same config as ServiceSettings: pydantic merges the bases' configs, and a mixin
    # with the default one would turn the service's extra="ignore" into "forbid".
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Off only for load tests and the test suite.
    rate_limits_enabled: bool = True
    # memory: per replica; mongodb: one count shared by every replica.
    rate_limit_storage: Literal["memory", "mongodb"] = "memory"
    # Registrations per client address. An address can hide a whole venue's Wi-Fi or a city
    # hall's office during a partnership meeting, so the address limits are generous.
    rate_limit_registration_per_client: str = "30/minute"
    # Registrations per e-mail address: nobody floods one person's inbox with confirmations.
    rate_limit_registration_per_email: str = "10/hour"
    # Unsubscribe and preferences page requests per client address.
    rate_limit_preferences_per_client: str = "60/minute"
    # Unsubscribe and preferences changes per e-mail address.
    rate_limit_preferences_per_email: str = "20/hour"

    @field_validator(
        "rate_limit_registration_per_client",
        "rate_limit_registration_per_email",
        "rate_limit_preferences_per_client",
        "rate_limit_preferences_per_email",
    )
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_many(value)  # a ValueError names the string, and start-up stops
        return value

    def rate_limit_table(self) -> dict[Scope, ScopeLimits]:
        """Each scope's limits, parsed."""
        return {
            Scope.REGISTRATION: ScopeLimits(
                per_client=tuple(parse_many(self.rate_limit_registration_per_client)),
                per_email=tuple(parse_many(self.rate_limit_registration_per_email)),
            ),
            Scope.PREFERENCES: ScopeLimits(
                per_client=tuple(parse_many(self.rate_limit_preferences_per_client)),
                per_email=tuple(parse_many(self.rate_limit_preferences_per_email)),
            ),
        }


class MongoRateLimitStorage(Storage):
    """Fixed-window counters in one collection: one document per (limit key, window).

    Why fixed windows: a hit is then exactly one atomic write (`$inc` with upsert on
    `_id`), which is what the dev stack's MongoDB-wire server does well. A sliding-window
    counter needs a read of the previous window per hit and a compensating write on a
    race; a moving window keeps every hit's timestamp. The price is that a client may spend
    up to twice its limit across a window boundary, acceptable for abuse limits.

    Windows are aligned to the epoch, so every replica computes the same `_id` without
    talking to the others, and the end of a window needs no read. The server has no TTL
    indexes: each document carries `expires_at`, and an occasional sweep deletes the
    windows that ended (they are never read again, since a new window has a new `_id`).
    """

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        collection: str = "rate_limits",
        sweep_interval_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._windows = database[collection]
        self._sweep_interval_s = sweep_interval_s
        self._clock = clock
        self._next_sweep_at = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return PyMongoError

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Count `amount` hits in the current window of `key`; the window's new count."""
        now = self._clock()
        start = _window_start(now, expiry)
        update = {
            "$inc": {"count": amount},
            "$setOnInsert": {"expires_at": _utc(start + expiry)},
        }
        try:
            window = await self._windows.find_one_and_update(
                {"_id": f"{key}:{start}"},
                update,
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Two first hits raced to insert the window; the loser's upsert is now an update.
            window = await self._windows.find_one_and_update(
                {"_id": f"{key}:{start}"}, update, return_document=ReturnDocument.AFTER
            )
        await self._sweep(now)
        # The dev stack's server re-reads the document after the update, so the count may
        # include simultaneous hits: a burst is admitted a little below the limit, never over.
        return int(window["count"]) if window else amount

    async def get(self, key: str) -> int:
        """Hits counted so far in the current window of `key`."""
        window = await self._windows.find_one({"_id": self._current_id(key)}, {"count": 1})
        return int(window["count"]) if window else 0

    async def get_expiry(self, key: str) -> float:
        """When the current window of `key` ends (epoch seconds); computed, not read."""
        expiry = _window_s(key)
        return _window_start(self._clock(), expiry) + expiry

    async def check(self) -> bool:
        """The server answers."""
        try:
            await self._windows.database.command("ping")
        except PyMongoError:
            return False
        return True

    async def reset(self) -> int | None:
        """Forget every window of every key."""
        return (await self._windows.delete_many({})).deleted_count

    async def clear(self, key: str) -> None:
        """Forget the current window of `key`."""
        await self._windows.delete_one({"_id": self._current_id(key)})

    def _current_id(self, key: str) -> str:
        return f"{key}:{_window_start(self._clock(), _window_s(key))}"

    async def _sweep(self, now: float) -> None:
        if now < self._next_sweep_at:
            return
        self._next_sweep_at = now + self._sweep_interval_s
        try:
            await self._windows.delete_many({"expires_at": {"$lte": _utc(now)}})
        except PyMongoError as exc:
            # Housekeeping only: the hit is counted, and the next sweep deletes these too.
            log.warning("rate_limit.sweep_failed", error=type(exc).__name__)


def _window_start(now: float, expiry: int) -> int:
    return int(now // expiry) * expiry


def _window_s(key: str) -> int:
    # Only `incr` is told the window; `RateLimitItem.key_for` ends every key with
    # ".../<amount>/<multiples>/<granularity>", which names it for the other methods.
    amount, multiples, granularity = key.rsplit("/", 3)[1:]
    return parse(f"{amount}/{multiples} {granularity}").get_expiry()


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


class RateLimiter:
    """Counts a public endpoint's hits per client address and per e-mail; refuses past a limit."""

    def __init__(
        self,
        storage: Storage,
        *,
        table: Mapping[Scope, ScopeLimits],
        secret: str,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._strategy = FixedWindowRateLimiter(storage)
        self._table = table
        # A key of its own, derived from the secret: a stored digest is then useless for
        # anything else the secret does (signing links).
        self._key = hmac.new(
            secret.encode(), b"partnership rate-limit keys", hashlib.sha256
        ).digest()
        self._enabled = enabled
        self._clock = clock

    @property
    def storage(self) -> Storage:
        """Where the hits are counted (for readiness: `await limiter.storage.check()`)."""
        return self._strategy.storage

    async def hit_client(self, scope: Scope, address: str) -> None:
        """Count one request from this client address; TooManyRequests past the limit."""
        await self._hit(self._table[scope].per_client, scope, "client", _network_of(address))

    async def hit_email(self, scope: Scope, email: str) -> None:
        """Count one request for this e-mail address (any case); TooManyRequests past the limit."""
        await self._hit(self._table[scope].per_email, scope, "email", email_identity(email))

    async def _hit(
        self, items: Sequence[RateLimitItem], scope: Scope, kind: str, identity: str
    ) -> None:
        if not self._enabled:
            return
        digest = hmac.new(self._key, identity.encode(), hashlib.sha256).hexdigest()[:32]
        resets: list[float] = []
        # Every limit counts the hit, even after one refused it: a client that keeps trying
        # while refused keeps spending its longer limits too.
        for item in items:
            if not await self._strategy.hit(item, scope, kind, digest):
                key = item.key_for(scope, kind, digest)
                resets.append(await self.storage.get_expiry(key))
        if resets:
            retry_after_s = max(1, math.ceil(max(resets) - self._clock()))
            log.info("rate_limit.exceeded", scope=scope.value, counted_by=kind)
            raise TooManyRequests(
                f"too many {scope.value} requests from this {_NOUN[kind]}; "
                f"try again in {retry_after_s} s",
                retry_after_s=retry_after_s,
            )


_NOUN = {"client": "address", "email": "e-mail address"}


def _network_of(address: str) -> str:
    # One IPv6 subscriber usually holds a whole /64: counted per address, a client could
    # rotate through it. Not an IP at all (a test client's "testclient"): counted as given.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def per_client(
    limiter_of: Callable[[Request], RateLimiter], scope: Scope
) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency that counts the request against the scope's per-address limit."""

    async def count_client(request: Request) -> None:
        # The peer's address as the server saw it. Behind a reverse proxy, let uvicorn's
        # proxy headers (--forwarded-allow-ips) set it: X-Forwarded-For read here would be
        # whatever the client chose to send.
        address = request.client.host if request.client else "unknown"
        await limiter_of(request).hit_client(scope, address)

    return count_client


def build_rate_limiter(
    settings: RateLimitSettings, *, database: AsyncDatabase[Document], secret: str
) -> RateLimiter:
    """The limiter the settings ask for; nothing connects here."""
    storage: Storage = (
        MongoRateLimitStorage(database)
        if settings.rate_limit_storage == "mongodb"
        else MemoryStorage()
    )
    return RateLimiter(
        storage,
        table=settings.rate_limit_table(),
        secret=secret,
        enabled=settings.rate_limits_enabled,
    )
