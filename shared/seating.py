"""Seats with a capacity: confirm until full, then a first-come waitlist.

A pure mechanism for anything people ask a place in. Each request keeps the order in which
it was made; that order, never the time of a retry or of an approval, decides who is
confirmed and who moves up the waitlist. The functions return the standings that change,
so the caller applies them to its own records and says what happened.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Standing(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


ACTIVE = frozenset({Standing.PENDING, Standing.CONFIRMED, Standing.WAITLISTED})


@dataclass(frozen=True)
class Claim:
    """One request for a place: who (key), when (order, ascending), and where it stands."""

    key: str
    order: int
    standing: Standing


Moves = dict[str, Standing]


def admit(claims: Iterable[Claim], *, capacity: int | None) -> Standing:
    """Where a request made now stands: confirmed while a seat is free, else waitlisted."""
    return _standing_for(list(claims), order=None, capacity=capacity)


def approve(claims: Iterable[Claim], keys: Collection[str], *, capacity: int | None) -> Moves:
    """Admit pending requests in the order they were made, whatever order they are approved in."""
    current = list(claims)
    moves: Moves = {}
    chosen = sorted(
        (c for c in current if c.key in keys and c.standing is Standing.PENDING),
        key=lambda c: c.order,
    )
    for claim in chosen:
        standing = _standing_for(current, order=claim.order, capacity=capacity)
        moves[claim.key] = standing
        current = _apply(current, {claim.key: standing})
    return moves


def release(claims: Iterable[Claim], key: str, *, capacity: int | None) -> Moves:
    """Withdraw one request; a seat it frees goes to the first on the waitlist."""
    current = _apply(list(claims), {key: Standing.CANCELLED})
    return {key: Standing.CANCELLED} | fill(current, capacity=capacity)


def fill(claims: Iterable[Claim], *, capacity: int | None) -> Moves:
    """Promote from the waitlist, first request first, while seats are free."""
    current = list(claims)
    waiting = sorted(
        (c for c in current if c.standing is Standing.WAITLISTED), key=lambda c: c.order
    )
    free = len(waiting) if capacity is None else capacity - _count(current, Standing.CONFIRMED)
    return {claim.key: Standing.CONFIRMED for claim in waiting[: max(free, 0)]}


def waitlist_position(claims: Iterable[Claim], key: str) -> int | None:
    """1 for the next to be promoted; None for a request that is not waiting."""
    waiting = sorted(
        (c for c in claims if c.standing is Standing.WAITLISTED), key=lambda c: c.order
    )
    return next((i for i, c in enumerate(waiting, start=1) if c.key == key), None)


def _standing_for(claims: list[Claim], *, order: int | None, capacity: int | None) -> Standing:
    if capacity is None:
        return Standing.CONFIRMED
    # Nobody jumps the queue: a request is confirmed only if a seat is free and nobody who
    # asked earlier is still waiting (a new request, order None, comes after everyone).
    earlier_waiting = any(
        c.standing is Standing.WAITLISTED and (order is None or c.order < order) for c in claims
    )
    if not earlier_waiting and _count(claims, Standing.CONFIRMED) < capacity:
        return Standing.CONFIRMED
    return Standing.WAITLISTED


def _apply(claims: list[Claim], moves: Moves) -> list[Claim]:
    return [replace(c, standing=moves[c.key]) if c.key in moves else c for c in claims]


def _count(claims: Iterable[Claim], standing: Standing) -> int:
    return sum(1 for c in claims if c.standing is standing)
