"""The page a registration's e-mail link opens: server-rendered HTML, in the person's language.

The e-mail's link, `/meetings/{meeting_id}/registrations/{registration_id}?token=…`, is the
URL API clients read the registration at. A request that prefers HTML (a browser's `Accept`
header) gets the page; any other keeps the JSON of `registrations.py`. GET only shows the
page (mail scanners follow links); the page's button posts a form to `…/cancel`, the URL
where API clients post JSON: a form body comes here, any other body goes there.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from services.meetings import domain
from services.meetings.api.deps import (
    REGISTRATION_LINK,
    Components,
    ComponentsDep,
    link_subject,
)
from services.meetings.api.registrations import cancel
from services.meetings.domain.registrations import REGISTRATION_ACTIONS
from services.meetings.rendering import Renderer
from shared.errors import IllegalTransition, NotAllowed, NotFound
from shared.i18n import accepted_languages

PAGE = "registration_page"
REGISTRATION = "/meetings/{meeting_id}/registrations/{registration_id}"
FORM = "application/x-www-form-urlencoded"
# The longest token a link carries, with room to spare; a longer one is not ours.
MAX_TOKEN_CHARS = 2000
HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: never hand it to another site as a referrer.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # As the notifications pages: no script at all, the page's own <style> element, forms
    # only to this service, never inside a frame (no clickjacking of the button).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
HELD = frozenset({domain.Status.HELD, domain.Status.MINUTES_PUBLISHED})

log = structlog.get_logger()


class BrowserRoute(APIRoute):
    """A route for browsers only: a GET that prefers HTML, a POST that carries a form.

    Any other request at the same path is not matched here, so it reaches the API route
    registered after this one, which therefore answers exactly as it would alone.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.FULL and not from_a_browser(scope):
            return Match.NONE, {}
        return match, child_scope


def from_a_browser(scope: Scope) -> bool:
    headers = Headers(scope=scope)
    if scope["method"] == "POST":
        return headers.get("content-type", "").split(";")[0].strip().lower() == FORM
    return prefers_html(headers.get("accept", ""))


def prefers_html(accept: str) -> bool:
    """Whether an Accept header names HTML and wants it more than JSON.

    A browser's (`text/html,…,*/*;q=0.8`) does; `*/*`, `application/json`, or HTML and JSON
    at the same quality do not: API clients keep their JSON.
    """
    html = 0.0
    json: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if media in ("text/html", "application/xhtml+xml"):
            html = max(html, quality)
        elif media in ("application/json", "application/*", "*/*"):
            json[media] = max(json.get(media, 0.0), quality)
    # The most specific range that covers JSON says how much the client wants it.
    wanted = next((json[m] for m in ("application/json", "application/*", "*/*") if m in json), 0)
    return html > wanted


def renderer_of(request: Request) -> Renderer:
    renderer: Renderer = request.app.state.renderer
    return renderer


Pages = Annotated[Renderer, Depends(renderer_of)]

router = APIRouter(tags=["registration page"], route_class=BrowserRoute)


@router.get(REGISTRATION, response_class=HTMLResponse, include_in_schema=False)
async def registration_page(
    meeting_id: str, registration_id: str, request: Request, c: ComponentsDep, pages: Pages
) -> HTMLResponse:
    """The person's registration and the meeting, with a button to cancel."""
    token = request.query_params.get("token", "")
    try:
        _holder(c, meeting_id, registration_id, token)
        meeting = await c.store.get(meeting_id)
        registration = await c.store.get_registration(meeting_id, registration_id)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, pages, exc)
    return await _page(
        request, c=c, pages=pages, meeting=meeting, registration=registration, token=token
    )


