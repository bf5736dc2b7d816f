"""The one clock services decide with: UTC, to the millisecond.

MongoDB keeps datetimes to the millisecond, so a time taken from this clock reads back
equal to what was decided; every service passes `Clock` into its domain and tests pass a
fixed one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def to_millisecond(moment: datetime) -> datetime:
    """The moment as MongoDB keeps it."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond."""
    return to_millisecond(datetime.now(UTC))
