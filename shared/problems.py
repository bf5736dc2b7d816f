"""Every 4xx and 5xx answer as application/problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    Conflict,
    DomainError,
    Invalid,
    NotAllowed,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthenticated,
)
from shared.routes import served_routes

PROBLEM_JSON = "application/problem+json"

# Order matters: the first kind an error is an instance of decides the status.
STATUS: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    NotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
    PayloadTooLarge: 413,
    TooManyRequests: 429,
    Invalid: 422,
}

log = structlog.get_logger()


# Seconds a client should wait before trying again when the database is out of reach.
RETRY_AFTER_S = 2


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response; `extra` becomes RFC 9457 extension members."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_s)
    return JSONResponse(
        exc.problem(status), status_code=status, media_type=PROBLEM_JSON, headers=headers or None
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "venue", "city") -> "venue.city"; the "body" prefix says nothing to a client.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        # Not JSON at all: the body could not be read, so no field is to blame.
        return _malformed("the body is not valid JSON")
    errors = [
        {"field": _field(err.get("loc", ())), "reason": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return problem(422, "Invalid request", detail, errors=errors)


def _malformed(reason: str) -> JSONResponse:
    """400: a body that is not JSON (bad syntax, not UTF-8, nested too deep, a huge number)."""
    return problem(400, "Bad Request", reason, errors=[{"field": "body", "reason": reason}])


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 400:
        # FastAPI's own answer when it could not even decode the body.
        return _malformed(f"the body is not valid JSON ({detail})")
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        # RFC 9110: `Allow` lists every method of the resource, and a path served by several
        # routes (GET and POST on /registrations) has them on different routes.
        headers["Allow"] = ", ".join(_methods_at(request))
    if exc.status_code == 413:
        # The same answer as a stated Content-Length over the limit (shared/http.py).
        return problem(413, _reason(413), detail, errors=[{"field": "body", "reason": detail}])
    return problem(exc.status_code, _reason(exc.status_code), detail, headers=headers or None)


def _methods_at(request: Request) -> list[str]:
    # The resource is the most literal template the path matches (/meetings/upcoming.ics,
    # not /meetings/{meeting_id}); its methods may be spread over several routes.
    path = request.scope["path"]
    routes = list(served_routes(request.app))
    matching = [route.path for route in routes if route.serves(path)]
    if not matching:
        return []
    template = min(matching, key=lambda template: template.count("{"))
    return sorted({m for route in routes if route.path == template for m in route.methods})


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    # Not the client's fault and not a bug: say so, and when to try again. A write cut off
    # by a lost connection may still have been applied, which the detail does not hide.
    log.warning("http.database_unreachable", path=request.url.path, error=type(exc).__name__)
    return problem(
        503,
        "Service Unavailable",
        "the database could not be reached; try again shortly (a command cut off this way "
        "may or may not have been applied: read before repeating it)",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("http.unexpected_error", path=request.url.path)
    return problem(500, "Internal error", "the server failed to handle the request")


def _reason(status: int) -> str:
    from http import HTTPStatus

    if status == 413:
        return "Content Too Large"  # RFC 9110's name; Python's is the older one
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error kind to problem+json."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ConnectionFailure, _database_unreachable)
    app.add_exception_handler(Exception, _unexpected_error)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; extension members carry the facts",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "For 400 and 422: each field at fault and why",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                "required": ["field", "reason"],
            },
        },
    },
    "required": ["title", "status", "detail"],
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem answers a route can give."""
    schema = PROBLEM_SCHEMA
    return {
        status: {
            "description": _reason(status),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }


def problem_or_page_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Answers a route gives as problem+json to an API client and as a page to a browser."""
    return {
        status: {
            "description": _reason(status),
            "content": {
                PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}},
                "text/html": {"schema": {"type": "string"}},
            },
        }
        for status in statuses
    }
