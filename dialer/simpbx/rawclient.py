"""A minimal raw AMI client on ``dialer.ami.protocol``, for the simulator's tests and benchmark.

Why not the service's client: conformance tests must see every byte the PBX sends, in order, with
no reconnect or filtering logic in between. Not meant for production use.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable

from dialer.ami.protocol import AmiMessage, AmiParser, encode


class RawAmiClient:
    """Connect, send actions, and collect every message (responses and events) as it arrives."""

    def __init__(self) -> None:
        self.banner: str | None = None
        self.messages: list[AmiMessage] = []
        self.received_at: list[float] = []  # time.time() of each message's arrival
        self.closed = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self.on_message: Callable[[AmiMessage, float], None] | None = None

    async def connect(self, host: str, port: int, timeout: float = 5.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._reader is not None
        parser = AmiParser(expect_banner=True)
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                now = time.time()
                for message in parser.feed(data):
                    self.messages.append(message)
                    self.received_at.append(now)
                    if self.on_message is not None:
                        self.on_message(message, now)
                self.banner = parser.banner
                self._changed.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.banner = parser.banner
            self.closed.set()
            self._changed.set()

    def send(self, action: str, *pairs: tuple[str, str], **fields: str) -> str:
        """Send an action; returns its ActionID (one is made up unless given)."""
        assert self._writer is not None
        action_id = fields.pop("ActionID", None) or f"a{next(self._ids)}"
        headers = [("Action", action), ("ActionID", action_id), *fields.items(), *pairs]
        self._writer.write(encode(headers))
        return action_id

    def send_raw(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def wait_for(
        self, predicate: Callable[[AmiMessage], bool], timeout: float = 5.0, start: int = 0
    ) -> AmiMessage:
        """The first message from index ``start`` that matches; TimeoutError after ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        index = start
        while True:
            while index < len(self.messages):
                if predicate(self.messages[index]):
                    return self.messages[index]
                index += 1
            if self.closed.is_set():
                raise ConnectionError("connection closed while waiting")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError("no matching AMI message in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def response(self, action_id: str, timeout: float = 5.0) -> AmiMessage:
        return await self.wait_for(lambda m: m.response is not None and m.action_id == action_id, timeout)

    async def login(self, username: str, secret: str, timeout: float = 5.0) -> AmiMessage:
        return await self.response(self.send("Login", Username=username, Secret=secret), timeout)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(self._writer.wait_closed(), 2.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
