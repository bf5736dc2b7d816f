"""What every service's process does around its own code: start, stay up, stop cleanly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from shared.messaging import Consumer
from shared.settings import ServiceSettings
from shared.storage import ping
from shared.topics import TopicSpec, ensure_topics

log = structlog.get_logger()

Task = Callable[[], Awaitable[None]]


@dataclass
class ServiceRuntime:
    """The process's clients and background work, started and stopped in the right order.

    Start: indexes and other set-up, then the Kafka topics the service uses and the broker
    (in the background, retried, so HTTP answers and /readyz tells the truth while Kafka is
    away), then background tasks (outbox relay, workers). Stop, on SIGTERM: background tasks, then the broker (which
    lets in-flight handlers finish and commits), then MongoDB.
    """

    settings: ServiceSettings
    mongo: AsyncMongoClient[dict[str, Any]]
    broker: KafkaBroker
    startup: Sequence[Task] = ()
    background: Sequence[Task] = ()
    # Declared before the broker starts, so no consumer or producer meets a missing topic.
    topics: Sequence[TopicSpec] = ()
    # Watched: lag and stalls on /metrics, and a stalled one fails /readyz.
    consumers: Sequence[Consumer] = ()
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _broker_started: asyncio.Event = field(default_factory=asyncio.Event)

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        for step in self.startup:
            await step()
        self._tasks.append(asyncio.create_task(self._start_broker(), name="broker-start"))
        for task in (*self.background, *(c.watch for c in self.consumers)):
            self._tasks.append(
                asyncio.create_task(_forever(task), name=getattr(task, "__name__", "task"))
            )
        log.info("service.started", port=self.settings.http_port)
        try:
            yield
        finally:
            await self.stop()

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
        # A cancelled driver call can linger (PyMongo closes the connection underneath it):
        # never let it hold the process past the shutdown grace.
        if self._tasks:
            _, lingering = await asyncio.wait(self._tasks, timeout=self.settings.shutdown_grace_s)
            if lingering:
                log.warning("service.tasks_still_running", tasks=[t.get_name() for t in lingering])
        self._tasks.clear()
        await self.broker.stop()
        await self.mongo.close()
        log.info("service.stopped")

    async def _start_broker(self) -> None:
        delay = 0.5
        while True:
            try:
                if self.topics:
                    await ensure_topics(
                        self.settings.kafka_bootstrap_servers,
                        self.topics,
                        prefix=self.settings.kafka_topic_prefix,
                        replication_factor=self.settings.kafka_replication_factor,
                    )
                await self.broker.start()
            except Exception as exc:
                log.warning("kafka.unavailable", error=str(exc), retry_in_s=delay)
                await self.broker.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                self._broker_started.set()
                log.info("kafka.connected")
                return

    async def wait_for_broker(self) -> None:
        """Background work that publishes waits for the producer to be connected."""
        await self._broker_started.wait()

    def readiness(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        async def kafka() -> bool:
            return self._broker_started.is_set() and await self.broker.ping(timeout=1.5)

        async def mongodb() -> bool:
            return await ping(self.mongo)

        async def consumers() -> bool:
            # A consumer that has not advanced for long while records wait is stuck.
            return all(c.stalled_s < self.settings.consumer_stall_s for c in self.consumers)

        checks: dict[str, Callable[[], Awaitable[bool]]] = {"kafka": kafka, "mongodb": mongodb}
        if self.consumers:
            checks["consumers"] = consumers
        return checks


async def _forever(task: Task) -> None:
    # A background loop that dies takes nothing else down, but is restarted and logged.
    while True:
        try:
            await task()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("service.background_task_failed", task=getattr(task, "__name__", "task"))
            await asyncio.sleep(1.0)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run the app with uvicorn; SIGTERM drains HTTP, then the lifespan stops the rest."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
        lifespan="on",
    )
    uvicorn.Server(config).run()