@router.post(f"{REGISTRATION}/cancel", response_class=HTMLResponse, include_in_schema=False)
async def cancel_from_page(
    meeting_id: str, registration_id: str, request: Request, c: ComponentsDep, pages: Pages
) -> HTMLResponse:
    """The page's button: cancel, and show the registration as it now is."""
    if _sent_from_another_site(request, c):
        log.warning("registration_page.foreign_form_refused", meeting_id=meeting_id)
        html = pages.page(PAGE, _browser_language(request, pages), {"mode": "refused"})
        return HTMLResponse(html, status_code=403, headers=HEADERS)
    form = await request.form()
    token = str(form.get("token") or request.query_params.get("token") or "")
    status = 200
    try:
        by = _holder(c, meeting_id, registration_id, token)
        try:
            _, changed, _ = await cancel(c, meeting_id, registration_id, reason=None, by=by)
            cancelled_now = any(r.id == registration_id for r in changed)
            outcome = "cancelled" if cancelled_now else "already_cancelled"
        except (domain.RegistrationClosed, IllegalTransition):
            # The meeting is over or cancelled, or the registration was declined.
            outcome, status = "not_cancellable", 409
        meeting = await c.store.get(meeting_id)
        registration = await c.store.get_registration(meeting_id, registration_id)
    except (NotAllowed, NotFound) as exc:
        return _invalid(request, pages, exc)
    return await _page(
        request,
        c=c,
        pages=pages,
        meeting=meeting,
        registration=registration,
        outcome=outcome,
        status_code=status,
    )


def _holder(c: Components, meeting_id: str, registration_id: str, token: str) -> str:
    """Who acts: the holder of this registration's signed link, and nobody else."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise NotAllowed("this needs the registration's link")
    if c.links.verify(token, REGISTRATION_LINK) != link_subject(meeting_id, registration_id):
        raise NotAllowed("the link is for another registration")
    return f"registration:{registration_id}"


def _sent_from_another_site(request: Request, c: Components) -> bool:
    """Whether the browser says the form was posted from a page that is not this service's.

    The signed token in the form is what authorises, and another site cannot read it; this
    refuses, besides, a form that a page elsewhere posts with a token it got hold of (a
    forwarded e-mail, a shared screen). A browser names the page's origin in `Origin`; our
    own page is sent with `Referrer-Policy: no-referrer`, for which the Fetch standard has the
    browser send `Origin: null`, so "null" is no verdict: then `Sec-Fetch-Site`, which
    browsers send whatever the policy, tells. Without either header (an old browser, a
    script), the token alone decides.
    """
    origin = request.headers.get("origin")
    if origin is not None and origin != "null" and _origin(origin) != _origin(c.base_url):
        return True
    return request.headers.get("sec-fetch-site") in ("cross-site", "same-site")


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return url
    netloc = parts.hostname or ""
    if port is not None and port != default:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}"


async def _page(
    request: Request,
    *,
    c: Components,
    pages: Renderer,
    meeting: domain.Meeting,
    registration: domain.Registration,
    token: str = "",
    outcome: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    assert registration.status is not None
    details = meeting.details
    positions = await c.store.waitlist_positions(meeting, [registration])
    venue = details.venue
    location = (
        ", ".join(
            part for part in (venue.name, venue.street_address, venue.city, venue.country) if part
        )
        if venue
        else None
    )
    state = (
        "held"
        if meeting.status in HELD
        else "cancelled"
        if meeting.status is domain.Status.CANCELLED
        else "scheduled"
    )
    context: dict[str, Any] = {
        "mode": "registration",
        "outcome": outcome,
        "registration": {
            "status": registration.status.value,
            "waitlist_position": positions.get(registration.id),
            "name": registration.person.name,
            "email": registration.person.email,
        },
        "meeting": {
            "title": details.title,
            "starts_at": details.starts_at,
            "ends_at": details.ends_at,
            "timezone": details.timezone,
            "location": location,
            "online_url": details.online_url,
            "state": state,
        },
        # Shown only when the POST would cancel; the domain decides again when it comes.
        "can_cancel": token != ""
        and meeting.status is domain.Status.SCHEDULED
        and "cancel" in REGISTRATION_ACTIONS[registration.status],
        "token": token,
        # Relative (from …/registrations/{id}): the page works behind a proxy's path prefix.
        "cancel_action": f"{quote(registration.id, safe='')}/cancel",
    }
    language = pages.language_for(
        registration.person.language,
        *accepted_languages(request.headers.get("accept-language", "")),
    )
    html = pages.page(PAGE, language, context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS | {"Vary": "Accept"})


def _invalid(request: Request, pages: Renderer, exc: NotAllowed | NotFound) -> HTMLResponse:
    html = pages.page(PAGE, _browser_language(request, pages), {"mode": "invalid"})
    status = 404 if isinstance(exc, NotFound) else 403
    return HTMLResponse(html, status_code=status, headers=HEADERS | {"Vary": "Accept"})


def _browser_language(request: Request, pages: Renderer) -> str:
    # Before the link is checked, the registration's own language is nobody's business.
    return pages.language_for(*accepted_languages(request.headers.get("accept-language", "")))
