"""The same store tests against the in-memory fakes and the MongoDB stores, so the fakes stay honest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient

from services.notifications.domain import deliveries as d
from services.notifications.domain.digest import DigestEntry
from services.notifications.domain.directory import (
    Category,
    ContactId,
    ContactOrigin,
    ContactRole,
    EntityKind,
    EntityRef,
    Organisation,
    OrganisationId,
    OrganisationKind,
    Subscription,
    change_address,
)
from services.notifications.domain.occasions import occasion_of
from services.notifications.domain.reminders import Reminder, ReminderStatus, fire
from services.notifications.jobs.worker import DeliveryWorker
from services.notifications.mail.letters import Letter
from services.notifications.store import MongoStores, Stores
from services.notifications.store.deliveries import (
    HANDOFF_GRACE,
    Claimed,
    DeliveryQuery,
    MongoDeliveries,
)
from shared.aggregates import LostRace
from shared.contracts.notifications import NotificationFailed
from shared.errors import Conflict, NotFound
from shared.outbox import Outbox
from tests.infra import Mongo, unique_name
from tests.unit.notifications import builders as b
from tests.unit.notifications.fakes import FakeDeliveries, RecordingSender, fake_stores

pytestmark = pytest.mark.integration

MEETING = EntityRef(EntityKind.MEETING, "m-11")


@pytest_asyncio.fixture(params=["fake", "mongo"])
async def stores(request: pytest.FixtureRequest, mongo: Mongo) -> AsyncIterator[Stores]:
    if request.param == "fake":
        yield fake_stores()
        return
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri, tz_aware=True)
    try:
        found = MongoStores.of(client[unique_name("store").replace("-", "_")], OUTBOX)
        await found.create_indexes()
        yield found
    finally:
        await client.close()


def a_delivery(event_id: str = "evt-1", recipient: str = "c-1", **changes: Any) -> d.Delivery:
    delivery = d.new_delivery(
        event_id,
        event_type="eu.urbanagenda.inclusion.meeting.registration_confirmed.v1",
        template="registration_confirmed",
        recipient_id=ContactId(recipient),
        category=Category.PERSONAL,
        now=b.NOW,
        policy=b.POLICY,
    )
    return replace(delivery, **changes)


LETTER = Letter(
    to="participant@athens.example.org",
    message=b"Subject: x\r\n\r\nbody\r\n",
    message_id="<x@inclusion.example.org>",
    language="en",
    subject="x",
)


OUTBOX = Outbox(source="/partnership/notifications", clock=lambda: b.NOW)


def worker_over(stores: Stores, sender: RecordingSender, *, at: datetime = b.NOW) -> DeliveryWorker:
    return DeliveryWorker(
        stores.deliveries,
        [sender],
        OUTBOX,
        return_path="bounces@inclusion.example.org",
        policy=b.POLICY,
        clock=lambda: at,
        rng=b.seeded_rng(),
    )


async def pending_event_types(stores: Stores, delivery_id: d.DeliveryId) -> list[str]:
    """The types of the events waiting in a delivery's outbox, as the relay would find them."""
    if isinstance(stores, MongoStores):
        assert isinstance(stores.deliveries, MongoDeliveries)
        doc = await stores.deliveries.collection.find_one(
            {"_id": delivery_id, "outbox_pending": True}
        )
        entries = doc["outbox"] if doc else []
    else:
        assert isinstance(stores.deliveries, FakeDeliveries)
        entries = stores.deliveries.stored[delivery_id].outbox
    return [entry["headers"]["ce_type"] for entry in entries]


# --- deliveries -----------------------------------------------------------------------


async def test_a_delivery_is_recorded_once(stores: Stores) -> None:
    assert await stores.deliveries.add_once(a_delivery(), LETTER)
    assert not await stores.deliveries.add_once(a_delivery(), LETTER)
    assert await stores.deliveries.exists(a_delivery().id)


