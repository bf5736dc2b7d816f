"""What arrived at the SMTP server: Mailpit's API, searched by the run's recipient domain."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import httpx


class Mailbox:
    def __init__(self, api_url: str) -> None:
        self._http = httpx.AsyncClient(base_url=api_url, timeout=30)

    async def close(self) -> None:
        await self._http.aclose()

    async def count(self, query: str) -> int:
        response = await self._http.get("/api/v1/search", params={"query": query, "limit": 1})
        response.raise_for_status()
        return int(response.json()["messages_count"])

    async def arrival_times(self, query: str) -> list[datetime]:
        """When each matching message was received, oldest first."""
        times: list[datetime] = []
        start = 0
        while True:
            response = await self._http.get(
                "/api/v1/search", params={"query": query, "limit": 1000, "start": start}
            )
            response.raise_for_status()
            page = response.json()["messages"]
            times.extend(datetime.fromisoformat(m["Created"]) for m in page)
            if len(page) < 1000:
                return sorted(times)
            start += len(page)

    async def messages_by_recipient(self, query: str) -> dict[str, datetime]:
        """When the message to each recipient arrived (the first, if several)."""
        received: dict[str, datetime] = {}
        start = 0
        while True:
            response = await self._http.get(
                "/api/v1/search", params={"query": query, "limit": 1000, "start": start}
            )
            response.raise_for_status()
            page = response.json()["messages"]
            for message in page:
                at = datetime.fromisoformat(message["Created"])
                for to in message["To"]:
                    address = to["Address"].lower()
                    received[address] = min(received.get(address, at), at)
            if len(page) < 1000:
                return received
            start += len(page)

    async def wait_for(self, query: str, count: int, *, timeout_s: float, on_progress=None) -> int:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            seen = await self.count(query)
            if on_progress is not None:
                on_progress(seen)
            if seen >= count:
                return seen
            await asyncio.sleep(0.2)
        return seen
