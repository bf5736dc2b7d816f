"""The unsubscribe and preferences pages: server-rendered HTML, in the person's language.

The link in every e-mail carries a signed token. GET only shows a page (mail scanners
follow links); unsubscribing takes a POST: the page's button, or a mail client's RFC 8058
one-click POST with the body `List-Unsubscribe=One-Click`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse

from services.notifications.api.deps import Components, ComponentsDep, limiter_of
from services.notifications.domain import directory as domain
from services.notifications.domain.directory import (
    OPTIONAL_CATEGORIES,
    Category,
    Contact,
    ContactId,
    DeliveryMode,
)
from services.notifications.mail.letters import (
    PREFERENCES,
    UNSUBSCRIBE,
    parse_unsubscribe_subject,
)
from services.notifications.rendering import FALLBACK_LANGUAGE
from shared.errors import NotAllowed, NotFound, TooManyRequests
from shared.i18n import accepted_languages, primary_language
from shared.ratelimit import Scope, per_client

router = APIRouter(tags=["unsubscribe and preferences pages"])


async def _count_client(request: Request) -> None:
    # Public pages: each client address has a budget; past it, a page that says so.
    try:
        await per_client(limiter_of, Scope.PREFERENCES)(request)
    except TooManyRequests as refused:
        raise PageRefused(refused) from None


class PageRefused(Exception):
    """Too many requests on a page: answered as a page (429), not as problem+json."""

    def __init__(self, refused: TooManyRequests) -> None:
        super().__init__(refused.detail)
        self.retry_after_s = refused.retry_after_s


PAGE = "preferences_page"
HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: never hand it to another site as a referrer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
OPTIONAL_IN_ORDER = [c for c in Category if c in OPTIONAL_CATEGORIES]
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The page"},
    403: {
        "content": {"text/html": {}},
        "description": "The link is forged, expired or not for this",
    },
    404: {"content": {"text/html": {}}, "description": "The person behind the link was erased"},
    429: {
        "content": {"text/html": {}},
        "description": "Too many requests from this address or for this person: try again "
        "after Retry-After seconds",
    },
}


def _form(**fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a page's form (read by the route itself, not by FastAPI)."""
    schema = {"type": "object", "properties": fields}
    return {
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
            "required": False,
        }
    }


TOKEN_FIELD = {"type": "string", "description": "The signed token from the e-mail's link"}


@router.get(
    "/unsubscribe",
    response_class=HTMLResponse,
    responses=PAGE_RESPONSES,
    dependencies=[Depends(_count_client)],
    summary="Page that confirms unsubscribing and offers the preferences",
)
async def unsubscribe_page(request: Request, c: ComponentsDep, token: str = "") -> HTMLResponse:
    try:
        contact, category = await _unsubscriber(c, token)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, c, exc)
    return _page(c, contact, mode="confirm", category=category, token=token)


@router.post(
    "/unsubscribe",
    response_class=HTMLResponse,
    responses=PAGE_RESPONSES,
    dependencies=[Depends(_count_client)],
    openapi_extra=_form(
        token=TOKEN_FIELD,
        **{"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}},
    ),
    summary="Unsubscribe: the page's button, or an RFC 8058 one-click POST",
)
async def unsubscribe(request: Request, c: ComponentsDep) -> HTMLResponse:
    form = await request.form()
    token = request.query_params.get("token") or str(form.get("token") or "")
    try:
        contact, category = await _unsubscriber(c, token)
        await _count_person(c, contact)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, c, exc)
    muted = frozenset({category}) if category else OPTIONAL_CATEGORIES
    contact = await c.stores.directory.change_contact(
        contact.id, lambda known: replace(known, preferences=domain.mute(known.preferences, muted))
    )
    return _page(c, contact, mode="unsubscribed", category=category, token=token)


@router.get(
    "/preferences",
    response_class=HTMLResponse,
    responses=PAGE_RESPONSES,
    dependencies=[Depends(_count_client)],
    summary="Page to change one's e-mail preferences",
)
async def preferences_page(request: Request, c: ComponentsDep, token: str = "") -> HTMLResponse:
    try:
        contact = await _owner(c, token)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, c, exc)
    return _page(c, contact, mode="preferences")