async def take(stores: Stores, delivery_id: d.DeliveryId, *, at: datetime = b.NOW) -> Claimed:
    """Claim one delivery by id, as the worker does with those handed to it."""
    claimed = await stores.deliveries.claim([delivery_id], now=at, lease_s=60)
    assert len(claimed) == 1
    return claimed[0]


async def retry_later(stores: Stores, delivery_id: d.DeliveryId, *, at: datetime) -> None:
    """Claim the delivery and record a transient failure whose retry is due at `at`."""
    claimed = await take(stores, delivery_id)
    waiting = replace(claimed.delivery, next_attempt_at=at, last_error="421 try later")
    assert await stores.deliveries.record(waiting, [])


async def test_claiming_counts_the_attempt_and_hands_out_the_stored_bytes(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery(), LETTER)

    claimed = await take(stores, a_delivery().id)

    assert claimed.delivery.attempts == 1
    assert (claimed.to, claimed.message) == (LETTER.to, LETTER.message)


async def test_a_claimed_delivery_is_not_claimed_again_while_leased(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery(), LETTER)
    await take(stores, a_delivery().id)

    held = await stores.deliveries.claim(
        [a_delivery().id], now=b.NOW + timedelta(seconds=30), lease_s=60
    )
    again = await take(stores, a_delivery().id, at=b.NOW + timedelta(seconds=61))

    assert held == []
    assert again.delivery.attempts == 2


async def test_a_new_delivery_is_due_for_the_poll_only_once_its_hand_off_could_have_failed(
    stores: Stores,
) -> None:
    await stores.deliveries.add_once(a_delivery(), LETTER)

    assert await stores.deliveries.due(now=b.NOW, limit=10) == []
    assert await stores.deliveries.due(now=b.NOW + HANDOFF_GRACE, limit=10) == [a_delivery().id]


async def test_a_delivery_waiting_for_its_retry_is_not_due(stores: Stores) -> None:
    later = b.NOW + timedelta(minutes=5)
    await stores.deliveries.add_once(a_delivery(), LETTER)
    await retry_later(stores, a_delivery().id, at=later)

    assert await stores.deliveries.due(now=later - timedelta(seconds=1), limit=10) == []
    assert await stores.deliveries.claim_due(now=later, lease_s=60) is not None


async def test_the_most_overdue_delivery_is_due_first(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery("evt-2"), LETTER)
    await stores.deliveries.add_once(a_delivery("evt-1"), LETTER)
    await retry_later(stores, a_delivery("evt-2").id, at=b.NOW + timedelta(minutes=2))
    await retry_later(stores, a_delivery("evt-1").id, at=b.NOW + timedelta(minutes=1))

    due = await stores.deliveries.due(now=b.NOW + timedelta(minutes=3), limit=10)

    assert due == [a_delivery("evt-1").id, a_delivery("evt-2").id]


async def test_an_outcome_is_recorded_only_by_the_attempt_that_holds_the_delivery(
    stores: Stores,
) -> None:
    await stores.deliveries.add_once(a_delivery(), LETTER)
    stale = (await take(stores, a_delivery().id)).delivery
    await take(stores, a_delivery().id, at=b.NOW + timedelta(seconds=61))

    sent, _ = d.record_sent(stale, now=b.NOW)

    assert not await stores.deliveries.record(sent, [])


async def test_a_recorded_outcome_is_read_back_and_leaves_the_queue(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery(), LETTER)
    claimed = await take(stores, a_delivery().id)
    sent, _ = d.record_sent(claimed.delivery, now=b.NOW)

    assert await stores.deliveries.record(sent, [{"id": "outbox-entry"}])

    stored = await stores.deliveries.get(sent.id)
    assert stored.status is d.DeliveryStatus.SENT
    assert stored.attempts == 1
    assert await stores.deliveries.due(now=b.NOW + timedelta(hours=1), limit=10) == []
    assert (
        await stores.deliveries.claim([sent.id], now=b.NOW + timedelta(hours=1), lease_s=60) == []
    )
    assert await stores.deliveries.pending_count() == 0


