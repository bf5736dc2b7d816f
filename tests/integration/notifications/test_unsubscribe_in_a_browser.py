"""Unsubscribing through the link, in a real headless browser (Debian's chromium via Playwright)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, expect

from shared.auth import Role
from tests.browser import chromium
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.notifications.events import Meeting
from tests.integration.notifications.support import (
    Publisher,
    Running,
    mail_to,
    running,
    settings_for,
    settled_count,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def service(kafka: Kafka, mongo: Mongo, smtp: Smtp) -> AsyncIterator[Running]:
    async with running(settings_for(kafka, mongo, smtp)) as found:
        yield found


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with chromium(tmp_path / "profile") as context:
        yield context


async def follower(service: Running, *, language: str) -> tuple[str, str]:
    """A contact following new meetings; returns (contact id, address)."""
    secretariat = service.token(Role.SECRETARIAT)
    address = f"{unique_name('reader')}@eurocities.example.org"
    created = await service.http.post(
        "/contacts",
        json={
            "name": "Contact at EUROCITIES",
            "email": address,
            "organisation_id": "eurocities",
            "language": language,
        },
        headers=secretariat,
    )
    contact_id: str = created.json()["id"]
    await service.http.post(
        f"/contacts/{contact_id}/subscriptions",
        json={"category": "new_meetings"},
        headers=secretariat,
    )
    return contact_id, address


async def unsubscribe_link(service: Running, publisher: Publisher, smtp: Smtp, address: str) -> str:
    meeting = Meeting()
    await publisher.publish(meeting.scheduled())
    (message,) = await mail_to(smtp, address, domain=service.domain, about=meeting.tag)
    match = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"])
    assert match is not None
    return match.group(1)


async def preferences(service: Running, contact_id: str) -> dict[str, object]:
    response = await service.http.get(
        f"/contacts/{contact_id}/preferences", headers=service.token(Role.SECRETARIAT)
    )
    found: dict[str, object] = response.json()
    return found


async def test_the_link_opens_a_page_in_the_persons_language_and_unsubscribes_on_confirmation(
    service: Running, publisher: Publisher, smtp: Smtp, browser: BrowserContext
) -> None:
    contact_id, address = await follower(service, language="fr")
    link = await unsubscribe_link(service, publisher, smtp, address)
    page = await browser.new_page()

    await page.goto(link)
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Se désabonner de « Nouvelles réunions » ?"
    )
    before = await preferences(service, contact_id)
    await page.get_by_role("button", name="Se désabonner").click()

    await expect(page.get_by_role("status")).to_contain_text("vous ne recevrez plus")
    assert before["muted"] == []
    assert (await preferences(service, contact_id))["muted"] == ["new_meetings"]
    later = Meeting()
    await publisher.publish(later.scheduled())
    assert (
        await settled_count(service, smtp, address, among=publisher.published, about=later.tag) == 0
    )


async def test_the_page_lets_the_person_choose_a_daily_digest_and_another_language(
    service: Running, publisher: Publisher, smtp: Smtp, browser: BrowserContext
) -> None:
    contact_id, address = await follower(service, language="en")
    link = await unsubscribe_link(service, publisher, smtp, address)
    page = await browser.new_page()

    await page.goto(link)
    await page.get_by_label("Minutes of meetings").uncheck()
    await page.get_by_label("One summary e-mail a day").check()
    await page.get_by_label("Language of the e-mails").select_option("de")
    await page.get_by_role("button", name="Save preferences").click()

    await expect(page.get_by_role("status")).to_have_text("Ihre Einstellungen wurden gespeichert.")
    await expect(page.locator("html")).to_have_attribute("lang", "de")
    saved = await preferences(service, contact_id)
    assert saved == {"language": "de", "muted": ["minutes"], "delivery": "daily_digest"}


async def test_the_page_is_usable_without_a_mouse_and_labels_every_control(
    service: Running, publisher: Publisher, smtp: Smtp, browser: BrowserContext
) -> None:
    _, address = await follower(service, language="en")
    link = await unsubscribe_link(service, publisher, smtp, address)
    page = await browser.new_page()
    await page.goto(link)

    unlabelled = await page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, button')]
              .filter(el => !(el.labels && el.labels.length) && !el.textContent.trim())
              .map(el => el.outerHTML)"""
    )
    await page.keyboard.press("Tab")
    focused = await page.evaluate("() => document.activeElement.textContent.trim()")
    await page.keyboard.press("Enter")

    assert unlabelled == []
    assert focused == "Unsubscribe"
    await expect(page.get_by_role("status")).to_contain_text("you will no longer receive")
    await expect(
        page.get_by_role("group", name="Which e-mails do you want to receive?")
    ).to_be_visible()


async def test_a_mail_clients_one_click_post_unsubscribes_as_rfc_8058_describes(
    service: Running, publisher: Publisher, smtp: Smtp
) -> None:
    contact_id, address = await follower(service, language="en")
    link = await unsubscribe_link(service, publisher, smtp, address)

    async with httpx.AsyncClient() as client:
        response = await client.post(link, data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert (await preferences(service, contact_id))["muted"] == ["new_meetings"]


async def test_a_tampered_link_shows_an_error_page(
    service: Running, publisher: Publisher, smtp: Smtp, browser: BrowserContext
) -> None:
    _, address = await follower(service, language="en")
    link = await unsubscribe_link(service, publisher, smtp, address)
    page = await browser.new_page()

    response = await page.goto(link[:-4] + "AAAA")

    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This link is not valid")
