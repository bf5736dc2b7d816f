"""Fixtures: the meetings service in-process against the real Kafka and MongoDB-wire server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from shared.contracts.meetings import TOPIC
from tests.helpers import ensure_topics
from tests.infra import Kafka, Mongo, unique_name
from tests.integration.meetings.support import ELEVENTH, EventReader, Service, running, settings_for


@pytest_asyncio.fixture(scope="session")
async def service(kafka: Kafka, mongo: Mongo) -> AsyncIterator[Service]:
    """One app and one database for the session's tests; each test makes its own meetings."""
    settings = settings_for(kafka, mongo, unique_name("meetings").replace("-", "_"))
    await ensure_topics(kafka.bootstrap, TOPIC)
    async with running(settings) as (app, client):
        yield Service(app, client, settings)


@pytest_asyncio.fixture
async def events(kafka: Kafka, service: Service) -> AsyncIterator[EventReader]:
    reader = EventReader(kafka.bootstrap)
    await reader.start()
    yield reader
    await reader.stop()


MEETING_NUMBERS = itertools.count(100)


@pytest.fixture
def plan(service: Service) -> Callable[..., Awaitable[dict[str, Any]]]:
    """Plan a meeting through the API (the 11th partnership meeting unless told otherwise)."""

    async def plan(**changes: Any) -> dict[str, Any]:
        # A partnership meeting's number names one meeting: each test's meeting gets its own.
        body = ELEVENTH | {"number": next(MEETING_NUMBERS)} | changes
        response = await service.client.post("/meetings", json=body, headers=service.secretariat)
        assert response.status_code == 201, response.text
        meeting: dict[str, Any] = response.json()
        return meeting

    return plan
