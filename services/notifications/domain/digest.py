"""The daily digest: a contact who chose it gets one e-mail summarising the day's changes."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifications.domain.directory import Category, ContactId, Preferences

DIGEST_TEMPLATE = "daily_digest"


@dataclass(frozen=True)
class DigestEntry:
    """One change held back for a contact's digest, summarised by the subject it would have had."""

    contact_id: ContactId
    notice_id: str
    template: str
    category: Category
    summary: str
    occurred_at: datetime
    day: date

    @property
    def id(self) -> str:
        key = f"{self.notice_id}\x1f{self.contact_id}\x1f{self.template}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class DigestSection:
    category: Category
    entries: tuple[DigestEntry, ...]


def digest_day(occurred_at: datetime, *, hour: int, timezone: ZoneInfo) -> date:
    """The digest that carries a change: today's if it happened before the digest hour, else tomorrow's."""
    local = occurred_at.astimezone(timezone)
    return local.date() if local.hour < hour else local.date() + timedelta(days=1)


def last_due_day(now: datetime, *, hour: int, timezone: ZoneInfo) -> date:
    """The latest day whose digest may go out now (today's once the digest hour has come)."""
    local = now.astimezone(timezone)
    return local.date() if local.hour >= hour else local.date() - timedelta(days=1)


def digest_id(contact_id: ContactId, day: date) -> str:
    """One digest per contact and day: the notice id its delivery is keyed by."""
    return f"digest:{contact_id}:{day.isoformat()}"


def compose(entries: Iterable[DigestEntry], preferences: Preferences) -> tuple[DigestSection, ...]:
    """The digest's sections: by category in a fixed order, oldest change first.

    Categories switched off since the change was held back are left out.
    """
    by_category: dict[Category, list[DigestEntry]] = defaultdict(list)
    for entry in entries:
        if preferences.wants(entry.category, transactional=False):
            by_category[entry.category].append(entry)
    return tuple(
        DigestSection(category, tuple(sorted(by_category[category], key=_chronological)))
        for category in Category
        if by_category.get(category)
    )


def by_day(entries: Sequence[DigestEntry]) -> dict[date, list[DigestEntry]]:
    """A contact's held-back changes, one group per digest day."""
    days: dict[date, list[DigestEntry]] = defaultdict(list)
    for entry in entries:
        days[entry.day].append(entry)
    return dict(sorted(days.items()))


def _chronological(entry: DigestEntry) -> tuple[datetime, str]:
    return entry.occurred_at, entry.notice_id
