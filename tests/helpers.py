"""Small helpers every kind of test uses: ports, Kafka records and topics, waiting on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def headers_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """A Kafka record's headers as text, the way a plain subscriber reads them."""
    return {k: v.decode() for k, v in record.headers}


def body_of(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(record.value)
    return body


async def ensure_topics(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    """Create the topics that do not exist yet (the services declare theirs at start-up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        for topic in topics:
            if topic not in existing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def eventually(check: Callable[[], Awaitable[T]], *, timeout_s: float = 20) -> T:
    """Until `check` answers something true (which is returned); TimeoutError after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not (result := await check()):
            await asyncio.sleep(0.2)
    return result
