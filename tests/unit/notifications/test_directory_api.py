"""The directory, subscriptions, preferences and the operators' ledger, over HTTP."""

from __future__ import annotations

from services.notifications.domain.deliveries import abandon
from services.notifications.handlers import handlers_for
from services.notifications.store.deliveries import DeliveryQuery
from shared.auth import Role
from tests.unit.notifications import builders as b
from tests.unit.notifications.apps import ApiRig, api_rig

ATHENS = {"id": "athens", "name": "City of Athens", "kind": "city", "country": "GR"}
CONTACT = {
    "name": "Partnership contact, Athens",
    "email": "partnership@athens.example.org",
    "organisation_id": "athens",
    "roles": ["member_representative"],
    "language": "fr",
}


async def with_athens(rig: ApiRig) -> str:
    async with rig.client(Role.SECRETARIAT) as http:
        (await http.post("/organisations", json=ATHENS)).raise_for_status()
        response = await http.post("/contacts", json=CONTACT)
    response.raise_for_status()
    contact_id: str = response.json()["id"]
    return contact_id


async def test_the_secretariat_adds_an_organisation_and_its_contact() -> None:
    rig = api_rig()

    contact_id = await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        listed = (await http.get("/contacts", params={"organisation_id": "athens"})).json()
    assert [c["id"] for c in listed] == [contact_id]
    assert listed[0]["preferences"]["language"] == "fr"


async def test_a_member_cannot_manage_the_directory() -> None:
    rig = api_rig()

    async with rig.client(Role.MEMBER) as http:
        response = await http.post("/organisations", json=ATHENS)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_the_directory_needs_a_token() -> None:
    async with api_rig().client() as http:
        response = await http.get("/organisations")

    assert response.status_code == 401


async def test_the_same_address_cannot_be_added_twice() -> None:
    rig = api_rig()
    await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        response = await http.post(
            "/contacts", json=CONTACT | {"email": "Partnership@Athens.example.org"}
        )

    assert response.status_code == 409


async def test_a_registrant_added_to_the_directory_keeps_their_contact_id() -> None:
    rig = api_rig()
    event = b.confirmed(b.registrant("partnership@athens.example.org"))
    await handlers_for(rig.notifier)[type(event)](event, b.envelope(event))

    contact_id = await with_athens(rig)

    contact = await rig.stores.directory.get_contact(contact_id)  # type: ignore[arg-type]
    assert contact.organisation_id == "athens"
    assert contact.origin.value == "directory"


async def test_a_member_manages_their_own_subscriptions_and_preferences() -> None:
    rig = api_rig()
    contact_id = await with_athens(rig)

    async with rig.client(Role.MEMBER, subject=contact_id) as http:
        followed = await http.post(
            f"/contacts/{contact_id}/subscriptions",
            json={"entity": {"kind": "meeting", "id": "m-11"}},
        )
        category = await http.post(
            f"/contacts/{contact_id}/subscriptions", json={"category": "new_meetings"}
        )
        preferences = await http.put(
            f"/contacts/{contact_id}/preferences",
            json={"muted": ["minutes", "personal"], "delivery": "daily_digest"},
        )
        listed = (await http.get(f"/contacts/{contact_id}/subscriptions")).json()

    assert (followed.status_code, category.status_code) == (201, 201)
    assert [s["id"] for s in listed] == [
        f"{contact_id}~category:new_meetings",
        f"{contact_id}~meeting:m-11",
    ]
    # The personal category cannot be switched off, whatever is asked.
    assert preferences.json() == {
        "language": "fr",
        "muted": ["minutes"],
        "delivery": "daily_digest",
    }


async def test_a_member_cannot_touch_someone_elses_record() -> None:
    rig = api_rig()
    contact_id = await with_athens(rig)

    async with rig.client(Role.MEMBER, subject="c-someone-else") as http:
        response = await http.get(f"/contacts/{contact_id}/preferences")

    assert response.status_code == 403


async def test_a_subscription_needs_exactly_one_target() -> None:
    rig = api_rig()
    contact_id = await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        response = await http.post(f"/contacts/{contact_id}/subscriptions", json={})

    assert response.status_code == 422


