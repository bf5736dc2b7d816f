"""A consumer run as its own process, so a test can SIGKILL it mid-handler.

Configured by environment: KAFKA_BOOTSTRAP_SERVERS, MONGODB_URI, TEST_DATABASE, TEST_TOPIC,
TEST_GROUP, and HANG_ON_FIRST_ATTEMPT=1 to block inside the handler on an event's first
delivery (the test kills the process there).
"""

from __future__ import annotations

import asyncio
import os
import signal

from pymongo import AsyncMongoClient

from shared.contracts.meetings import MeetingCancelled
from shared.envelope import Envelope
from shared.logging import configure_logging
from shared.messaging import make_broker, subscribe
from shared.settings import ServiceSettings


async def main() -> None:
    configure_logging("test-consumer")
    settings = ServiceSettings(service_name="test-consumer")
    client: AsyncMongoClient[dict] = AsyncMongoClient(os.environ["MONGODB_URI"])
    db = client[os.environ["TEST_DATABASE"]]
    hang = os.environ.get("HANG_ON_FIRST_ATTEMPT") == "1"

    async def on_meeting_cancelled(event: MeetingCancelled, meta: Envelope) -> None:
        await db.attempts.insert_one({"event_id": meta.id, "pid": os.getpid()})
        if hang and await db.attempts.count_documents({"event_id": meta.id}) == 1:
            await asyncio.sleep(3600)
        # The effect carries its own "already applied" mark, in the same single-document write.
        await db.effects.update_one(
            {"_id": event.meeting.meeting_id, "applied": {"$ne": meta.id}},
            {"$inc": {"cancellations": 1}, "$push": {"applied": meta.id}},
        )

    await db.effects.update_one({"_id": "pm-11"}, {"$setOnInsert": {"applied": []}}, upsert=True)
    broker = make_broker(settings)
    subscribe(
        broker,
        topics=[os.environ["TEST_TOPIC"]],
        group_id=os.environ["TEST_GROUP"],
        handlers={MeetingCancelled: on_meeting_cancelled},
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await broker.start()
    await db.ready.insert_one({"pid": os.getpid()})
    await stop.wait()
    await broker.stop()
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
