"""Jinja2 templates per language, with dates and times in the occasion's own time zone.

`templates/<lang>/<template>.{subject,txt,html}.j2`; a template missing in a language
falls back to English, as a whole (never half a message in one language and half in another).
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
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    select_autoescape,
)

TEMPLATES = Path(__file__).parent / "templates"
FALLBACK_LANGUAGE = "en"

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Rendered:
    """One e-mail's texts in one language."""

    language: str
    subject: str
    text: str
    html: str


class Renderer:
    """Renders e-mails and pages in the languages the templates exist in."""

    def __init__(self, root: Path = TEMPLATES) -> None:
        self._root = root
        self.languages = tuple(
            sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("_"))
        )
        if FALLBACK_LANGUAGE not in self.languages:
            raise RuntimeError(f"no {FALLBACK_LANGUAGE} templates under {root}")
        self._environments = {lang: self._environment(lang) for lang in self.languages}

    def language_for(self, requested: str, template: str, *, suffix: str = "subject.j2") -> str:
        """The requested language if the template exists in it, else English."""
        if (
            requested in self._environments
            and (self._root / requested / f"{template}.{suffix}").is_file()
        ):
            return requested
        return FALLBACK_LANGUAGE

    def render(self, template: str, language: str, context: dict[str, Any]) -> Rendered:
        """Subject, plain text and HTML of one e-mail."""
        lang = self.language_for(language, template)
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
        lang = self.language_for(language, template)
        rendered = self._environments[lang].get_template(f"{template}.subject.j2")
        return _WHITESPACE.sub(" ", rendered.render({**context, "language": lang})).strip()

    def page(self, name: str, language: str, context: dict[str, Any]) -> str:
        """A server-rendered HTML page (the unsubscribe and preferences pages)."""
        lang = self.language_for(language, name, suffix="html.j2")
        return (
            self._environments[lang]
            .get_template(f"{name}.html.j2")
            .render({**context, "language": lang})
        )

    def _environment(self, language: str) -> Environment:
        loaders = [FileSystemLoader(self._root / language)]
        if language != FALLBACK_LANGUAGE:
            loaders.append(FileSystemLoader(self._root / FALLBACK_LANGUAGE))
        env = Environment(
            loader=ChoiceLoader(loaders),
            # Templates ship with the code: no file check on every render.
            auto_reload=False,
            autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(_filters(language))
        return env


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
