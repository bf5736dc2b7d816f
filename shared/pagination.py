"""Keyset pagination: a page of a sorted query, and an opaque cursor to the next one.

The cursor holds the sort values of the page's last document; the next page is the
documents after it in the same order. Its cost does not grow with the page number, and a
document inserted meanwhile is neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.errors import Invalid

Document = dict[str, Any]
CursorValue = str | int | datetime


def encode_cursor(values: Sequence[CursorValue]) -> str:
    """The opaque cursor for a page that ended at a document with these sort values."""
    raw = json.dumps(
        [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    ).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, length: int) -> list[CursorValue]:
    """The sort values a cursor holds; `InvalidCursor` (422 on `cursor`) if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != length:
            raise ValueError("wrong shape")
        return [_value(v) for v in values]
    except (ValueError, TypeError) as exc:
        raise InvalidCursor() from exc


def _value(value: Any) -> CursorValue:
    if isinstance(value, dict) and isinstance(value.get("t"), str):
        return datetime.fromisoformat(value["t"])
    if isinstance(value, str | int) and not isinstance(value, bool):
        return value
    raise ValueError("not a cursor value")


def after(fields: Sequence[str], values: Sequence[CursorValue]) -> Document:
    """The filter for documents after these values, in ascending order of `fields`."""
    clauses = []
    for i, name in enumerate(fields):
        clause: Document = {fields[j]: values[j] for j in range(i)}
        clause[name] = {"$gt": values[i]}
        clauses.append(clause)
    return {"$or": clauses}


class InvalidCursor(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "cursor: not a cursor this service gave out",
            errors=[{"field": "cursor", "reason": "not a cursor this service gave out"}],
        )
