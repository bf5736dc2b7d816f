"""Writes the reference pages under docs/reference/ from the code, so they cannot go stale.

    python docs/reference.py            write them
    python docs/reference.py --check    exit 1 if a committed page differs (the test suite)

Each page is what the code says: the HTTP routes from each service's OpenAPI document, the
events from the contract models, the settings from the settings classes, the notifications
routing table from its table, the shared toolkit from its modules' docstrings.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "reference"
HEADER = "<!-- Written by docs/reference.py from the code: edit the code, then `make docs`. -->\n\n"


def _first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    head = list(head)
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# --- routes --------------------------------------------------------------------------------


def _apps() -> dict[str, Any]:
    from services.meetings.__main__ import build as build_meetings
    from services.meetings.settings import MeetingsSettings
    from services.notifications.__main__ import build as build_notifications
    from services.notifications.settings import NotificationSettings

    return {
        "meetings": build_meetings(MeetingsSettings()),
        "notifications": build_notifications(NotificationSettings()).app,
    }


def _access(operation: dict[str, Any]) -> str:
    security = operation.get("security")
    if not security:
        return "public"
    if {} in security:
        return "public (a bearer token shows more)"
    roles = operation.get("x-required-roles")
    return "token: " + " or ".join(roles) if roles else "token"


def routes_page() -> str:
    parts = [HEADER, "# HTTP routes\n\n"]
    parts.append(
        "Every route of every service, from its OpenAPI document (`GET /openapi.json` on the "
        "running service has the bodies and answers in full). Access: `public` needs no token; "
        "`token` needs a bearer token, with one of the roles named where a role is required.\n"
    )
    for name, app in _apps().items():
        document = app.openapi()
        rows = []
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                rows.append(
                    (method.upper(), f"`{path}`", operation.get("summary", ""), _access(operation))
                )
        parts.append(f"\n## {name}\n\n")
        parts.append(_table(("method", "path", "what it does", "access"), rows))
    return "".join(parts)


# --- events --------------------------------------------------------------------------------


def events_page() -> str:
    from shared.contracts import EVENT_TYPES

    parts = [HEADER, "# Events\n\n"]
    parts.append(
        "Every event type the services publish: CloudEvents 1.0 in Kafka's binary mode (the "
        "attributes in `ce_*` headers, the JSON body below). The message key is the subject.\n\n"
    )
    rows = [
        (f"`{event_type}`", f"`{model.TOPIC}`", model.__name__, _first_paragraph(model.__doc__))
        for event_type, model in sorted(EVENT_TYPES.items())
    ]
    parts.append(_table(("type", "topic", "model", "what happened"), rows))
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        parts.append(f"\n## `{event_type}`\n\n")
        fields = [
            (
                f"`{field}`",
                _type_of(spec),
                "yes" if field in required else "",
                spec.get("description", ""),
            )
            for field, spec in schema.get("properties", {}).items()
        ]
        parts.append(_table(("field", "type", "required", "meaning"), fields))
    return "".join(parts)


def _type_of(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        return spec["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in spec:
        return " or ".join(_type_of(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"list of {_type_of(spec.get('items', {}))}"
    if "format" in spec:
        return f"{spec.get('type', '')} ({spec['format']})"
    return str(spec.get("type", "object"))


# --- settings ------------------------------------------------------------------------------


def _settings_classes() -> dict[str, type[Any]]:
    from services.academy.settings import AcademySettings
    from services.actions.settings import ActionsSettings
    from services.meetings.settings import MeetingsSettings
    from services.notifications.settings import NotificationSettings

    return {
        "meetings": MeetingsSettings,
        "notifications": NotificationSettings,
        "actions": ActionsSettings,
        "academy": AcademySettings,
    }


def _default(field: Any) -> str:
    if field.is_required():
        return "(required)"
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    if value is None:
        return ""
    return f"`{getattr(value, 'value', value)}`"


def _comments(cls: type[Any]) -> dict[str, str]:
    """The comment lines right above each field, in the class and every settings base."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith(("shared.", "services.")):
            continue
        lines = inspect.getsource(klass).splitlines()
        for i, line in enumerate(lines):
            name = line.strip().split(":", 1)[0]
            if not line.startswith("    ") or line.startswith("     ") or not name.isidentifier():
                continue
            above = []
            for previous in reversed(lines[:i]):
                if not previous.strip().startswith("#"):
                    break
                above.insert(0, previous.strip().lstrip("#").strip())
            if above:
                found[name] = " ".join(above)
    return found