async def test_a_contact_exports_and_then_erases_their_data() -> None:
    rig = api_rig()
    contact_id = await with_athens(rig)

    async with rig.client(Role.MEMBER, subject=contact_id) as http:
        export = await http.get(f"/contacts/{contact_id}/export")
        erased = await http.delete(f"/contacts/{contact_id}")
        after = await http.get(f"/contacts/{contact_id}")

    assert export.json()["contact"]["email"] == "partnership@athens.example.org"
    assert erased.status_code == 204
    assert after.status_code == 404


async def test_an_organisation_with_contacts_cannot_be_removed() -> None:
    rig = api_rig()
    await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        response = await http.delete("/organisations/athens")

    assert response.status_code == 409


async def test_operators_list_count_and_resend_deliveries() -> None:
    rig = api_rig()
    event = b.confirmed()
    await handlers_for(rig.notifier)[type(event)](event, b.envelope(event, event_id="evt-77"))

    async with rig.client(Role.OPERATOR) as http:
        listed = (await http.get("/deliveries", params={"event_id": "evt-77"})).json()
        counts = (await http.get("/deliveries/counts")).json()
        resend = await http.post(f"/deliveries/{listed[0]['id']}/resend")

    assert [d["template"] for d in listed] == ["registration_confirmed"]
    assert "@" not in str(listed)  # recipients appear by id only
    assert counts == {"pending": 1, "sent": 0, "failed": 0, "cancelled": 0}
    assert resend.status_code == 409  # only a failed delivery is resent
    assert resend.json()["current_state"] == "pending"


async def test_operators_can_run_the_scheduled_jobs_now() -> None:
    rig = api_rig()

    async with rig.client(Role.OPERATOR) as http:
        digests = (await http.post("/digest-runs")).json()
        reminders = (await http.post("/reminder-runs")).json()

    assert digests == {"job": "daily_digest", "count": 0}
    assert reminders == {"job": "reminders", "count": 0}


async def test_a_contact_name_with_a_line_break_is_refused_naming_the_field() -> None:
    rig = api_rig()
    await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        response = await http.post(
            "/contacts",
            json=CONTACT
            | {"name": "Maria\r\nBcc: x@evil.example", "email": "m@athens.example.org"},
        )

    assert response.status_code == 422
    assert "name" in response.text
    assert "control characters" in response.text


async def test_a_renamed_contact_cannot_get_a_control_character_in_the_name() -> None:
    rig = api_rig()
    contact_id = await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        response = await http.patch(f"/contacts/{contact_id}", json={"name": "Maria\nK."})

    assert response.status_code == 422
    assert "control characters" in response.text


async def test_a_delivery_whose_recipient_was_erased_cannot_be_resent() -> None:
    rig = api_rig()
    event = b.confirmed()
    await handlers_for(rig.notifier)[type(event)](event, b.envelope(event, event_id="evt-78"))
    (delivery,) = await rig.stores.deliveries.list(DeliveryQuery(event_id="evt-78"))
    # Written claimed for its first attempt, which a 550 ended.
    await rig.stores.deliveries.record(abandon(delivery, error="550", now=b.NOW)[0], [])
    await rig.stores.deliveries.erase_recipient(delivery.recipient_id)

    async with rig.client(Role.OPERATOR) as http:
        resend = await http.post(f"/deliveries/{delivery.id}/resend")

    assert resend.status_code == 409
    assert resend.json()["current_state"] == "cancelled"


async def test_an_address_given_up_by_a_contact_can_be_added_for_someone_else() -> None:
    rig = api_rig()
    moved_id = await with_athens(rig)

    async with rig.client(Role.SECRETARIAT) as http:
        moved = await http.patch(
            f"/contacts/{moved_id}", json={"email": "new-desk@athens.example.org"}
        )
        added = await http.post("/contacts", json=CONTACT | {"name": "Successor, Athens"})

    assert moved.status_code == 200
    assert added.status_code == 201, added.text
    assert added.json()["id"] != moved_id
    assert added.json()["email"] == "partnership@athens.example.org"
