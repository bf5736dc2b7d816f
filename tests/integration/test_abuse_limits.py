"""Abuse limits on the public endpoints, counted in the real MongoDB-wire server.

The public registration and the unsubscribe/preferences pages have a budget per client
address and per e-mail address; past it they answer 429 with Retry-After (problem+json for
the API, a page for a person) and change nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.auth import Role
from tests.helpers import ensure_topics
from tests.infra import Kafka, Mongo, Smtp, unique_name
from tests.integration.meetings import support as meetings
from tests.integration.notifications import support as notifications

pytestmark = pytest.mark.integration


def _limited(**limits: str) -> dict[str, Any]:
    return {"rate_limits_enabled": True, "rate_limit_storage": "mongodb", **limits}


async def test_registrations_are_limited_per_address_and_per_client(
    kafka: Kafka, mongo: Mongo
) -> None:
    base = meetings.settings_for(kafka, mongo, unique_name("limits").replace("-", "_"))
    settings = base.model_copy(
        update=_limited(
            rate_limit_registration_per_client="5/minute",
            rate_limit_registration_per_email="2/hour",
        )
    )
    await ensure_topics(kafka.bootstrap, meetings.TOPIC)
    async with meetings.running(settings) as (app, client):
        service = meetings.Service(app, client, settings)
        meeting_id = await _scheduled_workshop(service)
        path = f"/meetings/{meeting_id}/registrations"

        def person(name: str) -> dict[str, str]:
            return {"name": f"Participant {name}", "email": f"{name}@eurocities.example.org"}

        answers = [
            await client.post(path, json=person("anna")),
            await client.post(path, json=person("anna")),  # the same person again: counted
            await client.post(path, json=person("ANNA")),  # the address's case counts not
            await client.post(path, json=person("bruno")),
            await client.post(path, json=person("chiara")),
            await client.post(path, json=person("dara")),  # the sixth from this client
        ]
        listed = await client.get(path, headers=service.secretariat)

    assert [a.status_code for a in answers] == [201, 200, 429, 201, 201, 429]
    for refused in (answers[2], answers[5]):
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["status"] == 429
        assert "anna" not in refused.text.lower()  # no personal data in the answer
    # Refused means nothing was written.
    assert sorted(r["name"] for r in listed.json()) == [
        "Participant anna",
        "Participant bruno",
        "Participant chiara",
    ]


async def test_the_preferences_page_is_limited_and_says_so_as_a_page(
    kafka: Kafka, mongo: Mongo, smtp: Smtp
) -> None:
    settings = notifications.settings_for(
        kafka,
        mongo,
        smtp,
        **_limited(
            rate_limit_preferences_per_client="4/minute",
            rate_limit_preferences_per_email="1/hour",
        ),
    )
    async with notifications.running(settings) as service:
        contact_id = await _contact(service)
        token = service.service.app.state.components.writer.preferences_token(contact_id)
        form = {"token": token, "delivery": "daily_digest", "language": "en"}

        saved = await service.http.post("/preferences", data=form)
        again = await service.http.post("/preferences", data=form | {"delivery": "immediate"})
        shown = [await service.http.get("/preferences", params={"token": token}) for _ in "12"]
        past_budget = await service.http.get(
            "/preferences", params={"token": token}, headers={"Accept-Language": "de"}
        )
        stored = await service.http.get(
            f"/contacts/{contact_id}/preferences", headers=service.token(Role.SECRETARIAT)
        )

    assert saved.status_code == 200
    # The same person's second change within the hour: refused, and not applied.
    assert again.status_code == 429
    assert stored.json()["delivery"] == "daily_digest"
    assert [s.status_code for s in shown] == [200, 200]
    # The fifth request from this address within the minute: a page, in the reader's language.
    assert past_budget.status_code == 429
    assert past_budget.headers["content-type"].startswith("text/html")
    assert int(past_budget.headers["Retry-After"]) >= 1
    assert past_budget.headers["Cache-Control"] == "no-store"
    assert "Zu viele Versuche" in past_budget.text


async def _scheduled_workshop(service: meetings.Service) -> str:
    body = meetings.ELEVENTH | {
        "kind": "workshop",
        "number": None,
        "starts_at": "2031-06-05T10:00",
        "ends_at": "2031-06-05T16:00",
    }
    planned = await service.client.post("/meetings", json=body, headers=service.secretariat)
    assert planned.status_code == 201, planned.text
    meeting_id: str = planned.json()["meeting_id"]
    scheduled = await service.client.post(
        f"/meetings/{meeting_id}/schedule", headers=service.secretariat
    )
    assert scheduled.status_code == 200, scheduled.text
    return meeting_id


async def _contact(service: notifications.Running) -> str:
    created = await service.http.post(
        "/contacts",
        json={
            "name": "Contact at EUROCITIES",
            "email": f"{unique_name('prefs')}@eurocities.example.org",
            "organisation_id": "eurocities",
        },
        headers=service.token(Role.SECRETARIAT),
    )
    assert created.status_code == 201, created.text
    contact_id: str = created.json()["id"]
    return contact_id
