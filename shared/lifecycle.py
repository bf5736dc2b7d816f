"""An aggregate's lifecycle as data: which actions each status allows, and where they lead.

A service writes its table once (steps that move the status, edits that keep it) and asks
it: `require` before an edit, `moved` for a step, `allowed` for what a client may do next.
A refusal is a 409 that names the current status, the actions it allows and the statuses
it may move to, the same in every service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from shared.errors import IllegalTransition

S = TypeVar("S", bound=StrEnum)


class StateConflict(IllegalTransition):
    """The status does not allow the action; names the statuses it may move to."""

    def __init__(
        self,
        entity: str,
        *,
        current: StrEnum,
        action: str,
        allowed: Iterable[str],
        next_states: Iterable[StrEnum],
    ) -> None:
        super().__init__(entity, current=current.value, action=action, allowed=allowed)
        self.facts["allowed_next_states"] = sorted({s.value for s in next_states})


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """`steps[status][action]` is where a step leads; `edits[action]` the statuses it keeps."""

    entity: str
    steps: Mapping[S, Mapping[str, S]]
    edits: Mapping[str, frozenset[S]] = field(default_factory=dict)

    def allowed(self, status: S) -> list[str]:
        """Every step and edit the status allows, sorted."""
        edits = [action for action, statuses in self.edits.items() if status in statuses]
        return sorted([*self.steps[status], *edits])

    def next_states(self, status: S) -> set[S]:
        return set(self.steps[status].values())

    def require(self, status: S, action: str) -> None:
        """Refuse an action the status does not allow, naming what it does allow."""
        if action in self.steps[status] or status in self.edits.get(action, frozenset()):
            return
        raise self._refusal(status, action)

    def _refusal(self, status: S, action: str) -> StateConflict:
        return StateConflict(
            self.entity,
            current=status,
            action=action,
            allowed=self.allowed(status),
            next_states=self.next_states(status),
        )

    def moved(self, status: S, action: str) -> S:
        """The status a step leads to; refuses a step the status does not allow."""
        if action not in self.steps[status]:
            raise self._refusal(status, action)
        return self.steps[status][action]


L = TypeVar("L")


def with_line(history: Sequence[L], line: L, *, kept: int) -> tuple[L, ...]:
    """The history with one more line, keeping the latest `kept` (events are the full record)."""
    return (*history, line)[-kept:]
