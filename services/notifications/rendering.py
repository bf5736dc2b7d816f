"""E-mails and pages from one template tree, in the reader's language, dates in the occasion's zone.

`templates/<template>.{subject,txt,html}.j2` are written in English with Jinja2's i18n
extension (`_("...")`, `{% trans %}`); `locale/<lang>/LC_MESSAGES/messages.po` translates them
(`make messages` extracts the message ids and keeps every catalog complete). A language without
a catalog falls back to English, as a whole: never half a message in one language and half in
another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import (
    format_date,
    format_datetime,
    format_interval,
    format_time,
    format_timedelta,
    get_timezone_name,
)

from shared import i18n

TEMPLATES = Path(__file__).parent / "templates"
LOCALES = Path(__file__).parent / "locale"
FALLBACK_LANGUAGE = i18n.FALLBACK_LANGUAGE
# Dates and times follow the reader's language; CLDR's plain "pt" is Brazilian Portuguese,
# while the partnership's Portuguese readers are in Portugal.
DATE_LOCALES = {"pt": "pt_PT"}

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Rendered:
    """One e-mail's texts in one language."""

    language: str
    subject: str
    text: str
    html: str


class Renderer:
    """Renders e-mails and pages in English and in every language that has a catalog."""

    def __init__(self, templates: Path = TEMPLATES, locales: Path = LOCALES) -> None:
        self._environments = i18n.environments(
            templates,
            locales,
            filters=lambda language: _filters(DATE_LOCALES.get(language, language)),
        )
        self.languages = tuple(self._environments)

    def language_for(self, requested: str) -> str:
        """The requested language if it has a catalog, else English."""
        return requested if requested in self._environments else FALLBACK_LANGUAGE

    def render(self, template: str, language: str, context: dict[str, Any]) -> Rendered:
        """Subject, plain text and HTML of one e-mail."""
        lang = self.language_for(language)
        env = self._environments[lang]
        values = {**context, "language": lang}
        subject = env.get_template(f"{template}.subject.j2").render(values)
        return Rendered(
            language=lang,
            # A header is one line: newlines in data must not turn into extra headers.
            subject=_WHITESPACE.sub(" ", subject).strip(),
            text=env.get_template(f"{template}.txt.j2").render(values).strip() + "\n",
            html=env.get_template(f"{template}.html.j2").render(values),
        )

    def subject(self, template: str, language: str, context: dict[str, Any]) -> str:
        """Only the subject line (what the daily digest lists)."""
        lang = self.language_for(language)
        rendered = self._environments[lang].get_template(f"{template}.subject.j2")
        return _WHITESPACE.sub(" ", rendered.render({**context, "language": lang})).strip()

    def page(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A server-rendered HTML page (the unsubscribe and preferences pages)."""
        lang = self.language_for(language)
        return (
            self._environments[lang]
            .get_template(f"{name}.html.j2")
            .render({**context, "language": lang})
        )


def _filters(locale: str) -> dict[str, Any]:
    # Every e-mail about one meeting formats the same few moments: each is computed once.
    cached = lru_cache(maxsize=2048)

    def zone(tz: str | None) -> ZoneInfo | None:
        return ZoneInfo(tz) if tz else None

    def long_date(value: datetime | date, tz: str | None = None) -> str:
        if isinstance(value, datetime) and tz:
            value = value.astimezone(ZoneInfo(tz))
        return format_date(value, "full", locale=locale)

    def clock(value: datetime, tz: str | None = None) -> str:
        return format_time(value, "short", tzinfo=zone(tz), locale=locale)

    def moment(value: datetime, tz: str | None = None) -> str:
        """Tuesday, 15 May 2018, 09:30 (Central European Summer Time)."""
        local = value.astimezone(ZoneInfo(tz)) if tz else value
        return f"{long_date(local)}, {clock(local, tz)} ({zone_name(local, tz)})"

    def span(start: datetime, end: datetime, tz: str | None = None) -> str:
        """Tuesday, 15 May 2018, 09:30 - 17:00 (Central European Summer Time)."""
        tzinfo = zone(tz)
        local_start = start.astimezone(tzinfo) if tzinfo else start
        local_end = end.astimezone(tzinfo) if tzinfo else end
        if local_start.date() == local_end.date():
            times = format_interval(local_start, local_end, "Hm", tzinfo=tzinfo, locale=locale)
            return f"{long_date(local_start)}, {times} ({zone_name(local_start, tz)})"
        return f"{moment(start, tz)} \u2013 {moment(end, tz)}"

    def zone_name(value: datetime, tz: str | None = None) -> str:
        if not tz:
            return "UTC"
        return str(get_timezone_name(value.astimezone(ZoneInfo(tz)), width="long", locale=locale))

    def duration(value: timedelta) -> str:
        return str(format_timedelta(value, threshold=1.0, locale=locale))

    def short_datetime(value: datetime, tz: str | None = None) -> str:
        return str(format_datetime(value, "medium", tzinfo=zone(tz), locale=locale))

    return {
        "long_date": cached(long_date),
        "clock": cached(clock),
        "moment": cached(moment),
        "span": cached(span),
        "zone_name": cached(zone_name),
        "duration": cached(duration),
        "short_datetime": cached(short_datetime),
    }
