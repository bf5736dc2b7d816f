"""The daily digest: which day a change goes into, and how a contact's day is summarised."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from services.notifications.domain import digest
from services.notifications.domain.digest import DigestEntry
from services.notifications.domain.directory import Category, ContactId, Preferences

BRUSSELS = ZoneInfo("Europe/Brussels")


def entry(category: Category, at: datetime, notice_id: str = "evt-1") -> DigestEntry:
    return DigestEntry(
        contact_id=ContactId("c-1"),
        notice_id=notice_id,
        template="meeting_scheduled",
        category=category,
        summary=f"summary of {notice_id}",
        occurred_at=at,
        day=date(2018, 5, 16),
    )


def test_a_change_before_the_digest_hour_goes_into_that_days_digest() -> None:
    at = datetime(2018, 5, 15, 5, 0, tzinfo=UTC)  # 07:00 in Brussels

    assert digest.digest_day(at, hour=8, timezone=BRUSSELS) == date(2018, 5, 15)


def test_a_change_after_the_digest_hour_waits_for_the_next_days_digest() -> None:
    at = datetime(2018, 5, 15, 6, 30, tzinfo=UTC)  # 08:30 in Brussels

    assert digest.digest_day(at, hour=8, timezone=BRUSSELS) == date(2018, 5, 16)


def test_todays_digest_is_due_once_the_digest_hour_has_come_in_its_time_zone() -> None:
    before = datetime(2018, 5, 16, 5, 59, tzinfo=UTC)  # 07:59 in Brussels
    after = datetime(2018, 5, 16, 6, 0, tzinfo=UTC)  # 08:00 in Brussels

    assert digest.last_due_day(before, hour=8, timezone=BRUSSELS) == date(2018, 5, 15)
    assert digest.last_due_day(after, hour=8, timezone=BRUSSELS) == date(2018, 5, 16)


def test_a_digest_groups_changes_by_category_oldest_first() -> None:
    entries = [
        entry(Category.MINUTES, datetime(2018, 5, 15, 12, tzinfo=UTC), "evt-3"),
        entry(Category.NEW_MEETINGS, datetime(2018, 5, 15, 11, tzinfo=UTC), "evt-2"),
        entry(Category.NEW_MEETINGS, datetime(2018, 5, 15, 9, tzinfo=UTC), "evt-1"),
    ]

    sections = digest.compose(entries, Preferences())

    assert [(s.category, [e.notice_id for e in s.entries]) for s in sections] == [
        (Category.NEW_MEETINGS, ["evt-1", "evt-2"]),
        (Category.MINUTES, ["evt-3"]),
    ]


def test_a_category_switched_off_after_the_change_is_left_out_of_the_digest() -> None:
    entries = [entry(Category.MINUTES, datetime(2018, 5, 15, 12, tzinfo=UTC))]

    sections = digest.compose(entries, Preferences(muted=frozenset({Category.MINUTES})))

    assert sections == ()


def test_one_digest_per_contact_and_day() -> None:
    assert digest.digest_id(ContactId("c-1"), date(2018, 5, 16)) == "digest:c-1:2018-05-16"


def test_held_changes_are_grouped_by_digest_day() -> None:
    first = entry(Category.MINUTES, datetime(2018, 5, 15, 12, tzinfo=UTC), "evt-1")
    second = DigestEntry(**{**first.__dict__, "notice_id": "evt-2", "day": date(2018, 5, 17)})

    assert list(digest.by_day([second, first])) == [date(2018, 5, 16), date(2018, 5, 17)]
