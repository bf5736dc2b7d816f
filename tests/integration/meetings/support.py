"""Helpers for the meetings integration tests: the app in-process, a plain Kafka reader, facts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from asgi_lifespan import LifespanManager
from cloudevents.core.bindings import kafka as ce_kafka
from fastapi import FastAPI

from services.meetings.__main__ import build
from services.meetings.domain import Meeting
from services.meetings.settings import MeetingsSettings
from shared.auth import Role, mint_token
from shared.contracts.meetings import TOPIC, MeetingEvent
from tests.helpers import body_of, headers_of
from tests.infra import Kafka, Mongo

BASE_URL = "http://meetings.test"


def settings_for(kafka: Kafka, mongo: Mongo, database: str) -> MeetingsSettings:
    return MeetingsSettings(
        kafka_bootstrap_servers=kafka.bootstrap,
        mongodb_uri=mongo.uri,  # type: ignore[arg-type]
        mongodb_database=database,
        outbox_sweep_interval_s=0.2,
        public_base_url=BASE_URL,
    )


@asynccontextmanager
async def running(settings: MeetingsSettings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan (indexes, Kafka producer, outbox relay) and a client for it."""
    app = build(settings)
    async with LifespanManager(app, startup_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30) as client:
            yield app, client


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: MeetingsSettings

    def token(self, *roles: Role, subject: str = "secretariat-officer") -> dict[str, str]:
        return {
            "Authorization": f"Bearer {mint_token(self.settings, subject=subject, roles=list(roles))}"
        }

    @property
    def secretariat(self) -> dict[str, str]:
        return self.token(Role.SECRETARIAT)

    async def stored(self, meeting_id: str) -> Meeting:
        """The meeting as the store reads it (without the outbox the relay drains meanwhile)."""
        meeting: Meeting = await self.app.state.components.store.get(meeting_id)
        return meeting


class EventReader:
    """A plain Kafka consumer on the meetings topic, reading only what comes after it started."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._seen: list[ConsumerRecord[bytes, bytes]] = []

    async def start(self) -> None:
        await self._consumer.start()
        try:
            partitions = await self._partitions()
            self._consumer.assign(partitions)
            await self._consumer.seek_to_end(*partitions)
            for partition in partitions:
                await self._consumer.position(partition)
        except BaseException:
            await self._consumer.stop()
            raise

    async def _partitions(self) -> list[TopicPartition]:
        # Other suites restart the shared broker now and then: retry for a while.
        async with asyncio.timeout(60):
            while True:
                with contextlib.suppress(KafkaError):
                    admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
                    await admin.start()
                    try:
                        [described] = await admin.describe_topics([TOPIC])
                    finally:
                        await admin.close()
                    found = sorted(p["partition"] for p in described["partitions"])
                    if found:
                        return [TopicPartition(TOPIC, p) for p in found]
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def events_of(
        self, meeting_id: str, count: int, *, timeout_s: float = 30
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """The first `count` events keyed by the meeting, in the order they were published."""

        def mine() -> list[ConsumerRecord[bytes, bytes]]:
            return [r for r in self._seen if r.key == meeting_id.encode()]

        async with asyncio.timeout(timeout_s):
            while len(mine()) < count:
                batch = await self._consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    self._seen.extend(records)
        return mine()[:count]

    async def everything_of(
        self, service: Service, meeting_id: str, *, timeout_s: float = 30
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """Every event published for the meeting so far, known to be all of them.

        Positive signals, no quiet wait: first the service holds nothing more to publish for
        the meeting (its outbox, its registrations' and the registration changes it has yet
        to apply are empty), then this reader has read the topic up to the end offsets taken
        after that.
        """
        store = service.app.state.components.store
        async with asyncio.timeout(timeout_s):
            while True:
                meeting = await store.collection.find_one(
                    {"_id": meeting_id}, {"outbox": 1, "seating_pending": 1}
                )
                waiting = await store.registrations.collection.count_documents(
                    {"meeting_id": meeting_id, "outbox_pending": True}
                )
                # Registration changes a decision left to apply carry events too.
                unapplied = (meeting or {}).get("seating_pending")
                if not (meeting or {}).get("outbox") and not unapplied and not waiting:
                    break
                await asyncio.sleep(0.05)
            partitions = list(self._consumer.assignment())
            ends = await self._consumer.end_offsets(partitions)
            while not await self._read_up_to(ends):
                batch = await self._consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    self._seen.extend(records)
        return [r for r in self._seen if r.key == meeting_id.encode()]

    async def _read_up_to(self, ends: dict[TopicPartition, int]) -> bool:
        for partition, end in ends.items():
            if await self._consumer.position(partition) < end:
                return False
        return True


ELEVENTH: dict[str, Any] = {
    "kind": "partnership_meeting",
    "number": 11,
    "title": "11th partnership meeting",
    "description": "Updates from DG HOME; six sessions on the state of play of the actions.",
    "organiser": "City of Amsterdam",
    "hosts": ["City of Amsterdam", "European Commission DG HOME"],
    "starts_at": "2018-05-15T10:00:00",
    "ends_at": "2018-05-15T17:00:00",
    "timezone": "Europe/Amsterdam",
    "venue": {
        "name": "City Hall",
        "street_address": "Amstel 1",
        "city": "Amsterdam",
        "country": "Netherlands",
    },
    "languages": ["en"],
    "requires_approval": False,
}

CITIES_FORUM: dict[str, Any] = {
    "kind": "workshop",
    "number": None,
    "title": "Changing the narrative - developing new views on European migration policies",
    "description": "Cities Forum 2017 workshop",
    "organiser": "EUROCITIES",
    "hosts": ["City of Rotterdam"],
    "starts_at": "2017-11-28T11:00:00",
    "ends_at": "2017-11-28T16:00:00",
    "timezone": "Europe/Amsterdam",
    "venue": {
        "name": "Huis van de Wijk De Nieuwe Gaffel",
        "street_address": "Gaffelstraat 63B",
        "city": "Rotterdam",
        "country": "Netherlands",
    },
    "requires_approval": False,
}


def registration(n: int, **changes: Any) -> dict[str, Any]:
    """A fictional delegate from a member organisation."""
    organisations = ("City of Athens", "City of Berlin", "City of Helsinki", "URBACT", "ECRE")
    return {
        "name": f"Delegate {n}",
        "email": f"delegate{n}@example.org",
        "organisation": organisations[n % len(organisations)],
        "role": "policy officer",
        "language": "en",
    } | changes


def check_event(
    record: ConsumerRecord[bytes, bytes], model: type[MeetingEvent], meeting_id: str
) -> dict[str, Any]:
    """The record is a CloudEvent of the model's type about the meeting, valid by its schema."""
    headers = headers_of(record)
    assert headers["ce_type"] == model.EVENT_TYPE, headers["ce_type"]
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_source"] == "/partnership/meetings"
    assert headers["ce_subject"] == meeting_id
    assert headers["content-type"] == "application/json"
    assert headers["ce_id"]
    assert headers["ce_time"].endswith("Z")
    body = body_of(record)
    jsonschema.validate(body, model.model_json_schema(mode="serialization"))
    cloud_event = ce_kafka.from_binary_event(
        ce_kafka.KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    )
    assert cloud_event.get_id() == headers["ce_id"]
    model.model_validate(body)
    return body
