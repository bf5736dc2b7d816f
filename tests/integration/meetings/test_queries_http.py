"""Lists with filters and cursors, single meetings, and the answers to bad requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from shared.auth import Role
from tests.infra import Kafka, Mongo, unique_name
from tests.integration.meetings.support import (
    CITIES_FORUM,
    ELEVENTH,
    Service,
    running,
    settings_for,
)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def fresh(kafka: Kafka, mongo: Mongo) -> AsyncIterator[Service]:
    """An app on a database of its own, so lists hold only this test's meetings."""
    settings = settings_for(kafka, mongo, unique_name("meetings-list").replace("-", "_"))
    async with running(settings) as (app, client):
        yield Service(app, client, settings)


async def planned(service: Service, body: dict[str, Any], *, schedule: bool = True) -> str:
    answer = await service.client.post("/meetings", json=body, headers=service.secretariat)
    meeting_id: str = answer.json()["meeting_id"]
    if schedule:
        await service.client.post(f"/meetings/{meeting_id}/schedule", headers=service.secretariat)
    return meeting_id


def partnership_meeting(number: int, starts: str, city: str) -> dict[str, Any]:
    day = starts[:10]
    return ELEVENTH | {
        "number": number,
        "title": f"Partnership meeting {number}",
        "starts_at": f"{day}T10:00",
        "ends_at": f"{day}T17:00",
        "venue": ELEVENTH["venue"] | {"city": city, "name": "Town hall"},
    }


async def test_meetings_are_listed_in_start_order_page_by_page(fresh: Service) -> None:
    ids = [
        await planned(fresh, partnership_meeting(10, "2018-02-20", "Brussels")),
        await planned(fresh, partnership_meeting(11, "2018-05-15", "Amsterdam")),
        await planned(fresh, partnership_meeting(12, "2018-09-27", "Barcelona")),
    ]

    first = (await fresh.client.get("/meetings", params={"limit": 2})).json()
    second = (
        await fresh.client.get("/meetings", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()

    assert [m["meeting_id"] for m in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


async def test_meetings_are_filtered_by_status_kind_dates_and_city(fresh: Service) -> None:
    eleventh = await planned(fresh, partnership_meeting(11, "2018-05-15", "Amsterdam"))
    twelfth = await planned(fresh, partnership_meeting(12, "2018-09-27", "Barcelona"))
    forum = await planned(fresh, CITIES_FORUM)
    draft = await planned(fresh, partnership_meeting(13, "2018-11-20", "Brussels"), schedule=False)

    async def ids(**params: str) -> list[str]:
        answer = await fresh.client.get("/meetings", params=params, headers=fresh.secretariat)
        return [m["meeting_id"] for m in answer.json()["items"]]

    assert await ids(city="barcelona") == [twelfth]
    assert await ids(kind="workshop") == [forum]
    assert await ids(starts_from="2018-01-01", starts_before="2018-10-01") == [eleventh, twelfth]
    assert await ids(status="draft") == [draft]
    public = await fresh.client.get("/meetings")
    assert draft not in [m["meeting_id"] for m in public.json()["items"]]


async def test_one_meeting_shows_its_programme_counts_and_history(
    service: Service,
) -> None:
    meeting_id = await planned(service, CITIES_FORUM)
    await service.client.put(
        f"/meetings/{meeting_id}/programme",
        headers=service.secretariat,
        json={
            "version": 2,
            "items": [
                {"starts_at": "2017-11-28T11:00", "ends_at": "2017-11-28T11:15", "title": "Opening"}
            ],
        },
    )

    public = (await service.client.get(f"/meetings/{meeting_id}")).json()
    secretariat = (
        await service.client.get(f"/meetings/{meeting_id}", headers=service.secretariat)
    ).json()

    assert public["programme"][0]["title"] == "Opening"
    assert public["registrations"]["confirmed"] == 0
    assert public["history"] is None
    assert [(c["action"], c["by"]) for c in secretariat["history"]] == [
        ("plan", "secretariat-officer"),
        ("schedule", "secretariat-officer"),
        ("replace_programme", "secretariat-officer"),
    ]


async def test_bad_requests_get_problem_answers(service: Service) -> None:
    http = service.client
    body = ELEVENTH | {"timezone": "Mars/Olympus"}

    unknown = await http.get(f"/meetings/{unique_name('m')}")
    invalid = await http.post("/meetings", json=body, headers=service.secretariat)
    no_token = await http.post("/meetings", json=ELEVENTH)
    wrong_role = await http.post("/meetings", json=ELEVENTH, headers=service.token(Role.MEMBER))
    bad_token = await http.post("/meetings", json=ELEVENTH, headers={"Authorization": "Bearer x"})
    bad_cursor = await http.get("/meetings", params={"cursor": "nonsense"})

    answers = (unknown, invalid, no_token, wrong_role, bad_token, bad_cursor)
    assert [a.status_code for a in answers] == [404, 422, 401, 403, 401, 422]
    assert {a.headers["content-type"] for a in answers} == {"application/problem+json"}
    assert invalid.json()["errors"][0]["field"] == "timezone"
    assert "unknown time zone" in invalid.json()["errors"][0]["reason"]


async def test_the_openapi_document_declares_the_problem_answers(service: Service) -> None:
    spec = (await service.client.get("/openapi.json")).json()

    cancel = spec["paths"]["/meetings/{meeting_id}/cancel"]["post"]["responses"]

    assert {"401", "403", "404", "409", "422"} <= set(cancel)
