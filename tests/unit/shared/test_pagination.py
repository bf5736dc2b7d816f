"""Keyset cursors: opaque, exact, and refused clearly when they are not ours."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.pagination import InvalidCursor, after, decode_cursor, encode_cursor

STARTS = datetime(2018, 5, 15, 10, 0, tzinfo=UTC)


def test_a_cursor_gives_back_the_values_it_was_made_of() -> None:
    cursor = encode_cursor([STARTS, "pm-12", 7])

    assert decode_cursor(cursor, length=3) == [STARTS, "pm-12", 7]
    assert "=" not in cursor
    assert "/" not in cursor
    assert "+" not in cursor


@pytest.mark.parametrize(
    "cursor",
    ["", "not-base64!", encode_cursor(["only-one"]), "bnVsbA", "eyJ0IjogMX0", "W3RydWUsIDFd"],
)
def test_anything_else_is_an_invalid_cursor_naming_the_field(cursor: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(cursor, length=2)
    assert refused.value.facts["errors"] == [
        {"field": "cursor", "reason": "not a cursor this service gave out"}
    ]


def test_after_is_the_documents_past_the_values_in_the_sort_order() -> None:
    assert after(["starts_at", "_id"], [STARTS, "pm-12"]) == {
        "$or": [
            {"starts_at": {"$gt": STARTS}},
            {"starts_at": STARTS, "_id": {"$gt": "pm-12"}},
        ]
    }
