"""The simulated PBX's AMI server: a thin asyncio shell around the pure call state machines.

Why thin: everything a client can observe about a call (event order, headers, causes) is decided
in ``calls.py`` and ``model.py`` without sockets or clocks; this module only parses actions,
answers them the way Asterisk 22's manager.c does (messages copied from its replies), schedules
timers on the simulated clock and writes events to every logged-in session that wants them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dialer.ami.protocol import DEFAULT_BANNER, AmiMessage, AmiParser, AmiProtocolError, encode
from dialer.simpbx.calls import (
    KNOWN_TECHS,
    Call,
    Dialplan,
    DialTarget,
    IdAllocator,
    OriginateRequest,
    Step,
    parse_dial,
)
from dialer.simpbx.channels import Channel, Emitter, Headers
from dialer.simpbx.clock import DEFAULT_TZ, SimClock
from dialer.simpbx.model import LineKind, ModelSpec, RespondentModel, load_model

log = logging.getLogger("dialer.simpbx")

#: Event classes a session may ask for with ``Events: <list>`` (manager.conf's read classes).
EVENT_CLASSES = frozenset(
    {
        "system",
        "call",
        "log",
        "verbose",
        "command",
        "agent",
        "user",
        "config",
        "dtmf",
        "reporting",
        "cdr",
        "dialplan",
        "originate",
        "agi",
        "cc",
        "aoc",
        "test",
        "security",
        "message",
    }
)
#: A client that stops reading is dropped once this much output waits for it (Asterisk drops slow
#: clients too, after its write timeout).
MAX_PENDING_BYTES = 64 * 1024 * 1024
MAX_UNIQUEID = 149  # AST_MAX_PUBLIC_UNIQUEID


@dataclass(frozen=True)
class SimPbxConfig:
    """Everything that shapes the simulated PBX. ``model`` wins over ``model_path``."""

    username: str = "cati"
    secret: str = "cati"
    seed: int | str = 0
    speed: float = 1.0
    start: datetime | None = None  # simulated start; naive means in ``tz``; None = now
    tz: str = DEFAULT_TZ
    model: ModelSpec | None = None
    model_path: str | Path | None = None
    dialplan: Dialplan = field(default_factory=Dialplan)
    lab_numbers: bool = True  # 5551001..5551005 behave as in the captures' extensions.conf
    banner: str = DEFAULT_BANNER


@dataclass
class SimPbxStats:
    """Counters a test or benchmark can read while the PBX runs."""

    sessions: int = 0
    logins_ok: int = 0
    logins_failed: int = 0
    actions: int = 0
    originates: int = 0
    active_calls: int = 0
    max_active_calls: int = 0
    events_published: int = 0
    bytes_sent: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # by OriginateResponse reason name
    abandoned_in_hold: int = 0
    bad_input: int = 0


_REASON_NAMES = {0: "failed", 1: "hungup", 3: "noanswer", 4: "answered", 5: "busy", 8: "congestion"}


class _Session:
    """One AMI TCP connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.authenticated = False
        self.classes: frozenset[str] | None = None  # None: every class ("on")
        self.held: list[bytes] | None = None  # output held back during a sync Originate
        self.closed = False

    def wants(self, event_class: str) -> bool:
        return self.authenticated and (self.classes is None or event_class in self.classes)

    def write(self, data: bytes, stats: SimPbxStats) -> None:
        if self.closed:
            return
        if self.held is not None:
            self.held.append(data)
            return
        transport = self.writer.transport
        if transport.is_closing():
            self.closed = True
            return
        if transport.get_write_buffer_size() > MAX_PENDING_BYTES:
            log.warning("dropping an AMI client that stopped reading")
            self.closed = True
            transport.abort()
            return
        self.writer.write(data)
        stats.bytes_sent += len(data)


