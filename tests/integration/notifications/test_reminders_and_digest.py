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
    quiet,
    running,
    settings_for,
    subject_of,
    text_of,
)

pytestmark = pytest.mark.integration

# A reminder 3 seconds before a meeting that starts in a few seconds: time enough to test.
OFFSET = timedelta(seconds=3)


@pytest_asyncio.fixture
async def service(kafka: Kafka, mongo: Mongo, smtp: Smtp) -> AsyncIterator[Running]:
    settings = settings_for(kafka, mongo, smtp, reminder_offsets=[OFFSET])
    async with running(settings) as found:
        yield found


def soon(seconds: float) -> Meeting:
    starts = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    return Meeting(starts_at=starts, ends_at=starts + timedelta(hours=2))


async def test_a_confirmed_participant_is_reminded_once_before_the_meeting(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = soon(7), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))

    _, reminder = await mail_to(
        smtp, str(registrant.email), domain=service.domain, count=2, timeout_s=15
    )

    assert subject_of(reminder) == f"Reminder: {meeting.info.title} starts in 3 seconds"
    assert await quiet(smtp, str(registrant.email), domain=service.domain, for_s=3) == 2


async def test_a_reschedule_moves_the_reminder_to_the_new_time(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = soon(6), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))
    await publisher.publish(meeting.rescheduled(by=timedelta(seconds=8)))

    # Not at the old time (3 s from now)...
    assert await quiet(smtp, str(registrant.email), domain=service.domain, for_s=6) == 2
    # ...but at the new one (about 11 s from the start).
    messages = await mail_to(smtp, str(registrant.email), domain=service.domain, count=3)

    assert subject_of(messages[-1]).startswith("Reminder: ")
    assert await quiet(smtp, str(registrant.email), domain=service.domain, for_s=3) == 3


async def test_a_cancellation_removes_the_reminder(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = soon(6), person()
    await publisher.publish(meeting.scheduled())
    await publisher.publish(meeting.confirmed(registrant))
    await publisher.publish(meeting.cancelled())

    # Confirmation and cancellation, and no reminder after the time it would have come.
    assert await quiet(smtp, str(registrant.email), domain=service.domain, for_s=7) == 2


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
        assert await quiet(smtp, address, domain=service.domain, for_s=1) == 0

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