async def test_deliveries_are_listed_by_status_recipient_and_event_and_counted(
    stores: Stores,
) -> None:
    await stores.deliveries.add_once(a_delivery("evt-1", "c-1"), LETTER)
    await stores.deliveries.add_once(a_delivery("evt-1", "c-2"), LETTER)
    await stores.deliveries.add_once(a_delivery("evt-2", "c-1"), LETTER)

    by_event = await stores.deliveries.list(DeliveryQuery(event_id="evt-1"))
    by_recipient = await stores.deliveries.list(DeliveryQuery(recipient_id=ContactId("c-1")))
    pending = await stores.deliveries.list(DeliveryQuery(status=d.DeliveryStatus.PENDING))
    counts = await stores.deliveries.counts()

    assert sorted(x.recipient_id for x in by_event) == ["c-1", "c-2"]
    assert sorted(x.event_id for x in by_recipient) == ["evt-1", "evt-2"]
    assert len(pending) == 3
    assert counts[d.DeliveryStatus.PENDING] == 3
    assert await stores.deliveries.oldest_pending() == b.NOW


async def test_erasing_a_recipient_keeps_anonymous_records(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery("evt-1", "c-1"), LETTER)

    assert await stores.deliveries.erase_recipient(ContactId("c-1")) == 1

    (record,) = await stores.deliveries.list(DeliveryQuery())
    assert record.recipient_id.startswith("erased:")
    assert record.status is d.DeliveryStatus.CANCELLED
    assert await stores.deliveries.due(now=b.NOW + HANDOFF_GRACE, limit=10) == []
    assert await stores.deliveries.claim([record.id], now=b.NOW, lease_s=60) == []


async def test_a_delivery_whose_email_could_not_be_written_is_kept_failed_with_its_event(
    stores: Stores,
) -> None:
    failed, event = d.abandon(a_delivery(), error="the e-mail could not be written", now=b.NOW)

    assert await stores.deliveries.add_once(failed, None, OUTBOX.stage([event]))

    assert await stores.deliveries.get(failed.id) == failed
    assert await stores.deliveries.due(now=b.NOW + HANDOFF_GRACE, limit=10) == []
    assert await stores.deliveries.claim([failed.id], now=b.NOW, lease_s=60) == []
    assert await pending_event_types(stores, failed.id) == [NotificationFailed.EVENT_TYPE]


async def test_an_erased_failed_delivery_is_cancelled(stores: Stores) -> None:
    await stores.deliveries.add_once(a_delivery("evt-1", "c-1"), LETTER)
    claimed = await take(stores, a_delivery("evt-1", "c-1").id)
    failed, _ = d.abandon(claimed.delivery, error="550 mailbox unavailable", now=b.NOW)
    await stores.deliveries.record(failed, [])

    await stores.deliveries.erase_recipient(ContactId("c-1"))

    (record,) = await stores.deliveries.list(DeliveryQuery())
    assert record.status is d.DeliveryStatus.CANCELLED


async def test_a_pending_delivery_without_its_message_is_failed_not_claimed(
    stores: Stores,
) -> None:
    await stores.deliveries.add_once(a_delivery("evt-1", "c-1"), LETTER)
    await stores.deliveries.erase_recipient(ContactId("c-1"))
    (erased,) = await stores.deliveries.list(DeliveryQuery())
    # Erased before this fix, a failed delivery stayed failed, and a resend made it pending.
    await stores.deliveries.save(replace(erased, status=d.DeliveryStatus.PENDING))
    sender = RecordingSender()

    assert await worker_over(stores, sender).deliver_due() == 1

    stored = await stores.deliveries.get(erased.id)
    assert sender.attempts == 0
    assert stored.status is d.DeliveryStatus.FAILED
    assert stored.last_error == "nothing to send: the e-mail is no longer stored"
    assert await stores.deliveries.due(now=b.NOW + timedelta(hours=1), limit=10) == []
    assert await pending_event_types(stores, erased.id) == [NotificationFailed.EVENT_TYPE]