class SimPbx:
    """A simulated Asterisk 22 speaking AMI over TCP. ``await start()``, then connect a client."""

    def __init__(self, config: SimPbxConfig | None = None) -> None:
        self.config = config or SimPbxConfig()
        spec = self.config.model
        if spec is None and self.config.model_path is not None:
            spec = load_model(self.config.model_path)
        self.model = RespondentModel(spec, self.config.seed, lab_numbers=self.config.lab_numbers)
        self.clock = SimClock(self.config.speed, self.config.start, self.config.tz)
        self.stats = SimPbxStats()
        self._ids = IdAllocator()
        self._calls: dict[int, Call] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._waiters: dict[int, asyncio.Future[bool]] = {}
        self._attempts: Counter[str] = Counter()
        self._next_call = 0
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.base_events.Server | None = None
        self._booted = 0.0
        #: ``core stop/restart gracefully`` in progress: Asterisk's manager refuses every action with
        #: "Asterisk is shutting down" (manager.c process_message, ast_shutting_down()); calls in
        #: progress go on to their end. Tests set it to refuse originates as a real PBX does.
        self.shutting_down = False

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0 = any free port); return the address actually bound."""
        self._booted = self.clock.now()
        self._server = await asyncio.start_server(self._serve, host, port, limit=1 << 20)
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        """Stop listening, hang nothing up politely: close every session and cancel every timer."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_result(False)
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.closed = True
            session.writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> SimPbx:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def line_kind(self, number: str) -> LineKind:
        """The nature of a number under this PBX's model and seed."""
        return self.model.line_kind(number)

    def channels(self) -> list[Channel]:
        """Every live channel, oldest call first."""
        return [ch for call in self._calls.values() for ch in call.channels()]

    # -- sessions -------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = _Session(writer)
        self._sessions.add(session)
        self.stats.sessions += 1
        parser = AmiParser(expect_banner=False)
        try:
            session.write(f"{self.config.banner}\r\n".encode(), self.stats)
            while not session.closed:
                data = await reader.read(65536)
                if not data:
                    break
                try:
                    messages = parser.feed(data)
                except AmiProtocolError as exc:
                    self.stats.bad_input += 1
                    if "bytes without an end" in str(exc):
                        break  # an endless line: drop the client rather than buffer it
                    self._reply(
                        session, None, [("Response", "Error"), ("Message", "Missing action in request")]
                    )
                    parser = AmiParser(expect_banner=False)
                    continue
                for message in messages:
                    if not await self._handle(session, message):
                        session.closed = True
                        break
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(writer.drain(), 5.0)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            session.closed = True
            self._sessions.discard(session)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    def _reply(self, session: _Session, message: AmiMessage | None, headers: list[tuple[str, str]]) -> None:
        """A response: ``Response`` first, then the ActionID (as manager.c writes them), then the rest."""
        action_id = message.action_id if message is not None else None
        out = [headers[0]]
        if action_id is not None:
            out.append(("ActionID", action_id))
        out.extend(headers[1:])
        session.write(encode(out), self.stats)

    def _error(self, session: _Session, message: AmiMessage, text: str) -> None:
        self._reply(session, message, [("Response", "Error"), ("Message", text)])

    def _ack(self, session: _Session, message: AmiMessage, text: str) -> None:
        self._reply(session, message, [("Response", "Success"), ("Message", text)])

    async def _handle(self, session: _Session, m: AmiMessage) -> bool:
        """Run one action; False closes the connection."""
        self.stats.actions += 1
        action = (m.action or "").strip().lower()
        if not action:
            self.stats.bad_input += 1
            self._error(session, m, "Missing action in request")
            return True
        if self.shutting_down and action != "logoff":
            self._error(session, m, "Asterisk is shutting down")
            return True
        if not session.authenticated and action not in ("login", "logoff", "challenge"):
            self._error(session, m, "Permission denied")
            return True
        handler = _ACTIONS.get(action)
        if handler is None:
            self._error(
                session,
                m,
                f"Invalid/unknown command: {m.action}. Use Action: ListCommands to show available commands.",
            )
            return True
        result: bool = await getattr(self, handler)(session, m)
        return result

    # -- actions --------------------------------------------------------------------------------
    async def _login(self, session: _Session, m: AmiMessage) -> bool:
        if session.authenticated:
            self._ack(session, m, "Already authenticated")
            return True
        if m.get("Username") != self.config.username or m.get("Secret") != self.config.secret:
            self.stats.logins_failed += 1
            self._error(session, m, "Authentication failed")  # 00-login-failure: then close
            return False
        session.authenticated = True
        self.stats.logins_ok += 1
        events = m.get("Events")
        if events is not None:
            classes = _event_mask(events)
            session.classes = classes if classes is not None else session.classes
        self._ack(session, m, "Authentication accepted")
        up = int(self.clock.now() - self._booted) + 32
        session.write(
            encode(
                [
                    ("Event", "FullyBooted"),
                    ("Privilege", "system,all"),
                    ("Uptime", str(up)),
                    ("LastReload", str(up)),
                    ("Status", "Fully Booted"),
                ]
            ),
            self.stats,
        )
        return True

    async def _logoff(self, session: _Session, m: AmiMessage) -> bool:
        self._reply(session, m, [("Response", "Goodbye"), ("Message", "Thanks for all the fish.")])
        return False

    async def _challenge(self, session: _Session, m: AmiMessage) -> bool:
        self._error(session, m, "Must specify AuthType")
        return True

    async def _ping(self, session: _Session, m: AmiMessage) -> bool:
        self._reply(
            session, m, [("Response", "Success"), ("Ping", "Pong"), ("Timestamp", f"{self.clock.now():.6f}")]
        )
        return True

    async def _events(self, session: _Session, m: AmiMessage) -> bool:
        value = m.get("EventMask")
        if value is None:
            self._error(session, m, "Invalid event mask")
            return True
        mask = _event_mask(value)
        if mask is not None and mask and not mask <= EVENT_CLASSES | {"all"}:
            self._error(session, m, "Invalid event mask")
            return True
        session.classes = None if mask is None or "all" in mask else mask
        on = session.classes is None or bool(session.classes)
        self._reply(session, m, [("Response", "Success"), ("Events", "On" if on else "Off")])
        return True

    async def _originate(self, session: _Session, m: AmiMessage) -> bool:
        channel = (m.get("Channel") or "").strip()
        if not channel:
            self._error(session, m, "Channel not specified")
            return True
        if m.get("Application"):
            self._error(session, m, "Originate with Application is not supported by the simulated PBX")
            return True
        priority_text = (m.get("Priority") or "1").strip()
        if not priority_text.isdigit() or int(priority_text) < 1:
            self._error(session, m, "Invalid priority")
            return True
        timeout_text = (m.get("Timeout") or "30000").strip()
        try:
            timeout_ms = int(timeout_text)
        except ValueError:
            self._error(session, m, "Invalid timeout")
            return True
        if timeout_ms <= 0:
            timeout_ms = 30000
        target = parse_dial(channel)
        if target is None:
            self._error(session, m, "Invalid channel")
            return True
        channel_id, other_id = m.get("ChannelId"), m.get("OtherChannelId")
        for uid in (channel_id, other_id):
            if uid is not None and len(uid) > MAX_UNIQUEID:
                self._error(session, m, f"Uniqueid length exceeds maximum of {MAX_UNIQUEID}")
                return True
        context, exten = (m.get("Context") or "").strip(), (m.get("Exten") or "").strip()
        is_async = _true(m.get("Async"))
        if not is_async and not (context and exten):
            self._error(session, m, "Originate with 'Exten' requires 'Context' and 'Priority'")
            return True
        caller_name, caller_num = _callerid(m.get("CallerID"))
        variables: list[tuple[str, str]] = []
        for raw in m.get_all("Variable"):
            for item in raw.split(","):
                key, sep, value = item.partition("=")
                if sep and key.strip():
                    variables.append((key.strip(), value))
        request = OriginateRequest(
            channel=channel,
            context=context or "default",
            exten=exten or "s",
            priority=int(priority_text),
            timeout_ms=timeout_ms,
            caller_num=caller_num,
            caller_name=caller_name,
            variables=tuple(variables),
            action_id=m.action_id,
            channel_id=channel_id,
            other_channel_id=other_id,
            is_async=is_async,
        )
        self.stats.originates += 1
        if is_async:
            self._ack(session, m, "Originate successfully queued")
        known = target.tech in KNOWN_TECHS or target.tech.lower() == "local"
        duplicate = channel_id is not None and any(
            ch.uniqueid in (channel_id, other_id) for ch in self.channels()
        )
        if not known or duplicate:  # bad-channel-tech: ack, then Failure, no channel events
            if is_async:
                self._publish_now([_failure_response(request, self.clock.now())])
            else:
                self._error(session, m, "Originate failed")
            self.stats.outcomes["failed"] += 1
            return True
        if is_async:
            self._new_call(request, target)
            return True
        # Async false: Asterisk answers only when the call is answered or failed, holding back the
        # session's events meanwhile (sync-answered, sync-busy); this session reads no more actions.
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        session.held = []
        self._new_call(request, target, fut)
        try:
            ok = await fut
        finally:
            held, session.held = session.held or [], None
        if ok:
            self._ack(session, m, "Originate successfully queued")
        else:
            self._error(session, m, "Originate failed")
        for data in held:
            session.write(data, self.stats)
        return True

    def _find(self, name: str) -> tuple[int, Call, Channel] | None:
        """A live channel by name or Uniqueid (what ast_channel_get_by_name accepts)."""
        for call_id, call in self._calls.items():
            for ch in call.channels():
                if name in (ch.name, ch.uniqueid):
                    return call_id, call, ch
        return None

    async def _hangup(self, session: _Session, m: AmiMessage) -> bool:
        name = (m.get("Channel") or "").strip()
        if not name:
            self._error(session, m, "No channel specified")
            return True
        cause_text = (m.get("Cause") or "").strip()
        cause = int(cause_text) if cause_text.isdigit() else 16
        found = self._find(name)
        if found is None:
            self._error(session, m, "No such channel")
            return True
        self._ack(session, m, "Channel Hungup")
        self._trigger(found[0], "hangup", channel=found[2], cause=cause or 16)
        return True

    async def _redirect(self, session: _Session, m: AmiMessage) -> bool:
        name = (m.get("Channel") or "").strip()
        context, exten = (m.get("Context") or "").strip(), (m.get("Exten") or "").strip()
        priority_text = (m.get("Priority") or "1").strip()
        if not name:
            self._error(session, m, "Channel not specified")
            return True
        if not priority_text.isdigit() or int(priority_text) < 1:
            self._error(session, m, "Invalid priority")
            return True
        if not context or not exten:
            self._error(session, m, "Context and Exten must be specified")  # simulator's wording
            return True
        found = self._find(name)
        if found is None:
            self._error(session, m, f"Channel does not exist: {name}")
            return True
        call_id, call, ch = found
        if ch is call.far:
            self._error(session, m, "Redirect of the respondent's ;2 leg is not simulated; redirect ;1")
            return True
        self._ack(session, m, "Redirect successful")
        self._trigger(call_id, "redirect", context=context, exten=exten, priority=int(priority_text))
        return True

    async def _coreshowchannels(self, session: _Session, m: AmiMessage) -> bool:
        self._reply(
            session, m, [("Response", "Success"), ("EventList", "start"), ("Message", "Channels will follow")]
        )
        now = self.clock.now()
        chans = self.channels()
        for ch in chans:
            headers: list[tuple[str, str]] = [("Event", "CoreShowChannel")]
            if m.action_id is not None:
                headers.append(("ActionID", m.action_id))
            headers += ch.snapshot()
            headers += [
                ("Application", ch.application),
                ("ApplicationData", ch.appdata),
                ("Duration", _hms(now - ch.created)),
                ("BridgeId", ""),
            ]
            session.write(encode(headers), self.stats)
        tail: list[tuple[str, str]] = [("Event", "CoreShowChannelsComplete")]
        if m.action_id is not None:
            tail.append(("ActionID", m.action_id))
        tail += [("EventList", "Complete"), ("ListItems", str(len(chans)))]
        session.write(encode(tail), self.stats)
        return True

    async def _status(self, session: _Session, m: AmiMessage) -> bool:
        name = (m.get("Channel") or "").strip()
        chans = self.channels()
        if name:
            found = self._find(name)
            if found is None:
                self._error(session, m, "No such channel")
                return True
            chans = [found[2]]
        self._reply(
            session,
            m,
            [("Response", "Success"), ("EventList", "start"), ("Message", "Channel status will follow")],
        )
        now = self.clock.now()
        for ch in chans:
            headers: list[tuple[str, str]] = [("Event", "Status"), ("Privilege", "Call")]
            if m.action_id is not None:
                headers.append(("ActionID", m.action_id))
            headers += ch.snapshot()
            headers += [
                ("Type", ch.name.split("/", 1)[0]),
                ("DNID", ""),
                ("EffectiveConnectedLineNum", ch.connected_num),
                ("EffectiveConnectedLineName", ch.connected_name),
                ("TimeToHangup", "0"),
                ("BridgeID", ""),
                ("Application", ch.application),
                ("Data", ch.appdata),
                ("Nativeformats", "(ulaw)"),
                ("Readformat", "ulaw"),
                ("Readtrans", ""),
                ("Writeformat", "ulaw"),
                ("Writetrans", ""),
                ("Callgroup", "0"),
                ("Pickupgroup", "0"),
                ("Seconds", str(int(now - ch.created))),
            ]
            session.write(encode(headers), self.stats)
        tail: list[tuple[str, str]] = [("Event", "StatusComplete")]
        if m.action_id is not None:
            tail.append(("ActionID", m.action_id))
        tail += [("EventList", "Complete"), ("ListItems", str(len(chans))), ("Items", str(len(chans)))]
        session.write(encode(tail), self.stats)
        return True

    # -- calls ----------------------------------------------------------------------------------
    def _new_call(
        self, request: OriginateRequest, target: DialTarget, waiter: asyncio.Future[bool] | None = None
    ) -> int:
        now = self.clock.now()
        number = target.number
        forced = dict(request.variables).get("FORCE_OUTCOME") or None
        attempt = self._attempts[number]
        self._attempts[number] += 1
        when = self.clock.datetime(now)
        plan = self.model.plan(number, when, attempt, forced=forced)
        shown = _lab_outcome(plan.rand) if forced else None
        call = Call(
            request,
            target,
            plan,
            self.config.dialplan,
            self._ids,
            now,
            self.clock.format,
            forced=forced,
            shown_outcome=shown,
            fixed_numbers=frozenset(self.model.fixed),
        )
        self._next_call += 1
        call_id = self._next_call
        self._calls[call_id] = call
        if waiter is not None:
            self._waiters[call_id] = waiter
        self.stats.active_calls = len(self._calls)
        self.stats.max_active_calls = max(self.stats.max_active_calls, self.stats.active_calls)
        self._apply(call_id, call, call.start(now))
        return call_id

    def _trigger(self, call_id: int, trigger: str, **kw: object) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        step = call.fire(trigger, self.clock.now(), **kw)
        if step is not None:
            self._apply(call_id, call, step)

    def _apply(self, call_id: int, call: Call, step: Step) -> None:
        self._publish_now(step.events)
        if step.result is not None:
            self.stats.outcomes[_REASON_NAMES.get(step.reason or 0, str(step.reason))] += 1
            fut = self._waiters.pop(call_id, None)
            if fut is not None and not fut.done():
                fut.set_result(step.result)
        handle = self._timers.pop(call_id, None)
        if handle is not None:
            handle.cancel()
        if call.done:
            self._calls.pop(call_id, None)
            self.stats.active_calls = len(self._calls)
            if call.left_in_hold:
                self.stats.abandoned_in_hold += 1
            fut = self._waiters.pop(call_id, None)
            if fut is not None and not fut.done():
                fut.set_result(False)
            return
        if step.wake is not None:
            loop = asyncio.get_running_loop()
            self._timers[call_id] = loop.call_later(
                self.clock.real_delay(step.wake), self._trigger, call_id, "timer"
            )

    def _publish_now(self, events: Iterable[Headers]) -> None:
        sessions = [s for s in self._sessions if s.authenticated and not s.closed]
        for event in events:
            self.stats.events_published += 1
            if not sessions:
                continue
            data = encode(event)
            privilege = event[1][1]
            event_class = privilege.split(",", 1)[0]
            for session in sessions:
                if session.wants(event_class):
                    session.write(data, self.stats)


