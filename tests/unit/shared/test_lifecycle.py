"""The lifecycle table: what each status allows, where a step leads, and how a refusal reads."""

from __future__ import annotations

from enum import StrEnum

import pytest

from shared.errors import Conflict
from shared.lifecycle import Lifecycle, StateConflict, with_line


class Door(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    LOCKED = "locked"


DOOR = Lifecycle[Door](
    "door",
    steps={
        Door.OPEN: {"close": Door.CLOSED},
        Door.CLOSED: {"open": Door.OPEN, "lock": Door.LOCKED},
        Door.LOCKED: {"unlock": Door.CLOSED},
    },
    edits={"paint": frozenset({Door.OPEN, Door.CLOSED})},
)


def test_a_step_leads_where_the_table_says() -> None:
    assert DOOR.moved(Door.CLOSED, "lock") is Door.LOCKED
    assert DOOR.moved(Door.LOCKED, "unlock") is Door.CLOSED


def test_an_edit_is_allowed_in_its_statuses_and_moves_nothing() -> None:
    DOOR.require(Door.OPEN, "paint")
    with pytest.raises(StateConflict):
        DOOR.require(Door.LOCKED, "paint")


def test_the_allowed_actions_are_the_steps_and_edits_sorted() -> None:
    assert DOOR.allowed(Door.CLOSED) == ["lock", "open", "paint"]
    assert DOOR.allowed(Door.LOCKED) == ["unlock"]


def test_a_refusal_names_the_state_the_allowed_actions_and_the_next_states() -> None:
    with pytest.raises(StateConflict) as refused:
        DOOR.moved(Door.OPEN, "lock")

    conflict = refused.value
    assert isinstance(conflict, Conflict)
    assert str(conflict) == "cannot lock a door that is open; allowed from open: close, paint"
    assert conflict.facts == {
        "current_state": "open",
        "action": "lock",
        "allowed_actions": ["close", "paint"],
        "allowed_next_states": ["closed"],
    }


def test_a_step_not_in_the_table_is_refused_even_where_an_edit_of_that_name_would_not_be() -> None:
    with pytest.raises(StateConflict):
        DOOR.moved(Door.OPEN, "paint")


def test_history_keeps_the_latest_lines() -> None:
    history: tuple[int, ...] = ()
    for line in range(5):
        history = with_line(history, line, kept=3)
    assert history == (2, 3, 4)
