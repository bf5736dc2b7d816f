"""Database calls made at the same moment by concurrent tasks, sent as one command.

A consumer handles the events of a batch side by side; each handler still asks for one
contact, inserts one delivery, records one outcome. A `Batcher` gathers the calls issued
before the event loop comes round again and flushes them together: one `insert_many`, one
`$in` lookup, one `bulk_write`, so the cost per event is a fraction of a round trip while
the code reads as one call per event. Each caller gets its own result or the shared error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[Sequence[T]], Awaitable[Sequence[R]]]


class Batcher(Generic[T, R]):
    """Turns `await batcher(item)` calls into `flush(items)` calls of up to `max_size` items.

    `flush` returns one result per item, in order. Items gathered while a flush is running
    go out in the next one, so at most one command per batcher is in flight at a time.
    """

    def __init__(self, flush: Flush[T, R], *, max_size: int = 500) -> None:
        self._flush = flush
        self._max_size = max_size
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            # One turn of the loop: every task that is ready adds its call first.
            await asyncio.sleep(0)
            while self._pending:
                batch = self._pending[: self._max_size]
                del self._pending[: self._max_size]
                await self._send(batch)
        except asyncio.CancelledError:
            for _, future in self._pending:
                future.cancel()
            self._pending.clear()
            raise
        finally:
            self._running = None

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
