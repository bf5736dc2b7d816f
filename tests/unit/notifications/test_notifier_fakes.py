"""Handlers, the notifier and the scheduled jobs, against in-memory stores."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.notifications import handlers, privacy
from services.notifications.domain.deliveries import Delivery, DeliveryStatus
from services.notifications.domain.directory import (
    Category,
    Contact,
    ContactOrigin,
    ContactRole,
    DeliveryMode,
    EntityKind,
    EntityRef,
    Preferences,
    Subscription,
    change_address,
    email_key,
)
from services.notifications.domain.reminders import ReminderStatus, fire
from services.notifications.domain.routing import Addressee
from services.notifications.jobs.schedules import DigestJob, ReminderJob
from services.notifications.mail.letters import Letter, LetterWriter
from services.notifications.notices import Notice
from services.notifications.notifier import Notifier, Routed
from services.notifications.seed import MEMBERS, seed_directory
from services.notifications.store.deliveries import Claimed
from shared.contracts.base import Event
from shared.contracts.notifications import NotificationFailed
from shared.envelope import Envelope
from tests.unit.notifications import builders as b
from tests.unit.notifications.fakes import (
    FakeDeliveries,
    FakeDigests,
    FakeDirectory,
    FakeReminders,
    fake_stores,
)

MEETING = EntityRef(EntityKind.MEETING, "m-11")


class World:
    """The service's parts wired to fakes, with a clock the test moves."""

    def __init__(self) -> None:
        self.stores = fake_stores()
        self.clock = b.Clock()
        self.handed_over: list[Claimed] = []
        self.notifier: Notifier = b.notifier_for(
            self.stores, self.clock, ready=self.handed_over.append
        )
        self.handlers = handlers.handlers_for(self.notifier)

    @property
    def directory(self) -> FakeDirectory:
        assert isinstance(self.stores.directory, FakeDirectory)
        return self.stores.directory

    @property
    def deliveries(self) -> FakeDeliveries:
        assert isinstance(self.stores.deliveries, FakeDeliveries)
        return self.stores.deliveries

    @property
    def reminders(self) -> FakeReminders:
        assert isinstance(self.stores.reminders, FakeReminders)
        return self.stores.reminders

    @property
    def digests(self) -> FakeDigests:
        assert isinstance(self.stores.digests, FakeDigests)
        return self.stores.digests

    async def deliver(self, event: Event, meta: Envelope | None = None) -> Envelope:
        meta = meta or b.envelope(event, time=self.clock())
        await self.handlers[type(event)](event, meta)
        return meta

    async def add(self, contact: Contact, *follows: Category | EntityRef) -> Contact:
        await self.directory.add_contact(contact)
        for target in follows:
            subscription = (
                Subscription(contact.id, entity=target)
                if isinstance(target, EntityRef)
                else Subscription(contact.id, category=target)
            )
            await self.directory.follow(subscription, now=self.clock())
        return contact

    def recipients(self, template: str | None = None) -> list[str]:
        return sorted(
            letter.to
            for stored in self.deliveries.stored.values()
            if (letter := stored.letter) is not None
            and (template is None or stored.delivery.template == template)
        )


@pytest.fixture
def world() -> World:
    return World()


async def test_a_confirmed_registrant_gets_one_email_with_an_invitation(world: World) -> None:
    await world.deliver(b.confirmed())

    assert world.recipients("registration_confirmed") == ["participant@athens.example.org"]
    assert b'method="REQUEST"' in world.deliveries.letters()[0].message
    assert [c.delivery.id for c in world.handed_over] == [d.id for d in world.deliveries.pending]


async def test_a_redelivered_event_sends_no_second_email(world: World) -> None:
    event = b.confirmed()
    meta = await world.deliver(event)

    await world.deliver(event, meta)

    assert len(world.deliveries.stored) == 1


