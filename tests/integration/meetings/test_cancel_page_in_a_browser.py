"""Cancelling through the e-mail's link, in a real headless browser (Debian's chromium via
Playwright), against the meetings service under uvicorn, the real MongoDB-wire server and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import BrowserContext, Page, Route, expect

from services.meetings.__main__ import build
from shared.auth import Role, mint_token
from shared.contracts import meetings as contract
from shared.contracts.meetings import TOPIC
from tests.browser import chromium
from tests.helpers import ensure_topics, free_port
from tests.infra import Kafka, Mongo, unique_name
from tests.integration.meetings.support import (
    CITIES_FORUM,
    ELEVENTH,
    EventReader,
    check_event,
    registration,
    settings_for,
)

pytestmark = pytest.mark.integration

# Another site, which Playwright serves from memory: its page posts a form to the service.
ATTACKER = "http://attacker.example"


@dataclass
class Running:
    url: str
    http: httpx.AsyncClient
    secretariat: dict[str, str]


@pytest_asyncio.fixture(scope="module")
async def served(kafka: Kafka, mongo: Mongo) -> AsyncIterator[Running]:
    """The service under uvicorn on a free port: real HTTP, so a browser can open its links."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings_for(kafka, mongo, unique_name("meetings").replace("-", "_")).model_copy(
        update={"http_port": port, "public_base_url": url}
    )
    await ensure_topics(kafka.bootstrap, TOPIC)
    server = uvicorn.Server(
        uvicorn.Config(
            build(settings),
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    token = mint_token(settings, subject="secretariat-officer", roles=[Role.SECRETARIAT])
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await _until_ready(http, task)
            yield Running(url, http, {"Authorization": f"Bearer {token}"})
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=60)


async def _until_ready(http: httpx.AsyncClient, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(60):
        while True:
            if task.done():
                task.result()
                raise RuntimeError("the service stopped during start-up")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)


@pytest_asyncio.fixture
async def events(kafka: Kafka, served: Running) -> AsyncIterator[EventReader]:
    reader = EventReader(kafka.bootstrap)
    await reader.start()
    yield reader
    await reader.stop()


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "profile", locale="en-GB") as context:
        yield context


async def meeting_with_a_registration(
    served: Running, events: EventReader, *, language: str = "en", **meeting: Any
) -> tuple[str, str, str]:
    """A scheduled meeting and one confirmed delegate: (meeting id, registration id, link).

    The link is the registration event's `self_service_url`: the one its e-mail carries.
    """
    body = ELEVENTH | CITIES_FORUM | meeting
    planned = await served.http.post("/meetings", json=body, headers=served.secretariat)
    assert planned.status_code == 201, planned.text
    meeting_id: str = planned.json()["meeting_id"]
    answer = await served.http.post(f"/meetings/{meeting_id}/schedule", headers=served.secretariat)
    assert answer.status_code == 200, answer.text
    registered = await served.http.post(
        f"/meetings/{meeting_id}/registrations", json=registration(7, language=language)
    )
    assert registered.status_code == 201, registered.text
    _, confirmed = await events.events_of(meeting_id, 2)
    body = check_event(confirmed, contract.RegistrationConfirmed, meeting_id)
    return meeting_id, registered.json()["registration_id"], body["self_service_url"]


async def status_via_the_api(served: Running, link: str) -> str:
    parts = urlsplit(link)
    answer = await served.http.get(parts.path, params=parse_qs(parts.query))
    assert answer.headers["content-type"] == "application/json"
    status: str = answer.json()["status"]
    return status


def policy_violations(page: Page) -> list[str]:
    """Messages of the console that report a Content-Security-Policy violation."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return found


async def test_the_emails_link_shows_the_registration_and_its_button_cancels_it(
    served: Running, events: EventReader, browser: BrowserContext
) -> None:
    meeting_id, registration_id, link = await meeting_with_a_registration(served, events)
    page = await browser.new_page()
    violations = policy_violations(page)

    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your registration")
    await expect(page.locator("#registration-status")).to_have_text(
        "Your registration is confirmed."
    )
    await expect(page.locator("dl")).to_contain_text(CITIES_FORUM["title"])
    await expect(page.locator("dl")).to_contain_text("Tuesday, 28 November 2017, 11:00\u201316:00")
    await expect(page.locator("dl")).to_contain_text("Gaffelstraat 63B, Rotterdam")
    before = await status_via_the_api(served, link)
    await page.get_by_role("button", name="Cancel my registration").click()

    await expect(page.get_by_role("status")).to_have_text(
        "Done: your registration has been cancelled."
    )
    assert before == "confirmed"
    assert await status_via_the_api(served, link) == "cancelled"
    *_, cancellation = await events.events_of(meeting_id, 3)
    cancelled = check_event(cancellation, contract.RegistrationCancelled, meeting_id)
    assert cancelled["registration"]["registration_id"] == registration_id
    assert violations == []


async def test_the_page_speaks_the_persons_language_whatever_the_browsers(
    served: Running, events: EventReader, browser: BrowserContext
) -> None:
    _, _, link = await meeting_with_a_registration(served, events, language="nl")
    page = await browser.new_page()

    await page.goto(link)

    await expect(page.locator("html")).to_have_attribute("lang", "nl")
    await expect(page.locator("#registration-status")).to_have_text("Uw inschrijving is bevestigd.")
    await page.get_by_role("button", name="Mijn inschrijving annuleren").click()
    await expect(page.get_by_role("status")).to_have_text("Gelukt: uw inschrijving is geannuleerd.")


async def test_the_page_works_without_a_mouse(
    served: Running, events: EventReader, browser: BrowserContext
) -> None:
    _, _, link = await meeting_with_a_registration(served, events)
    page = await browser.new_page()
    await page.goto(link)

    await page.keyboard.press("Tab")
    focused = await page.evaluate("() => document.activeElement.textContent.trim()")
    await page.keyboard.press("Enter")

    assert focused == "Cancel my registration"
    await expect(page.get_by_role("status")).to_contain_text("has been cancelled")
    assert await status_via_the_api(served, link) == "cancelled"


async def test_a_form_that_another_site_posts_with_the_token_is_refused(
    served: Running, events: EventReader, browser: BrowserContext
) -> None:
    _, registration_id, link = await meeting_with_a_registration(served, events)
    token = parse_qs(urlsplit(link).query)["token"][0]
    forged = (
        f'<!DOCTYPE html><html><body><form method="post" action="{served.url}'
        f'{urlsplit(link).path}/cancel"><input type="hidden" name="token" value="{token}">'
        "<button>Win a prize</button></form></body></html>"
    )

    async def attacker_site(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body=forged)

    await browser.route(f"{ATTACKER}/**", attacker_site)
    page = await browser.new_page()
    await page.goto(f"{ATTACKER}/prize")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Win a prize").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Request refused")
    assert registration_id in link
    assert await status_via_the_api(served, link) == "confirmed"


async def test_a_tampered_link_shows_an_error_page(
    served: Running, events: EventReader, browser: BrowserContext
) -> None:
    _, _, link = await meeting_with_a_registration(served, events)
    page = await browser.new_page()

    response = await page.goto(link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"))

    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
