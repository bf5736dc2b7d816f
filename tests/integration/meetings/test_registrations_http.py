"""Registrations through HTTP against the real MongoDB-wire server and Kafka."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.auth import Role
from shared.contracts import meetings as contract
from tests.infra import Kafka, Mongo, unique_name
from tests.integration.meetings.support import (
    CITIES_FORUM,
    EventReader,
    Service,
    check_event,
    registration,
    running,
    settings_for,
)

pytestmark = pytest.mark.integration

Plan = Callable[..., Awaitable[dict[str, Any]]]


async def scheduled(service: Service, plan: Plan, **changes: Any) -> str:
    meeting_id: str = (await plan(**CITIES_FORUM | changes))["meeting_id"]
    answer = await service.client.post(
        f"/meetings/{meeting_id}/schedule", headers=service.secretariat
    )
    assert answer.status_code == 200, answer.text
    return meeting_id


def token_in(event: dict[str, Any]) -> str:
    """The signed token of the self-service link a registration event carries."""
    return parse_qs(urlsplit(event["self_service_url"]).query)["token"][0]


async def test_100_concurrent_registrations_for_20_seats_confirm_20_and_waitlist_80_in_arrival_order(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan, capacity=20)

    answers = await asyncio.gather(
        *(
            service.client.post(f"/meetings/{meeting_id}/registrations", json=registration(n))
            for n in range(100)
        )
    )

    assert {a.status_code for a in answers} == {201}
    listed = await service.client.get(
        f"/meetings/{meeting_id}/registrations", headers=service.secretariat
    )
    rows = listed.json()
    assert [r["request"] for r in rows] == list(range(1, 101))
    assert [r["status"] for r in rows] == ["confirmed"] * 20 + ["waitlisted"] * 80
    assert [r["waitlist_position"] for r in rows[20:]] == list(range(1, 81))
    counts = (await service.client.get(f"/meetings/{meeting_id}")).json()["registrations"]
    assert (counts["confirmed"], counts["waitlisted"], counts["seats_left"]) == (20, 80, 0)
    published = await events.events_of(meeting_id, 101, timeout_s=60)
    types = [dict(r.headers)["ce_type"].decode() for r in published[1:]]
    assert types.count(contract.RegistrationConfirmed.EVENT_TYPE) == 20
    assert types.count(contract.RegistrationWaitlisted.EVENT_TYPE) == 80


async def test_two_service_instances_sharing_the_database_keep_the_seat_invariant(
    kafka: Kafka, mongo: Mongo, service: Service, plan: Plan
) -> None:
    # A second process has its own locks: only the version check keeps the two apart.
    other_settings = settings_for(kafka, mongo, service.settings.database_name)
    meeting_id = await scheduled(service, plan, capacity=20)

    async with running(other_settings) as (_, other):
        clients = (service.client, other)
        answers = await asyncio.gather(
            *(
                clients[n % 2].post(f"/meetings/{meeting_id}/registrations", json=registration(n))
                for n in range(60)
            )
        )

    assert {a.status_code for a in answers} == {201}
    rows = (
        await service.client.get(
            f"/meetings/{meeting_id}/registrations", headers=service.secretariat
        )
    ).json()
    assert [r["request"] for r in rows] == list(range(1, 61))
    assert [r["status"] for r in rows] == ["confirmed"] * 20 + ["waitlisted"] * 40
    assert [r["waitlist_position"] for r in rows[20:]] == list(range(1, 41))


async def test_registering_again_with_the_same_email_in_another_case_returns_the_first(
    service: Service, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    path = f"/meetings/{meeting_id}/registrations"

    first = await service.client.post(path, json=registration(1))
    again = await service.client.post(path, json=registration(1, email="Delegate1@EXAMPLE.org"))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["registration_id"] == first.json()["registration_id"]
    assert "email" not in again.json()
    listed = await service.client.get(path, headers=service.secretariat)
    assert len(listed.json()) == 1


async def test_the_emailed_link_lets_the_person_cancel_and_the_first_waiting_is_promoted(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan, capacity=1)
    path = f"/meetings/{meeting_id}/registrations"
    await service.client.post(path, json=registration(1))
    await service.client.post(path, json=registration(2))
    _, confirmed, waitlisted = await events.events_of(meeting_id, 3)
    body = check_event(confirmed, contract.RegistrationConfirmed, meeting_id)
    link, token = urlsplit(body["self_service_url"]), token_in(body)

    seen = await service.client.get(link.path, params={"token": token})
    cancelled = await service.client.post(
        f"{link.path}/cancel", params={"token": token}, json={"reason": "cannot travel"}
    )

    assert seen.json()["email"] == "delegate1@example.org"
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    check_event(waitlisted, contract.RegistrationWaitlisted, meeting_id)
    *_, cancellation, promotion = await events.events_of(meeting_id, 5)
    assert (
        check_event(cancellation, contract.RegistrationCancelled, meeting_id)["reason"]
        == "cannot travel"
    )
    promoted = check_event(promotion, contract.RegistrationPromoted, meeting_id)
    assert promoted["registration"]["email"] == "delegate2@example.org"


async def test_cancelling_a_registration_needs_its_own_link_or_the_secretariat(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    path = f"/meetings/{meeting_id}/registrations"
    mine = (await service.client.post(path, json=registration(1))).json()["registration_id"]
    other = (await service.client.post(path, json=registration(2))).json()["registration_id"]
    _, first, _ = await events.events_of(meeting_id, 3)
    token_for_mine = token_in(check_event(first, contract.RegistrationConfirmed, meeting_id))

    anonymous = await service.client.post(f"{path}/{other}/cancel")
    wrong_link = await service.client.post(
        f"{path}/{other}/cancel", params={"token": token_for_mine}
    )
    forged = await service.client.post(f"{path}/{mine}/cancel", params={"token": "not-a-token"})
    member = await service.client.post(f"{path}/{other}/cancel", headers=service.token(Role.MEMBER))
    secretariat = await service.client.post(f"{path}/{other}/cancel", headers=service.secretariat)

    assert [a.status_code for a in (anonymous, wrong_link, forged, member, secretariat)] == [
        401,
        403,
        403,
        403,
        200,
    ]
    assert anonymous.headers["content-type"] == "application/problem+json"


async def test_a_moderated_meeting_seats_approved_registrations_in_request_order(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting = await plan(requires_approval=None)  # partnership meetings: members only
    meeting_id = meeting["meeting_id"]
    await service.client.patch(
        f"/meetings/{meeting_id}", headers=service.secretariat, json={"version": 1, "capacity": 2}
    )
    await service.client.post(f"/meetings/{meeting_id}/schedule", headers=service.secretariat)
    path = f"/meetings/{meeting_id}/registrations"
    ids = [
        (await service.client.post(path, json=registration(n))).json()["registration_id"]
        for n in (1, 2, 3, 4)
    ]

    approved = await service.client.post(
        f"{path}/approve", headers=service.secretariat, json={"registration_ids": ids[2::-1]}
    )
    declined = await service.client.post(
        f"{path}/{ids[3]}/decline", headers=service.secretariat, json={"reason": "members only"}
    )

    assert meeting["requires_approval"] is True
    assert [(r["registration_id"], r["status"]) for r in approved.json()] == [
        (ids[2], "waitlisted"),
        (ids[1], "confirmed"),
        (ids[0], "confirmed"),
    ]
    assert declined.json()["status"] == "declined"
    published = await events.events_of(meeting_id, 9)
    names = [dict(r.headers)["ce_type"].decode().split(".")[-2] for r in published]
    assert names == [
        "scheduled",
        "registration_requested",
        "registration_requested",
        "registration_requested",
        "registration_requested",
        "registration_confirmed",
        "registration_confirmed",
        "registration_waitlisted",
        "registration_declined",
    ]


async def test_registration_closes_after_the_deadline(service: Service, plan: Plan) -> None:
    meeting_id = await scheduled(service, plan, registration_deadline="2017-11-01T12:00")

    refused = await service.client.post(
        f"/meetings/{meeting_id}/registrations", json=registration(1)
    )

    assert refused.status_code == 409
    assert refused.json()["reason"] == "the deadline passed on 2017-11-01 12:00 CET"


async def test_a_registration_is_validated_and_size_limited(service: Service, plan: Plan) -> None:
    meeting_id = await scheduled(service, plan)
    path = f"/meetings/{meeting_id}/registrations"

    bad_email = await service.client.post(path, json=registration(1, email="not-an-address"))
    too_big = await service.client.post(path, json=registration(1, role="x" * 20_000))
    large = json.dumps(registration(2, role="x" * 20_000)).encode()
    streamed_too_big = await service.client.post(
        path, content=_chunks(large), headers={"Content-Type": "application/json"}
    )
    small = json.dumps(registration(3)).encode()
    streamed = await service.client.post(
        path, content=_chunks(small), headers={"Content-Type": "application/json"}
    )

    assert bad_email.status_code == 422
    assert [e["field"] for e in bad_email.json()["errors"]] == ["email"]
    # One rule, whether the body states its length or streams without one.
    for refused in (too_big, streamed_too_big):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"] == [
            {"field": "body", "reason": "the request body must be at most 16384 bytes"}
        ]
    assert streamed.status_code == 201, streamed.text


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    # No Content-Length: sent chunked, as a browser or proxy may.
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


async def test_check_in_is_only_possible_once_the_meeting_is_held(
    service: Service, plan: Plan
) -> None:
    meeting_id = await scheduled(service, plan)
    rid = (
        await service.client.post(f"/meetings/{meeting_id}/registrations", json=registration(1))
    ).json()["registration_id"]

    early = await service.client.post(
        f"/meetings/{meeting_id}/attendance",
        headers=service.secretariat,
        json={"marks": {rid: "attended"}},
    )

    assert early.status_code == 409
    assert early.json()["current_state"] == "scheduled"


async def test_an_unknown_registration_is_not_found(service: Service, plan: Plan) -> None:
    meeting_id = await scheduled(service, plan)

    missing = await service.client.get(
        f"/meetings/{meeting_id}/registrations/{unique_name('r')}", headers=service.secretariat
    )

    assert missing.status_code == 404
