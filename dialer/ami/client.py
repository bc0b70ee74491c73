"""Asyncio AMI client for the dialer, standing on panoramisk 1.4.

Why it looks like this (what panoramisk 1.4 does, read from its source, and what we do about it):

* Framing, action/response matching by ActionID, repeated headers as lists and event dispatch are
  panoramisk's, and we use them as they are (``Manager.send_action``, ``register_event``).
* ``Originate`` is sent with ``as_list=False``. Otherwise panoramisk treats an async Originate as a
  multi-message action ("successfully queued" + ``Async`` not false) and swallows the
  ``OriginateResponse`` event into the action's result, so event handlers never see it.
* panoramisk re-sends, after a reconnect, every action that had no response when the link dropped,
  unless its name is in ``forgetable_actions``. A re-sent Originate dials the number twice, so
  ``originate`` is listed there, and so is every other action we send: nothing is ever repeated
  behind our back; a caller whose action was cut off gets an error instead.
* panoramisk sends ``Ping`` but never looks at the reply, so a half-open TCP connection (peer gone,
  socket open) is never noticed. Its pinger is switched off and a watchdog here sends Ping every
  ``ping_interval`` and aborts the transport when no reply comes within ``ping_timeout``.
* Its reconnect loop retries forever every ``reconnect_timeout`` seconds, coerced with ``int()``
  (sub-second delays become 0: a hot loop), also after a refused login (the server closes the socket,
  panoramisk reconnects and is refused again, forever), and ``create_connection`` has no timeout. So
  the connection's life is supervised here: our own connect (with a timeout, then handed to
  ``Manager.connection_made``), login check, back-off, ``login_refused`` as a terminal state, and a
  reconciliation of open attempts after every reconnect. ``Manager.connection_lost`` is overridden to
  report to the supervisor instead of scheduling panoramisk's reconnect.
* An exception raised by an event callback propagates into ``Protocol.data_received`` and kills the
  connection; our callback catches everything, including errors of the service's ``on_update``.
* Writes: panoramisk writes each action with one ``transport.write`` on the event loop thread, so
  actions never interleave on the wire; no lock is needed.

Every originate is ``Async: true`` and carries ``ChannelId``/``OtherChannelId`` derived from the
attempt id, so :class:`~dialer.ami.outcomes.AttemptTracker` can map every event to its attempt.
The client never retries an originate itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol

from dialer.ami.outcomes import (
    ATTEMPT_ID_PATTERN,
    AttemptPhase,
    AttemptTracker,
    AttemptUpdate,
    UnknownAttemptError,
)
from dialer.ami.protocol import AmiMessage, encode

__all__ = [
    "AmiActionError",
    "AmiClient",
    "AmiError",
    "AmiNotConnectedError",
    "LinkState",
    "OriginateRefusedError",
    "OriginateUnconfirmedError",
    "UnknownAttemptError",
]

log = logging.getLogger(__name__)

#: Every action this client sends; all are "forgetable" so panoramisk never re-sends one.
_OUR_ACTIONS = ("login", "logoff", "ping", "originate", "hangup", "redirect", "coreshowchannels", "status")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_()]{0,79}$")


class LinkState(StrEnum):
    """The AMI link as the service sees it."""

    CONNECTING = "connecting"  # connecting, logging in, or reconciling after a reconnect
    UP = "up"  # logged in and reconciled: originates are accepted
    DOWN = "down"  # not connected; retrying after a delay (or stopped)
    LOGIN_REFUSED = "login_refused"  # the PBX refused the credentials; no retry until start() again


class AmiError(Exception):
    """Base of the client's errors."""


class AmiNotConnectedError(AmiError):
    """The link is not up: nothing was sent."""


class LoginRefusedError(AmiError):
    """The PBX refused the AMI login."""


class OriginateRefusedError(AmiError):
    """The PBX answered the Originate with an error; the attempt ended as ``failed``."""


