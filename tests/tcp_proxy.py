"""A TCP proxy for fault tests: forwards to a target, can delay its replies, cut every connection
or refuse new ones.

Used between the dialer's AMI client and the simulated PBX to lose the link mid-call while the PBX
(and the respondent's call) stays up, which is what a network fault or a PBX restart looks like.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.refusing = False
        self.accepted = 0
        #: Seconds added to everything the target sends back: a slow PBX.
        self.delay = 0.0
        self._cuts = 0  # bumps on every cut(): a connection accepted before it must not survive it
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    def cut(self, *, refuse: bool = True) -> None:
        """Drop every proxied connection; with ``refuse`` new ones are closed at once until restore()."""
        self.refusing = refuse
        self._cuts += 1
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.refusing = False

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self.refusing:
            writer.transport.abort()
            return
        cuts = self._cuts
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 2.0)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        if self._cuts != cuts:  # cut() ran while this connection was being set up: it is dropped too
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        tasks = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer, slow=True)),
        ]
        self._tasks.update(tasks)
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.transport.abort()
            self._writers.discard(w)
        for t in tasks:
            t.cancel()
            self._tasks.discard(t)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool = False
    ) -> None:
        with contextlib.suppress(Exception):
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                if slow and self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(data)
                await writer.drain()
