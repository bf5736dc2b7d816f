"""Real events on the real Kafka become e-mails in Mailpit: recipients, language, headers, .ics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from shared.auth import Role
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.notifications import events
from tests.integration.notifications.events import Meeting, person
from tests.integration.notifications.support import (
    Publisher,
    Running,
    calendar_in,
    html_of,
    mail_to,
    running,
    settings_for,
    settled_count,
    subject_of,
    summaries,
    text_of,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def service(kafka: Kafka, mongo: Mongo, smtp: Smtp) -> AsyncIterator[Running]:
    async with running(settings_for(kafka, mongo, smtp)) as found:
        yield found


async def add_contact(
    service: Running, *, organisation: str = "helsinki", language: str = "en", **follows: Any
) -> tuple[str, str]:
    """A directory contact with a fresh address, following what is asked; returns (id, e-mail)."""
    address = f"{unique_name('contact')}@{organisation}.example.org"
    secretariat = service.token(Role.SECRETARIAT)
    response = await service.http.post(
        "/contacts",
        json={
            "name": f"Contact at {organisation.title()}",
            "email": address,
            "organisation_id": organisation,
            "language": language,
        },
        headers=secretariat,
    )
    assert response.status_code == 201, response.text
    contact_id: str = response.json()["id"]
    for body in follows.get("subscriptions", []):
        followed = await service.http.post(
            f"/contacts/{contact_id}/subscriptions", json=body, headers=secretariat
        )
        assert followed.status_code == 201, followed.text
    return contact_id, address


async def test_a_confirmed_registrant_gets_the_confirmation_in_their_language_with_an_invitation(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person("berlin", language="de")
    envelope = await publisher.publish(meeting.confirmed(registrant))

    (message,) = await mail_to(smtp, str(registrant.email), domain=service.domain)

    assert subject_of(message) == f"Anmeldung bestätigt: {meeting.info.title}"
    assert message["Content-Language"] == "de"
    assert "Guten Tag Participant from Berlin," in text_of(message)
    # 10:00 in Amsterdam, in German, whatever the server's own time zone.
    assert "Mittwoch, 15. Mai 2030" in text_of(message)
    assert "10:00" in text_of(message).replace("\u2009", " ")
    assert '<html lang="de">' in html_of(message)
    ics = calendar_in(message)
    vevent = ics.walk("VEVENT")[0]
    assert str(ics["METHOD"]) == "REQUEST"
    assert str(vevent["UID"]) == meeting.info.calendar_uid == f"{meeting.id}@meetings.partnership"
    assert vevent.decoded("SEQUENCE") == 0
    (delivery,) = await service.deliveries(event_id=envelope.id)
    assert message["Message-ID"] == f"<{delivery['id']}@{service.settings.mail_domain}>"


async def test_a_name_with_a_line_break_in_an_event_still_gets_its_email(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting = Meeting()
    registrant = person("athens", name="Participant\r\nBcc: other@athens.example.org")
    envelope = await publisher.publish(meeting.confirmed(registrant))

    (message,) = await mail_to(smtp, str(registrant.email), domain=service.domain)

    assert message["To"].addresses[0].display_name == ("Participant  Bcc: other@athens.example.org")
    assert message["Bcc"] is None
    (delivery,) = await service.deliveries(event_id=envelope.id)
    assert delivery["status"] == "sent"


async def test_every_email_carries_rfc_8058_one_click_unsubscribe_headers(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person()
    await publisher.publish(meeting.confirmed(registrant))

    (message,) = await mail_to(smtp, str(registrant.email), domain=service.domain)

    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(
        rf"<{re.escape(service.url)}/unsubscribe\?token=[\w.\-]+>", message["List-Unsubscribe"]
    )
    assert message.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in message.walk()][1:4] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]


async def test_a_reschedule_updates_participants_calendars_and_tells_followers_once_each(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person()
    await publisher.publish(meeting.confirmed(registrant))
    _, follower = await add_contact(
        service, subscriptions=[{"entity": {"kind": "meeting", "id": meeting.id}}]
    )
    _, all_changes = await add_contact(
        service, organisation="cemr", language="fr", subscriptions=[{"category": "meeting_changes"}]
    )
    await mail_to(smtp, str(registrant.email), domain=service.domain)

    await publisher.publish(meeting.rescheduled(by=timedelta(days=7)))

    invitation, update = await mail_to(smtp, str(registrant.email), domain=service.domain, count=2)
    (followed,) = await mail_to(smtp, follower, domain=service.domain)
    (category,) = await mail_to(smtp, all_changes, domain=service.domain, about=meeting.tag)
    first, second = calendar_in(invitation).walk("VEVENT")[0], calendar_in(update).walk("VEVENT")[0]
    assert subject_of(update) == f"New date: {meeting.info.title}"
    assert str(calendar_in(update)["METHOD"]) == "REQUEST"
    assert str(first["UID"]) == str(second["UID"])
    assert second.decoded("SEQUENCE") > first.decoded("SEQUENCE")
    assert second.decoded("DTSTART") == meeting.info.starts_at
    assert all(p.get_content_type() != "text/calendar" for p in followed.walk())
    assert subject_of(category) == f"Nouvelle date : {meeting.info.title}"


async def test_a_person_who_is_participant_and_follower_gets_one_email(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person()
    await publisher.publish(meeting.confirmed(registrant))
    await mail_to(smtp, str(registrant.email), domain=service.domain)
    contacts = await service.http.get(
        "/contacts", params={"origin": "event"}, headers=service.token(Role.SECRETARIAT)
    )
    (contact,) = [c for c in contacts.json() if c["email"] == registrant.email]
    await service.http.post(
        f"/contacts/{contact['id']}/subscriptions",
        json={"entity": {"kind": "meeting", "id": meeting.id}},
        headers=service.token(Role.SECRETARIAT),
    )

    await publisher.publish(meeting.cancelled())

    messages = await mail_to(smtp, str(registrant.email), domain=service.domain, count=2)
    assert await settled_count(service, smtp, str(registrant.email), among=publisher.published) == 2
    assert str(calendar_in(messages[1])["METHOD"]) == "CANCEL"


async def test_new_meetings_reach_their_followers_but_not_who_switched_them_off(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    _, keen = await add_contact(service, subscriptions=[{"category": "new_meetings"}])
    quiet_id, muted = await add_contact(service, subscriptions=[{"category": "new_meetings"}])
    await service.http.put(
        f"/contacts/{quiet_id}/preferences",
        json={"muted": ["new_meetings"]},
        headers=service.token(Role.MEMBER, subject=quiet_id),
    )
    meeting = Meeting()

    await publisher.publish(meeting.scheduled())

    (message,) = await mail_to(smtp, keen, domain=service.domain, about=meeting.tag)
    assert subject_of(message) == f"New meeting: {meeting.info.title}"
    assert await settled_count(service, smtp, muted, among=publisher.published) == 0


async def test_minutes_reach_the_contacts_of_the_attending_members(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting = Meeting()

    envelope = await publisher.publish(meeting.minutes("City of Amsterdam", "DG HOME"))

    query = f'to:partnership@dg-home.example.org subject:"{meeting.tag}"'
    (summary,) = await summaries(smtp, query, domain=service.domain, count=1)
    assert (
        summary["Subject"].strip().startswith("Compte rendu publié")
    )  # DG HOME's contact reads French
    deliveries = await service.until_settled(among=publisher.published, expected=3)
    assert {d["template"] for d in deliveries if d["event_id"] == envelope.id} == {
        "minutes_published"
    }
    assert len([d for d in deliveries if d["event_id"] == envelope.id]) == 3


async def test_a_moderated_registration_reaches_the_person_and_the_secretariat(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person()

    await publisher.publish(meeting.requested(registrant))

    (own,) = await mail_to(smtp, str(registrant.email), domain=service.domain)
    query = f'to:secretariat@secretariat.example.org subject:"{meeting.tag}"'
    (to_approve,) = await summaries(smtp, query, domain=service.domain, count=1)
    assert subject_of(own) == f"Registration request received: {meeting.info.title}"
    assert to_approve["Subject"].strip() == (
        f"Registration to approve: Participant from Athens for {meeting.info.title}"
    )


async def test_a_waitlisted_then_promoted_registrant_is_told_twice_and_invited_once(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person(language="fr")

    await publisher.publish(meeting.waitlisted(registrant, position=2))
    await publisher.publish(meeting.promoted(registrant))

    waitlisted, promoted = await mail_to(
        smtp, str(registrant.email), domain=service.domain, count=2
    )
    assert subject_of(waitlisted) == f"Sur liste d\u2019attente : {meeting.info.title}"
    assert "position 2" in text_of(waitlisted)
    assert all(p.get_content_type() != "text/calendar" for p in waitlisted.walk())
    assert str(calendar_in(promoted)["METHOD"]) == "REQUEST"


async def test_a_language_without_a_catalog_falls_back_to_english(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person("uppsala", language="sv")

    await publisher.publish(meeting.confirmed(registrant))

    (message,) = await mail_to(smtp, str(registrant.email), domain=service.domain)
    assert subject_of(message) == f"Registration confirmed: {meeting.info.title}"
    assert message["Content-Language"] == "en"


async def test_a_member_writing_in_one_of_the_partnerships_languages_is_written_to_in_it(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, registrant = Meeting(), person("amsterdam", language="nl")

    await publisher.publish(meeting.confirmed(registrant))

    (message,) = await mail_to(smtp, str(registrant.email), domain=service.domain)
    assert message["Content-Language"] == "nl"
    assert meeting.info.title in subject_of(message)
    assert subject_of(message) != f"Registration confirmed: {meeting.info.title}"


async def test_the_other_meeting_events_reach_the_people_their_rows_name(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    meeting, participant, leaving, declined_person = Meeting(), person(), person(), person()
    _, follower = await add_contact(
        service, subscriptions=[{"entity": {"kind": "meeting", "id": meeting.id}}]
    )
    await publisher.publish(meeting.confirmed(participant))
    await publisher.publish(meeting.confirmed(leaving))

    await publisher.publish(events.registration_cancelled(meeting, leaving))
    await publisher.publish(events.declined(meeting, declined_person))
    await publisher.publish(events.updated(meeting))
    await publisher.publish(events.programme_updated(meeting))
    await publisher.publish(events.held(meeting))

    domain = service.domain
    participant_mail = await mail_to(smtp, str(participant.email), domain=domain, count=3)
    leaving_mail = await mail_to(smtp, str(leaving.email), domain=domain, count=2)
    (declined_mail,) = await mail_to(smtp, str(declined_person.email), domain=domain)
    follower_mail = await mail_to(smtp, follower, domain=domain, count=3)
    assert await settled_count(service, smtp, str(leaving.email), among=publisher.published) == 2

    title = meeting.info.title
    assert [subject_of(m) for m in participant_mail] == [
        f"Registration confirmed: {title}",
        f"Details changed: {title}",
        f"Programme updated: {title}",
    ]
    details_changed = calendar_in(participant_mail[1])
    assert str(details_changed["METHOD"]) == "REQUEST"
    changed_entry = details_changed.walk("VEVENT")[0]
    assert str(changed_entry["UID"]) == meeting.info.calendar_uid
    assert changed_entry.decoded("SEQUENCE") == meeting.info.sequence == 1
    assert str(changed_entry["LOCATION"]) == "Stopera, Amsterdam, Netherlands"
    assert subject_of(leaving_mail[1]) == f"Registration cancelled: {title}"
    assert str(calendar_in(leaving_mail[1])["METHOD"]) == "CANCEL"
    assert subject_of(declined_mail) == f"Registration not accepted: {title}"
    assert [subject_of(m) for m in follower_mail] == [
        f"Details changed: {title}",
        f"Programme updated: {title}",
        f"Held: {title}",
    ]