async def test_a_registrant_is_known_afterwards_as_a_contact_in_their_language(
    world: World,
) -> None:
    await world.deliver(b.confirmed(b.registrant("person@berlin.example.org", language="de")))

    contact = await world.directory.find_contact(
        email_key("person@berlin.example.org", secret=b.SECRET)
    )

    assert contact is not None
    assert contact.origin is ContactOrigin.EVENT
    assert contact.language == "de"
    assert world.deliveries.letters()[0].language == "de"


async def test_a_reschedule_reaches_participants_and_followers_once_each(world: World) -> None:
    await world.deliver(b.confirmed())
    await world.add(b.a_contact("follower@helsinki.example.org"), MEETING)
    await world.add(b.a_contact("all-changes@cemr.example.org"), Category.MEETING_CHANGES)
    participant = await world.directory.find_contact(
        email_key("participant@athens.example.org", secret=b.SECRET)
    )
    assert participant is not None
    await world.directory.follow(Subscription(participant.id, entity=MEETING), now=b.NOW)

    await world.deliver(
        b.rescheduled(starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7))
    )

    assert world.recipients("meeting_rescheduled") == [
        "all-changes@cemr.example.org",
        "follower@helsinki.example.org",
        "participant@athens.example.org",
    ]


async def test_an_email_that_cannot_be_written_fails_for_that_recipient_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.add(b.a_contact("follower@helsinki.example.org"), MEETING)
    await world.add(b.a_contact("unwritable@cemr.example.org"), MEETING)
    write = LetterWriter.write

    def write_or_refuse(
        writer: LetterWriter, notice: Notice, addressee: Addressee, delivery: Delivery
    ) -> Letter:
        if addressee.contact.email == "unwritable@cemr.example.org":
            raise ValueError("invalid arguments; address parts cannot contain CR or LF")
        return write(writer, notice, addressee, delivery)

    monkeypatch.setattr(LetterWriter, "write", write_or_refuse)

    await world.deliver(
        b.rescheduled(starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7))
    )

    assert world.recipients("meeting_rescheduled") == ["follower@helsinki.example.org"]
    (stored,) = [
        s for s in world.deliveries.stored.values() if s.delivery.status is DeliveryStatus.FAILED
    ]
    assert stored.delivery.last_error == (
        "the e-mail could not be written: invalid arguments; address parts cannot contain CR or LF"
    )
    (entry,) = stored.outbox
    event = NotificationFailed.model_validate_json(entry["body"])
    assert entry["headers"]["ce_type"] == NotificationFailed.EVENT_TYPE
    assert (event.delivery_id, event.attempts) == (stored.delivery.id, 0)
    assert event.error == stored.delivery.last_error


async def test_a_new_venue_sends_confirmed_registrants_a_calendar_update(world: World) -> None:
    await world.deliver(b.confirmed())

    await world.deliver(b.updated(sequence=1))

    assert world.recipients("meeting_updated") == ["participant@athens.example.org"]
    [update] = [
        s.letter
        for s in world.deliveries.stored.values()
        if s.delivery.template == "meeting_updated"
    ]
    assert update is not None
    assert b'method="REQUEST"' in update.message
    occasion = await world.stores.occasions.get(MEETING)
    assert occasion is not None
    assert (occasion.sequence, occasion.calendar_uid) == (1, "m-11@meetings.partnership")


async def test_a_new_meeting_reaches_the_followers_of_new_meetings(world: World) -> None:
    await world.add(b.a_contact("news@eurocities.example.org"), Category.NEW_MEETINGS)
    await world.add(b.a_contact("minutes-only@mpg.example.org"), Category.MINUTES)

    await world.deliver(b.scheduled())

    assert world.recipients() == ["news@eurocities.example.org"]


async def test_minutes_reach_the_attending_organisations_contacts(world: World) -> None:
    await seed_directory(world.directory, secret=b.SECRET, now=b.NOW)

    await world.deliver(b.minutes("City of Amsterdam", "DG HOME"))

    assert world.recipients("minutes_published") == [
        "partnership@amsterdam.example.org",
        "partnership@dg-home.example.org",
        "secretariat@secretariat.example.org",  # a contact of the City of Amsterdam too
    ]


