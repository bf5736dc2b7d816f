"""The field types request bodies are built from.

Two promises hold for every body built from these:

- JSON is taken as typed: `true` is not the number 1, `"yes"` is not true, `1700000000` is not
  a date. A wrong type is a 422 naming the field.
- The OpenAPI schema says every rule JSON Schema can say, so a request the schema allows is one
  the service accepts; the rules it cannot say (one field against another) are in the
  operation's description.

Text patterns are written with escapes that Python's `re`, pydantic's Rust regex and
ECMA-262 (what JSON Schema validators use) read alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, TypeVar
from zoneinfo import available_timezones

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


class Command(BaseModel):
    """A request body: unknown fields are refused, and nothing changes it after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators: in a mail
# header or a calendar line, a line break starts a new header or property.
CONTROLS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# Unicode White_Space outside the controls: what `strip()` would remove.
SPACES = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
# Multi-line text keeps tab, line feed and carriage return.
PROSE_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"

# One line, no control characters, neither starting nor ending with a space.
LINE_PATTERN = rf"^[^{CONTROLS}{SPACES}](?:[^{CONTROLS}]*[^{CONTROLS}{SPACES}])?$"
# Several lines, at least one character that is not white space.
PROSE_PATTERN = rf"^[^{PROSE_CONTROLS}]*[^{PROSE_CONTROLS}{SPACES}\t\n\r][^{PROSE_CONTROLS}]*$"
# Several lines, possibly none.
OPTIONAL_PROSE_PATTERN = rf"^[^{PROSE_CONTROLS}]*$"

_CONTROL = re.compile(f"[{CONTROLS}]")
_PROSE_CONTROL = re.compile(f"[{PROSE_CONTROLS}]")
_SPACE = re.compile(f"[{SPACES}]")


@dataclass(frozen=True)
class TextRule:
    """A rule for text: checked in Python with a message a person reads, published as the
    pattern that says the same in the schema.

    Put it after the length: `Annotated[str, Field(max_length=200), ONE_LINE]`.
    """

    pattern: str
    check: Callable[[str], str]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = handler(schema)
        described["pattern"] = self.pattern
        return described


def _one_line(text: str) -> str:
    if _CONTROL.search(text):
        raise ValueError("must be one line, without line breaks or control characters")
    if not text:
        raise ValueError("must not be empty")
    if _SPACE.match(text[0]) or _SPACE.match(text[-1]):
        raise ValueError("must not start or end with a space")
    return text


def _prose(text: str) -> str:
    if _PROSE_CONTROL.search(text):
        raise ValueError("must not contain control characters")
    trimmed = text.strip()
    if not trimmed:
        raise ValueError("must not be empty or only white space")
    return trimmed


def _optional_prose(text: str) -> str:
    if _PROSE_CONTROL.search(text):
        raise ValueError("must not contain control characters")
    return text.strip()


ONE_LINE = TextRule(LINE_PATTERN, _one_line)
"""A name, a title, a label: one line, trimmed, no control characters."""

PROSE = TextRule(PROSE_PATTERN, _prose)
"""A reason, a summary: lines of text with something in them; stored trimmed."""

OPTIONAL_PROSE = TextRule(OPTIONAL_PROSE_PATTERN, _optional_prose)
"""A description that may be empty; stored trimmed."""

Name = Annotated[str, Field(max_length=200), ONE_LINE]


def _json_integer(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer, so that stays; true and "3" do not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer")
    return value


# Put last, after any bounds: `Annotated[int, Field(ge=0), JSON_INTEGER]`. Placed before
# them, the bounds would no longer reach the schema as `minimum`/`maximum`.
JSON_INTEGER = BeforeValidator(_json_integer)
Integer = Annotated[int, JSON_INTEGER]
Flag = Annotated[bool, Strict()]

# ----------------------------------------------------------------------------------------------
# Times

FIRST_YEAR, LAST_YEAR = 1900, 2200
# Far-off years overflow when moved between time zones; no meeting is held there.
YEARS_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2}|2200)-"
# RFC 3339, with the offset (and the seconds) optional: without an offset the time is a
# wall-clock time in the meeting's time zone. A space for the `T`, lower-case letters and
# numbers are refused, so what is accepted is what the schema's `date-time` describes, plus
# the documented wall-clock form.
_MOMENT = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$", re.ASCII
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


