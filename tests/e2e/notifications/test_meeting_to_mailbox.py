"""From outside: the meetings service's HTTP API in, e-mails in Mailpit out.

Both services run as their own processes (`python -m services.<name>`), as operators run
them; only public HTTP, the Kafka topics and Mailpit's API are used.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar

from shared.auth import Role, mint_token
from shared.contracts.meetings import TOPIC as MEETINGS_TOPIC
from shared.settings import ServiceSettings
from tests.e2e.process import RunningService, meetings_service, running_service
from tests.helpers import body_of, ensure_topics
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.notifications.support import (
    TopicReader,
    calendar_in,
    mail_to,
    start_group_at_the_end,
    subject_of,
    summaries,
    text_of,
)

pytestmark = pytest.mark.integration

SECRETARIAT = {
    "Authorization": "Bearer "
    + mint_token(ServiceSettings(), subject="secretariat-1", roles=[Role.SECRETARIAT])
}


def workshop(tag: str) -> dict[str, Any]:
    """A workshop like the Cities Forum 2017's, in a year to come; open registration."""
    return {
        "kind": "workshop",
        "title": f"Changing the narrative [{tag}]",
        "organiser": "City of Rotterdam",
        "starts_at": "2030-11-07T11:00:00",
        "ends_at": "2030-11-07T16:00:00",
        "timezone": "Europe/Amsterdam",
        "venue": {
            "name": "Huis van de Wijk De Nieuwe Gaffel",
            "street_address": "Gaffelstraat 63B",
            "city": "Rotterdam",
            "country": "NL",
        },
        "languages": ["en"],
        "requires_approval": False,
    }


CITY_HALL = {
    "name": "Stadhuis Rotterdam",
    "street_address": "Coolsingel 40",
    "city": "Rotterdam",
    "country": "NL",
}


@asynccontextmanager
async def notifications(
    kafka: Kafka,
    mongo: Mongo,
    smtp: Smtp,
    tmp_path: Path,
    *,
    group: str,
    database: str,
    domain: str,
) -> AsyncIterator[RunningService]:
    async with running_service(
        "notifications",
        kafka=kafka.bootstrap,
        mongo=mongo.uri,
        database=database,
        log_dir=tmp_path,
        SMTP_HOST=smtp.host,
        SMTP_PORT=str(smtp.port),
        SMTP_CONNECTIONS="1",
        CONSUMER_GROUP=group,
        MAIL_DOMAIN=domain,
        RETRY_BASE_S="0.2",
        RETRY_CAP_S="1",
        DELIVERY_POLL_S="0.1",
        DELIVERY_LEASE_S="15",
        DELIVERY_ATTEMPT_TIMEOUT_S="4",
        LOG_JSON="true",
    ) as service:
        yield service


@asynccontextmanager
async def both(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path: Path
) -> AsyncIterator[tuple[RunningService, httpx.AsyncClient, dict[str, str]]]:
    group, domain = unique_name("notifications"), f"{unique_name('mail')}.example.org"
    await ensure_topics(kafka.bootstrap, MEETINGS_TOPIC)
    await start_group_at_the_end(kafka.bootstrap, group, MEETINGS_TOPIC)
    options = {"group": group, "database": unique_name("e2e"), "domain": domain}
    async with (
        meetings_service(kafka, mongo, tmp_path) as meetings,
        meetings.http() as http,
        notifications(kafka, mongo, smtp, tmp_path, **options) as mailer,
    ):
        yield mailer, http, options


@asynccontextmanager
async def reading(bootstrap: str, topic: str) -> AsyncIterator[TopicReader]:
    """Every record published on the topic from now on."""
    reader = TopicReader(bootstrap, topic)
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()


async def scheduled_workshop(http: httpx.AsyncClient) -> tuple[str, str]:
    tag = unique_name("w")
    created = await http.post("/meetings", json=workshop(tag), headers=SECRETARIAT)
    assert created.status_code == 201, created.text
    meeting_id: str = created.json()["meeting_id"]
    scheduled = await http.post(f"/meetings/{meeting_id}/schedule", headers=SECRETARIAT)
    assert scheduled.status_code == 200, scheduled.text
    return meeting_id, tag


async def register(http: httpx.AsyncClient, meeting_id: str, *, language: str = "en") -> str:
    address = f"{unique_name('p')}@gothenburg.example.org"
    response = await http.post(
        f"/meetings/{meeting_id}/registrations",
        json={"name": "Participant from Gothenburg", "email": address, "language": language},
    )
    assert response.status_code == 201, response.text
    return address