async def test_a_moderated_registration_reaches_the_person_and_the_secretariat(
    world: World,
) -> None:
    await world.add(
        b.a_contact("desk@secretariat.example.org", roles=frozenset({ContactRole.SECRETARIAT}))
    )

    await world.deliver(b.requested())

    assert world.recipients("registration_requested") == ["participant@athens.example.org"]
    assert world.recipients("registration_to_approve") == ["desk@secretariat.example.org"]


async def test_a_follower_who_switched_the_category_off_gets_nothing(world: World) -> None:
    contact = b.a_contact("quiet@ecre.example.org")
    contact = replace(contact, preferences=Preferences(muted=frozenset({Category.NEW_MEETINGS})))
    await world.add(contact, Category.NEW_MEETINGS)

    await world.deliver(b.scheduled())

    assert world.recipients() == []


async def test_a_cancellation_reaches_participants_even_with_everything_switched_off(
    world: World,
) -> None:
    await world.deliver(b.confirmed())
    participant = await world.directory.find_contact(
        email_key("participant@athens.example.org", secret=b.SECRET)
    )
    assert participant is not None
    await world.directory.save_contact(
        replace(participant, preferences=Preferences(muted=frozenset(Category)))
    )

    await world.deliver(b.cancelled())

    assert world.recipients("meeting_cancelled") == ["participant@athens.example.org"]


async def test_a_cancelled_registration_no_longer_receives_participant_emails(
    world: World,
) -> None:
    await world.deliver(b.confirmed())
    await world.deliver(b.registration_cancelled())

    await world.deliver(b.programme())

    assert world.recipients("programme_updated") == []


async def test_a_promoted_registrant_becomes_a_participant(world: World) -> None:
    await world.deliver(b.promoted())

    assert await world.stores.occasions.participants(MEETING) != []
    assert world.recipients("registration_promoted") == ["participant@athens.example.org"]


async def test_optional_changes_for_a_digest_reader_are_held_for_the_digest(world: World) -> None:
    reader = replace(
        b.a_contact("digest@urbact.example.org"),
        preferences=Preferences(delivery=DeliveryMode.DAILY_DIGEST),
    )
    await world.add(reader, Category.NEW_MEETINGS)

    await world.deliver(b.scheduled())

    assert world.recipients() == []
    (held,) = world.digests.entries.values()
    assert held.summary == "New meeting: 11th partnership meeting"


async def test_an_erased_person_gets_no_further_email_even_if_named_again(world: World) -> None:
    await world.deliver(b.confirmed())
    (contact,) = world.directory.contacts.values()

    await privacy.erase_contact(world.stores, contact.id, now=b.NOW)
    await world.deliver(b.confirmed(b.registrant(registration_id="r-2")))

    assert world.directory.contacts == {}
    assert world.recipients() == []
    (erased,) = world.deliveries.stored.values()
    assert erased.delivery.recipient_id.startswith("erased:")


async def test_erasing_cancels_pending_emails_and_keeps_anonymous_counts(world: World) -> None:
    await world.deliver(b.confirmed())
    (contact,) = world.directory.contacts.values()

    await privacy.erase_contact(world.stores, contact.id, now=b.NOW)

    counts = await world.deliveries.counts()
    assert counts[DeliveryStatus.CANCELLED] == 1
    assert world.deliveries.letters() == []


async def test_a_contact_exports_everything_held_about_them(world: World) -> None:
    await world.deliver(b.confirmed())
    (contact,) = world.directory.contacts.values()
    await world.directory.follow(Subscription(contact.id, entity=MEETING), now=b.NOW)

    export = await privacy.export_contact(world.stores, contact.id, now=b.NOW)

    assert export["contact"]["email"] == "participant@athens.example.org"
    assert export["subscriptions"] == [
        {"id": f"{contact.id}~meeting:m-11", "target": "meeting:m-11"}
    ]
    assert export["participations"] == [{"kind": "meeting", "id": "m-11"}]
    assert [d["template"] for d in export["deliveries"]] == ["registration_confirmed"]