def settings_page() -> str:
    parts = [HEADER, "# Settings\n\n"]
    parts.append(
        "Every setting of every service, read from the environment (the variable is the "
        "field's name in upper case). Secrets have no default outside the dev stack and the "
        "tests (`ALLOW_DEVELOPMENT_SECRETS`).\n"
    )
    for name, cls in _settings_classes().items():
        comments = _comments(cls)
        rows = [
            (
                f"`{field_name.upper()}`",
                _default(field),
                field.description or comments.get(field_name, ""),
            )
            for field_name, field in sorted(cls.model_fields.items())
        ]
        parts.append(f"\n## {name}\n\n")
        parts.append(_table(("variable", "default", "meaning"), rows))
    return "".join(parts)


# --- routing table -------------------------------------------------------------------------


def routing_page() -> str:
    from services.notifications.domain.routing import ROUTES

    parts = [HEADER, "# The notifications routing table\n\n"]
    parts.append(
        "Who is told of what: each row sends one template to its audiences. `transactional` "
        "mail reaches a person whatever their preferences; the others follow the person's "
        "categories and, where `digest` says so, may wait for the daily digest.\n\n"
    )
    rows = [
        (
            f"`{route.event_type}`",
            f"`{route.template}`",
            ", ".join(a.value for a in route.audiences),
            route.category.value,
            "yes" if route.transactional else "",
            route.calendar.value if route.calendar else "",
            "yes" if route.digestible and not route.transactional else "",
        )
        for route in ROUTES
    ]
    head = ("event", "template", "audiences", "category", "transactional", ".ics", "digest")
    parts.append(_table(head, rows))
    return "".join(parts)


# --- the shared toolkit --------------------------------------------------------------------


def _public_members(module: Any) -> list[tuple[str, Any]]:
    found = []
    for name, member in vars(module).items():
        if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(member) or inspect.isfunction(member):
            found.append((name, member))
    return found


def shared_page() -> str:
    import shared

    parts = [HEADER, "# The shared toolkit\n\n"]
    parts.append(
        "What every service builds on, module by module: its purpose and its public classes "
        "and functions, from their docstrings.\n"
    )
    modules = sorted(
        m.name for m in pkgutil.walk_packages(shared.__path__, "shared.") if not m.ispkg
    )
    for module_name in modules:
        module = importlib.import_module(module_name)
        parts.append(f"\n## `{module_name}`\n\n{_first_paragraph(module.__doc__)}\n\n")
        rows = [
            (f"`{name}`", _first_paragraph(member.__doc__))
            for name, member in _public_members(module)
        ]
        if rows:
            parts.append(_table(("name", "what it is"), rows))
    return "".join(parts)


PAGES: dict[str, Callable[[], str]] = {
    "routes.md": routes_page,
    "events.md": events_page,
    "settings.md": settings_page,
    "notifications-routing.md": routing_page,
    "shared.md": shared_page,
}


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    # Building the apps reads settings; nothing connects, and no secret is printed.
    os.environ.setdefault("ALLOW_DEVELOPMENT_SECRETS", "true")
    check = "--check" in argv
    stale = []
    OUT.mkdir(parents=True, exist_ok=True)
    for filename, page in PAGES.items():
        text = page()
        path = OUT / filename
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(filename)
        else:
            path.write_text(text)
    if stale:
        print(f"docs/reference is stale ({', '.join(stale)}): run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
