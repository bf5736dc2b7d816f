"""Every endpoint that is not deliberately public refuses a request without a token (401).

Public endpoints are listed here by name, so a new route is protected unless someone decides
otherwise in this file.
"""

import re

import httpx
import pytest
from fastapi import FastAPI

from services.academy.__main__ import build as academy_app
from services.academy.settings import AcademySettings
from services.actions.__main__ import build as actions_app
from services.actions.settings import ActionsSettings
from services.meetings.__main__ import build as meetings_app
from services.meetings.settings import MeetingsSettings
from services.notifications.__main__ import build as notifications_service
from services.notifications.settings import NotificationSettings

OPERATIONS = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}

# Public on purpose: reading announced meetings, registering, and what a signed link opens.
PUBLIC = {
    "meetings": OPERATIONS
    | {
        ("GET", "/meetings"),
        ("GET", "/meetings/{meeting_id}"),
        ("GET", "/meetings/{meeting_id}.ics"),
        ("GET", "/meetings/upcoming.ics"),
        ("POST", "/meetings/{meeting_id}/registrations"),
        ("GET", "/meetings/{meeting_id}/registrations/{registration_id}"),
        ("POST", "/meetings/{meeting_id}/registrations/{registration_id}/cancel"),
    },
    "notifications": OPERATIONS
    | {
        ("GET", "/unsubscribe"),
        ("POST", "/unsubscribe"),
        ("GET", "/preferences"),
        ("POST", "/preferences"),
    },
    "actions": OPERATIONS,
    "academy": OPERATIONS,
}

APPS = {
    "meetings": lambda: meetings_app(MeetingsSettings()),
    "notifications": lambda: notifications_service(NotificationSettings()).app,
    "actions": lambda: actions_app(ActionsSettings()),
    "academy": lambda: academy_app(AcademySettings()),
}


def protected_routes(service: str, app: FastAPI) -> list[tuple[str, str]]:
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    ]
    return [route for route in routes if route not in PUBLIC[service]]


CASES = [
    pytest.param(service, method, path, id=f"{service} {method} {path}")
    for service, make in APPS.items()
    for method, path in protected_routes(service, make())
]


@pytest.mark.parametrize(("service", "method", "path"), CASES)
async def test_a_protected_route_answers_401_without_a_token(
    service: str, method: str, path: str
) -> None:
    app = APPS[service]()
    url = re.sub(r"\{[^}]+\}", "x-1", path)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        response = await client.request(method, url, json={})

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_every_service_has_protected_routes_to_check() -> None:
    services = {case.values[0] for case in CASES}

    assert {"meetings", "notifications"} <= services