async def test_a_delivery_claimed_past_its_attempt_limit_is_failed_not_claimed(
    stores: Stores,
) -> None:
    await stores.deliveries.add_once(a_delivery(attempts=b.POLICY.max_attempts), LETTER)
    sender = RecordingSender()

    assert await worker_over(stores, sender, at=b.NOW + HANDOFF_GRACE).deliver_due() == 1

    stored = await stores.deliveries.get(a_delivery().id)
    assert sender.attempts == 0
    assert stored.status is d.DeliveryStatus.FAILED
    assert stored.last_error is not None
    assert stored.last_error.startswith("no attempts left")
    assert await stores.deliveries.due(now=b.NOW + timedelta(hours=1), limit=10) == []
    assert await pending_event_types(stores, stored.id) == [NotificationFailed.EVENT_TYPE]


# --- directory ---------------------------------------------------------------------------

ATHENS = Organisation(OrganisationId("athens"), "City of Athens", OrganisationKind.CITY, "Athens")


async def test_an_organisation_is_added_once(stores: Stores) -> None:
    await stores.directory.add_organisation(ATHENS)

    with pytest.raises(Conflict):
        await stores.directory.add_organisation(ATHENS)
    assert await stores.directory.get_organisation(ATHENS.id) == ATHENS


async def test_one_contact_per_address(stores: Stores) -> None:
    contact = b.a_contact("partnership@athens.example.org", organisation="athens")

    assert await stores.directory.add_contact(contact)
    assert not await stores.directory.add_contact(contact)
    assert await stores.directory.find_contact(contact.email_key) == contact


async def test_a_contact_saved_from_a_stale_read_loses_and_nothing_is_overwritten(
    stores: Stores,
) -> None:
    contact = b.a_contact("partnership@athens.example.org", organisation="athens")
    await stores.directory.add_contact(contact)
    first = await stores.directory.get_contact(contact.id)
    second = await stores.directory.get_contact(contact.id)

    saved = await stores.directory.save_contact(replace(first, name="Athens desk"))
    with pytest.raises(LostRace):
        await stores.directory.save_contact(replace(second, roles=frozenset()))

    stored = await stores.directory.get_contact(contact.id)
    assert (stored.name, stored.version) == ("Athens desk", saved.version)
    assert stored.version == first.version + 1


async def test_two_edits_of_one_contact_at_once_both_take_effect(stores: Stores) -> None:
    contact = b.a_contact("partnership@athens.example.org", organisation="athens")
    await stores.directory.add_contact(contact)

    await asyncio.gather(
        stores.directory.change_contact(contact.id, lambda c: replace(c, name="Athens desk")),
        stores.directory.change_contact(
            contact.id,
            lambda c: replace(c, preferences=replace(c.preferences, language="el")),
        ),
    )

    stored = await stores.directory.get_contact(contact.id)
    assert (stored.name, stored.language) == ("Athens desk", "el")


async def test_an_erased_contact_leaves_only_a_tombstone(stores: Stores) -> None:
    contact = b.a_contact("partnership@athens.example.org", organisation="athens")
    await stores.directory.add_contact(contact)
    await stores.directory.follow(Subscription(contact.id, entity=MEETING), now=b.NOW)

    await stores.directory.erase_contact(contact.id, now=b.NOW)

    assert await stores.directory.find_contact(contact.email_key) is None
    assert await stores.directory.is_erased(contact.email_key)
    assert await stores.directory.list_subscriptions(contact.id) == []
    with pytest.raises(NotFound):
        await stores.directory.get_contact(contact.id)


async def test_an_address_a_contact_moved_away_from_can_be_added_again(stores: Stores) -> None:
    moved = b.a_contact("partnership@athens.example.org", organisation="athens")
    await stores.directory.add_contact(moved)
    await stores.directory.save_contact(
        change_address(moved, "new-desk@athens.example.org", secret=b.SECRET)
    )
    successor = b.a_contact("partnership@athens.example.org", name="Successor, Athens")

    added = await stores.directory.add_contact(successor)

    assert added is not None
    assert added.id not in (moved.id, "")
    assert await stores.directory.find_contact(successor.email_key) == added
    assert (await stores.directory.get_contact(moved.id)).email == "new-desk@athens.example.org"
    assert await stores.directory.add_contact(successor) is None


