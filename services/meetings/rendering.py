"""The pages a registration's link opens, in the reader's language, times in the meeting's zone.

`templates/<page>.html.j2` are written in English with Jinja2's i18n extension (`_("...")`);
`locale/<lang>/LC_MESSAGES/messages.po` translates them (`make messages` extracts the message
ids and keeps every catalog complete). A language without a catalog falls back to English, as
a whole: never half a page in one language and half in another.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_interval, format_time, get_timezone_name

from shared import i18n
from shared.i18n import primary_language

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = Path(__file__).parent / "locale"
FALLBACK_LANGUAGE = i18n.FALLBACK_LANGUAGE
# Dates and times follow the reader's language. CLDR's plain "pt" is Brazilian Portuguese and
# its plain "en" American English (November 28, 2017), while the partnership writes the
# Portuguese of Portugal (as the notifications e-mails do) and British English (28 November).
DATE_LOCALES = {"en": "en_GB", "pt": "pt_PT"}


class Renderer:
    """Renders pages in English and in every language that has a catalog."""

    def __init__(self, templates: Path = TEMPLATES, locales: Path = LOCALES) -> None:
        self._environments = i18n.environments(
            templates,
            locales,
            filters=lambda language: _filters(DATE_LOCALES.get(language, language)),
        )
        self.languages = tuple(self._environments)

    def language_for(self, *preferred: str | None) -> str:
        """The first of the preferred languages (`nl`, `nl-BE`, `NL`) that has a catalog."""
        for tag in preferred:
            language = primary_language(tag or "")
            if language in self._environments:
                return language
        return FALLBACK_LANGUAGE

    def page(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A server-rendered HTML page."""
        lang = self.language_for(language)
        template = self._environments[lang].get_template(f"{name}.html.j2")
        return template.render({**context, "language": lang})


def _filters(locale: str) -> dict[str, Any]:
    # A page shows one meeting: each moment is formatted once per language and zone.
    cached = lru_cache(maxsize=1024)

    def long_date(value: datetime) -> str:
        return format_date(value, "full", locale=locale)

    def zone_name(value: datetime) -> str:
        return str(get_timezone_name(value, width="long", locale=locale))

    def moment(value: datetime) -> str:
        """Tuesday, 15 May 2018, 09:30 (Central European Summer Time)."""
        clock = format_time(value, "short", tzinfo=value.tzinfo, locale=locale)
        return f"{long_date(value)}, {clock} ({zone_name(value)})"

    def span(start: datetime, end: datetime, tz: str) -> str:
        """Tuesday, 15 May 2018, 10:00 - 17:00 (Central European Summer Time)."""
        zone = ZoneInfo(tz)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_start.date() == local_end.date():
            times = format_interval(local_start, local_end, "Hm", tzinfo=zone, locale=locale)
            return f"{long_date(local_start)}, {times} ({zone_name(local_start)})"
        return f"{moment(local_start)} \u2013 {moment(local_end)}"

    return {"span": cached(span)}
