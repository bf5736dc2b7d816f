"""The seating mechanism on its own: capacity, first-come waitlist, approval order, at any size."""

from dataclasses import replace

from shared import seating
from shared.seating import HEAD_SIZE, Seating, SeatStatus, Waiting

C, W, P, X, D = (
    SeatStatus.CONFIRMED,
    SeatStatus.WAITLISTED,
    SeatStatus.PENDING,
    SeatStatus.CANCELLED,
    SeatStatus.DECLINED,
)


def requested(capacity: int | None, count: int, *, moderated: bool = False) -> Seating:
    state = Seating(capacity=capacity)
    for n in range(1, count + 1):
        state, _ = seating.request(state, f"k{n}", moderated=moderated)
    return state


def test_a_request_is_confirmed_while_seats_are_free() -> None:
    _, move = seating.request(requested(3, 2), "k3", moderated=False)

    assert (move.after, move.order) == (C, 3)


def test_a_request_is_waitlisted_once_every_seat_is_taken_and_learns_its_place() -> None:
    _, move = seating.request(requested(3, 4), "k5", moderated=False)

    assert (move.after, move.position) == (W, 2)


def test_without_a_capacity_every_request_is_confirmed() -> None:
    state = requested(None, 500)

    assert state.counts.confirmed == 500
    assert state.counts.waitlisted == 0


def test_nobody_overtakes_the_waitlist_even_if_a_seat_looks_free() -> None:
    full = requested(1, 2)
    looks_free = replace(full, capacity=2)

    _, move = seating.request(looks_free, "k3", moderated=False)

    assert move.after is W


def test_the_seating_stays_small_whatever_the_number_of_requests() -> None:
    state = requested(300, 10_000)

    assert state.counts.confirmed == 300
    assert state.counts.waitlisted == 9_700
    assert len(state.head) == HEAD_SIZE
    assert [w.order for w in state.head] == list(range(301, 301 + HEAD_SIZE))


def test_releasing_a_confirmed_seat_promotes_the_earliest_waiting_request() -> None:
    state = requested(2, 4)

    state, moves = seating.release(state, Waiting(1, "k1"), standing=C)

    assert [(m.key, m.before, m.after) for m in moves] == [("k1", C, X), ("k3", W, C)]
    assert state.counts.confirmed == 2
    assert state.position(4) == 1


def test_releasing_a_waiting_request_promotes_nobody() -> None:
    state, moves = seating.release(requested(1, 3), Waiting(2, "k2"), standing=W)

    assert [(m.key, m.after) for m in moves] == [("k2", X)]
    assert state.position(3) == 1


def test_the_head_runs_out_and_the_store_brings_the_next_waiting_requests() -> None:
    state = requested(1, 2 + HEAD_SIZE)
    state = replace(state, head=())

    assert state.needs_head()
    refilled = state.with_head([Waiting(n, f"k{n}") for n in range(2, 2 + HEAD_SIZE)])

    _, moves = seating.release(refilled, Waiting(1, "k1"), standing=C)
    assert [m.key for m in moves] == ["k1", "k2"]


def test_pending_requests_are_seated_in_the_order_they_were_made_not_approved() -> None:
    state = requested(2, 3, moderated=True)
    pending = [Waiting(3, "k3"), Waiting(1, "k1"), Waiting(2, "k2")]

    _, moves = seating.approve(state, pending, waiting=[])

    assert [(m.key, m.after) for m in moves] == [("k1", C), ("k2", C), ("k3", W)]


def test_a_late_approval_of_an_early_request_waits_ahead_of_later_requests() -> None:
    state = requested(1, 3, moderated=True)
    state, _ = seating.approve(state, [Waiting(2, "k2")], waiting=[])
    state, _ = seating.approve(state, [Waiting(3, "k3")], waiting=[])

    state, [move] = seating.approve(state, [Waiting(1, "k1")], waiting=[Waiting(3, "k3")])

    assert (move.after, move.position) == (W, 1)
    assert [w.key for w in state.head] == ["k1", "k3"]


def test_a_declined_request_takes_no_seat() -> None:
    state = requested(1, 2, moderated=True)

    state, move = seating.decline(state, Waiting(1, "k1"))
    state, [approved] = seating.approve(state, [Waiting(2, "k2")], waiting=[])

    assert (move.after, approved.after) == (D, C)


def test_a_larger_capacity_promotes_from_the_waitlist_in_request_order() -> None:
    state, moves = seating.resize(requested(1, 4), 3)

    assert [m.key for m in moves] == ["k2", "k3"]
    assert state.counts.waitlisted == 1


def test_a_smaller_capacity_demotes_nobody() -> None:
    state, moves = seating.resize(requested(3, 4), 1)

    assert moves == []
    assert state.counts.confirmed == 3


def test_check_in_counts_each_person_once_whatever_the_marks() -> None:
    state = seating.attend(requested(None, 2), None, seating.Attendance.ATTENDED)
    state = seating.attend(state, seating.Attendance.ATTENDED, seating.Attendance.NO_SHOW)

    assert (state.counts.attended, state.counts.no_show) == (0, 1)