async def test_an_erased_contact_named_again_is_added_afresh(stores: Stores) -> None:
    contact = b.a_contact("partnership@athens.example.org")
    await stores.directory.add_contact(contact)
    await stores.directory.erase_contact(contact.id, now=b.NOW)

    added = await stores.directory.add_contact(contact)

    assert added == contact
    assert await stores.directory.find_contact(contact.email_key) == contact


async def test_contacts_are_found_by_organisation_role_and_origin(stores: Stores) -> None:
    lead = b.a_contact(
        "lead@athens.example.org",
        organisation="athens",
        roles=frozenset({ContactRole.ACTION_LEAD_CONTACT}),
    )
    other = b.a_contact("other@athens.example.org", organisation="athens")
    registrant = b.a_contact("p@turin.example.org", organisation=None, origin=ContactOrigin.EVENT)
    for contact in (lead, other, registrant):
        await stores.directory.add_contact(contact)

    leads = await stores.directory.contacts_of(
        [OrganisationId("athens")], roles=frozenset({ContactRole.ACTION_LEAD_CONTACT})
    )
    everyone = await stores.directory.contacts_of([OrganisationId("athens")], roles=frozenset())
    from_events = await stores.directory.list_contacts(origin=ContactOrigin.EVENT)

    assert [c.id for c in leads] == [lead.id]
    assert sorted(c.id for c in everyone) == sorted([lead.id, other.id])
    assert [c.id for c in from_events] == [registrant.id]


async def test_followers_of_an_entity_or_its_category_are_found_once(stores: Stores) -> None:
    both = b.a_contact("both@athens.example.org")
    entity_only = b.a_contact("entity@berlin.example.org")
    unrelated = b.a_contact("other@helsinki.example.org")
    for contact in (both, entity_only, unrelated):
        await stores.directory.add_contact(contact)
    await stores.directory.follow(Subscription(both.id, entity=MEETING), now=b.NOW)
    await stores.directory.follow(
        Subscription(both.id, category=Category.MEETING_CHANGES), now=b.NOW
    )
    await stores.directory.follow(Subscription(entity_only.id, entity=MEETING), now=b.NOW)
    await stores.directory.follow(Subscription(unrelated.id, category=Category.MINUTES), now=b.NOW)

    found = await stores.directory.followers(entity=MEETING, category=Category.MEETING_CHANGES)

    assert sorted(c.id for c in found) == sorted([both.id, entity_only.id])


async def test_following_twice_is_one_subscription(stores: Stores) -> None:
    subscription = Subscription(ContactId("c-1"), category=Category.MINUTES)

    assert await stores.directory.follow(subscription, now=b.NOW)
    assert not await stores.directory.follow(subscription, now=b.NOW)
    await stores.directory.unfollow(ContactId("c-1"), subscription.id)
    assert await stores.directory.list_subscriptions(ContactId("c-1")) == []


# --- occasions and reminders -------------------------------------------------------------


async def test_participants_come_and_go_by_registration(stores: Stores) -> None:
    await stores.occasions.add_participant(
        MEETING, registration_id="r-1", contact_id=ContactId("c-1")
    )
    await stores.occasions.add_participant(
        MEETING, registration_id="r-1", contact_id=ContactId("c-1")
    )
    await stores.occasions.add_participant(
        MEETING, registration_id="r-2", contact_id=ContactId("c-2")
    )
    await stores.occasions.remove_participant(MEETING, registration_id="r-2")

    assert await stores.occasions.participants(MEETING) == ["c-1"]
    assert await stores.occasions.participations(ContactId("c-1")) == [MEETING]


async def test_an_occasion_keeps_its_newest_version(stores: Stores) -> None:
    first = occasion_of(b.meeting(sequence=2))
    older = occasion_of(b.meeting(sequence=1, title="old title"))

    await stores.occasions.record(first)
    kept = await stores.occasions.record(older)

    assert kept == first
    assert await stores.occasions.get(MEETING) == first


