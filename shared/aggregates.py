"""The load → decide → save loop every aggregate's repository runs.

A decision is pure: it takes the aggregate as stored and returns the changed one with its
events. The repository saves it with a filter on the version it read; when another writer
got there first, the save is lost (`LostRace`), and the loop reads and decides again.
Writers in one process take turns per aggregate, so a lost race is rare there; the version
filter still guards against other processes.

A client that acted on what it saw sends that version (`expected_version`): a newer one is a
409 `ConcurrentUpdate`, never a silent retry on state the client did not see.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog

from shared.errors import ConcurrentUpdate

log = structlog.get_logger()

T = TypeVar("T")

# Each lost race means another writer won, so the system always progresses; but one writer
# can lose once to every request queued in another replica: allow for long queues.
MAX_ATTEMPTS = 200
RETRY_JITTER_S = 0.002
RETRY_JITTER_CAP_S = 0.02


class LostRace(Exception):
    """The save found another version than the one its decision read."""

    def __init__(self, entity: str, entity_id: str, *, version: int) -> None:
        super().__init__(f"{entity} {entity_id} changed since version {version}")
        self.entity = entity
        self.entity_id = entity_id
        self.version = version


def check_version(entity: str, entity_id: str, *, stored: int, expected: int | None) -> None:
    """Refuse (409) a command based on another version than the stored one."""
    if expected is not None and stored != expected:
        raise ConcurrentUpdate(entity, entity_id, expected_version=expected)


class Decisions:
    """Runs one decision at a time per aggregate id here, again on each lost race."""

    def __init__(self, entity: str, *, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.entity = entity
        self._max_attempts = max_attempts
        self._turns: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def run(self, entity_id: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt` loads, decides and saves, raising `LostRace` when the save lost."""
        async with self._turn(entity_id):
            for n in range(1, self._max_attempts + 1):
                try:
                    return await attempt()
                except LostRace as lost:
                    if n == self._max_attempts:
                        raise ConcurrentUpdate(
                            self.entity, entity_id, expected_version=lost.version
                        ) from lost
                    log.debug("aggregate.write_conflict", entity=self.entity, attempt=n)
                    await asyncio.sleep(
                        random.uniform(0, min(RETRY_JITTER_S * n, RETRY_JITTER_CAP_S))  # noqa: S311
                    )
        raise AssertionError("unreachable")

    def _turn(self, entity_id: str) -> asyncio.Lock:
        lock = self._turns.get(entity_id)
        if lock is None:
            lock = asyncio.Lock()
            self._turns[entity_id] = lock
        return lock
