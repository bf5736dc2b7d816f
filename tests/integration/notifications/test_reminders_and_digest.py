"""Reminders scheduled from the events alone, and the daily digest job, with real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from shared.auth import Role
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.notifications.events import Meeting, person
from tests.integration.notifications.support import (
    Publisher,
    Running,
    TestClock,
    mail_to,
    running,
    settings_for,
    settled_count,
    subject_of,
    text_of,
)

pytestmark = pytest.mark.integration

# A reminder 3 seconds before a meeting that starts in a few seconds: for the restart test,
# which lets the service's own job fire in real time.
OFFSET = timedelta(seconds=3)
# The others move the service's clock and run the reminder job themselves: an hour before a
# meeting two hours away, and nothing depends on waiting.
AN_HOUR = timedelta(hours=1)
PAST_IT = timedelta(minutes=1)


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


@pytest_asyncio.fixture
async def service(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, clock: TestClock
) -> AsyncIterator[Running]:
    # The background job waits an hour between runs: only the test's runs fire reminders.
    settings = settings_for(kafka, mongo, smtp, reminder_offsets=[AN_HOUR], reminder_poll_s=3600.0)
    async with running(settings, clock=clock) as found:
        yield found


def soon(seconds: float) -> Meeting:
    starts = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return Meeting(starts_at=starts, ends_at=starts + timedelta(hours=2))


def in_two_hours() -> Meeting:
    return soon(2 * 3600)


async def run_reminders(service: Running) -> int:
    """The reminder job, run now (as an operator can): how many reminders it fired."""
    await service.caught_up()
    response = await service.http.post("/reminder-runs", headers=service.token(Role.OPERATOR))
    response.raise_for_status()
    fired: int = response.json()["count"]
    return fired


async def test_a_confirmed_participant_is_reminded_once_before_the_meeting(
    service: Running, clock: TestClock, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = in_two_hours(), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))

    before = await run_reminders(service)
    clock.offset = AN_HOUR + PAST_IT
    fired = await run_reminders(service)
    again = await run_reminders(service)
    _, reminder = await mail_to(smtp, str(registrant.email), domain=service.domain, count=2)

    assert (before, fired, again) == (0, 1, 0)
    assert subject_of(reminder).startswith(f"Reminder: {meeting.info.title} starts in ")
    assert await settled_count(service, smtp, str(registrant.email), among=None) == 2


async def test_a_reschedule_moves_the_reminder_to_the_new_time(
    service: Running, clock: TestClock, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = in_two_hours(), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))
    await publisher.publish(meeting.rescheduled(by=timedelta(hours=2)))

    # Not at the old time...
    clock.offset = AN_HOUR + PAST_IT
    at_the_old_time = await run_reminders(service)
    assert await settled_count(service, smtp, str(registrant.email), among=None) == 2
    # ...but at the new one.
    clock.offset = 3 * AN_HOUR + PAST_IT
    at_the_new_time = await run_reminders(service)
    messages = await mail_to(smtp, str(registrant.email), domain=service.domain, count=3)

    assert (at_the_old_time, at_the_new_time) == (0, 1)
    assert subject_of(messages[-1]).startswith("Reminder: ")
    assert await settled_count(service, smtp, str(registrant.email), among=None) == 3


async def test_a_cancellation_removes_the_reminder(
    service: Running, clock: TestClock, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = in_two_hours(), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))
    await publisher.publish(meeting.cancelled())

    clock.offset = AN_HOUR + PAST_IT
    fired = await run_reminders(service)

    # Confirmation and cancellation, and no reminder after the time it would have come.
    assert fired == 0
    assert await settled_count(service, smtp, str(registrant.email), among=None) == 2


async def test_reminders_survive_a_restart(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    settings = settings_for(kafka, mongo, smtp, reminder_offsets=[OFFSET])
    meeting, registrant = soon(8), person()
    async with running(settings) as service:
        await publisher.publish(meeting.scheduled())
        await publisher.publish(meeting.confirmed(registrant))
        await mail_to(smtp, str(registrant.email), domain=service.domain)

    async with running(settings, fresh_group=False) as service:
        messages = await mail_to(
            smtp, str(registrant.email), domain=service.domain, count=2, timeout_s=15
        )

    assert subject_of(messages[-1]).startswith("Reminder: ")


async def test_the_digest_job_sends_one_summary_of_the_day_and_only_once(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, publisher: Publisher
) -> None:
    clock = TestClock()
    async with running(settings_for(kafka, mongo, smtp), clock=clock) as service:
        secretariat = service.token(Role.SECRETARIAT)
        address = f"{unique_name('digest')}@urbact.example.org"
        created = await service.http.post(
            "/contacts",
            json={"name": "Contact at URBACT", "email": address, "organisation_id": "urbact"},
            headers=secretariat,
        )
        contact_id = created.json()["id"]
        await service.http.put(
            f"/contacts/{contact_id}/preferences",
            json={"delivery": "daily_digest"},
            headers=secretariat,
        )
        first, second = Meeting(), Meeting()
        for meeting in (first, second):
            await service.http.post(
                f"/contacts/{contact_id}/subscriptions",
                json={"entity": {"kind": "meeting", "id": meeting.id}},
                headers=secretariat,
            )
        await publisher.publish(first.scheduled())
        await publisher.publish(second.scheduled())
        # A registrant's own e-mail never waits for a digest.
        registrant = person()
        await publisher.publish(first.confirmed(registrant))
        await mail_to(smtp, str(registrant.email), domain=service.domain)
        assert await settled_count(service, smtp, address, among=None) == 0

        clock.offset = timedelta(days=1)
        operator = service.token(Role.OPERATOR)
        run = (await service.http.post("/digest-runs", headers=operator)).json()
        again = (await service.http.post("/digest-runs", headers=operator)).json()
        (digest,) = await mail_to(smtp, address, domain=service.domain)

    assert (run["count"], again["count"]) == (1, 0)
    assert subject_of(digest).startswith("Your daily summary: 2 updates")
    assert f"New meeting: {first.info.title}" in text_of(digest)
    assert f"New meeting: {second.info.title}" in text_of(digest)
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