async def test_a_due_reminder_is_claimed_once_until_saved(stores: Stores) -> None:
    reminder = Reminder(occasion_of(b.meeting()), timedelta(days=1))
    await stores.reminders.save(reminder)

    assert (
        await stores.reminders.claim_due(now=reminder.due_at - timedelta(seconds=1), lease_s=60)
        is None
    )
    claimed = await stores.reminders.claim_due(now=reminder.due_at, lease_s=60)
    assert claimed == reminder
    assert await stores.reminders.claim_due(now=reminder.due_at, lease_s=60) is None
    await stores.reminders.save(replace(reminder, status=ReminderStatus.SENT, sent_for=b.STARTS))
    assert (
        await stores.reminders.claim_due(now=reminder.due_at + timedelta(hours=1), lease_s=60)
        is None
    )
    (stored,) = await stores.reminders.list_for(MEETING)
    assert stored.status is ReminderStatus.SENT


# --- digests -------------------------------------------------------------------------------


def an_entry(notice_id: str, day: date) -> DigestEntry:
    return DigestEntry(
        contact_id=ContactId("c-1"),
        notice_id=notice_id,
        template="meeting_scheduled",
        category=Category.NEW_MEETINGS,
        summary=f"New meeting {notice_id}",
        occurred_at=b.NOW,
        day=day,
    )


async def test_digest_entries_are_claimed_sent_and_moved(stores: Stores) -> None:
    today, tomorrow = date(2018, 4, 2), date(2018, 4, 3)
    first, late = an_entry("evt-1", today), an_entry("evt-2", today)
    assert await stores.digests.add_once(first)
    assert not await stores.digests.add_once(first)
    await stores.digests.add_once(late)
    await stores.digests.add_once(an_entry("evt-3", tomorrow))

    due = await stores.digests.unclaimed(up_to=today)
    await stores.digests.claim([first], "digest:c-1:2018-04-02")
    claimed = await stores.digests.claimed_unsent()
    await stores.digests.mark_sent("digest:c-1:2018-04-02")
    await stores.digests.move([late], to=tomorrow)

    assert sorted(e.notice_id for e in due) == ["evt-1", "evt-2"]
    assert [e.notice_id for e in claimed["digest:c-1:2018-04-02"]] == ["evt-1"]
    assert await stores.digests.claimed_unsent() == {}
    assert await stores.digests.unclaimed(up_to=today) == []
    assert sorted(e.notice_id for e in await stores.digests.unclaimed(up_to=tomorrow)) == [
        "evt-2",
        "evt-3",
    ]


async def test_a_fired_reminder_is_recorded_as_sent_when_it_did_not_move(stores: Stores) -> None:
    reminder = Reminder(occasion_of(b.meeting()), timedelta(days=1))
    await stores.reminders.save(reminder)
    claimed = await stores.reminders.claim_due(now=reminder.due_at, lease_s=60)
    assert claimed is not None
    sent, _ = fire(claimed, now=reminder.due_at)

    assert await stores.reminders.save_fired(sent, claimed=claimed)

    assert await stores.reminders.get(reminder.id) == sent


async def test_a_reminder_moved_while_it_fired_keeps_its_new_time(stores: Stores) -> None:
    reminder = Reminder(occasion_of(b.meeting()), timedelta(days=1))
    await stores.reminders.save(reminder)
    claimed = await stores.reminders.claim_due(now=reminder.due_at, lease_s=60)
    assert claimed is not None
    sent, _ = fire(claimed, now=reminder.due_at)
    two_weeks = timedelta(days=14)
    later = occasion_of(
        b.meeting(sequence=1, starts_at=b.STARTS + two_weeks, ends_at=b.ENDS + two_weeks)
    )
    moved = replace(reminder, occasion=later)
    await stores.reminders.save(moved)

    assert not await stores.reminders.save_fired(sent, claimed=claimed)

    assert await stores.reminders.get(reminder.id) == moved
