"""The seating mechanism on its own: capacity, first-come waitlist, approval order."""

from shared import seating
from shared.seating import Claim, Standing

C, W, P, X = Standing.CONFIRMED, Standing.WAITLISTED, Standing.PENDING, Standing.CANCELLED


def claims(*standings: Standing) -> list[Claim]:
    return [Claim(key=f"k{i}", order=i, standing=s) for i, s in enumerate(standings, start=1)]


def test_a_request_is_confirmed_while_seats_are_free() -> None:
    assert seating.admit(claims(C, C), capacity=3) is C


def test_a_request_is_waitlisted_once_every_seat_is_taken() -> None:
    assert seating.admit(claims(C, C, C), capacity=3) is W


def test_without_a_capacity_every_request_is_confirmed() -> None:
    assert seating.admit(claims(*[C] * 500), capacity=None) is C


def test_nobody_overtakes_the_waitlist_even_if_a_seat_looks_free() -> None:
    assert seating.admit(claims(C, W), capacity=2) is W


def test_cancelled_and_declined_requests_take_no_seat() -> None:
    assert seating.admit(claims(C, X, Standing.DECLINED), capacity=2) is C


def test_releasing_a_confirmed_seat_promotes_the_earliest_waiting_request() -> None:
    current = [
        Claim("a", 1, C),
        Claim("b", 2, C),
        Claim("late", 9, W),
        Claim("early", 3, W),
    ]

    moves = seating.release(current, "a", capacity=2)

    assert moves == {"a": X, "early": C}


def test_releasing_a_waiting_request_promotes_nobody() -> None:
    assert seating.release(claims(C, W, W), "k2", capacity=1) == {"k2": X}


def test_pending_requests_are_seated_in_the_order_they_were_made_not_approved() -> None:
    current = claims(P, P, P)

    moves = seating.approve(current, ["k3", "k1", "k2"], capacity=2)

    assert list(moves.items()) == [("k1", C), ("k2", C), ("k3", W)]


def test_a_late_approval_of_an_early_request_waits_ahead_of_later_requests() -> None:
    current = [Claim("early", 1, P), Claim("b", 2, C), Claim("c", 3, W)]

    moves = seating.approve(current, ["early"], capacity=1)
    after = [Claim("early", 1, moves["early"]), current[1], current[2]]

    assert moves == {"early": W}
    assert seating.waitlist_position(after, "early") == 1
    assert seating.waitlist_position(after, "c") == 2


def test_approval_ignores_requests_that_are_not_pending() -> None:
    assert seating.approve(claims(C, P), ["k1", "k2"], capacity=5) == {"k2": C}


def test_a_larger_capacity_promotes_from_the_waitlist_in_request_order() -> None:
    assert seating.fill(claims(C, W, W, W), capacity=3) == {"k2": C, "k3": C}


def test_a_smaller_capacity_demotes_nobody() -> None:
    assert seating.fill(claims(C, C, C, W), capacity=1) == {}


def test_only_waiting_requests_have_a_waitlist_position() -> None:
    assert seating.waitlist_position(claims(C, W, W), "k3") == 2
    assert seating.waitlist_position(claims(C, W, W), "k1") is None
