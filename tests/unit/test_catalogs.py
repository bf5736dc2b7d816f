"""Every service's translations: the template file says what its templates say today, and
every language's catalog translates every message (the rendering tests are the services')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from services.meetings import rendering as meetings
from services.notifications import rendering as notifications
from shared import i18n

LANGUAGES = ("da", "de", "el", "en", "es", "fi", "fr", "it", "nl", "pt")
TRANSLATED = tuple(language for language in LANGUAGES if language != "en")
# Each service's template tree and catalogs.
TREES = {
    "meetings": (meetings.TEMPLATES, meetings.LOCALES),
    "notifications": (notifications.TEMPLATES, notifications.LOCALES),
}


def read(po_file: Path) -> Any:
    with po_file.open("rb") as source:
        return read_po(source)


def message_ids(catalog: Any) -> set[tuple[str | None, str | tuple[str, ...]]]:
    return {(m.context, m.id) for m in catalog if m.id}


@pytest.mark.parametrize("service", TREES)
def test_the_committed_template_holds_exactly_what_the_templates_say_today(service: str) -> None:
    templates, locales = TREES[service]
    with (locales / "babel.cfg").open() as mapping:
        methods, options = parse_mapping_cfg(mapping)

    extracted = {
        (context, message)
        for _file, _line, message, _comments, context in extract_from_dir(
            str(templates), methods, options
        )
    }

    assert message_ids(read(locales / "messages.pot")) == extracted, "run `make messages`"


@pytest.mark.parametrize("service", TREES)
def test_every_language_but_english_has_a_catalog(service: str) -> None:
    assert tuple(i18n.po_files(TREES[service][1])) == TRANSLATED


@pytest.mark.parametrize("service", TREES)
@pytest.mark.parametrize("language", TRANSLATED)
def test_a_catalog_has_exactly_the_templates_messages(service: str, language: str) -> None:
    locales = TREES[service][1]
    catalog = read(i18n.po_files(locales)[language])

    assert message_ids(catalog) == message_ids(read(locales / "messages.pot"))
    assert not catalog.obsolete


@pytest.mark.parametrize("service", TREES)
@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated_and_none_is_fuzzy(service: str, language: str) -> None:
    po_file = i18n.po_files(TREES[service][1])[language]
    catalog = read(po_file)

    untranslated = [
        m.id
        for m in catalog
        if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []
    assert i18n.gaps(po_file) == []
