"""Schemathesis hooks: the rules the OpenAPI documents in words but JSON Schema cannot say.

Loaded by the `st` CLI through SCHEMATHESIS_HOOKS. They touch only positive cases (bodies
the schema allows), and only to make one field agree with another as the operation's
description says: an end after its start, a deadline before the end, `into_the_past` for a
start that has passed. Everything else schemathesis generates reaches the service as drawn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.hooks import HookContext

HOUR = timedelta(hours=1)
LAST_YEAR = 2200


@schemathesis.hook
def map_case(context: HookContext, case: Any) -> Any:
    meta = case.meta
    if meta is not None and meta.generation.mode is GenerationMode.POSITIVE:
        _repair(case)
    return case


@schemathesis.hook
def before_add_examples(context: HookContext, examples: list[Any]) -> None:
    # Cases built from the schema's examples do not pass through `map_case`.
    for case in examples:
        _repair(case)


def _repair(case: Any) -> None:
    route = f"{case.operation.method.upper()} {case.operation.path}"
    if isinstance(case.body, dict) and (repair := BODY_REPAIRS.get(route)):
        repair(case.body)
    if isinstance(case.query, dict) and route in OPAQUE_CURSORS:
        # A cursor is a value the service gave out earlier, not one a client makes up.
        case.query.pop("cursor", None)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _end_after_start(body: dict[str, Any], *, span: timedelta = HOUR) -> datetime | None:
    starts = _moment(body.get("starts_at"))
    if starts is None:
        return None
    if (starts + span).year > LAST_YEAR:
        # The end would fall past the last year a time may name: start earlier instead.
        starts -= span
        body["starts_at"] = starts.isoformat()
    if "ends_at" in body:
        body["ends_at"] = (starts + span).isoformat()
    return starts


def _plan(body: dict[str, Any]) -> None:
    starts = _end_after_start(body)
    if starts is not None and body.get("registration_deadline") is not None:
        body["registration_deadline"] = starts.isoformat()


def _update(body: dict[str, Any]) -> None:
    if "starts_at" in body and "ends_at" in body:
        _end_after_start(body)


def _reschedule(body: dict[str, Any]) -> None:
    starts = _end_after_start(body)
    if starts is None:
        return
    if body.get("registration_deadline") is not None:
        body["registration_deadline"] = starts.isoformat()
    if starts < datetime.now(UTC):
        body["into_the_past"] = True


def _programme(body: dict[str, Any]) -> None:
    items = body.get("items")
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        if isinstance(item, dict):
            _end_after_start(item, span=timedelta(minutes=1))
            # Items of one track may not overlap: each drawn item gets a track of its own.
            item["track"] = f"track {index}"


OPAQUE_CURSORS = {"GET /meetings"}

BODY_REPAIRS = {
    "POST /meetings": _plan,
    "PATCH /meetings/{meeting_id}": _update,
    "POST /meetings/{meeting_id}/reschedule": _reschedule,
    "PUT /meetings/{meeting_id}/programme": _programme,
}
