"""The FastAPI app every service starts from: health, readiness, metrics, request ids, problems."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import openapi
from shared.auth import Authenticator
from shared.problems import PROBLEM_JSON, install_problem_handlers, problem
from shared.settings import ServiceSettings

ReadinessCheck = Callable[[], Awaitable[bool]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("http_request_duration_seconds", "HTTP request latency", ["method", "route"])

REQUEST_ID_HEADER = "X-Request-ID"
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
READINESS_TIMEOUT_S = 2.0

log = structlog.get_logger()


def create_app(
    settings: ServiceSettings,
    *,
    title: str,
    routers: Sequence[APIRouter] = (),
    readiness: Mapping[str, ReadinessCheck] | None = None,
    lifespan: Lifespan | None = None,
    description: str = "",
    body_limits: Mapping[str, int] | None = None,
    exception_handlers: Mapping[type[Exception], ExceptionHandler] | None = None,
) -> FastAPI:
    """A service's app: its routers plus the endpoints and middleware every service has.

    `body_limits` gives routes ("POST /path/{param}") a smaller body limit than the
    service's own, such as a public form that has no business being large.
    `exception_handlers` answer a service's own exceptions (a page's refusal is a page).
    """
    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings)
    install_problem_handlers(app)
    for exception, handler in (exception_handlers or {}).items():
        app.add_exception_handler(exception, handler)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_body_bytes, route_limits=body_limits or {}
    )
    app.add_middleware(RequestContext)
    app.include_router(_operations_router(readiness or {}))
    for router in routers:
        app.include_router(router)
    openapi.install(app)
    return app


class BodySizeLimit:
    """Refuse bodies over the limit with 413, whether they state a Content-Length or stream.

    One rule everywhere: a stated length over the limit is refused before the body is read,
    a streamed (chunked) body as soon as it passes the limit.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, route_limits: Mapping[str, int] | None = None
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._route_limits = [
            (method, compile_path(path)[0], min(limit, max_bytes))
            for route, limit in (route_limits or {}).items()
            for method, path in [route.split(" ", 1)]
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # Raised inside the route's body read, so the problem handlers answer it.
                raise HTTPException(413, _too_large_detail(limit))
            return message

        await self._app(scope, counting_receive, send)

    def _limit_for(self, scope: Scope) -> int:
        for method, path, limit in self._route_limits:
            if scope["method"] == method and path.match(scope["path"]):
                return limit
        return self._max_bytes


def _too_large_detail(limit: int) -> str:
    return f"the request body must be at most {limit} bytes"


def _too_large(limit: int) -> JSONResponse:
    detail = _too_large_detail(limit)
    return problem(413, "Content Too Large", detail, errors=[{"field": "body", "reason": detail}])


class RequestContext:
    """Tag the request with an id (the caller's X-Request-ID or a new one), log it, count it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        # Accept a caller's id only if it looks like one; never echo arbitrary header content.
        valid = 0 < len(incoming) <= 128 and incoming.isprintable()
        request_id = incoming if valid else str(uuid.uuid4())
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        structlog.contextvars.bind_contextvars(correlation_id=request_id)
        started = time.perf_counter()
        try:
            await self._app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("correlation_id")
            # The route's template, never the raw path or query: those can carry ids and
            # signed tokens, which a log must not.
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            elapsed = time.perf_counter() - started
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            # Probes and scrapes come every few seconds: only at debug, to keep the log readable.
            emit = log.debug if template in QUIET_ROUTES else log.info
            emit(
                "http.request",
                method=method,
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
                request_id=request_id,
            )


def _operations_router(readiness: Mapping[str, ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: Kafka and MongoDB are reachable, and no consumer is stalled",
        responses={503: {"description": "A dependency is unreachable or a consumer stalled"}},
    )
    async def readyz() -> JSONResponse:
        names = list(readiness)
        results = await asyncio.gather(*(_check(readiness[name]) for name in names))
        checks = dict(zip(names, results, strict=True))
        if all(results):
            return JSONResponse({"status": "ready", "checks": checks})
        failing = [name for name, ok in checks.items() if not ok]
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": f"not ready: {', '.join(failing)} failing",
            "checks": checks,
        }
        return JSONResponse(body, status_code=503, media_type=PROBLEM_JSON)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


async def _check(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), READINESS_TIMEOUT_S)
    except Exception:
        return False