# --- reminders ---------------------------------------------------------------------------


async def test_a_registrant_gets_email_at_an_address_another_contact_moved_away_from(
    world: World,
) -> None:
    athens = await world.add(b.a_contact("participant@athens.example.org"))
    await world.directory.save_contact(
        change_address(athens, "new-desk@athens.example.org", secret=b.SECRET)
    )

    await world.deliver(b.confirmed())

    assert world.recipients("registration_confirmed") == ["participant@athens.example.org"]


async def test_a_scheduled_meeting_gets_a_reminder_a_week_and_a_day_before(world: World) -> None:
    await world.deliver(b.scheduled())

    reminders = await world.reminders.list_for(MEETING)

    assert [r.due_at for r in reminders] == [
        b.STARTS - timedelta(days=7),
        b.STARTS - timedelta(days=1),
    ]


async def test_a_reschedule_moves_the_reminders(world: World) -> None:
    await world.deliver(b.scheduled())
    new_start = b.STARTS + timedelta(days=14)

    await world.deliver(b.rescheduled(starts_at=new_start, ends_at=b.ENDS + timedelta(days=14)))

    reminders = await world.reminders.list_for(MEETING)
    assert [r.due_at for r in reminders] == [
        new_start - timedelta(days=7),
        new_start - timedelta(days=1),
    ]


async def test_a_cancellation_removes_the_reminders(world: World) -> None:
    await world.deliver(b.scheduled())

    await world.deliver(b.cancelled())

    reminders = await world.reminders.list_for(MEETING)
    assert {r.status for r in reminders} == {ReminderStatus.CANCELLED}


async def test_a_due_reminder_reaches_the_confirmed_people_once(world: World) -> None:
    await world.deliver(b.scheduled())
    await world.deliver(b.confirmed())
    job = ReminderJob(world.stores, world.notifier, clock=world.clock)
    world.clock.now = b.STARTS - timedelta(days=7)

    fired = await job.run_due()
    again = await job.run_due()

    assert (fired, again) == (1, 0)
    assert world.recipients("reminder") == ["participant@athens.example.org"]


async def test_a_reminder_fired_again_after_a_crash_writes_no_second_email(world: World) -> None:
    await world.deliver(b.scheduled())
    await world.deliver(b.confirmed())
    world.clock.now = b.STARTS - timedelta(days=1, minutes=-1)
    job = ReminderJob(world.stores, world.notifier, clock=world.clock, lease_s=60)
    (seven_days, one_day) = await world.reminders.list_for(MEETING)
    world.reminders.reminders[seven_days.id] = replace(seven_days, status=ReminderStatus.SENT)
    # The first run notified, then "crashed" before marking the reminder sent.
    _, due = fire(one_day, now=world.clock())
    await world.notifier.notify(Notice.of_reminder(due))

    await job.run_due()

    assert world.recipients("reminder") == ["participant@athens.example.org"]


async def test_a_reminder_moved_while_it_fires_keeps_its_new_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.deliver(b.scheduled())
    await world.deliver(b.confirmed())
    world.clock.now = b.STARTS - timedelta(days=7)
    job = ReminderJob(world.stores, world.notifier, clock=world.clock)
    new_start = b.STARTS + timedelta(days=14)
    notify = world.notifier.notify

    async def notify_while_rescheduled(notice: Notice) -> Routed:
        routed = await notify(notice)
        monkeypatch.undo()  # the reschedule's own e-mails go the ordinary way
        await world.deliver(b.rescheduled(starts_at=new_start, ends_at=b.ENDS + timedelta(days=14)))
        return routed

    monkeypatch.setattr(world.notifier, "notify", notify_while_rescheduled)

    await job.run_due()

    (seven_days, _) = await world.reminders.list_for(MEETING)
    assert seven_days.status is ReminderStatus.SCHEDULED
    assert seven_days.due_at == new_start - timedelta(days=7)


