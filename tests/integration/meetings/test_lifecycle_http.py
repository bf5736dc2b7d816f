"""Every transition through HTTP, each event read back from Kafka with a plain consumer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from icalendar import Calendar

from shared.contracts import meetings as contract
from tests.helpers import body_of
from tests.integration.meetings.support import (
    CITIES_FORUM,
    ELEVENTH,
    EventReader,
    Service,
    check_event,
    registration,
)

pytestmark = pytest.mark.integration

Plan = Callable[..., Awaitable[dict[str, Any]]]

FORUM_PROGRAMME = [
    {
        "starts_at": "2017-11-28T11:00",
        "ends_at": "2017-11-28T11:15",
        "title": "Opening",
        "kind": "opening",
    },
    {
        "starts_at": "2017-11-28T11:15",
        "ends_at": "2017-11-28T11:30",
        "title": "Welcome by the venue",
        "kind": "welcome",
    },
    {
        "starts_at": "2017-11-28T11:30",
        "ends_at": "2017-11-28T12:00",
        "title": "Integration policies of Rotterdam",
        "speakers": [{"name": "A. Speaker", "organisation": "City of Rotterdam"}],
    },
    {
        "starts_at": "2017-11-28T12:00",
        "ends_at": "2017-11-28T12:30",
        "title": "The partnership's actions",
        "action_ids": ["5", "6"],
    },
    {
        "starts_at": "2017-11-28T13:30",
        "ends_at": "2017-11-28T14:30",
        "title": "Interactive session",
        "kind": "interactive_session",
    },
    {
        "starts_at": "2017-11-28T14:30",
        "ends_at": "2017-11-28T15:30",
        "title": "Pitching of ideas",
        "kind": "pitch",
    },
    {
        "starts_at": "2017-11-28T15:30",
        "ends_at": "2017-11-28T16:00",
        "title": "Follow-up and closing",
        "kind": "closing",
    },
]


async def test_a_meeting_goes_through_its_whole_lifecycle_and_each_step_is_published(
    service: Service, events: EventReader, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    meeting = await plan(**CITIES_FORUM)
    meeting_id = meeting["meeting_id"]
    path = f"/meetings/{meeting_id}"

    scheduled = await http.post(f"{path}/schedule", headers=secretariat, json={"version": 1})
    programme = await http.put(
        f"{path}/programme", headers=secretariat, json={"version": 2, "items": FORUM_PROGRAMME}
    )
    rescheduled = await http.post(
        f"{path}/reschedule",
        headers=secretariat,
        json={
            "starts_at": "2017-11-29T11:00",
            "ends_at": "2017-11-29T16:00",
            "reason": "the venue is booked on the 28th",
            "into_the_past": True,
        },
    )
    registered = await http.post(f"{path}/registrations", json=registration(1, language="nl"))
    held = await http.post(f"{path}/hold", headers=secretariat)
    checked_in = await http.post(
        f"{path}/attendance",
        headers=secretariat,
        json={"marks": {registered.json()["registration_id"]: "attended"}},
    )
    minutes = await http.put(
        f"{path}/minutes",
        headers=secretariat,
        json={
            "summary": "Ideas pitched for a new narrative on migration.",
            "decisions": [
                {
                    "text": "Prolong action 5",
                    "kind": "prolong",
                    "action_ids": ["5"],
                    "new_end_date": "2019-07-01",
                },
                {"text": "Noted the pitches", "kind": "note"},
            ],
            "follow_ups": ["EUROCITIES follow-up workshop, Nov 2018"],
        },
    )
    published = await http.post(f"{path}/minutes/publish", headers=secretariat)

    answers = [scheduled, programme, rescheduled, registered, held, checked_in, minutes, published]
    assert [a.status_code for a in answers] == [200, 200, 200, 201, 200, 200, 200, 200], [
        a.text for a in answers
    ]
    final = published.json()
    assert final["status"] == "minutes_published"
    assert final["sequence"] == 1
    assert final["programme"][0]["starts_at"] == "2017-11-29T11:00:00+01:00"
    assert final["minutes"]["attending_organisations"] == ["City of Berlin"]
    assert [c["action"] for c in final["history"]] == [
        "plan",
        "schedule",
        "replace_programme",
        "reschedule",
        "hold",
        "record_attendance",
        "record_minutes",
        "publish_minutes",
    ]
    assert final["history"][3]["reason"] == "the venue is booked on the 28th"

    records = await events.events_of(meeting_id, 6)
    expected = [
        contract.MeetingScheduled,
        contract.ProgrammeUpdated,
        contract.MeetingRescheduled,
        contract.RegistrationConfirmed,
        contract.MeetingHeld,
        contract.MinutesPublished,
    ]
    bodies = [check_event(r, model, meeting_id) for r, model in zip(records, expected, strict=True)]
    assert bodies[0]["meeting"]["venue"]["street_address"] == "Gaffelstraat 63B"
    assert bodies[0]["meeting"]["calendar_url"] == f"http://meetings.test/meetings/{meeting_id}.ics"
    assert len(bodies[1]["items"]) == 7
    assert bodies[2]["meeting"]["sequence"] == 1
    assert bodies[3]["registration"]["email"] == "delegate1@example.org"
    assert bodies[3]["registration"]["language"] == "nl"
    assert bodies[3]["self_service_url"].startswith(f"http://meetings.test{path}/registrations/")
    assert bodies[5]["decisions"][0] == {
        "text": "Prolong action 5",
        "kind": "prolong",
        "action_ids": ["5"],
        "new_end_date": "2019-07-01",
    }
    assert await events.everything_of(service, meeting_id) == records


async def test_a_cancelled_meeting_publishes_its_reason_and_closes_registration(
    service: Service, events: EventReader, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    meeting_id = (await plan())["meeting_id"]
    await http.post(f"/meetings/{meeting_id}/schedule", headers=secretariat)

    cancelled = await http.post(
        f"/meetings/{meeting_id}/cancel", headers=secretariat, json={"reason": "no quorum"}
    )
    refused = await http.post(f"/meetings/{meeting_id}/registrations", json=registration(2))

    assert cancelled.json()["status"] == "cancelled"
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "the meeting is cancelled"
    scheduled, cancellation = await events.events_of(meeting_id, 2)
    check_event(scheduled, contract.MeetingScheduled, meeting_id)
    assert check_event(cancellation, contract.MeetingCancelled, meeting_id)["reason"] == "no quorum"


async def test_a_cancellation_without_a_reason_is_refused_naming_the_field(
    service: Service, plan: Plan
) -> None:
    meeting_id = (await plan())["meeting_id"]

    refused = await service.client.post(
        f"/meetings/{meeting_id}/cancel", headers=service.secretariat, json={}
    )

    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "reason", "reason": "Field required"}]


async def test_an_illegal_transition_answers_409_naming_the_state_and_changes_nothing(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = (await plan())["meeting_id"]
    before = await service.stored(meeting_id)

    refused = await service.client.post(f"/meetings/{meeting_id}/hold", headers=service.secretariat)

    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["current_state"] == "draft"
    assert problem["allowed_next_states"] == ["cancelled", "scheduled"]
    assert problem["allowed_actions"] == ["cancel", "replace_programme", "schedule", "update"]
    assert await service.stored(meeting_id) == before
    assert await events.everything_of(service, meeting_id) == []


async def test_a_stale_update_answers_409_and_never_overwrites(
    service: Service, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    meeting_id = (await plan())["meeting_id"]
    first = await http.patch(
        f"/meetings/{meeting_id}", headers=secretariat, json={"version": 1, "title": "Meeting 11"}
    )

    stale = await http.patch(
        f"/meetings/{meeting_id}", headers=secretariat, json={"version": 1, "title": "Other"}
    )

    assert first.status_code == 200
    assert first.json()["version"] == 2
    assert stale.status_code == 409
    assert stale.json()["expected_version"] == 1
    current = await http.get(f"/meetings/{meeting_id}", headers=secretariat)
    assert (current.json()["title"], current.json()["version"]) == ("Meeting 11", 2)


async def test_a_programme_item_outside_the_meeting_is_refused_and_nothing_is_written(
    service: Service, events: EventReader, plan: Plan
) -> None:
    meeting_id = (await plan(**CITIES_FORUM))["meeting_id"]
    await service.client.post(f"/meetings/{meeting_id}/schedule", headers=service.secretariat)
    before = await service.stored(meeting_id)
    late = {"starts_at": "2017-11-28T16:00", "ends_at": "2017-11-28T17:00", "title": "Drinks"}

    refused = await service.client.put(
        f"/meetings/{meeting_id}/programme",
        headers=service.secretariat,
        json={"version": 2, "items": [*FORUM_PROGRAMME, late]},
    )

    assert refused.status_code == 409
    assert refused.json()["errors"] == [
        {
            "field": "items.7",
            "reason": "'Drinks' (2017-11-28 16:00-17:00) is outside the meeting "
            "(2017-11-28 11:00-16:00)",
        }
    ]
    assert await service.stored(meeting_id) == before
    [scheduled] = await events.everything_of(service, meeting_id)
    check_event(scheduled, contract.MeetingScheduled, meeting_id)


async def test_a_scheduled_meetings_changed_details_are_published(
    service: Service, events: EventReader, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    meeting_id = (await plan())["meeting_id"]
    await http.post(f"/meetings/{meeting_id}/schedule", headers=secretariat)

    updated = await http.patch(
        f"/meetings/{meeting_id}",
        headers=secretariat,
        json={"version": 2, "online_url": "https://meet.example.org/pm-11", "reason": "hybrid"},
    )
    moved = await http.patch(
        f"/meetings/{meeting_id}",
        headers=secretariat,
        json={"version": 3, "starts_at": "2018-05-15T11:00"},
    )

    assert updated.status_code == 200
    assert moved.status_code == 409
    assert moved.json()["errors"][0]["field"] == "starts_at"
    scheduled, change = await events.events_of(meeting_id, 2)
    body = check_event(change, contract.MeetingUpdated, meeting_id)
    assert body["changed_fields"] == ["online_url"]
    assert body["meeting"]["online_url"] == "https://meet.example.org/pm-11"
    # The event names the .ics entry and, as the entry now shows the URL, its new SEQUENCE.
    ics = await http.get(f"/meetings/{meeting_id}.ics")
    entry = Calendar.from_ical(ics.content).events[0]
    assert body["meeting"]["calendar_uid"] == str(entry["uid"])
    assert body_of(scheduled)["meeting"]["calendar_uid"] == str(entry["uid"])
    assert body["meeting"]["sequence"] == int(entry["sequence"]) == 1
    assert str(entry["url"]) == "https://meet.example.org/pm-11"


async def test_a_partnership_meeting_number_names_one_meeting_until_it_is_cancelled(
    service: Service, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    first = (await plan(number=900))["meeting_id"]

    same_number = {**ELEVENTH, "number": 900}

    duplicate = await http.post("/meetings", json=same_number, headers=secretariat)
    await http.post(f"/meetings/{first}/cancel", headers=secretariat, json={"reason": "moved"})
    replanned = await http.post("/meetings", json=same_number, headers=secretariat)

    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"
    assert duplicate.json()["number"] == 900
    assert replanned.status_code == 201


async def test_renumbering_onto_a_taken_number_is_refused_and_changes_nothing(
    service: Service, plan: Plan
) -> None:
    http, secretariat = service.client, service.secretariat
    await plan(number=901)
    second = await plan(number=902)

    refused = await http.patch(
        f"/meetings/{second['meeting_id']}",
        json={"version": second["version"], "number": 901},
        headers=secretariat,
    )
    after = await http.get(f"/meetings/{second['meeting_id']}", headers=secretariat)

    assert refused.status_code == 409
    assert refused.json()["number"] == 901
    assert after.json()["number"] == 902
    assert after.json()["version"] == second["version"]
