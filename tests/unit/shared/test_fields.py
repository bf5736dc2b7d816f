"""The text rules: a message a person reads, and a schema pattern that says the same."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from shared.fields import ONE_LINE, OPTIONAL_PROSE, PROSE, Name

SAMPLES = [
    "Maria Papadopoulou",
    "Ville de Paris",
    "x",
    "",
    " ",
    " Maria",
    "Maria ",
    "Maria\u00a0",
    "\u3000Maria",
    "Maria\nK.",
    "Maria\r\nBcc: x@evil.example",
    "Maria\u2028K.",
    "Maria\u0085K.",
    "Maria\x7f",
    "Maria\tK.",
    "first line\nsecond line",
    "  padded reason  ",
    "\t\n ",
    "the venue\u2029is booked",
    "Zoë Łukasiewicz-Ørsted",
]


class Texts(BaseModel):
    name: Name | None = None
    label: Annotated[str, Field(max_length=5), ONE_LINE] | None = None
    reason: Annotated[str, Field(max_length=100), PROSE] | None = None
    note: Annotated[str, Field(max_length=100), OPTIONAL_PROSE] | None = None


def accepted(field: str, text: str) -> bool:
    try:
        Texts.model_validate({field: text})
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", ["name", "reason", "note"])
@pytest.mark.parametrize("text", SAMPLES)
def test_the_schema_pattern_accepts_exactly_what_the_service_accepts(field: str, text: str) -> None:
    schema = Texts.model_json_schema()["properties"][field]["anyOf"][0]
    # The schema sees the text as sent; the service stores prose trimmed.
    assert bool(re.search(schema["pattern"], text)) == accepted(field, text)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Maria\r\nBcc: x@evil.example", "must be one line, without line breaks or control"),
        ("Maria\u2028K.", "must be one line"),
        ("Maria\u0085", "must be one line"),
        ("", "must not be empty"),
        (" Maria", "must not start or end with a space"),
    ],
)
def test_a_name_that_breaks_a_rule_is_refused_saying_which(text: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Texts.model_validate({"name": text})

    [error] = refused.value.errors()
    assert error["loc"] == ("name",)
    assert says in error["msg"]


def test_a_label_too_long_says_how_long_it_may_be() -> None:
    with pytest.raises(ValidationError) as refused:
        Texts.model_validate({"label": "abcdefgh"})

    [error] = refused.value.errors()
    assert (error["type"], error["ctx"]["max_length"]) == ("string_too_long", 5)


def test_prose_is_stored_trimmed_and_white_space_alone_is_refused_saying_so() -> None:
    assert Texts.model_validate({"reason": "  the venue is booked \n"}).reason == (
        "the venue is booked"
    )
    with pytest.raises(ValidationError, match="must not be empty or only white space"):
        Texts.model_validate({"reason": " \t\n "})
    assert Texts.model_validate({"note": " \n "}).note == ""
