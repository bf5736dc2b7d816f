"""Languages of the registration page: every catalog translates every message, and the page
renders in every language."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.meetings.api.pages import PAGE
from services.meetings.rendering import Renderer
from shared.i18n import accepted_languages

LANGUAGES = ("da", "de", "el", "en", "es", "fi", "fr", "it", "nl", "pt")
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
STATUSES = ("pending", "confirmed", "waitlisted", "cancelled", "declined")
OUTCOMES = (None, "cancelled", "already_cancelled", "not_cancellable")


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def context(status: str = "confirmed", **changes: Any) -> dict[str, Any]:
    """The 11th partnership meeting, Amsterdam, 15 May 2018, as the page is given it."""
    return {
        "mode": "registration",
        "outcome": None,
        "registration": {
            "status": status,
            "waitlist_position": 3 if status == "waitlisted" else None,
            "name": "Delegate of the City of Athens",
            "email": "delegate@athens.example.org",
        },
        "meeting": {
            "title": "11th partnership meeting",
            "starts_at": datetime(2018, 5, 15, 8, 0, tzinfo=UTC),
            "ends_at": datetime(2018, 5, 15, 15, 0, tzinfo=UTC),
            "timezone": "Europe/Amsterdam",
            "location": "City Hall, Amstel 1, Amsterdam, Netherlands",
            "online_url": None,
            "state": "scheduled",
        },
        "can_cancel": status in ("pending", "confirmed", "waitlisted"),
        "token": "t",
        "cancel_action": "r-1/cancel",
    } | changes


def test_the_renderer_offers_english_and_every_catalogs_language(renderer: Renderer) -> None:
    assert renderer.languages == LANGUAGES


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_the_registration_page_renders_in_every_language(
    renderer: Renderer, language: str, status: str, outcome: str | None
) -> None:
    page = renderer.page(PAGE, language, context(status, outcome=outcome))

    assert f'<html lang="{language}">' in page
    assert "11th partnership meeting" in page
    assert "City Hall, Amstel 1, Amsterdam, Netherlands" in page


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("mode", ["invalid", "refused"])
def test_the_error_pages_render_in_every_language(
    renderer: Renderer, language: str, mode: str
) -> None:
    page = renderer.page(PAGE, language, {"mode": mode})

    assert f'<html lang="{language}">' in page


@pytest.mark.parametrize("language", TRANSLATED)
def test_a_translated_page_has_no_english_left(renderer: Renderer, language: str) -> None:
    english = renderer.page(PAGE, "en", context())

    page = renderer.page(PAGE, language, context())

    for sentence in ("Your registration is confirmed.", "Cancel my registration", "When"):
        assert sentence in english
        assert sentence not in page


def test_the_meeting_is_shown_in_its_own_time_zone_in_the_readers_language(
    renderer: Renderer,
) -> None:
    english = renderer.page(PAGE, "en", context())
    portuguese = renderer.page(PAGE, "pt", context())

    # 08:00 UTC is 10:00 in Amsterdam in May.
    assert "Tuesday, 15 May 2018, 10:00\u201317:00 (Central European Summer Time)" in english
    assert "terça-feira, 15 de maio de 2018" in portuguese


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("nl", "nl"), ("nl-BE", "nl"), ("NL", "nl"), ("pt_PT", "pt"), ("sv", "en"), ("", "en")],
)
def test_a_language_tag_is_read_by_its_primary_language(
    renderer: Renderer, tag: str, expected: str
) -> None:
    assert renderer.language_for(tag) == expected


def test_accept_language_is_read_most_wanted_first_and_refusals_dropped() -> None:
    header = "sv-SE, de-AT;q=0.8, fr;q=0, en;q=0.5, *;q=0.1"

    assert accepted_languages(header) == ["sv-SE", "de-AT", "en"]
