"""Every 4xx and 5xx answer as application/problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound, Unauthenticated

PROBLEM_JSON = "application/problem+json"

# Order matters: the first kind an error is an instance of decides the status.
STATUS: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    NotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
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
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        exc.problem(status), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "venue", "city") -> "venue.city"; the "body" prefix says nothing to a client.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"} and len(parts) > 1:
        parts = parts[1:]
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(err.get("loc", ())), "reason": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors) or "invalid request"
    return problem(422, "Invalid request", detail, errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return problem(exc.status_code, _reason(exc.status_code), detail)


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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations of the problem answers a route can give."""
    schema = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["title", "status", "detail"],
    }
    return {
        status: {
            "description": _reason(status),
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }
