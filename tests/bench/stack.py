"""The servers and services a scenario runs against, and what it reads off them."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pymongo import AsyncMongoClient

from tests.e2e.process import RunningService, running_service
from tests.helpers import ensure_topics


@dataclass(frozen=True)
class Servers:
    kafka: str
    mongo: str
    smtp_host: str
    smtp_port: int
    mailpit_api: str

    @classmethod
    def from_environment(cls) -> Servers:
        return cls(
            kafka=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
            mongo=os.environ["MONGODB_URI"],
            smtp_host=os.environ["SMTP_HOST"],
            smtp_port=int(os.environ["SMTP_PORT"]),
            mailpit_api=os.environ["MAILPIT_API_URL"],
        )


# Every database and topic a bench run makes starts with this; nothing else's does.
BENCH_PREFIX = "bench-"


async def remove_leftovers(servers: Servers, *, topics: bool = True) -> list[str]:
    """Drop the databases and delete the topics bench runs made: a run seeds 100,000 ledger
    rows, and a stack that kept every run's would measure its own history.

    Deleting topics churns the cluster's metadata for a while: only once a run is over.
    """
    removed: list[str] = []
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(servers.mongo)
    try:
        for name in await client.list_database_names():
            if name.startswith(BENCH_PREFIX):
                await client.drop_database(name)
                removed.append(name)
    finally:
        await client.close()
    if not topics:
        return removed
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
    await admin.start()
    try:
        made = [t for t in await admin.list_topics() if t.startswith(BENCH_PREFIX)]
        if made:
            await admin.delete_topics(made)
            removed.extend(made)
    finally:
        await admin.close()
    return removed


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples a process's RSS in the background; `peak` is the highest seen."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self._pid = pid
        self._every_s = every_s
        self.peak = 0.0
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    async def _sample(self) -> None:
        while True:
            try:
                value = rss_mb(self._pid)
            except OSError:
                return
            self.samples.append(value)
            self.peak = max(self.peak, value)
            await asyncio.sleep(self._every_s)


class ConsumerLag:
    """Samples how far a consumer group is behind the end of its topics; `peak` is the most."""

    def __init__(self, bootstrap: str, group: str, every_s: float = 0.5) -> None:
        self._bootstrap = bootstrap
        self._group = group
        self._every_s = every_s
        self.peak = 0
        self.samples: list[int] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ConsumerLag:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    async def _sample(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap)
        await admin.start()
        await consumer.start()
        try:
            while True:
                committed = await admin.list_consumer_group_offsets(self._group)
                if committed:
                    ends = await consumer.end_offsets(list(committed))
                    lag = sum(max(ends[tp] - meta.offset, 0) for tp, meta in committed.items())
                    self.samples.append(lag)
                    self.peak = max(self.peak, lag)
                await asyncio.sleep(self._every_s)
        finally:
            await consumer.stop()
            await admin.close()


async def end_offsets(bootstrap: str, topic: str, partitions: int = 1) -> dict[int, int]:
    """Where each partition of the topic ends now (creating the topic if needed)."""
    await ensure_topics(bootstrap, topic, partitions=partitions)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        found = sorted(p["partition"] for p in described[0]["partitions"])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in found])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def produce(
    bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, dict[str, str]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic,
                value=body,
                key=key,
                headers=[(k, v.encode()) for k, v in headers.items()],
            )
            for key, body, headers in messages
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


@asynccontextmanager
async def service(
    name: str, servers: Servers, *, database: str, log_dir: Path, **env: str
) -> AsyncIterator[RunningService]:
    async with running_service(
        name,
        kafka=servers.kafka,
        mongo=servers.mongo,
        database=database,
        log_dir=log_dir,
        SMTP_HOST=servers.smtp_host,
        SMTP_PORT=str(servers.smtp_port),
        # The bench's load comes from one address: the abuse limits would refuse it, and
        # they are not what is measured here.
        **({"LOG_LEVEL": "WARNING", "ALLOW_DEVELOPMENT_SECRETS": "true"} | env),
        RATE_LIMITS_ENABLED="false",
    ) as running:
        yield running