_ACTIONS: dict[str, str] = {
    "login": "_login",
    "logoff": "_logoff",
    "challenge": "_challenge",
    "ping": "_ping",
    "events": "_events",
    "originate": "_originate",
    "hangup": "_hangup",
    "redirect": "_redirect",
    "coreshowchannels": "_coreshowchannels",
    "status": "_status",
}


def _true(value: str | None) -> bool:
    """Asterisk's ast_true: yes, true, y, t, 1, on."""
    return (value or "").strip().lower() in ("yes", "true", "y", "t", "1", "on")


def _event_mask(value: str) -> frozenset[str] | None:
    """``on`` -> None (everything); ``off`` -> empty; else the listed classes."""
    text = value.strip().lower()
    if text in ("on", "yes", "true", "y", "t", "1", "all"):
        return None
    if text in ("off", "no", "false", "n", "f", "0", ""):
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())


def _callerid(value: str | None) -> tuple[str, str]:
    """``"Name" <num>`` or ``Name <num>`` or ``num`` -> (name, num); missing parts are <unknown>."""
    if not value or not value.strip():
        return "<unknown>", "<unknown>"
    text = value.strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        name = name.strip().strip('"') or "<unknown>"
        return name, num.strip() or "<unknown>"
    if text.replace("+", "").isdigit():
        return "<unknown>", text
    return text.strip('"'), "<unknown>"


def _hms(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _failure_response(request: OriginateRequest, now: float) -> Headers:
    """OriginateResponse for a call that never got a channel (bad-channel-tech)."""
    e = Emitter(now)
    e.originate_response(
        request.action_id,
        "Failure",
        request.channel,
        request.context,
        request.exten,
        0,
        request.channel_id or "<unknown>",
        request.caller_num,
        request.caller_name,
    )
    return e.events[0]


def _lab_outcome(rand: int) -> str:
    """The lab dialplan's OUTCOME for a draw R (extensions.conf [globals]), shown before ExecIf."""
    if rand <= 40:
        return "answer"
    if rand <= 60:
        return "busy"
    return "congestion" if rand <= 75 else "noanswer"
