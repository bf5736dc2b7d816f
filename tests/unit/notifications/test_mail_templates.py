"""Templates: every routed e-mail renders in English, French and German; others fall back to English."""

# ruff: noqa: RUF001 - French and German typography is part of what is tested.
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.notifications.domain.digest import DigestEntry, DigestSection
from services.notifications.domain.directory import Category, ContactId
from services.notifications.domain.occasions import occasion_of
from services.notifications.domain.reminders import Reminder, fire
from services.notifications.domain.routing import ROUTES, Audience, templates
from services.notifications.notices import Notice
from services.notifications.rendering import TEMPLATES, Renderer
from shared.contracts.meetings import MeetingEvent, MeetingHeld, RegistrationDeclined
from tests.unit.notifications import builders as b

LANGUAGES = ("en", "fr", "de")
renderer = Renderer()


def links() -> dict[str, str]:
    return {
        "unsubscribe": f"{b.BASE_URL}/unsubscribe?token=u",
        "preferences": f"{b.BASE_URL}/preferences?token=p",
    }


def sample_notice(template: str) -> Notice:
    samples: dict[str, MeetingEvent] = {
        "meeting_scheduled": b.scheduled(),
        "meeting_rescheduled": b.rescheduled(
            starts_at=b.STARTS + timedelta(days=7), ends_at=b.ENDS + timedelta(days=7)
        ),
        "meeting_cancelled": b.cancelled(),
        "meeting_updated": b.updated(),
        "programme_updated": b.programme(),
        "minutes_published": b.minutes("City of Amsterdam", "DG HOME"),
        "registration_requested": b.requested(),
        "registration_to_approve": b.requested(),
        "registration_confirmed": b.confirmed(),
        "registration_waitlisted": b.waitlisted(),
        "registration_promoted": b.promoted(),
        "registration_cancelled": b.registration_cancelled(),
        "meeting_held": MeetingHeld(meeting=b.meeting(), held_at=b.ENDS),
        "registration_declined": RegistrationDeclined(
            meeting=b.meeting(),
            registration=b.registrant(),
            reason="the meeting is full",
            declined_at=b.NOW,
        ),
    }
    if template == "reminder":
        reminder = Reminder(occasion_of(b.meeting()), timedelta(days=7))
        _, due = fire(reminder, now=b.STARTS)
        return Notice.of_reminder(due)
    event = samples[template]
    return Notice.of_event(event, b.envelope(event))


def context(template: str) -> dict[str, object]:
    notice = sample_notice(template)
    route = next(r for r in ROUTES if r.template == template)
    return {
        "event": notice.payload,
        "occasion": notice.facts.occasion,
        "recipient": {"name": "Partnership contact, Berlin"},
        "reasons": [a.value for a in route.audiences],
        "category": route.category.value,
        "transactional": route.transactional,
        "has_calendar": route.calendar is not None,
        "links": links(),
    }


@pytest.mark.parametrize("template", sorted(templates()))
def test_every_routed_template_has_a_subject_a_text_and_an_html_part(template: str) -> None:
    for part in ("subject", "txt", "html"):
        assert (TEMPLATES / f"{template}.{part}.j2").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(templates()))
def test_every_routed_template_renders_subject_text_and_html(template: str, language: str) -> None:
    rendered = renderer.render(template, language, context(template))

    assert rendered.language == language
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert f'lang="{language}"' in rendered.html
    assert f"{b.BASE_URL}/preferences?token=p" in rendered.text


def test_a_confirmation_is_written_in_the_recipients_language() -> None:
    texts = {
        lang: renderer.render("registration_confirmed", lang, context("registration_confirmed"))
        for lang in LANGUAGES
    }

    assert texts["en"].subject == "Registration confirmed: 11th partnership meeting"
    assert texts["fr"].subject == "Inscription confirmée : 11th partnership meeting"
    assert texts["de"].subject == "Anmeldung bestätigt: 11th partnership meeting"
    assert "Bonjour Partnership contact, Berlin," in texts["fr"].text
    assert "Guten Tag Partnership contact, Berlin," in texts["de"].text


