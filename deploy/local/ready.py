"""Protocol-level readiness probes for the dev stack: an open port is not a working server.

Usage: python deploy/local/ready.py kafka HOST:PORT | mongo URI
Exits 0 when the server answers a real request, 1 otherwise (the reason on stderr).
"""

import asyncio
import sys


async def kafka_ready(bootstrap: str) -> None:
    """The broker answers a metadata request and names a controller."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        if cluster.get("controller_id", -1) < 0:
            raise RuntimeError("no active controller yet")
    finally:
        await admin.close()


def mongo_ready(uri: str) -> None:
    """The server answers ping with a wire version this PyMongo accepts."""
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=3000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("kafka", "mongo"):
        print(__doc__, file=sys.stderr)
        return 2
    kind, address = sys.argv[1], sys.argv[2]
    try:
        if kind == "kafka":
            asyncio.run(asyncio.wait_for(kafka_ready(address), timeout=10))
        else:
            mongo_ready(address)
    except Exception as exc:  # any failure means "not ready yet"; the caller retries
        print(f"{kind} not ready: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
