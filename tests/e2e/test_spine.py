"""The spine, from outside: an authenticated HTTP command becomes a CloudEvent on Kafka.

Only public HTTP and Kafka are used: the service runs as its own process, the events are
read with a plain aiokafka consumer, and checked against the contract's JSON Schema.
"""

import asyncio
import json
import signal

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer

from shared.auth import Role, mint_token
from shared.contracts import EVENT_TYPES
from shared.settings import ServiceSettings
from tests.e2e.process import meetings_service
from tests.infra import unique_name

# Stops and starts the shared servers (or a whole stack): runs alone, after the rest.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

SECRETARIAT = {
    "Authorization": "Bearer "
    + mint_token(ServiceSettings(), subject="secretariat-1", roles=[Role.SECRETARIAT])
}
MEETINGS_TOPIC = "partnership.meetings.v1"

ELEVENTH_MEETING = {
    "kind": "partnership_meeting",
    "number": 11,
    "title": "11th meeting of the Partnership on Inclusion of Migrants and Refugees",
    "organiser": "City of Amsterdam",
    "hosts": ["City of Amsterdam"],
    "starts_at": "2030-05-15T09:00:00",
    "ends_at": "2030-05-15T17:00:00",
    "timezone": "Europe/Amsterdam",
    "venue": {
        "name": "City Hall",
        "street_address": "Amstel 1",
        "city": "Amsterdam",
        "country": "NL",
    },
    "languages": ["en"],
}


async def events_about(bootstrap: str, subject: str, count: int, timeout_s: float = 90) -> list:
    consumer = AIOKafkaConsumer(
        MEETINGS_TOPIC,
        bootstrap_servers=bootstrap,
        group_id=unique_name("outside-system"),
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [
                        r for r in records if dict(r.headers).get("ce_subject") == subject.encode()
                    ]
    finally:
        await consumer.stop()
    return found


def assert_is_a_valid_cloudevent(record, expected_type: str, subject: str) -> None:
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == expected_type
    assert headers["ce_source"] == "/partnership/meetings"
    assert headers["ce_subject"] == subject
    assert headers["ce_id"]
    assert headers["ce_time"].endswith("Z")
    assert headers["content-type"] == "application/json"
    assert record.key == subject.encode()
    schema = EVENT_TYPES[expected_type].model_json_schema()
    jsonschema.validate(json.loads(record.value), schema)


async def test_a_scheduled_meeting_reaches_kafka_as_a_valid_cloudevent(kafka, mongo, tmp_path):
    async with (
        meetings_service(kafka, mongo, tmp_path) as meetings,
        meetings.http() as http,
    ):
        created = await http.post("/meetings", json=ELEVENTH_MEETING, headers=SECRETARIAT)
        assert created.status_code == 201, created.text
        meeting_id = created.json()["meeting_id"]
        scheduled = await http.post(f"/meetings/{meeting_id}/schedule", headers=SECRETARIAT)

        [record] = await events_about(kafka.bootstrap, meeting_id, 1)

    assert created.status_code == 201
    assert scheduled.status_code == 200
    assert_is_a_valid_cloudevent(
        record, "eu.urbanagenda.inclusion.meeting.scheduled.v1", meeting_id
    )
    assert json.loads(record.value)["meeting"]["number"] == 11


async def test_a_meeting_scheduled_while_kafka_is_down_is_published_when_it_is_back(
    kafka, mongo, tmp_path
):
    async with (
        meetings_service(kafka, mongo, tmp_path) as meetings,
        meetings.http() as http,
    ):
        async with kafka.stopped(kill=True):
            created = await http.post("/meetings", json=ELEVENTH_MEETING, headers=SECRETARIAT)
            assert created.status_code == 201, created.text
            meeting_id = created.json()["meeting_id"]
            scheduled = await http.post(f"/meetings/{meeting_id}/schedule", headers=SECRETARIAT)

        [record] = await events_about(kafka.bootstrap, meeting_id, 1, timeout_s=120)

    assert scheduled.status_code == 200
    assert_is_a_valid_cloudevent(
        record, "eu.urbanagenda.inclusion.meeting.scheduled.v1", meeting_id
    )


async def test_a_database_outage_answers_503_and_the_service_recovers_on_its_own(
    kafka, mongo, tmp_path
):
    async with (
        meetings_service(kafka, mongo, tmp_path) as meetings,
        meetings.http() as http,
    ):
        created = await http.post("/meetings", json=ELEVENTH_MEETING, headers=SECRETARIAT)
        assert created.status_code == 201, created.text
        meeting = f"/meetings/{created.json()['meeting_id']}"

        async with mongo.stopped():
            away = await http.get(meeting, headers=SECRETARIAT)
            not_ready = await http.get("/readyz")

        # No restart of the service: it answers again once the database is back.
        async with asyncio.timeout(60):
            while (back := await http.get(meeting, headers=SECRETARIAT)).status_code == 503:
                await asyncio.sleep(0.5)

    assert away.status_code == 503
    assert away.headers["content-type"] == "application/problem+json"
    assert int(away.headers["retry-after"]) > 0
    assert not_ready.status_code == 503
    assert back.status_code == 200, back.text
    assert back.json()["title"] == ELEVENTH_MEETING["title"]


async def test_sigterm_stops_the_service_cleanly(kafka, mongo, tmp_path):
    async with meetings_service(kafka, mongo, tmp_path) as meetings:
        exit_code = await asyncio.to_thread(meetings.terminate)

    # uvicorn re-raises the signal once its shutdown is complete, so the process ends "by SIGTERM".
    assert exit_code in (0, -signal.SIGTERM)
    assert "service.stopped" in meetings.log.read_text()