async def test_a_registration_becomes_a_confirmation_in_the_persons_language_and_follows_the_meeting(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path: Path
) -> None:
    async with (
        both(kafka, mongo, smtp, tmp_path) as (_, http, options),
        reading(kafka.bootstrap, MEETINGS_TOPIC) as published,
    ):
        meeting_id, tag = await scheduled_workshop(http)
        address = await register(http, meeting_id, language="fr")
        (confirmation,) = await mail_to(smtp, address, domain=options["domain"], timeout_s=60)
        current = await http.get(f"/meetings/{meeting_id}", headers=SECRETARIAT)
        new_venue = await http.patch(
            f"/meetings/{meeting_id}",
            json={"version": current.json()["version"], "venue": CITY_HALL},
            headers=SECRETARIAT,
        )
        assert new_venue.status_code == 200, new_venue.text
        moved = await http.post(
            f"/meetings/{meeting_id}/reschedule",
            json={
                "starts_at": "2030-11-14T11:00:00",
                "ends_at": "2030-11-14T16:00:00",
                "reason": "the venue is needed that week",
            },
            headers=SECRETARIAT,
        )
        assert moved.status_code == 200, moved.text
        cancelled = await http.post(
            f"/meetings/{meeting_id}/cancel", json={"reason": "venue closed"}, headers=SECRETARIAT
        )
        assert cancelled.status_code == 200, cancelled.text
        _, details_changed, update, cancellation = await mail_to(
            smtp, address, domain=options["domain"], count=4, timeout_s=60
        )
        feed = await http.get(f"/meetings/{meeting_id}.ics", headers=SECRETARIAT)
        # scheduled, registration confirmed, updated, rescheduled, cancelled
        events = await published.wait_for(lambda r: r.key == meeting_id.encode(), 5)

    assert subject_of(confirmation) == f"Inscription confirmée : Changing the narrative [{tag}]"
    invitation = calendar_in(confirmation).walk("VEVENT")[0]
    feed_entry = Calendar.from_ical(feed.content).walk("VEVENT")[0]
    # The events, the invitation and the meetings service's own feed name one calendar entry.
    # At least once on the wire: a subscriber tells repeats by their CloudEvents id.
    distinct = {dict(e.headers)["ce_id"]: e for e in events}
    assert len(distinct) == 5, [dict(e.headers)["ce_type"] for e in events]
    assert {body_of(e)["meeting"]["calendar_uid"] for e in events} == {str(feed_entry["UID"])}
    assert str(invitation["UID"]) == str(feed_entry["UID"])
    changed_entry = calendar_in(details_changed).walk("VEVENT")[0]
    assert str(calendar_in(details_changed)["METHOD"]) == "REQUEST"
    assert str(changed_entry["UID"]) == str(feed_entry["UID"])
    assert changed_entry.decoded("SEQUENCE") == invitation.decoded("SEQUENCE") + 1
    assert str(changed_entry["LOCATION"]).startswith("Stadhuis Rotterdam")
    moved_entry = calendar_in(update).walk("VEVENT")[0]
    assert str(calendar_in(update)["METHOD"]) == "REQUEST"
    assert moved_entry.decoded("SEQUENCE") > changed_entry.decoded("SEQUENCE")
    cancelled_entry = calendar_in(cancellation).walk("VEVENT")[0]
    assert cancelled_entry.decoded("SEQUENCE") == feed_entry.decoded("SEQUENCE")
    assert moved_entry.decoded("DTSTART").isoformat() == "2030-11-14T11:00:00+01:00"
    assert str(calendar_in(cancellation)["METHOD"]) == "CANCEL"
    assert "venue closed" in text_of(cancellation)


async def test_a_killed_service_sends_every_confirmation_once_after_it_restarts_and_logs_no_address(
    kafka: Kafka, mongo: Mongo, smtp: Smtp, tmp_path: Path
) -> None:
    async with both(kafka, mongo, smtp, tmp_path) as (mailer, http, options):
        meeting_id, _ = await scheduled_workshop(http)
        addresses = [await register(http, meeting_id) for _ in range(12)]
        await _first_mail(smtp, addresses, options["domain"])
        mailer.process.send_signal(signal.SIGKILL)  # a crash, mid-stream
        mailer.process.wait(10)
        first_log = mailer.log.read_text()
        async with notifications(kafka, mongo, smtp, tmp_path, **options) as restarted:
            counts = {
                address: await summaries(
                    smtp, f"to:{address}", domain=options["domain"], count=1, timeout_s=60
                )
                for address in addresses
            }
            await asyncio.sleep(2)  # nothing more arrives
            counts = {
                address: await summaries(smtp, f"to:{address}", domain=options["domain"])
                for address in addresses
            }
            second_log = restarted.log.read_text()

    assert all(len({m["MessageID"] for m in found}) == 1 for found in counts.values())
    # Only an e-mail the SMTP server accepted in the instant before the kill, not yet in the
    # ledger, can go out again: with one SMTP connection at most one, with the same Message-ID.
    assert sum(len(found) for found in counts.values()) <= len(addresses) + 1
    logs = first_log + second_log
    assert "delivery.sent" in logs
    assert not any(address in logs for address in addresses)


async def _first_mail(smtp: Smtp, addresses: list[str], domain: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for address in addresses:
            if await summaries(smtp, f"to:{address}", domain=domain):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("no confirmation arrived")