@router.post(
    "/preferences",
    response_class=HTMLResponse,
    responses=PAGE_RESPONSES,
    dependencies=[Depends(_count_client)],
    openapi_extra=_form(
        token=TOKEN_FIELD,
        receive={
            "type": "array",
            "items": {"type": "string"},
            "description": "The optional categories to keep receiving",
        },
        delivery={"type": "string", "description": "immediate or daily_digest"},
        language={"type": "string", "description": "One of the languages the page offers"},
    ),
    summary="Save the preferences form",
)
async def save_preferences(request: Request, c: ComponentsDep) -> HTMLResponse:
    form = await request.form()
    try:
        contact = await _owner(c, str(form.get("token") or ""))
        await _count_person(c, contact)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, c, exc)
    received = {str(value) for value in form.getlist("receive")}
    delivery = str(form.get("delivery") or contact.preferences.delivery.value)
    language = str(form.get("language") or "")

    def change(known: Contact) -> Contact:
        preferences = domain.set_preferences(
            known.preferences,
            language=language if language in c.renderer.languages else None,
            muted=frozenset(m for m in OPTIONAL_CATEGORIES if m.value not in received),
            delivery=DeliveryMode(delivery)
            if delivery in {m.value for m in DeliveryMode}
            else None,
        )
        return replace(known, preferences=preferences)

    contact = await c.stores.directory.change_contact(contact.id, change)
    return _page(c, contact, mode="saved")


async def _count_person(c: Components, contact: Contact) -> None:
    try:
        await c.limiter.hit_email(Scope.PREFERENCES, contact.email)
    except TooManyRequests as refused:
        raise PageRefused(refused) from None


async def too_many(request: Request, exc: Exception) -> Response:
    """The page for PageRefused: installed as the app's handler for it."""
    assert isinstance(exc, PageRefused)
    c = request.app.state.components
    language = _accepted_language(request, c.renderer.languages)
    html = c.renderer.page(PAGE, language, {"mode": "too_many"})
    headers = HEADERS | {"Retry-After": str(exc.retry_after_s)}
    return HTMLResponse(html, status_code=429, headers=headers)


async def _unsubscriber(c: Components, token: str) -> tuple[Contact, Category | None]:
    contact_id, category = parse_unsubscribe_subject(c.signer.verify(token, UNSUBSCRIBE))
    return await c.stores.directory.get_contact(contact_id), category


async def _owner(c: Components, token: str) -> Contact:
    contact_id = ContactId(c.signer.verify(token, PREFERENCES))
    return await c.stores.directory.get_contact(contact_id)


def _page(
    c: Components,
    contact: Contact,
    *,
    mode: str,
    category: Category | None = None,
    token: str = "",
) -> HTMLResponse:
    context: dict[str, Any] = {
        "mode": mode,
        "contact": {"name": contact.name},
        "preferences": {
            "language": contact.preferences.language,
            "muted": [m.value for m in contact.preferences.muted],
            "delivery": contact.preferences.delivery.value,
        },
        "category": category.value if category else None,
        "categories": [cat.value for cat in OPTIONAL_IN_ORDER],
        "delivery_modes": [mode_.value for mode_ in DeliveryMode],
        "languages": list(c.renderer.languages),
        "token": token,
        "preferences_token": c.writer.preferences_token(contact.id),
        # Relative: the pages work behind a proxy that mounts the service under a prefix.
        "unsubscribe_action": "unsubscribe",
        "preferences_action": "preferences",
    }
    html = c.renderer.page(PAGE, contact.language, context)
    return HTMLResponse(html, headers=HEADERS)


def _invalid(request: Request, c: Components, exc: NotAllowed | NotFound) -> HTMLResponse:
    language = _accepted_language(request, c.renderer.languages)
    html = c.renderer.page(PAGE, language, {"mode": "invalid"})
    status = 404 if isinstance(exc, NotFound) else 403
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _accepted_language(request: Request, available: tuple[str, ...]) -> str:
    """The first language of the browser's Accept-Language that has templates."""
    for tag in accepted_languages(request.headers.get("accept-language", "")):
        if (language := primary_language(tag)) in available:
            return language
    return FALLBACK_LANGUAGE
