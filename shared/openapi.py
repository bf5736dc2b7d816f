"""The OpenAPI document says what the service does, not what FastAPI assumes.

- Security per operation, read off the route's dependencies: `require(...)` needs a bearer
  token; `optional_principal` (public routes that show more to the secretariat) takes one or
  none; anything else is public.
- Every problem answer is `application/problem+json` with one schema; 422 (schema
  violations), 400 (a body that is not JSON) and 413 (a body too large) are declared
  wherever a body is read, 401/403 wherever a token is, and 503 (the database is out of
  reach) everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi

from shared.auth import AUTH_MARK, BEARER_SCHEME, ROLES_MARK
from shared.problems import PROBLEM_JSON, PROBLEM_SCHEMA, _reason
from shared.routes import served_routes

PROBLEM_REF = "#/components/schemas/Problem"


def install(app: FastAPI) -> None:
    """Replace the app's OpenAPI generation with the corrected document (built once)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        BEARER_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    guards = {
        (served.path, method.lower()): _guard(served.route.dependant)
        for served in served_routes(app)
        for method in served.methods
    }
    roles = {
        (served.path, method.lower()): _roles(served.route.dependant)
        for served in served_routes(app)
        for method in served.methods
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _correct(operation, guards.get((path, method), "public"))
            if operation.get("security") and roles.get((path, method)):
                operation["x-required-roles"] = roles[(path, method)]
    return schema


def _roles(dependant: Dependant) -> list[str]:
    """The roles the route's `require` admits (any one of them); empty: any valid token."""
    found: set[str] = set()
    for d in _all(dependant):
        found |= set(getattr(d.call, ROLES_MARK, ()))
    return sorted(found)


def _guard(dependant: Dependant) -> str:
    marks = {getattr(d.call, AUTH_MARK, None) for d in _all(dependant)}
    if "required" in marks:
        return "required"
    if "optional" in marks:
        return "optional"
    return "public"


def _all(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _all(sub)


def _correct(operation: dict[str, Any], guard: str) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if guard == "required":
        operation["security"] = [{BEARER_SCHEME: []}]
        statuses = {"401", "403"}
    elif guard == "optional":
        operation["security"] = [{}, {BEARER_SCHEME: []}]
        statuses = {"401"}
    else:
        operation.pop("security", None)
        statuses = set()
    if "requestBody" in operation:
        statuses |= {"400", "413", "422"}
    if operation.get("parameters"):
        statuses.add("422")
    statuses.add("503")
    for status in sorted(statuses | {s for s in responses if s[:1] in "45"}):
        declared = responses.get(status, {})
        content = declared.get("content", {})
        if any(media != "application/json" for media in content):
            # A page answers a person in HTML (its route says so): kept as declared.
            if status in ("429", "503"):
                declared["headers"] = _retry_after()
            continue
        responses[status] = {
            "description": declared.get("description") or _reason(int(status)),
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
            **({"headers": _retry_after()} if status in ("429", "503") else {}),
        }


def _retry_after() -> dict[str, Any]:
    return {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