_When = TypeVar("_When", date, datetime)


def _moment_text(value: Any) -> Any:
    if not isinstance(value, str) or not _MOMENT.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time such as 2027-03-18T09:30:00+01:00, or a wall-clock "
            "time in the meeting's time zone such as 2027-03-18T09:30:00"
        )
    return value


def _day_text(value: Any) -> Any:
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError("must be a date such as 2027-03-18")
    return value


def _in_sane_years(moment: _When) -> _When:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


Moment = Annotated[
    datetime,
    BeforeValidator(_moment_text),
    AfterValidator(_in_sane_years),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": YEARS_PATTERN,
            "description": (
                f"RFC 3339, years {FIRST_YEAR}-{LAST_YEAR}. Without an offset, a wall-clock "
                "time in the meeting's time zone (seconds may be left out: "
                "2018-05-15T10:00); a time that does not exist there (a "
                "daylight-saving gap) or exists twice (the hour the clocks go back) is refused."
            ),
        }
    ),
]


def _moment_or_day_text(value: Any) -> Any:
    if isinstance(value, str) and _DAY.match(value):
        return value + "T00:00:00"
    return _moment_text(value)


MomentQuery = Annotated[
    datetime,
    BeforeValidator(_moment_or_day_text),
    AfterValidator(_in_sane_years),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": YEARS_PATTERN,
            "description": (
                f"RFC 3339, years {FIRST_YEAR}-{LAST_YEAR}; UTC without an offset; "
                "a date alone (2018-01-01) is its midnight."
            ),
        }
    ),
]
"""A moment in a query string, where a date alone is common enough to take."""

Day = Annotated[
    date,
    BeforeValidator(_day_text),
    AfterValidator(_in_sane_years),
    WithJsonSchema({"type": "string", "format": "date", "pattern": YEARS_PATTERN}),
]


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows (not folders such as "Europe")."""
    return tuple(sorted(available_timezones()))


# An enum, so the schema lists the names once (a component) and a client can pick from them.
TimeZoneName = StrEnum("TimeZone", [(name, name) for name in zone_names()])  # type: ignore[misc]


def _known_zone(value: Any) -> Any:
    # Before the enum's own check, whose message would list all six hundred names.
    if isinstance(value, str) and value not in zone_names():
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)")
    return value


TimeZone = Annotated[
    TimeZoneName,
    BeforeValidator(_known_zone),
    AfterValidator(lambda zone: str(zone.value)),
    Field(examples=["Europe/Amsterdam"]),
]
"""An IANA time zone name, as a plain string once validated."""

# ----------------------------------------------------------------------------------------------
# E-mail addresses

# The dot-atom an unquoted local part may use (RFC 5322), and an ASCII domain: internationalised
# addresses need SMTPUTF8 end to end, which the partnership's mail does not promise.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# The lookahead holds the part before the @ to 64 characters (RFC 5321).
EMAIL_PATTERN = rf"^(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+$"
_EMAIL = re.compile(EMAIL_PATTERN)
EMAIL_RULES = (
    "An ASCII address (internationalised addresses are refused: write the ASCII form the "
    "person's provider gives); at most 254 characters, 64 before the @; not at a reserved "
    "domain such as "
    ".invalid, .local, .localhost, .onion or .arpa."
)


def _address(value: str) -> str:
    if not value.isascii():
        raise ValueError(
            "internationalised e-mail addresses (non-ASCII characters) are not supported; "
            "give an ASCII address"
        )
    if not _EMAIL.match(value):
        if len(value.partition("@")[0]) > 64:
            raise ValueError("has more than 64 characters before the @")
        raise ValueError("is not an e-mail address such as name@example.org")
    try:
        # The `test` domain stays usable: RFC 2606 reserves it for exactly this.
        checked = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, test_environment=True
        )
    except EmailNotValidError as exc:
        raise ValueError(f"is not a usable e-mail address: {exc}") from None
    return checked.normalized


Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_address),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": EMAIL_PATTERN,
            "description": EMAIL_RULES,
        }
    ),
]


def email_identity(address: str) -> str:
    """The form two addresses are compared in: trimmed, lower case.

    One rule for every service (one registration per person, one contact per address, one
    rate limit per person). Addresses are ASCII (`Email`), so lower case is case-folding.
    """
    return address.strip().lower()
