"""Seats with a capacity: confirm until full, then a first-come waitlist.

A pure mechanism for anything people ask a place in (a meeting, an Academy module), sized
for thousands of requests: the decisions read and return a `Seating`, a handful of counts
and the first few people on the waitlist, never the list of every request. Each request
keeps the order in which it was made (1, 2, 3...); that order, never the time of a retry or
of an approval, decides who is confirmed and who moves up the waitlist. The functions
return the new seating and the moves they made, so the caller applies them to its own
records and says what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

# How many of the earliest waiting requests the seating keeps at hand: promotions take
# them without a query; the store fetches the next ones once they are used up.
HEAD_SIZE = 32


class SeatStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


ACTIVE = frozenset({SeatStatus.PENDING, SeatStatus.CONFIRMED, SeatStatus.WAITLISTED})


class Attendance(StrEnum):
    ATTENDED = "attended"
    NO_SHOW = "no_show"


@dataclass(frozen=True)
class Waiting:
    """A request on the waitlist: its order and its key (registration or enrolment id)."""

    order: int
    key: str


@dataclass(frozen=True)
class Counts:
    pending: int = 0
    confirmed: int = 0
    waitlisted: int = 0
    declined: int = 0
    cancelled: int = 0
    attended: int = 0
    no_show: int = 0

    def moved(self, before: SeatStatus | None, after: SeatStatus) -> Counts:
        changed = {after.value: getattr(self, after.value) + 1}
        if before is not None:
            changed[before.value] = getattr(self, before.value) - 1
        return replace(self, **changed)


@dataclass(frozen=True)
class Seating:
    """Where the places of one meeting or module stand."""

    capacity: int | None = None
    requests: int = 0  # requests made so far; the next one is number requests + 1
    counts: Counts = field(default_factory=Counts)
    # The earliest waiting requests in order, at most HEAD_SIZE; all of them when there are
    # that few (then `head_is_whole`).
    head: tuple[Waiting, ...] = ()

    @property
    def seats_left(self) -> int | None:
        if self.capacity is None:
            return None
        return max(self.capacity - self.counts.confirmed, 0)

    @property
    def head_is_whole(self) -> bool:
        return len(self.head) == self.counts.waitlisted

    def needs_head(self, seats: int = 1) -> bool:
        """True when promoting up to `seats` people may need waiting requests not at hand."""
        return len(self.head) < min(seats, self.counts.waitlisted)

    def with_head(self, earliest: Sequence[Waiting]) -> Seating:
        """The seating with the earliest waiting requests as the store found them."""
        return replace(self, head=tuple(sorted(earliest, key=_order)[:HEAD_SIZE]))

    def position(self, order: int) -> int | None:
        """The waitlist position of a waiting request, if the head tells it (1: next)."""
        for index, waiting in enumerate(self.head, start=1):
            if waiting.order == order:
                return index
        return None


@dataclass(frozen=True)
class Move:
    """One request that changed standing (or was made), and its waitlist position if waiting."""

    key: str
    order: int
    before: SeatStatus | None
    after: SeatStatus
    position: int | None = None


def request(seating: Seating, key: str, *, moderated: bool) -> tuple[Seating, Move]:
    """A new request: pending when moderated, else confirmed while seats are free, else waitlisted.

    Nobody jumps the queue: a seat is free only while nobody is waiting for one.
    """
    order = seating.requests + 1
    seating = replace(seating, requests=order)
    if moderated:
        return _place(seating, Move(key, order, None, SeatStatus.PENDING))
    if seating.capacity is None or (
        seating.counts.confirmed < seating.capacity and seating.counts.waitlisted == 0
    ):
        return _place(seating, Move(key, order, None, SeatStatus.CONFIRMED))
    position = seating.counts.waitlisted + 1
    head = seating.head
    # A new request is the latest: it joins the head only if the head holds everyone.
    if seating.head_is_whole and len(head) < HEAD_SIZE:
        head = (*head, Waiting(order, key))
    seating = replace(seating, head=head)
    return _place(seating, Move(key, order, None, SeatStatus.WAITLISTED, position))


def approve(
    seating: Seating, pending: Iterable[Waiting], *, waiting: Sequence[Waiting]
) -> tuple[Seating, list[Move]]:
    """Admit pending requests in the order they were made, whatever order they are approved in.

    `waiting` is the whole waitlist: an approved request that finds no seat joins it at its
    place by order, ahead of anyone who asked later.
    """
    queue = sorted(waiting, key=_order)
    moves: list[Move] = []
    for claim in sorted(pending, key=_order):
        free = seating.capacity is None or seating.counts.confirmed < seating.capacity
        earlier_waiting = any(w.order < claim.order for w in queue)
        if free and not earlier_waiting:
            seating, move = _place(
                seating, Move(claim.key, claim.order, SeatStatus.PENDING, SeatStatus.CONFIRMED)
            )
        else:
            queue = sorted([*queue, claim], key=_order)
            position = queue.index(claim) + 1
            seating, move = _place(
                seating,
                Move(claim.key, claim.order, SeatStatus.PENDING, SeatStatus.WAITLISTED, position),
            )
        moves.append(move)
    return replace(seating, head=tuple(queue[:HEAD_SIZE])), moves


def decline(seating: Seating, claim: Waiting) -> tuple[Seating, Move]:
    """A pending request turned down."""
    return _place(seating, Move(claim.key, claim.order, SeatStatus.PENDING, SeatStatus.DECLINED))


def release(
    seating: Seating, claim: Waiting, *, standing: SeatStatus
) -> tuple[Seating, list[Move]]:
    """Withdraw one request; a seat it frees goes to the first on the waitlist."""
    head = tuple(w for w in seating.head if w.key != claim.key)
    seating, move = _place(
        replace(seating, head=head), Move(claim.key, claim.order, standing, SeatStatus.CANCELLED)
    )
    seating, promoted = fill(seating)
    return seating, [move, *promoted]


def resize(seating: Seating, capacity: int | None) -> tuple[Seating, list[Move]]:
    """A new capacity; seats it adds go to the waitlist, first request first.

    The caller refuses a capacity below the confirmed count before asking.
    """
    return fill(replace(seating, capacity=capacity))


def fill(seating: Seating) -> tuple[Seating, list[Move]]:
    """Promote from the head of the waitlist, first request first, while seats are free."""
    moves: list[Move] = []
    while seating.head and (
        seating.capacity is None or seating.counts.confirmed < seating.capacity
    ):
        first, *rest = seating.head
        seating, move = _place(
            replace(seating, head=tuple(rest)),
            Move(first.key, first.order, SeatStatus.WAITLISTED, SeatStatus.CONFIRMED),
        )
        moves.append(move)
    return seating, moves


def attend(seating: Seating, before: Attendance | None, after: Attendance | None) -> Seating:
    """Check-in counts after one person's mark changed."""
    counts = seating.counts
    changes: dict[str, int] = {}
    if before is not None:
        changes[before.value] = getattr(counts, before.value) - 1
    if after is not None:
        changes[after.value] = changes.get(after.value, getattr(counts, after.value)) + 1
    return replace(seating, counts=replace(counts, **changes))


def _place(seating: Seating, move: Move) -> tuple[Seating, Move]:
    return replace(seating, counts=seating.counts.moved(move.before, move.after)), move


def _order(waiting: Waiting) -> int:
    return waiting.order
