"""Templates written once, in English, and translated by gettext catalogs kept as text.

A service keeps one template tree and one `<locale_dir>/<lang>/LC_MESSAGES/messages.po` per
language. English is the source language (every message id is the English text), so it needs
no catalog. The catalogs are compiled in memory when the service starts: the repository holds
only the .po text, never a built .mo file.

A catalog with a gap (an untranslated or fuzzy message, or a translation whose placeholders
differ from the message's) is refused, because gettext would fill the gap with English and
send a message written half in one language and half in another.

`python -m shared.i18n LOCALE_DIR` lists every gap and exits 1 if there is one (`make messages`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from gettext import GNUTranslations, NullTranslations
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DOMAIN = "messages"
# The templates' own language: the language of every message id, and the fallback.
FALLBACK_LANGUAGE = "en"


class IncompleteCatalog(RuntimeError):
    """A catalog that would leave some messages in English."""

    def __init__(self, po_file: Path, gaps: Sequence[str]) -> None:
        super().__init__(f"{po_file} has {len(gaps)} gap(s), first: {gaps[0]}")
        self.po_file = po_file
        self.gaps = tuple(gaps)


def po_files(locale_dir: Path) -> dict[str, Path]:
    """Each language's .po file under `locale_dir`, by language code."""
    return {
        path.parent.parent.name: path
        for path in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    }


def gaps(po_file: Path) -> list[str]:
    """What keeps this catalog from rendering wholly in its language; empty when nothing does."""
    return _gaps(_read(po_file))


def catalogs(locale_dir: Path) -> dict[str, GNUTranslations]:
    """Every language's catalog under `locale_dir`, compiled in memory; refuses one with gaps."""
    return {
        language: _compiled(po_file, po_file.stat().st_mtime_ns)
        for language, po_file in po_files(locale_dir).items()
    }


def environments(
    template_dir: Path, locale_dir: Path, *, filters: Callable[[str], Mapping[str, Any]]
) -> dict[str, Environment]:
    """One environment per language: English (the templates as written) and every language
    with a catalog; `filters(language)` gives each its own (dates in that language)."""
    translations = {FALLBACK_LANGUAGE: NullTranslations(), **catalogs(locale_dir)}
    return {
        language: environment(template_dir, catalog, filters=filters(language))
        for language, catalog in sorted(translations.items())
    }


def primary_language(tag: str) -> str:
    """`fr-BE`, `fr_BE` and `FR` are all French."""
    return tag.strip().replace("_", "-").split("-")[0].lower()


def accepted_languages(header: str) -> list[str]:
    """The languages of an Accept-Language header, most wanted first (q=0 means "not this")."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def environment(
    template_dir: Path,
    translations: NullTranslations,
    *,
    filters: Mapping[str, Callable[..., Any]] | None = None,
) -> Environment:
    """Jinja2 over `template_dir`, translating `{% trans %}` and `_()` with `translations`.

    HTML templates (`*.html.j2`) are autoescaped; an undefined name is an error, not a blank.
    """
    env = Environment(
        loader=FileSystemLoader(template_dir),
        extensions=["jinja2.ext.i18n"],
        # Templates ship with the code: no file check on every render.
        auto_reload=False,
        autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # Newstyle gettext escapes the values it puts into a translation in HTML, and a
    # translation naming a placeholder the template does not give fails instead of printing it.
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(filters or {})
    return env


def main(argv: Sequence[str]) -> int:
    """List every gap of the catalogs under one locale directory; 1 if there is any."""
    if len(argv) != 1:
        print("usage: python -m shared.i18n LOCALE_DIR", file=sys.stderr)
        return 2
    status = 0
    for language, po_file in po_files(Path(argv[0])).items():
        for gap in gaps(po_file):
            print(f"{language}: {gap}", file=sys.stderr)
            status = 1
    return status


# Compiling is most of a renderer's start-up, and a process (a test run) may start many: each
# version of a file is compiled once. The modification time in the key keeps an edit visible.
@cache
def _compiled(po_file: Path, _mtime_ns: int) -> GNUTranslations:
    catalog = _read(po_file)
    if found := _gaps(catalog):
        raise IncompleteCatalog(po_file, found)
    mo = BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    translations: GNUTranslations = Translations(mo, domain=DOMAIN)
    return translations


def _read(po_file: Path) -> Any:
    with po_file.open("rb") as source:
        return read_po(source)


def _gaps(catalog: Any) -> list[str]:
    found = [f"format: {error}" for _message, errors in catalog.check() for error in errors]
    for message in list(catalog)[1:]:  # the first entry is the header
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            found.append(f"untranslated: {message.id!r}")
        elif message.fuzzy:
            found.append(f"fuzzy: {message.id!r}")
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
