"""Languages: every catalog translates every message, and every e-mail renders in every language."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.notifications.domain.deliveries import new_delivery
from services.notifications.domain.digest import DIGEST_TEMPLATE, DigestEntry, DigestSection
from services.notifications.domain.directory import Category
from services.notifications.domain.occasions import occasion_of
from services.notifications.domain.reminders import Reminder, ReminderDue, fire
from services.notifications.domain.routing import ROUTES, Addressee, Route
from services.notifications.mail.letters import Letter, LetterWriter
from services.notifications.notices import Notice
from services.notifications.rendering import Renderer
from shared import i18n
from shared.contracts.meetings import (
    MeetingCancelled,
    MeetingHeld,
    MeetingRescheduled,
    MeetingScheduled,
    MeetingUpdated,
    MinutesPublished,
    ProgrammeUpdated,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationDeclined,
    RegistrationPromoted,
    RegistrationRequested,
    RegistrationWaitlisted,
)
from tests.unit.notifications import builders as b

LANGUAGES = ("da", "de", "el", "en", "es", "fi", "fr", "it", "nl", "pt")
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
# The first row of each template: one e-mail of every kind.
ROUTE_PER_TEMPLATE = {route.template: route for route in reversed(ROUTES)}


def reminder_due() -> ReminderDue:
    _, due = fire(Reminder(occasion_of(b.meeting()), timedelta(days=7)), now=b.STARTS)
    return due


SAMPLE_EVENTS: dict[type[Any], Callable[[], Any]] = {
    MeetingScheduled: b.scheduled,
    MeetingRescheduled: lambda: b.rescheduled(
        starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7)
    ),
    MeetingUpdated: b.updated,
    MeetingCancelled: b.cancelled,
    ProgrammeUpdated: b.programme,
    MeetingHeld: lambda: MeetingHeld(meeting=b.meeting(), held_at=b.ENDS),
    MinutesPublished: lambda: b.minutes("City of Amsterdam", "DG HOME"),
    RegistrationRequested: b.requested,
    RegistrationConfirmed: b.confirmed,
    RegistrationWaitlisted: b.waitlisted,
    RegistrationPromoted: b.promoted,
    RegistrationDeclined: lambda: RegistrationDeclined(
        meeting=b.meeting(),
        registration=b.registrant(),
        reason="the meeting is full",
        declined_at=b.NOW,
    ),
    RegistrationCancelled: b.registration_cancelled,
    ReminderDue: reminder_due,
}


# One renderer for the module (each compiles every template once per language); a fixture,
# so that a broken catalog fails these tests and not the collection of the catalog checks.
@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture(scope="module")
def writer() -> LetterWriter:
    return b.writer()


def letter(writer: LetterWriter, route: Route, language: str) -> Letter:
    event = SAMPLE_EVENTS[route.on]()
    notice = (
        Notice.of_reminder(event)
        if isinstance(event, ReminderDue)
        else Notice.of_event(event, b.envelope(event))
    )
    contact = b.a_contact("contact@athens.example.org", language=language)
    delivery = new_delivery(
        notice.id,
        event_type=notice.type,
        template=route.template,
        recipient_id=contact.id,
        category=route.category,
        now=b.NOW,
        policy=b.POLICY,
    )
    addressee = Addressee(contact, route, route.audiences, in_digest=False)
    return writer.write(notice, addressee, delivery)


def html_of(sent: Letter) -> str:
    message = email.message_from_bytes(sent.message, policy=email.policy.default)
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/html"]
    return str(part.get_content())


def test_the_renderer_offers_english_and_every_catalogs_language(renderer: Renderer) -> None:
    assert renderer.languages == LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("route", ROUTE_PER_TEMPLATE.values(), ids=ROUTE_PER_TEMPLATE.keys())
def test_every_email_renders_in_every_language(
    writer: LetterWriter, route: Route, language: str
) -> None:
    sent = letter(writer, route, language)

    assert sent.language == language
    assert sent.subject
    assert f'<html lang="{language}">' in html_of(sent)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_daily_digest_renders_in_every_language(writer: LetterWriter, language: str) -> None:
    contact = b.a_contact("digest@urbact.example.org", language=language)
    entry = DigestEntry(
        contact_id=contact.id,
        notice_id="evt-1",
        template="meeting_scheduled",
        category=Category.NEW_MEETINGS,
        summary="New meeting: 11th partnership meeting",
        occurred_at=b.NOW,
        day=date(2018, 4, 3),
    )
    delivery = new_delivery(
        "digest:c-1:2018-04-03",
        event_type="digest",
        template=DIGEST_TEMPLATE,
        recipient_id=contact.id,
        category=None,
        now=b.NOW,
        policy=b.POLICY,
    )

    sent = writer.digest(
        contact,
        delivery,
        day=date(2018, 4, 3),
        sections=[DigestSection(Category.NEW_MEETINGS, (entry, entry))],
        timezone="Europe/Brussels",
    )

    assert sent.language == language
    assert f'<html lang="{language}">' in html_of(sent)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("mode", "category"),
    [
        ("confirm", "minutes"),
        ("confirm", None),
        ("preferences", None),
        ("unsubscribed", "minutes"),
        ("unsubscribed", None),
        ("saved", None),
    ],
)
def test_the_preferences_page_renders_in_every_language(
    renderer: Renderer, language: str, mode: str, category: str | None
) -> None:
    values = {
        "mode": mode,
        "contact": {"name": "Partnership contact, Berlin"},
        "preferences": {"language": language, "muted": ["minutes"], "delivery": "immediate"},
        "category": category,
        "categories": [c.value for c in Category if c is not Category.PERSONAL],
        "delivery_modes": ["immediate", "daily_digest"],
        "languages": list(renderer.languages),
        "token": "t",
        "preferences_token": "p",
        "unsubscribe_action": "unsubscribe",
        "preferences_action": "preferences",
    }

    page = renderer.page("preferences_page", language, values)

    assert f'<html lang="{language}">' in page
    assert f'<option value="{language}" selected>' in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_invalid_link_page_renders_in_every_language(renderer: Renderer, language: str) -> None:
    page = renderer.page("preferences_page", language, {"mode": "invalid"})

    assert f'<html lang="{language}">' in page


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_registration_confirmation_is_translated_not_english(
    writer: LetterWriter, language: str
) -> None:
    route = ROUTE_PER_TEMPLATE["registration_confirmed"]

    english, translated = letter(writer, route, "en"), letter(writer, route, language)

    assert english.subject == "Registration confirmed: 11th partnership meeting"
    assert translated.subject != english.subject
    assert translated.subject.endswith("11th partnership meeting")


def test_a_digest_subject_counts_its_updates_in_the_readers_plural(renderer: Renderer) -> None:
    day = date(2018, 5, 16)

    subjects = {
        (language, count): renderer.subject("daily_digest", language, {"count": count, "day": day})
        for language in ("en", "fr", "fi")
        for count in (1, 2)
    }

    assert subjects[("en", 1)] == "Your daily summary: 1 update (Wednesday, May 16, 2018)"
    assert subjects[("en", 2)] == "Your daily summary: 2 updates (Wednesday, May 16, 2018)"
    assert (
        subjects[("fr", 1)] == "Votre récapitulatif du jour : 1 mise à jour (mercredi 16 mai 2018)"
    )
    assert subjects[("fi", 2)] == (
        "Päivittäinen koosteenne: 2 päivitystä (keskiviikko 16. toukokuuta 2018)"
    )


def write_swedish_catalog(locale_dir: Path, entry: str) -> None:
    po_file = locale_dir / "sv" / "LC_MESSAGES" / "messages.po"
    po_file.parent.mkdir(parents=True)
    po_file.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n\n' + entry,
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    "entry",
    [
        'msgid "Dear %(name)s,"\nmsgstr ""\n',
        '#, fuzzy\nmsgid "Dear %(name)s,"\nmsgstr "Hej %(name)s,"\n',
        '#, python-format\nmsgid "Dear %(name)s,"\nmsgstr "Hej %(namn)s,"\n',
    ],
    ids=["untranslated", "fuzzy", "wrong placeholder"],
)
def test_a_catalog_with_a_gap_is_refused_rather_than_mixed_with_english(
    tmp_path: Path, entry: str
) -> None:
    write_swedish_catalog(tmp_path, entry)

    with pytest.raises(i18n.IncompleteCatalog):
        Renderer(locales=tmp_path)
