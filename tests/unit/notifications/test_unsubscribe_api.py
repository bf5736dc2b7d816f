"""The unsubscribe link and the preferences page, over HTTP (the browser test is in integration)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.notifications.domain.directory import Category, Contact, DeliveryMode, Preferences
from services.notifications.mail.letters import LetterWriter
from tests.unit.notifications import builders as b
from tests.unit.notifications.apps import ApiRig, api_rig

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
async def rig_and_contact() -> tuple[ApiRig, Contact]:
    rig = api_rig()
    contact = replace(
        b.a_contact("partnership@berlin.example.org", name="Partnership contact, Berlin"),
        preferences=Preferences(language="de"),
    )
    await rig.stores.directory.add_contact(contact)
    return rig, contact


def links(contact: Contact, category: Category | None = Category.MINUTES) -> tuple[str, str]:
    found = b.writer().links(contact.id, category)
    return found.unsubscribe, found.preferences


async def test_the_link_leads_to_a_confirmation_page_in_the_persons_language(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    unsubscribe, _ = links(contact)

    async with rig.client() as http:
        response = await http.get(unsubscribe)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="de">' in response.text
    assert "Von „Protokolle von Sitzungen“ abmelden?" in response.text
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_opening_the_link_changes_nothing(rig_and_contact: tuple[ApiRig, Contact]) -> None:
    rig, contact = rig_and_contact
    unsubscribe, _ = links(contact)

    async with rig.client() as http:
        await http.get(unsubscribe)

    assert (await rig.stores.directory.get_contact(contact.id)).preferences.muted == frozenset()


async def test_a_one_click_post_unsubscribes_from_that_category(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    unsubscribe, _ = links(contact)

    async with rig.client() as http:
        response = await http.post(unsubscribe, data=ONE_CLICK)

    assert response.status_code == 200
    muted = (await rig.stores.directory.get_contact(contact.id)).preferences.muted
    assert muted == frozenset({Category.MINUTES})


async def test_the_link_of_a_transactional_email_switches_off_every_optional_category(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    unsubscribe, _ = links(contact, category=None)

    async with rig.client() as http:
        await http.post(unsubscribe, data=ONE_CLICK)

    muted = (await rig.stores.directory.get_contact(contact.id)).preferences.muted
    assert Category.PERSONAL not in muted
    assert muted == frozenset(Category) - {Category.PERSONAL}


async def test_the_preferences_form_saves_categories_delivery_and_language(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    _, preferences = links(contact)
    token = preferences.split("token=", 1)[1]
    form = {
        "token": token,
        "receive": ["new_meetings", "reminders"],
        "delivery": "daily_digest",
        "language": "fr",
    }

    async with rig.client() as http:
        response = await http.post(f"{b.BASE_URL}/preferences", data=form)

    saved = (await rig.stores.directory.get_contact(contact.id)).preferences
    assert response.status_code == 200
    assert '<html lang="fr">' in response.text
    assert "Vos préférences ont été enregistrées." in response.text
    assert saved.delivery is DeliveryMode.DAILY_DIGEST
    assert saved.language == "fr"
    assert Category.NEW_MEETINGS not in saved.muted
    assert Category.MINUTES in saved.muted


async def test_a_forged_link_shows_an_error_page_in_the_browsers_language() -> None:
    rig = api_rig()

    async with rig.client() as http:
        response = await http.get(
            f"{b.BASE_URL}/unsubscribe?token=forged", headers={"Accept-Language": "fr-BE,fr;q=0.9"}
        )

    assert response.status_code == 403
    assert "Ce lien n\u2019est pas valide" in response.text


async def test_a_link_signed_for_preferences_cannot_unsubscribe(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    _, preferences = links(contact)
    token = preferences.split("token=", 1)[1]

    async with rig.client() as http:
        response = await http.post(f"{b.BASE_URL}/unsubscribe?token={token}", data=ONE_CLICK)

    assert response.status_code == 403


async def test_the_link_of_an_erased_contact_leads_nowhere(
    rig_and_contact: tuple[ApiRig, Contact],
) -> None:
    rig, contact = rig_and_contact
    unsubscribe, _ = links(contact)
    await rig.stores.directory.erase_contact(contact.id, now=b.NOW)

    async with rig.client() as http:
        response = await http.get(unsubscribe)

    assert response.status_code == 404


def test_links_point_at_the_public_base_url() -> None:
    found = LetterWriter.links(b.writer(), b.a_contact("x@example.org").id, None)

    assert found.unsubscribe.startswith(f"{b.BASE_URL}/unsubscribe?token=")
    assert found.preferences.startswith(f"{b.BASE_URL}/preferences?token=")