def test_dates_and_times_are_in_the_meetings_time_zone_and_the_readers_language() -> None:
    texts = {
        lang: renderer.render(
            "registration_confirmed", lang, context("registration_confirmed")
        ).text.replace("\u2009", " ")
        for lang in LANGUAGES
    }

    # 10:00 in Amsterdam (summer time), not 08:00 UTC.
    assert "Tuesday, May 15, 2018, 10:00 – 17:00 (Central European Summer Time)" in texts["en"]
    assert "mardi 15 mai 2018, 10:00 – 17:00 (heure d’été d’Europe centrale)" in texts["fr"]
    assert "Dienstag, 15. Mai 2018, 10:00–17:00 Uhr (Mitteleuropäische Sommerzeit)" in texts["de"]


def test_a_language_without_templates_falls_back_to_english() -> None:
    rendered = renderer.render("registration_confirmed", "sv", context("registration_confirmed"))

    assert rendered.language == "en"
    assert rendered.subject == "Registration confirmed: 11th partnership meeting"


def test_html_escapes_what_events_carry_but_plain_text_keeps_it() -> None:
    values = context("registration_to_approve")
    event = b.requested(b.registrant(name="<script>alert(1)</script> & Co"))
    values["event"] = event

    rendered = renderer.render("registration_to_approve", "en", values)

    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert "<script>alert(1)</script> & Co" in rendered.text


def test_a_subject_never_spans_two_lines_whatever_the_title() -> None:
    values = context("meeting_scheduled")
    values["occasion"] = occasion_of(b.meeting(title="Workshop\r\nBcc: someone@example.org"))

    rendered = renderer.render("meeting_scheduled", "en", values)

    assert rendered.subject == "New meeting: Workshop Bcc: someone@example.org"


def test_a_reminder_says_how_long_until_the_meeting() -> None:
    subjects = {
        lang: renderer.render("reminder", lang, context("reminder")).subject for lang in LANGUAGES
    }

    assert subjects == {
        "en": "Reminder: 11th partnership meeting starts in 1 week",
        "fr": "Rappel : 11th partnership meeting commence dans 1 semaine",
        "de": "Erinnerung: 11th partnership meeting beginnt in 1 Woche",
    }


def test_transactional_footers_offer_preferences_but_no_unsubscribe_link() -> None:
    rendered = renderer.render("registration_confirmed", "en", context("registration_confirmed"))

    assert "E-mails about your own registrations are always sent." in rendered.text
    assert "/unsubscribe?token=u" not in rendered.text


def test_optional_footers_name_the_category_to_unsubscribe_from() -> None:
    values = context("meeting_rescheduled") | {
        "reasons": [Audience.FOLLOWERS.value],
        "category": Category.MEETING_CHANGES.value,
        "transactional": False,
    }

    rendered = renderer.render("meeting_rescheduled", "en", values)

    assert (
        'Unsubscribe from "Changes to meetings (new date, programme, cancellation)": '
        f"{b.BASE_URL}/unsubscribe?token=u" in rendered.text
    )
    assert "you follow this meeting or this kind of update" in rendered.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_daily_digest_lists_changes_by_category(language: str) -> None:
    entry = DigestEntry(
        contact_id=ContactId("c-1"),
        notice_id="evt-1",
        template="meeting_scheduled",
        category=Category.NEW_MEETINGS,
        summary="New meeting: 11th partnership meeting",
        occurred_at=b.NOW,
        day=date(2018, 4, 3),
    )
    values = {
        "recipient": {"name": "Partnership contact, Athens"},
        "day": date(2018, 4, 3),
        "sections": [DigestSection(Category.NEW_MEETINGS, (entry,))],
        "count": 1,
        "timezone": "Europe/Brussels",
        "links": links(),
    }

    rendered = renderer.render("daily_digest", language, values)

    assert "New meeting: 11th partnership meeting" in rendered.text
    assert "11:00" in rendered.text  # 09:00 UTC in Brussels summer time
    assert rendered.language == language


def test_a_details_change_names_the_changed_fields_in_the_readers_language() -> None:
    texts = {
        lang: renderer.render("meeting_updated", lang, context("meeting_updated")).text
        for lang in LANGUAGES
    }

    assert "have changed: venue, number of seats." in texts["en"]
    assert "ont changé : lieu, nombre de places." in texts["fr"]
    assert "haben sich geändert: Ort, Anzahl der Plätze." in texts["de"]
