"""The decision loop: one decision at a time per aggregate here, again after a lost race."""

from __future__ import annotations

import asyncio

import pytest

from shared.aggregates import Decisions, LostRace, check_version
from shared.errors import ConcurrentUpdate


class Counter:
    """An aggregate in a store that another process also writes to."""

    @staticmethod
    def _round_trip() -> asyncio.Future[None]:
        # Answered on the loop's next turn, as a store's reply comes back after others ran.
        reply = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(reply.set_result, None)
        return reply

    def __init__(self) -> None:
        self.version = 1
        self.value = 0
        self.foreign_writes_left = 0

    async def increment(self) -> int:
        read_version, read_value = self.version, self.value
        await self._round_trip()  # the save goes to the store: other writers run meanwhile
        if self.foreign_writes_left:
            self.foreign_writes_left -= 1
            self.version += 1  # another replica saved first
        if self.version != read_version:
            raise LostRace("counter", "c-1", version=read_version)
        self.version, self.value = self.version + 1, read_value + 1
        return self.value


async def test_decisions_on_one_aggregate_take_turns_here_so_none_is_lost() -> None:
    counter = Counter()
    decisions = Decisions("counter")

    await asyncio.gather(*(decisions.run("c-1", counter.increment) for _ in range(50)))

    assert counter.value == 50


async def test_a_lost_race_is_decided_again_on_the_fresh_state() -> None:
    counter = Counter()
    counter.foreign_writes_left = 3

    assert await Decisions("counter").run("c-1", counter.increment) == 1
    assert counter.version == 5


async def test_losing_every_attempt_ends_in_a_concurrent_update() -> None:
    counter = Counter()
    counter.foreign_writes_left = 10

    with pytest.raises(ConcurrentUpdate):
        await Decisions("counter", max_attempts=3).run("c-1", counter.increment)
    assert counter.value == 0


async def test_a_client_acting_on_an_old_version_gets_a_409_and_no_retry() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        check_version("counter", "c-1", stored=4, expected=3)

    with pytest.raises(ConcurrentUpdate) as refused:
        await Decisions("counter").run("c-1", attempt)
    assert calls == 1
    assert refused.value.facts["entity_id"] == "c-1"


def test_no_expected_version_means_whatever_is_stored() -> None:
    check_version("counter", "c-1", stored=4, expected=None)
    check_version("counter", "c-1", stored=4, expected=4)
