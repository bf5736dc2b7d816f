"""Fixtures: the notifications service in-process against the real Kafka, MongoDB-wire server and Mailpit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.infra import Kafka
from tests.integration.notifications.support import Publisher


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def publisher(kafka: Kafka) -> AsyncIterator[Publisher]:
    """Publishes meeting events to the real meetings topic, as the meetings service does."""
    producer = Publisher(kafka.bootstrap)
    await producer.start()
    yield producer
    await producer.stop()
