"""A test session of its own, run by test_isolation.py: it makes state and writes down its names.

Not collected by default (not ``test_*.py``); pytest runs it when named on the command line.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pymongo import AsyncMongoClient

from tests.infra import SESSION, Kafka, Mongo, unique_name

OUTPUT = "SESSION_PROBE_OUTPUT"

pytestmark = pytest.mark.integration


async def test_a_topic_a_consumer_group_and_a_database_are_made(kafka: Kafka, mongo: Mongo) -> None:
    topic, group = unique_name("probe"), unique_name("probe")
    database = unique_name("probe").replace("-", "_")

    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"11th partnership meeting, Amsterdam")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap, group_id=group, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        await consumer.getone()
        await consumer.commit()
    finally:
        await consumer.stop()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
    try:
        await client[database]["meetings"].insert_one({"_id": "m-11", "city": "Amsterdam"})
    finally:
        await client.close()

    made = {"session": SESSION, "topic": topic, "group": group, "database": database}
    await asyncio.to_thread(Path(os.environ[OUTPUT]).write_text, json.dumps(made))
