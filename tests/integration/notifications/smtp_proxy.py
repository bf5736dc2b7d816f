"""A TCP proxy in front of Mailpit that the test can take down, make busy, or make refuse someone.

Faults stay local to the test: the shared Mailpit keeps serving everyone else.
- down: nothing listens on the port (connection refused), like a crashed SMTP server;
- busy: connections are answered `421` and closed (a transient 4xx);
- refuse: `RCPT TO` for addresses containing a marker gets `550` (a permanent 5xx);
- stall: connections are accepted and never answered, like a server that hangs.
aiosmtplib sends one command at a time (no PIPELINING), so reading commands line by line is safe.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class SmtpProxy:
    upstream_host: str
    upstream_port: int
    port: int
    refuse_marker: str | None = None
    busy: bool = False
    stall: bool = False
    connections: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def down(self) -> None:
        """Stop listening and cut every open connection."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.stall:
                await asyncio.Event().wait()
            if self.busy:
                writer.write(b"421 4.3.2 Service not available, closing transmission channel\r\n")
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection(
                self.upstream_host, self.upstream_port
            )
            try:
                await asyncio.gather(
                    self._client_to_server(reader, writer, up_writer),
                    self._pipe(up_reader, writer),
                )
            finally:
                up_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _client_to_server(
        self,
        reader: asyncio.StreamReader,
        client: asyncio.StreamWriter,
        server: asyncio.StreamWriter,
    ) -> None:
        in_data = False
        while line := await reader.readline():
            command = line.strip().upper()
            if in_data:
                in_data = line not in (b".\r\n", b".\n")
            elif command == b"DATA":
                in_data = True
            elif (
                self.refuse_marker
                and command.startswith(b"RCPT TO:")
                and self.refuse_marker.upper().encode() in command
            ):
                client.write(b"550 5.1.1 Mailbox unavailable\r\n")
                await client.drain()
                continue
            server.write(line)
            await server.drain()
        server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        writer.close()