class OriginateUnconfirmedError(AmiError):
    """The Originate was written but not acknowledged (link dropped or PBX too slow).

    The attempt stays tracked: its events, or the reconciliation that follows a reconnect, end it.
    Do not dial it again before its ``ended`` update arrives.
    """


class AmiActionError(AmiError):
    """The PBX refused an action (Hangup, Redirect...) or did not answer it."""


class _LinkLostError(Exception):
    pass


class _RequestTimeoutError(Exception):
    pass


UpdateCallback = Callable[[AttemptUpdate], None]
StateCallback = Callable[[LinkState, str | None], None]


class _Manager(Manager):  # type: ignore[misc]  # panoramisk ships no type hints
    """panoramisk's Manager with its pinger and its reconnect loop handed over to :class:`AmiClient`."""

    def __init__(self, on_lost: Callable[[object], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def ping(self) -> None:
        """Switched off: panoramisk's pinger ignores replies; the client runs a watchdog instead."""
        self.pinger = None

    def connection_lost(self, exc: object) -> None:
        """Report to the client's supervisor instead of scheduling panoramisk's own reconnect."""
        self._connected = False
        if self.pinger is not None:
            self.pinger.cancel()
            self.pinger = None
        self.awaiting_actions.clear()
        self._on_lost(exc)


def _to_message(message: Mapping[str, Any]) -> AmiMessage:
    """panoramisk's Message (a case-insensitive dict, repeated headers as lists) as an AmiMessage."""
    pairs: list[tuple[str, str]] = []
    for key, value in message.items():
        if key == "content":
            continue
        if isinstance(value, list):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return AmiMessage(tuple(pairs))


class AmiClient:
    """One AMI connection to one PBX, with call tracking, reconnects and reconciliation.

    ``on_update`` receives every :class:`AttemptUpdate` (dialling, ringing, answered, ended);
    ``on_state`` receives every change of :class:`LinkState` with a short reason. Both are called on
    the event loop and must not block; exceptions they raise are logged and swallowed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        reconnect_delay: float = 1.0,
        max_reconnect_delay: float = 30.0,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
        events: str = "on",
        channel_id_prefix: str = "cati-",
        on_update: UpdateCallback | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        for name, value in (
            ("ping_interval", ping_interval),
            ("ping_timeout", ping_timeout),
            ("reconnect_delay", reconnect_delay),
            ("connect_timeout", connect_timeout),
            ("action_timeout", action_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if not re.fullmatch(r"[A-Za-z0-9._-]{0,32}", channel_id_prefix):
            raise ValueError(f"channel_id_prefix: letters, digits, '.', '_', '-' only: {channel_id_prefix!r}")
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.ping_interval, self.ping_timeout = ping_interval, ping_timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max(max_reconnect_delay, reconnect_delay)
        self.connect_timeout, self.action_timeout = connect_timeout, action_timeout
        self._events = events
        self._prefix = channel_id_prefix
        self.on_update = on_update
        self.on_state = on_state

        self.tracker = AttemptTracker()
        self._state = LinkState.DOWN
        self.last_error: str | None = None
        self._manager: _Manager | None = None
        self._transport: asyncio.Transport | None = None
        self._conn_lost: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._up_event = asyncio.Event()
        self._stopping = False
        self._generation = 0  # bumps on every successful login
        self._attempt_generation: dict[str, int] = {}
        self._action_seq = itertools.count(1)
        self._orphans: set[str] = set()  # ChannelIds of attempts we gave up on: hang them up if seen
        self._background: set[asyncio.Task[Any]] = set()
        self.connects = 0  # successful logins so far (for tests and status pages)

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> LinkState:
        return self._state

    def _set_state(self, state: LinkState, detail: str | None = None) -> None:
        if detail is not None:
            self.last_error = detail
        if state is LinkState.UP:
            self._up_event.set()
        else:
            self._up_event.clear()
        if state is self._state:
            return
        self._state = state
        log.info("AMI %s:%s %s%s", self.host, self.port, state.value, f" ({detail})" if detail else "")
        if self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:
                log.exception("on_state callback failed")

    async def wait_up(self, timeout: float) -> None:
        """Wait until the link is up (raises ``TimeoutError`` otherwise)."""
        await asyncio.wait_for(self._up_event.wait(), timeout)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background (returns at once; see ``state`` / ``wait_up``)."""
        if self._supervisor is not None and not self._supervisor.done():
            return
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name=f"ami-{self.host}:{self.port}")

    async def stop(self) -> None:
        """Log off and close. Attempts still open end as ``lost``: nobody will watch them any more."""
        self._stopping = True
        if self._manager is not None and self._state is LinkState.UP:
            with contextlib.suppress(Exception):
                await self._request({"Action": "Logoff"}, timeout=min(1.0, self.action_timeout))
        for task in (self._supervisor, self._watchdog, *self._background):
            if task is not None and not task.done():
                task.cancel()
        for task in (self._supervisor, self._watchdog, *self._background):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._close_transport()
        for attempt_id in self.tracker.open_attempts():
            self._emit(self.tracker.lose(attempt_id, "AMI client stopped", now=time.time()))
        self._set_state(LinkState.DOWN, "stopped")

    async def _supervise(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping:
            self._set_state(LinkState.CONNECTING)
            try:
                await self._connect_and_login()
            except LoginRefusedError as exc:
                self._close_transport()
                self._set_state(LinkState.LOGIN_REFUSED, str(exc))
                return
            except Exception as exc:  # refused, unreachable, timed out, dropped: all mean "retry later"
                if not isinstance(exc, OSError | TimeoutError | _LinkLostError | _RequestTimeoutError):
                    log.exception("unexpected error while connecting to AMI")
                self._close_transport()
                self._set_state(LinkState.DOWN, _describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_reconnect_delay)
                continue
            delay = self.reconnect_delay
            assert self._conn_lost is not None
            conn_lost = self._conn_lost
            try:
                await self._reconcile_after_connect()
            except (_LinkLostError, _RequestTimeoutError, AmiActionError) as exc:
                self._close_transport()
                self._set_state(LinkState.DOWN, f"reconciliation failed: {_describe(exc)}")
                await asyncio.sleep(delay)
                continue
            self._set_state(LinkState.UP)
            self._watchdog = asyncio.create_task(self._watch(conn_lost))
            await asyncio.shield(conn_lost)
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            if self._stopping:
                return
            self._set_state(LinkState.DOWN, self.last_error or "connection lost")
            await asyncio.sleep(delay)

    async def _connect_and_login(self) -> None:
        loop = asyncio.get_running_loop()
        self.last_error = None
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(AMIProtocol, self.host, self.port), self.connect_timeout
        )
        self._transport = transport
        self._conn_lost = loop.create_future()
        manager = _Manager(
            self._on_link_lost,
            host=self.host,
            port=self.port,
            username=self._username,
            secret=self._secret,
            events=self._events,
            loop=loop,
            ping_delay=3600,
            forgetable_actions=_OUR_ACTIONS,
            log=logging.getLogger("dialer.ami.panoramisk"),
        )
        manager.register_event("*", self._on_event)
        self._manager = manager
        done: asyncio.Future[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]] = loop.create_future()
        done.set_result((transport, protocol))
        manager.connection_made(done)  # sends Login (panoramisk's own code path)
        login = manager.authenticated_future
        response = await self._wait(login, self._conn_lost, self.connect_timeout)
        if not response.success:
            if "shutting down" in str(response.message or "").lower():
                # a PBX in a graceful restart refuses every action, Login too: not our credentials
                raise OSError(f"AMI login postponed: {response.message}")
            raise LoginRefusedError(f"AMI login refused for user {self._username!r}: {response.message}")
        self._generation += 1
        self.connects += 1

    def _on_link_lost(self, exc: object) -> None:
        if self._conn_lost is not None and not self._conn_lost.done():
            self._conn_lost.set_result(None)
        if self.last_error is None:
            self.last_error = "connection lost" if exc is None else f"connection lost: {exc}"

    def _close_transport(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None
        if self._conn_lost is not None and not self._conn_lost.done():
            self._conn_lost.set_result(None)

    async def _watch(self, conn_lost: asyncio.Future[None]) -> None:
        """Ping watchdog: a Ping without a reply within ``ping_timeout`` means a half-open link."""
        while not conn_lost.done():
            await asyncio.sleep(self.ping_interval)
            try:
                await self._request({"Action": "Ping"}, timeout=self.ping_timeout)
            except _RequestTimeoutError:
                self.last_error = f"no reply to Ping within {self.ping_timeout:g} s: link presumed half-open"
                log.warning("AMI %s:%s: %s", self.host, self.port, self.last_error)
                self._close_transport()
                return
            except _LinkLostError:
                return

    # -- requests ----------------------------------------------------------------------------
    async def _wait(self, fut: asyncio.Future[Any], conn_lost: asyncio.Future[None], timeout: float) -> Any:
        done, _ = await asyncio.wait({fut, conn_lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if fut in done:
            return fut.result()
        if conn_lost in done:
            raise _LinkLostError("the AMI link dropped before the reply")
        raise _RequestTimeoutError(f"no reply within {timeout:g} s")

    async def _request(self, fields: dict[str, Any], *, timeout: float, as_list: bool | None = None) -> Any:
        """Send one action over the current link and wait for its reply, the link's end or the timeout."""
        manager, conn_lost = self._manager, self._conn_lost
        if manager is None or conn_lost is None or conn_lost.done():
            raise _LinkLostError("not connected")
        action = Action(fields, as_list=as_list)
        future = manager.send_action(action, as_list=as_list)
        return await self._wait(future, conn_lost, timeout)

    def _require_up(self) -> None:
        if self._state is not LinkState.UP:
            reason = self.last_error or "not connected"
            raise AmiNotConnectedError(f"AMI link is {self._state.value}: {reason}")

    # -- calls -------------------------------------------------------------------------------
    async def originate(
        self,
        attempt_id: str,
        dial_string: str,
        *,
        context: str,
        exten: str,
        priority: int = 1,
        timeout_ms: int = 30_000,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> None:
        """Dial ``dial_string`` and, on answer, run ``context``/``exten``/``priority`` on the call.

        Returns when the PBX has queued the call; the result comes as updates to ``on_update``.
        Raises :class:`AmiNotConnectedError` (nothing sent), :class:`OriginateRefusedError` (the attempt
        ended ``failed``) or :class:`OriginateUnconfirmedError` (tracked; its ``ended`` update will
        come). Never retries.
        """
        if not ATTEMPT_ID_PATTERN.match(attempt_id):
            raise ValueError(f"attempt id must match {ATTEMPT_ID_PATTERN.pattern}: {attempt_id!r}")
        if not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be a positive integer, got {timeout_ms!r}")
        if not dial_string or "/" not in dial_string:
            raise ValueError("dial string must look like TECH/resource, e.g. PJSIP/<number>@trunk")
        variables = dict(variables or {})
        for name in variables:
            if not _VARIABLE_NAME.match(name):
                raise ValueError(f"bad channel variable name: {name!r}")
        channel_id, other_id = f"{self._prefix}{attempt_id}-a", f"{self._prefix}{attempt_id}-b"
        action_id = f"{self._prefix}{attempt_id}/originate/{next(self._action_seq)}"
        fields: dict[str, Any] = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": dial_string,
            "Context": context,
            "Exten": exten,
            "Priority": str(priority),
            "Timeout": str(timeout_ms),
            "Async": "true",
            "ChannelId": channel_id,
            "OtherChannelId": other_id,
        }
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        # Refuse CR/LF (header injection) before anything is sent; panoramisk does not check.
        encode((k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs]))
        self._require_up()
        registered = self.tracker.register(
            attempt_id, channel_id=channel_id, other_channel_id=other_id, action_id=action_id, now=time.time()
        )
        self._emit(registered)
        self._attempt_generation[attempt_id] = self._generation
        try:
            # as_list=False: resolve on the acknowledgement and let OriginateResponse reach _on_event.
            response = await self._request(fields, timeout=self.action_timeout, as_list=False)
        except (_LinkLostError, _RequestTimeoutError) as exc:
            self._check_later(attempt_id, timeout_ms / 1000 + self.action_timeout)
            raise OriginateUnconfirmedError(
                f"originate {attempt_id} not acknowledged ({exc}); the attempt stays tracked"
            ) from None
        if not response.success:
            detail = f"PBX refused the originate: {response.message or response.response}"
            if self.tracker.is_open(attempt_id):
                self._emit(self.tracker.refused(attempt_id, detail, now=time.time()))
            raise OriginateRefusedError(f"{attempt_id}: {detail}")

    async def hangup(self, attempt_id: str, *, cause: int = 16) -> None:
        """Hang up an attempt's call (before an answer it then ends as ``cancelled``)."""
        channel = self.tracker.channel_of(attempt_id)
        self._require_up()
        if self.tracker.phase(attempt_id) is not AttemptPhase.ANSWERED:
            self.tracker.mark_cancelled(attempt_id)
        await self._action({"Action": "Hangup", "Channel": channel, "Cause": str(cause)}, what="Hangup")

    async def redirect(self, attempt_id: str, context: str, exten: str, priority: int = 1) -> None:
        """Send an answered call to ``context``/``exten``: a ready interviewer, or the abandonment message."""
        channel = self.tracker.channel_of(attempt_id)
        self._require_up()
        fields = {"Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": str(priority)}
        await self._action(fields, what="Redirect")

    async def core_show_channels(self) -> list[dict[str, str]]:
        """The PBX's live channels (one dict of first header values per ``CoreShowChannel`` event)."""
        self._require_up()
        return await self._core_show_channels()

    async def adopt(self, attempt_id: str, *, answered: bool = False) -> tuple[list[AttemptUpdate], bool]:
        """Track again an attempt placed before a restart (its ChannelId is ``<prefix><id>-a``).

        Registered first, then the PBX's channels are read, so no event of the call is missed: if it
        is gone it ends ``lost`` at once (the updates returned, also emitted); if alive it ends with
        its real outcome at its last Hangup. Returns the updates and whether the PBX has it answered
        (its originated leg is Up).
        """
        self._require_up()
        channel_id, other_id = f"{self._prefix}{attempt_id}-a", f"{self._prefix}{attempt_id}-b"
        now = time.time()
        self.tracker.adopt(attempt_id, channel_id=channel_id, other_channel_id=other_id, now=now)
        self._attempt_generation[attempt_id] = self._generation
        try:
            channels = await self._core_show_channels()
        except AmiError:
            update = self.tracker.lose(attempt_id, "CoreShowChannels failed while adopting", now=time.time())
            self._forget(attempt_id, orphan=True)
            self._emit(update)
            raise
        up = any(c.get("Uniqueid") == channel_id and c.get("ChannelState") == "6" for c in channels)
        if (answered or up) and self.tracker.is_open(attempt_id):
            self.tracker.adopt_answered(attempt_id, now=now)
        live = [(c.get("Uniqueid", ""), c.get("Linkedid"), c.get("Channel")) for c in channels]
        updates = self.tracker.reconcile(live, candidates=[attempt_id], now=time.time())
        for update in updates:
            self._forget(update.attempt_id, orphan=True)
            self._emit(update)
        return updates, up

    async def reconcile(self) -> list[AttemptUpdate]:
        """Compare every open attempt with the PBX's channels now; end those without one as ``lost``."""
        self._require_up()
        return await self._reconcile(self.tracker.open_attempts())

    def open_attempts(self) -> list[str]:
        return self.tracker.open_attempts()

    async def _action(self, fields: dict[str, Any], *, what: str) -> None:
        try:
            response = await self._request(fields, timeout=self.action_timeout)
        except (_LinkLostError, _RequestTimeoutError) as exc:
            raise AmiActionError(f"{what}: {exc}") from None
        if not response.success:
            raise AmiActionError(f"{what} refused by the PBX: {response.message or response.response}")

    async def _core_show_channels(self) -> list[dict[str, str]]:
        try:
            replies = await self._request({"Action": "CoreShowChannels"}, timeout=self.action_timeout)
        except (_LinkLostError, _RequestTimeoutError) as exc:
            raise AmiActionError(f"CoreShowChannels: {exc}") from None
        if not isinstance(replies, list):
            replies = [replies]
        if not replies or not replies[0].success:
            message = replies[0].message if replies else "no reply"
            raise AmiActionError(f"CoreShowChannels refused by the PBX: {message}")
        return [
            _to_message(r).as_dict() for r in replies if str(r.get("Event", "")).lower() == "coreshowchannel"
        ]

    async def _reconcile(self, candidates: list[str]) -> list[AttemptUpdate]:
        if not candidates:
            return []
        channels = await self._core_show_channels()
        live = [(c.get("Uniqueid", ""), c.get("Linkedid"), c.get("Channel")) for c in channels]
        updates = self.tracker.reconcile(live, candidates=candidates, now=time.time())
        for update in updates:
            self._forget(update.attempt_id, orphan=True)
            self._emit(update)
        if updates:
            log.warning("AMI reconciliation: %d attempt(s) ended as lost", len(updates))
        return updates

    async def _reconcile_after_connect(self) -> None:
        """Attempts sent on an earlier connection may have ended while we were away."""
        generation = self._generation
        older = [a for a in self.tracker.open_attempts() if self._attempt_generation.get(a, 0) < generation]
        await self._reconcile(older)

    def _check_later(self, attempt_id: str, delay: float) -> None:
        """An unacknowledged originate on a live link: look for its channels once the call must be over."""

        async def check() -> None:
            await asyncio.sleep(delay)
            if self.tracker.is_open(attempt_id) and self._state is LinkState.UP:
                with contextlib.suppress(AmiError):
                    await self._reconcile([attempt_id])

        task = asyncio.create_task(check())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- events ------------------------------------------------------------------------------
    def _on_event(self, manager: object, event: Mapping[str, Any]) -> None:
        try:
            message = _to_message(event)
            for update in self.tracker.feed(message, now=time.time()):
                if update.phase is AttemptPhase.ENDED:
                    self._forget(update.attempt_id, orphan=False)
                self._emit(update)
            self._hangup_orphan(message)
        except Exception:  # never let an exception reach panoramisk's data_received
            log.exception("AMI event handling failed")

    def _emit(self, update: AttemptUpdate) -> None:
        if self.on_update is None:
            return
        try:
            self.on_update(update)
        except Exception:
            log.exception("on_update callback failed for attempt %s", update.attempt_id)

    def _forget(self, attempt_id: str, *, orphan: bool) -> None:
        self._attempt_generation.pop(attempt_id, None)
        if orphan:
            self._orphans.update({f"{self._prefix}{attempt_id}-a", f"{self._prefix}{attempt_id}-b"})

    def _hangup_orphan(self, message: AmiMessage) -> None:
        """A channel of an attempt we already ended as lost shows up alive: hang it up, never leave it."""
        if message.event not in ("Newchannel", "Newstate"):
            return
        uid = message.get("Uniqueid")
        if uid is None or uid not in self._orphans or self._state is not LinkState.UP:
            return
        self._orphans.discard(uid)
        log.warning("AMI: hanging up channel %s of an attempt already ended as lost", uid)

        async def hang() -> None:
            with contextlib.suppress(AmiError, _LinkLostError, _RequestTimeoutError):
                await self._request({"Action": "Hangup", "Channel": uid}, timeout=self.action_timeout)

        task = asyncio.create_task(hang())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connect/login timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__