# --- daily digest --------------------------------------------------------------------------


async def digest_reader(world: World) -> Contact:
    reader = replace(
        b.a_contact("digest@urbact.example.org", language="fr"),
        preferences=Preferences(language="fr", delivery=DeliveryMode.DAILY_DIGEST),
    )
    return await world.add(reader, Category.NEW_MEETINGS, Category.MINUTES)


def digest_job(world: World) -> DigestJob:
    return DigestJob(
        world.stores, b.writer(), schedule=b.DIGEST, policy=b.POLICY, clock=world.clock
    )


async def test_the_digest_job_writes_one_email_summarising_the_day(world: World) -> None:
    await digest_reader(world)
    world.clock.now = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)  # 11:00 Brussels
    await world.deliver(b.scheduled())
    await world.deliver(b.minutes())
    world.clock.now = datetime(2018, 5, 16, 6, 0, tzinfo=UTC)  # 08:00 Brussels, next day

    written = await digest_job(world).run_due()

    assert written == 1
    (letter,) = world.deliveries.letters()
    assert letter.subject == "Votre récapitulatif du jour : 2 mises à jour (mercredi 16 mai 2018)"


async def test_the_digest_is_not_written_before_its_hour(world: World) -> None:
    await digest_reader(world)
    world.clock.now = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)
    await world.deliver(b.scheduled())
    world.clock.now = datetime(2018, 5, 16, 5, 59, tzinfo=UTC)  # 07:59 Brussels

    assert await digest_job(world).run_due() == 0


async def test_running_the_digest_job_again_writes_nothing_more(world: World) -> None:
    await digest_reader(world)
    world.clock.now = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)
    await world.deliver(b.scheduled())
    world.clock.now = datetime(2018, 5, 16, 6, 0, tzinfo=UTC)
    job = digest_job(world)

    assert [await job.run_due(), await job.run_due()] == [1, 0]


async def test_a_change_arriving_after_its_days_digest_went_out_goes_in_the_next_one(
    world: World,
) -> None:
    reader = await digest_reader(world)
    world.clock.now = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)
    await world.deliver(b.scheduled())
    world.clock.now = datetime(2018, 5, 16, 6, 0, tzinfo=UTC)
    job = digest_job(world)
    await job.run_due()
    # A change held back for the 16th reaches the store only after that digest was written.
    late = replace(next(iter(world.digests.entries.values())), notice_id="evt-late")
    await world.digests.add_once(late)

    await job.run_due()
    world.clock.now = datetime(2018, 5, 17, 6, 0, tzinfo=UTC)
    written = await job.run_due()

    assert written == 1
    assert (await world.digests.list_for(reader.id))[-1].day.isoformat() == "2018-05-17"


async def test_a_digest_interrupted_after_claiming_is_finished_on_the_next_run(
    world: World,
) -> None:
    await digest_reader(world)
    world.clock.now = datetime(2018, 5, 15, 9, 0, tzinfo=UTC)
    await world.deliver(b.scheduled())
    world.clock.now = datetime(2018, 5, 16, 6, 0, tzinfo=UTC)
    entries = list(world.digests.entries.values())
    await world.digests.claim(entries, f"digest:{entries[0].contact_id}:2018-05-16")

    assert await digest_job(world).run_due() == 1
    assert len(world.deliveries.letters()) == 1


async def test_the_seed_adds_every_member_once(world: World) -> None:
    first = await seed_directory(world.directory, secret=b.SECRET, now=b.NOW)
    second = await seed_directory(world.directory, secret=b.SECRET, now=b.NOW)

    assert first == len(MEMBERS) * 2 + 1
    assert second == 0
    assert len(await world.directory.list_contacts(role=ContactRole.SECRETARIAT)) == 1
