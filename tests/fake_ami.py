"""A small scripted AMI server for the client tests (not the simulated PBX; not a test module).

It speaks what the captures show: banner, Login as in ``00-login-success`` / ``00-login-failure``,
Ping, CoreShowChannels, Hangup, Redirect, Logoff; on Originate it plays back the recorded messages of a
capture with the capture's ActionID and Uniqueids rewritten to the ones the client sent (and a failed
``OriginateResponse``'s ``Uniqueid: <unknown>`` to the ChannelId, as Asterisk does when ChannelId is set).
Faults are switches: ``reply_delay`` (slow PBX), ``mute`` a connection (half-open), ``drop()``,
``hold_after`` (pause a playback mid-call), ``drop_on_originate``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from ami_captures import CapturedCall, calls, messages

from dialer.ami.protocol import DEFAULT_BANNER, AmiMessage, AmiParser


@dataclass
class _Conn:
    writer: asyncio.StreamWriter
    muted: bool = False


@dataclass
class _Playback:
    capture: str
    calls: list[CapturedCall]
    bound: list[dict[str, str]] = field(default_factory=list)  # the client's Originate per call


class FakeAmi:
    def __init__(self, *, username: str = "cati", secret: str = "cati-lab-secret") -> None:
        self.username, self.secret = username, secret
        self.reply_delay = 0.0
        self.time_scale = 0.0  # 0: play a capture as fast as possible; 1: in recorded time
        self.hold_after: str | None = None  # pause a playback after the first event of this name
        self.drop_on_originate = False  # close the connection when an Originate arrives, unanswered
        self.received: list[AmiMessage] = []
        self.logins = 0
        self.channels: dict[str, tuple[str, str]] = {}  # uniqueid -> (name, linkedid)
        self.held: list[AmiMessage] = []
        self._scenarios: deque[str] = deque()
        self._playback: _Playback | None = None
        self._conns: list[_Conn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    # -- control ------------------------------------------------------------------------
    def queue(self, *captures: str) -> None:
        """Captures to play, one per originate batch, in order."""
        self._scenarios.extend(captures)

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def drop(self) -> None:
        """Close every client connection (the PBX restarts or the network cuts)."""
        for conn in self._conns:
            conn.writer.transport.abort()
        self._conns.clear()

    def mute(self) -> None:
        """Keep the sockets open but never write again on them (a half-open link)."""
        for conn in self._conns:
            conn.muted = True

    async def release(self) -> None:
        """Play the held rest of a paused capture to the current connection."""
        held, self.held = self.held, []
        if self._conns:
            await self._play(self._conns[-1], held)

    async def release_events(self, *msgs: AmiMessage) -> None:
        """Send events of our own making to the current connection."""
        if self._conns:
            await self._send(self._conns[-1], *msgs)

    def actions(self, name: str) -> list[AmiMessage]:
        return [m for m in self.received if (m.action or "").lower() == name.lower()]

    # -- serving ------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        self._conns.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        parser = AmiParser(expect_banner=False)
        try:
            writer.write(f"{DEFAULT_BANNER}\r\n".encode())
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for message in parser.feed(data):
                    self.received.append(message)
                    await self._handle(conn, message)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            if conn in self._conns:
                self._conns.remove(conn)
            writer.transport.abort()

    async def _send(self, conn: _Conn, *messages: AmiMessage) -> None:
        if conn.muted or conn.writer.transport.is_closing():
            return
        conn.writer.write(b"".join(m.encode() for m in messages))
        with contextlib.suppress(ConnectionError):
            await conn.writer.drain()

    async def _reply(self, conn: _Conn, *messages: AmiMessage) -> None:
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        await self._send(conn, *messages)

    async def _handle(self, conn: _Conn, msg: AmiMessage) -> None:
        action = (msg.action or "").lower()
        aid = msg.action_id or ""
        if action == "login":
            self.logins += 1
            if msg.get("Username") == self.username and msg.get("Secret") == self.secret:
                ok = AmiMessage.of(Response="Success", ActionID=aid, Message="Authentication accepted")
                booted = AmiMessage.of(
                    Event="FullyBooted",
                    Privilege="system,all",
                    Uptime="32",
                    LastReload="32",
                    Status="Fully Booted",
                )
                await self._reply(conn, ok, booted)
            else:
                await self._reply(
                    conn, AmiMessage.of(Response="Error", ActionID=aid, Message="Authentication failed")
                )
                conn.writer.close()
        elif action == "ping":
            await self._reply(
                conn,
                AmiMessage.of(Response="Success", ActionID=aid, Ping="Pong", Timestamp=f"{time.time():.6f}"),
            )
        elif action == "logoff":
            await self._reply(
                conn, AmiMessage.of(Response="Goodbye", ActionID=aid, Message="Thanks for all the fish.")
            )
            conn.writer.close()
        elif action == "originate":
            await self._originate(conn, msg)
        elif action == "coreshowchannels":
            items = [
                AmiMessage.of(
                    Event="CoreShowChannel",
                    ActionID=aid,
                    Channel=name,
                    Uniqueid=uid,
                    Linkedid=linked,
                    ChannelState="6",
                    ChannelStateDesc="Up",
                )
                for uid, (name, linked) in self.channels.items()
            ]
            await self._reply(
                conn,
                AmiMessage.of(
                    Response="Success", ActionID=aid, EventList="start", Message="Channels will follow"
                ),
                *items,
                AmiMessage.of(
                    Event="CoreShowChannelsComplete",
                    ActionID=aid,
                    EventList="Complete",
                    ListItems=str(len(items)),
                ),
            )
        elif action in ("hangup", "redirect"):
            target = msg.get("Channel") or ""
            uid = next((u for u, (n, _) in self.channels.items() if target in (u, n)), None)
            if uid is None:
                await self._reply(
                    conn, AmiMessage.of(Response="Error", ActionID=aid, Message="No such channel")
                )
                return
            if action == "redirect":
                await self._reply(
                    conn, AmiMessage.of(Response="Success", ActionID=aid, Message="Redirect successful")
                )
                return
            await self._reply(conn, AmiMessage.of(Response="Success", ActionID=aid, Message="Channel Hungup"))
            name, linked = self.channels.pop(uid)
            await self._send(
                conn,
                AmiMessage.of(
                    Event="Hangup",
                    Channel=name,
                    Uniqueid=uid,
                    Linkedid=linked,
                    Cause=msg.get("Cause") or "16",
                    **{"Cause-txt": "Normal Clearing"},
                    Timestamp=f"{time.time():.6f}",
                ),
            )
        else:
            await self._reply(
                conn, AmiMessage.of(Response="Error", ActionID=aid, Message="Invalid/unknown command")
            )

    async def _originate(self, conn: _Conn, msg: AmiMessage) -> None:
        if self.drop_on_originate:
            conn.writer.transport.abort()
            return
        if self._playback is None:
            if not self._scenarios:
                await self._reply(
                    conn,
                    AmiMessage.of(Response="Error", ActionID=msg.action_id or "", Message="Originate failed"),
                )
                return
            name = self._scenarios.popleft()
            self._playback = _Playback(name, calls(name))
        playback = self._playback
        playback.bound.append(msg.as_dict())
        if len(playback.bound) < len(playback.calls):
            return  # wait for the other originates of a concurrent capture
        self._playback = None
        mapping: dict[str, str] = {}
        unknown: dict[str, str] = {}  # client ActionID -> ChannelId, for "<unknown>" Uniqueids
        for call, sent in zip(playback.calls, playback.bound, strict=True):
            mapping[call.action_id] = sent["ActionID"]
            mapping[call.channel_id] = sent.get("ChannelId", call.channel_id)
            if call.other_channel_id is not None:
                mapping[call.other_channel_id] = sent.get("OtherChannelId", call.other_channel_id)
            unknown[sent["ActionID"]] = sent.get("ChannelId", "<unknown>")
        rewritten = []
        for m in messages(playback.capture):
            headers = tuple((k, mapping.get(v, v)) for k, v in m.headers)
            out = AmiMessage(headers)
            if out.event == "OriginateResponse" and out.get("Uniqueid") == "<unknown>":
                new = unknown.get(out.action_id or "", "<unknown>")
                out = AmiMessage(tuple((k, new if k == "Uniqueid" else v) for k, v in out.headers))
            rewritten.append(out)
        task = asyncio.create_task(self._play(conn, rewritten))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _play(self, conn: _Conn, msgs: list[AmiMessage]) -> None:
        last: float | None = None
        for i, m in enumerate(msgs):
            stamp = m.get("Timestamp")
            if self.time_scale and stamp is not None:
                t = float(stamp)
                if last is not None and t > last:
                    await asyncio.sleep((t - last) * self.time_scale)
                last = t
            else:
                await asyncio.sleep(0)
            if m.response is not None and self.reply_delay:
                await asyncio.sleep(self.reply_delay)
            self._account(m)
            await self._send(conn, m)
            if self.hold_after is not None and m.event == self.hold_after:
                self.held = msgs[i + 1 :]
                return

    def _account(self, m: AmiMessage) -> None:
        uid = m.get("Uniqueid")
        if uid is None:
            return
        if m.event == "Newchannel":
            self.channels[uid] = (m.get("Channel") or "", m.get("Linkedid") or uid)
        elif m.event == "Hangup":
            self.channels.pop(uid, None)
