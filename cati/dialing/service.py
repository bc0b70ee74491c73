"""The dialing loop: pacing, case hand-out, AMI originates and call-to-interviewer assignment.

Why it is shaped this way:

* **One asyncio task, database work in threads.** The loop, the AMI client and the answer handlers
  run on the service's event loop; every unit of database work runs in a worker thread
  (``asyncio.to_thread``) with its own session, committed at that edge. A commit publishes the
  console's ``state`` event (``cati.events``), so the console learns of a call only once the
  database says so.
* **Commit before dialling.** ``next_case`` + ``start_attempt`` (+ ``reserve_seat``) are committed
  before the Originate is written: a crash after the commit leaves an open attempt that
  reconciliation closes; a crash before it leaves nothing. The database refuses a second open
  attempt per case, so no number is ever in two calls, and nothing is ever re-sent.
* **Per-attempt serialisation.** The updates of one attempt (answered, ended) are handled in
  order under that attempt's lock, so an answer handler that is still binding a seat never races
  the hang-up that follows it.
* **Time.** One :class:`~cati.clock.Clock` drives the scheduler's ``now``, the pacing snapshot and
  the built-in simulated PBX, so calling windows and the PBX's time of day agree at 60x. The
  2-second abandonment rule is measured on that clock too (``Clock.wait_until``), with no real-time
  floor: at 30x it is 67 ms of real time, and a test that moves the clock by hand sees it exactly.
* **Faults.** While the AMI link is not up nothing is placed. The client reconnects by itself and
  reconciles its own open attempts; after every (re)connect the service also reconciles the
  database (``reconcile_open_attempts`` with the PBX's live channel ids), which closes attempts
  left open by an earlier run of this dialer node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import statistics
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cati.cases import service as cases
from cati.clock import Clock
from cati.console import recovery
from cati.console import service as console
from cati.db import transaction
from cati.dialing.control import DialerUnavailable
from cati.errors import AppError
from cati.events import EventBus
from cati.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Case,
    District,
    InterviewerSeat,
    QuotaCell,
    SeatStatus,
    User,
)
from cati.settings import Settings
from dialer.ami.client import (
    AmiClient,
    AmiError,
    AmiNotConnectedError,
    LinkState,
    OriginateRefusedError,
    OriginateUnconfirmedError,
    UnknownAttemptError,
)
from dialer.ami.outcomes import AttemptPhase, AttemptUpdate, CallOutcome
from dialer.breaker import Breaker, BreakerConfig, BreakerState, Signal, signal_of
from dialer.dispositions import call_disposition
from dialer.pacing import ABANDON_SECONDS, DialPolicy, Mode, Pacer, PacingError, Snapshot
from dialer.schedule import start_of_next_local_day

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Ring at least this long before giving up (issue 4: never under 15 s).
MIN_RING_SECONDS = 15
#: The 2-second rule: a live answer must reach an interviewer within this much service time (the
#: pacer forecasts abandonment with the same rule). Measured on the service clock only: a seat
#: looked for before the deadline may still connect, none is looked for after it.
ABANDON_AFTER_SECONDS = ABANDON_SECONDS

PacerFactory = Callable[[Mode, float], DialPolicy]


def default_pacer(mode: Mode, cap: float) -> DialPolicy:
    """The service's pacing policy for a campaign: :class:`dialer.pacing.Pacer`."""
    return Pacer(mode, cap=cap)


@dataclasses.dataclass(eq=False)
class _Call:
    """One call this dialer placed and still watches."""

    key: str  # AMI attempt id (ChannelId = prefix + key + "-a")
    channel_id: str
    attempt_id: int  # database id
    case_id: int
    campaign_id: int
    mode: Mode
    seat_user_id: int | None  # reserved seat (preview/progressive), then the connected seat
    placed_at: float  # service seconds (clock epoch)
    answered_mono: float | None = None  # real time, for the latency figure
    answered_at: dt.datetime | None = None  # service time: the 2-second rule starts here
    hung_up_at: dt.datetime | None = None  # service time the call ended (the respondent hung up)
    committed_mono: float | None = None  # when connect_call was committed (the console's event)
    answered: bool = False
    connected: bool = False
    abandoned: bool = False
    ended: bool = False
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


@dataclasses.dataclass
class _CampaignState:
    pacer: DialPolicy
    mode: Mode
    cap: float
    placed: int = 0
    answered: int = 0
    connected: int = 0
    abandoned: int = 0
    last_topup: float = float("-inf")  # monotonic
    no_case_until: float = 0.0  # monotonic: nothing to dial, do not ask again before this
    finished: str | None = None  # why dialling has finished, once the seats were told (None: not)
    seats_seen: dict[int, tuple[str, float]] = dataclasses.field(default_factory=dict)
    last_decision: int = 0
    #: The PBX circuit breaker of this campaign (dialer/breaker.py): no originate while open.
    breaker: Breaker = dataclasses.field(default_factory=Breaker)


@dataclasses.dataclass(frozen=True)
class _Placed:
    key: str
    channel_id: str
    attempt_id: int
    case_id: int
    number: str
    seat_user_id: int | None
    exten: str | None


@dataclasses.dataclass(frozen=True)
class _Orphan:
    """An open attempt of an earlier run of this node whose channel the PBX still has."""

    attempt_id: int
    channel_id: str
    case_id: int
    campaign_id: int
    mode: Mode
    interviewer_id: int | None
    answered: bool
    connected: bool


@dataclasses.dataclass(frozen=True)
class _CampaignView:
    id: int
    mode: Mode
    cap: float
    ring_timeout_s: int
    tz: Any
    ready: int
    talking: list[float]
    wrapping: list[float]
    seats: dict[int, tuple[str, float]]
    abandoned_today: int
    live_today: int


class DialerService:
    """The dialing loop as an asyncio service; implements :class:`~cati.dialing.control.DialerControl`.

    ``await start()`` connects (starting the built-in simulated PBX when no AMI host is set) and
    runs the loop; ``await stop()`` ends it. ``client_options`` go to :class:`AmiClient` (tests make
    its timers short).
    """

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        bus: EventBus,
        clock: Clock,
        *,
        client_options: dict[str, Any] | None = None,
        topup_seconds: float = 30.0,
        pacer_factory: PacerFactory = default_pacer,
        latency_window: int = 5000,
        sweep_seconds: float = 5.0,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.bus = bus
        self.clock = clock
        self.node = settings.dialer_node
        self.tick_seconds = settings.dialer_tick_seconds
        self.topup_seconds = topup_seconds
        self.pacer_factory = pacer_factory
        self._client_options = dict(client_options or {})
        self.client: AmiClient | None = None
        self.pbx: Any = None  # dialer.simpbx.SimPbx when built in
        self.pbx_address: tuple[str, int] | None = None
        self._calls: dict[str, _Call] = {}
        self._by_attempt: dict[int, _Call] = {}
        self._campaigns: dict[int, _CampaignState] = {}
        self._wake: asyncio.Event | None = None
        self._seat_freed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False
        self._reconcile_pending = False
        #: Answer -> console event (commit of connect_call), milliseconds, most recent last.
        self.latencies_ms: deque[float] = deque(maxlen=latency_window)
        #: Answer -> abandonment, service seconds, most recent last (the 2-second rule as it ran).
        self.abandon_holds_s: deque[float] = deque(maxlen=latency_window)
        self.counters: dict[str, int] = {
            "placed": 0,
            "answered": 0,
            "connected": 0,
            "abandoned": 0,
            "ended": 0,
            "originate_failed": 0,
            "breaker_opened": 0,
            "reconciled_attempts": 0,
            "errors": 0,
        }
        self.last_reconcile: dict[str, Any] | None = None
        #: Real seconds between recovery sweeps (after the first reconciliation).
        self.sweep_seconds = sweep_seconds
        self._swept_reconciled = False
        self._next_sweep = 0.0
        self.last_recovery: dict[str, Any] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the PBX link (and the built-in PBX when no host is set) and the pacing loop."""
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._seat_freed = asyncio.Event()  # replaced at every wake: each waiter sees every wake
        s = self.settings
        host, port = s.ami_host, s.ami_port
        if not host:
            host, port = await self._start_simulated_pbx()
        options: dict[str, Any] = {"channel_id_prefix": "cati-"}
        options.update(self._client_options)
        self.client = AmiClient(
            host,
            port,
            s.ami_username,
            s.ami_secret,
            on_update=self._on_update,
            on_state=self._on_state,
            **options,
        )
        self._running = True
        await self.client.start()
        self._task = asyncio.create_task(self._run(), name="cati-dialer")

    async def _start_simulated_pbx(self) -> tuple[str, int]:
        from dialer.simpbx import Dialplan, SimPbx, SimPbxConfig

        s = self.settings
        endpoint = s.interviewer_endpoint_template
        dial = endpoint.replace("{extension}", "{exten}") if "{user_id}" not in endpoint else None
        config = SimPbxConfig(
            username=s.ami_username,
            secret=s.ami_secret,
            seed=s.sim_seed,
            speed=self.clock.speed,
            start=self.clock.now(),
            model_path=s.sim_model,
            dialplan=Dialplan(
                interviewer_context=s.interviewer_context,
                abandon_context=s.abandon_context,
                interviewer_dial=dial,
            ),
        )
        self.pbx = SimPbx(config)
        self.pbx_address = await self.pbx.start("127.0.0.1", 0)
        log.info("dialer: built-in simulated PBX on %s:%s", *self.pbx_address)
        return self.pbx_address

    async def stop(self) -> None:
        """Stop the loop, log off (open attempts end as lost and are recorded), stop the built-in PBX."""
        if not self._running:
            return
        self._running = False
        if self._task is not None:
            # let the current tick finish (its hand-outs are committed: they must be originated and
            # tracked), then end the loop
            if self._wake is not None:
                self._wake.set()
            done, _ = await asyncio.wait({self._task}, timeout=10.0)
            if not done:
                self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.client is not None:
            await self.client.stop()
        # the ``lost`` updates emitted by stop() are recorded by their tasks: let them finish
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5.0)
        for task in list(self._tasks):
            task.cancel()
        # nobody watches this node's calls any more: close whatever is still open (none left open)
        try:
            result = await asyncio.to_thread(self._db_reconcile, set())
            self.counters["reconciled_attempts"] += len(result.closed_attempts)
        except Exception:
            log.exception("dialer: closing open attempts at stop failed")
        if self.pbx is not None:
            await self.pbx.stop()
            self.pbx = None

    # -- DialerControl -----------------------------------------------------------------------
    def wake(self, campaign_id: int | None = None) -> None:
        """A seat became ready or a case was freed: pace now (safe from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def _set() -> None:
            if self._wake is not None:
                self._wake.set()
            self._wake_waiting_calls()

        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _set()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set)

    async def dial_preview(self, *, user_id: int, case_id: int) -> int:
        """Originate the previewed case for this interviewer; returns the attempt id."""
        client = self.client
        if client is None or client.state is not LinkState.UP:
            state = client.state.value if client is not None else "off"
            raise DialerUnavailable(f"the PBX link is {state}: no call can be placed now")
        placed, campaign_id, ring_timeout = await asyncio.to_thread(self._db_start_preview, user_id, case_id)
        st = self._campaigns.get(campaign_id)
        if st is not None and not st.breaker.is_closed and st.breaker.allow(time.monotonic()) == 1:
            # the breaker's probe was due: in preview the interviewer's own call is the probe
            st.breaker.probe_started(placed.key)
            log.warning(
                "dialer: 活动 %s 试拨一次（预览呼叫）/ "
                "campaign %s: the preview call of attempt %s is the probe",
                campaign_id,
                campaign_id,
                placed.attempt_id,
            )
        await self._originate(placed, Mode.PREVIEW, campaign_id, ring_timeout)
        return placed.attempt_id

    async def hangup(self, attempt_id: int) -> None:
        """End the call of an attempt (the interviewer hung up or coded the case)."""
        call = self._by_attempt.get(attempt_id)
        if call is None or call.ended or self.client is None:
            return
        try:
            await self.client.hangup(call.key)
        except UnknownAttemptError:
            return
        except AmiError as exc:
            log.warning("dialer: hangup of attempt %s failed: %s", attempt_id, exc)

    def _wake_waiting_calls(self) -> None:
        """Answered calls waiting for a seat look again (on the event loop)."""
        freed = self._seat_freed
        if freed is not None:
            self._seat_freed = asyncio.Event()
            freed.set()

    def status(self) -> dict[str, Any]:
        """The dialer's state for supervisors: link, calls in progress, pacing figures, latency."""
        client = self.client
        link = client.state.value if client is not None else "off"
        calls = list(self._calls.values())
        lat = sorted(self.latencies_ms)
        holds = sorted(self.abandon_holds_s)
        mono = time.monotonic()
        paused = sorted(cid for cid, st in self._campaigns.items() if not st.breaker.is_closed)
        return {
            "running": self._running,
            "link": link,
            "detail": client.last_error if client is not None else None,
            "placing_calls": self._running and link == LinkState.UP.value,
            #: campaigns whose PBX breaker is open: no originate until a probe call gets through
            "breaker_open": paused,
            "pbx": (
                {"kind": "simulated", "host": self.pbx_address[0], "port": self.pbx_address[1]}
                if self.pbx_address is not None
                else {"kind": "asterisk", "host": self.settings.ami_host, "port": self.settings.ami_port}
            ),
            "node": self.node,
            "speed": self.clock.speed,
            "service_time": self.clock.now().isoformat(),
            "calls": {
                "ringing": sum(1 for c in calls if not c.answered and not c.ended),
                "waiting": sum(1 for c in calls if c.answered and not c.connected and not c.ended),
                "connected": sum(1 for c in calls if c.connected and not c.ended),
            },
            "counters": dict(self.counters),
            "latency_ms": {
                "count": len(lat),
                "p50": _quantile(lat, 0.50),
                "p99": _quantile(lat, 0.99),
                "max": lat[-1] if lat else None,
            },
            "abandon_hold_s": {
                "count": len(holds),
                "min": round(holds[0], 3) if holds else None,
                "max": round(holds[-1], 3) if holds else None,
            },
            "campaigns": {
                str(cid): {
                    "mode": st.mode.value,
                    "abandon_cap": st.cap,
                    "placed": st.placed,
                    "answered": st.answered,
                    "connected": st.connected,
                    "abandoned": st.abandoned,
                    "answer_rate": (
                        round(st.pacer.stats.answer_rate, 4) if isinstance(st.pacer, Pacer) else None
                    ),
                    "last_decision": st.last_decision,
                    "breaker": st.breaker.snapshot(mono),
                }
                for cid, st in self._campaigns.items()
            },
            "last_reconcile": self.last_reconcile,
            "last_recovery": self.last_recovery,
        }

    # -- the loop ----------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while self._running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_seconds)
            self._wake.clear()
            try:
                if self._reconcile_pending and self._link_up():
                    await self._reconcile_db()
                if self._swept_reconciled and time.monotonic() >= self._next_sweep:
                    await self._sweep()
                if self._link_up():
                    await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counters["errors"] += 1
                log.exception("dialer tick failed")
                await asyncio.sleep(self.tick_seconds)

    async def _sweep(self) -> None:
        """Recovery's periodic pass (cati/console/recovery.py); first run right after the start's
        reconciliation, so a restart after a crash frees its seats and cases at once."""
        self._swept_reconciled = True
        self._next_sweep = time.monotonic() + self.sweep_seconds
        found = await asyncio.to_thread(self._db_sweep)
        if found.any():
            self.last_recovery = {"at": self.clock.now().isoformat(), **found.summary()}
            self.bus.publish("dialer", "dialer", self.status())
            self.wake()

    def _link_up(self) -> bool:
        return self.client is not None and self.client.state is LinkState.UP

    async def _tick(self) -> None:
        views = await asyncio.to_thread(self._db_views)
        for view in views:
            if not self._link_up():
                return
            await self._pace(view)

    async def _pace(self, view: _CampaignView) -> None:
        st = self._campaign_state(view)
        now_s = self.clock.now().timestamp()
        self._observe_wraps(st, view, now_s)
        mine = [c for c in self._calls.values() if c.campaign_id == view.id and not c.ended]
        if st.mode is Mode.PROGRESSIVE:
            ringing: list[float] = []  # a progressive call belongs to its reserved seat, not the ready ones
            waiting = 0
        else:
            ringing = [max(0.0, now_s - c.placed_at) for c in mine if not c.answered]
            waiting = sum(1 for c in mine if c.answered and not c.connected)
        try:
            snap = Snapshot(
                now=now_s,
                ready=view.ready,
                talking=view.talking,
                wrapping=view.wrapping,
                ringing=ringing,
                waiting=waiting,
                abandoned_today=view.abandoned_today,
                live_answers_today=max(view.live_today, view.abandoned_today),
            )
            wanted = st.pacer.decide(snap)
        except PacingError:
            log.exception("pacing refused the snapshot of campaign %s", view.id)
            return
        st.last_decision = wanted
        mono = time.monotonic()
        if mono - st.last_topup >= self.topup_seconds:
            st.last_topup = mono
            await asyncio.to_thread(self._db_top_up, view.id)
        if wanted <= 0 or mono < st.no_case_until:
            return
        allowed = st.breaker.allow(mono)
        if allowed is not None:
            if allowed <= 0:
                return  # the breaker is open (or its probe is out): no originate for this campaign
            wanted = min(wanted, allowed)
        probing = st.breaker.state is BreakerState.PROBING
        placed = await asyncio.to_thread(self._db_hand_out, view.id, st.mode, wanted)
        if probing:
            if placed:
                st.breaker.probe_started(placed[0].key)
                log.warning(
                    "dialer: 活动 %s 试拨一次，检查交换机是否恢复 / campaign %s: one probe call to see "
                    "whether the PBX takes calls again (attempt %s)",
                    view.id,
                    view.id,
                    placed[0].attempt_id,
                )
            else:
                st.breaker.probe_not_placed(time.monotonic())
        if len(placed) < wanted:
            # nothing (more) to dial now: top up the sample once, and do not ask again for a while
            if mono - st.last_topup >= 2.0:
                st.last_topup = mono
                await asyncio.to_thread(self._db_top_up, view.id)
            st.no_case_until = mono + max(1.0, self.tick_seconds * 4)
            # Nothing to hand out: if that is for good (quotas full, no number left), every seat
            # of the campaign is told at once, once; a later open cell (reopened) starts over.
            st.finished = await asyncio.to_thread(self._db_announce_finished, view.id, st.finished)
        else:
            st.finished = None
        if placed:
            await asyncio.gather(*(self._originate(p, st.mode, view.id, view.ring_timeout_s) for p in placed))

    def _campaign_state(self, view: _CampaignView) -> _CampaignState:
        st = self._campaigns.get(view.id)
        if st is None or st.mode is not view.mode or st.cap != view.cap:
            pacer = self.pacer_factory(view.mode, view.cap)
            if st is not None:
                if isinstance(pacer, Pacer) and isinstance(st.pacer, Pacer):
                    pacer.stats = st.pacer.stats  # keep what was learnt
                st.pacer, st.mode, st.cap = pacer, view.mode, view.cap
            else:
                st = _CampaignState(pacer=pacer, mode=view.mode, cap=view.cap, breaker=self._new_breaker())
                self._campaigns[view.id] = st
        return st

    def _observe_wraps(self, st: _CampaignState, view: _CampaignView, now_s: float) -> None:
        """A seat seen in wrap-up and now ready again: feed the wrap-up time to the estimator."""
        for user_id, (status, since) in view.seats.items():
            before = st.seats_seen.get(user_id)
            if before is not None and before[0] == SeatStatus.wrap_up.value and status != before[0]:
                st.pacer.observe_wrap(max(0.0, since - before[1]))
        st.seats_seen = dict(view.seats)

    async def _originate(self, placed: _Placed, mode: Mode, campaign_id: int, ring_timeout_s: int) -> None:
        client = self.client
        assert client is not None
        s = self.settings
        call = _Call(
            key=placed.key,
            channel_id=placed.channel_id,
            attempt_id=placed.attempt_id,
            case_id=placed.case_id,
            campaign_id=campaign_id,
            mode=mode,
            seat_user_id=placed.seat_user_id,
            placed_at=self.clock.now().timestamp(),
        )
        self._calls[call.key] = call
        self._by_attempt[call.attempt_id] = call
        st = self._campaigns.get(campaign_id)
        if st is not None:
            st.placed += 1
        self.counters["placed"] += 1
        if placed.exten is not None:
            context, exten = s.interviewer_context, placed.exten
        else:
            context, exten = s.hold_context, s.hold_exten
        try:
            await client.originate(
                placed.key,
                s.dial_template.format(number=placed.number),
                context=context,
                exten=exten,
                timeout_ms=max(MIN_RING_SECONDS, ring_timeout_s) * 1000,
                caller_id=s.caller_id or None,
                variables={"CASEID": str(placed.case_id), "ATTEMPTID": str(placed.attempt_id)},
            )
        except OriginateRefusedError as exc:
            self.counters["originate_failed"] += 1
            log.warning("dialer: originate of attempt %s refused: %s", placed.attempt_id, exc)
            # the client emitted the attempt's ``ended`` (failed) update: recorded by _ended
        except OriginateUnconfirmedError as exc:
            log.warning("dialer: %s", exc)  # still tracked: its events or reconciliation end it
        except (AmiNotConnectedError, ValueError) as exc:
            # nothing was sent: close the attempt as failed (not counted; retried after the short
            # not_dialled delay). The link's state, not the breaker, stops the dialling meanwhile.
            self.counters["originate_failed"] += 1
            self._breaker_signal(call, Signal.NEUTRAL, None)
            log.warning("dialer: attempt %s not dialled: %s", placed.attempt_id, exc)
            call.ended = True
            self._spawn(self._record_end(call, CallOutcome.FAILED, None, None, str(exc)))

    # -- AMI updates -------------------------------------------------------------------------
    def _on_update(self, update: AttemptUpdate) -> None:
        call = self._calls.get(update.attempt_id)
        if call is None:
            return
        signal = signal_of(update)
        if signal is not None:
            self._breaker_signal(call, signal, update)
        if update.phase is AttemptPhase.ANSWERED:
            if call.answered or call.ended:
                return
            call.answered = True
            call.answered_mono = time.monotonic()
            call.answered_at = self.clock.now()
            self.counters["answered"] += 1
            st = self._campaigns.get(call.campaign_id)
            if st is not None:
                st.answered += 1
                st.pacer.observe_dial(update.ring_seconds or 0.0, True)
            self._spawn(self._answered(call))
        elif update.phase is AttemptPhase.ENDED:
            if call.ended and update.outcome is None:
                return
            call.ended = True
            call.hung_up_at = self.clock.now()
            if call.answered and not call.connected:
                self._wake_waiting_calls()  # its answer handler stops waiting for a seat
            st = self._campaigns.get(call.campaign_id)
            if st is not None:
                if not call.answered:
                    st.pacer.observe_dial(update.ring_seconds or 0.0, False)
                elif call.connected and update.talk_seconds is not None:
                    st.pacer.observe_talk(update.talk_seconds)
            outcome = update.outcome or CallOutcome.LOST
            self._spawn(self._record_end(call, outcome, update.cause, update.talk_seconds, update.detail))

    def _new_breaker(self) -> Breaker:
        s = self.settings
        return Breaker(
            BreakerConfig(
                threshold=s.breaker_threshold,
                backoff=s.breaker_backoff_seconds,
                max_backoff=s.breaker_max_backoff_seconds,
            )
        )

    def _breaker_signal(self, call: _Call, signal: Signal, update: AttemptUpdate | None) -> None:
        """Feed one originate's signal to its campaign's breaker; log and publish a change of state."""
        st = self._campaigns.get(call.campaign_id)
        if st is None:
            return
        br = st.breaker
        detail = None
        if update is not None and signal is Signal.REFUSED:
            detail = update.detail
        elif update is not None and signal is Signal.DIALPLAN:
            detail = (
                f"OriginateResponse Failure, Reason {update.reason}, cause {update.cause} "
                f"({update.cause_text or 'no cause'}): no such context/extension or channel technology"
            )
        was = br.state
        if not br.record(time.monotonic(), signal, key=call.key, detail=detail):
            return
        self._log_breaker(call.campaign_id, br, was)
        if was is BreakerState.CLOSED:
            self.counters["breaker_opened"] += 1
        self.bus.publish("dialer", "dialer", self.status())

    def _log_breaker(self, campaign_id: int, br: Breaker, was: BreakerState) -> None:
        """Every breaker change on the console log, Chinese first: the operator learns why calls stopped."""
        cid = campaign_id
        if br.state is BreakerState.CLOSED:
            log.warning(
                "dialer: 试拨成功，活动 %s 恢复拨号 / "
                "campaign %s: the probe call got through, dialling resumes",
                cid,
                cid,
            )
            return
        wait = br.backoff
        if was is BreakerState.CLOSED and br.reason == Signal.DIALPLAN.value:
            log.warning(
                "dialer: 拨号计划错误，活动 %s 暂停拨号，%.0f 秒后试拨"
                "（请检查 CATI_DIAL_TEMPLATE 与拨号计划的 context）/ "
                "campaign %s paused: dial plan error (%s); check CATI_DIAL_TEMPLATE and the "
                "dialplan's contexts; one probe call in %.0f s",
                cid,
                wait,
                cid,
                br.detail,
                wait,
            )
        elif was is BreakerState.CLOSED:
            log.warning(
                "dialer: 交换机连续拒绝 %d 次呼叫，活动 %s 暂停拨号，%.0f 秒后试拨 / "
                "campaign %s paused: the PBX refused %d originates in a row (%s); one probe call in %.0f s",
                br.config.threshold,
                cid,
                wait,
                cid,
                br.config.threshold,
                br.detail,
                wait,
            )
        else:
            log.warning(
                "dialer: 试拨失败，活动 %s 继续暂停，%.0f 秒后再试 / "
                "campaign %s: the probe call failed (%s); still paused, next probe in %.0f s",
                cid,
                wait,
                cid,
                br.detail or br.reason,
                wait,
            )

    def breaker_block(self, campaign_id: int) -> str | None:
        """Why no call may be placed for this campaign now because of its breaker, or None."""
        st = self._campaigns.get(campaign_id)
        if st is None or st.breaker.may_place(time.monotonic()):
            return None
        return (
            "交换机拒绝呼叫或拨号计划有误，本活动已暂停拨号，试拨成功后自动恢复 / "
            "the PBX is refusing calls or the dial plan is wrong "
            f"({st.breaker.detail or st.breaker.reason}): dialling is paused until "
            "a probe call gets through"
        )

    def _on_state(self, state: LinkState, detail: str | None) -> None:
        self._log_link(state, detail)
        if state is LinkState.UP:
            self._reconcile_pending = True
            if self._wake is not None:
                self._wake.set()
        self.bus.publish("dialer", "dialer", self.status())

    def _log_link(self, state: LinkState, detail: str | None) -> None:
        """Every link change on the console log: an operator must see a dead or refused PBX."""
        where = self.settings.pbx_label
        if not self.settings.ami_host and self.pbx_address is not None:
            where += " {}:{}".format(*self.pbx_address)
        why = f" ({detail})" if detail else ""
        if state is LinkState.UP:
            log.info("dialer: PBX link up: %s", where)
        elif state is LinkState.CONNECTING:
            log.info("dialer: PBX link connecting / reconnecting: %s", where)
        elif state is LinkState.LOGIN_REFUSED:
            log.error("dialer: PBX refused the AMI login (check CATI_AMI_USERNAME/SECRET): %s%s", where, why)
        elif detail == "stopped":
            log.info("dialer: PBX link closed: %s", where)
        else:
            log.warning("dialer: PBX link down, no calls placed until it is back: %s%s", where, why)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counters["errors"] += 1
            log.error("dialer task failed", exc_info=task.exception())

    async def _answered(self, call: _Call) -> None:
        """Bind the answered call to an interviewer within 2 s of service time, or abandon it.

        A seat is looked for at the answer and again at every wake (a seat turned ready) until the
        service clock reaches answer + ``ABANDON_AFTER_SECONDS``; then the call is abandoned.
        """
        async with call.lock:
            if call.ended:
                await asyncio.to_thread(self._db_mark_answered, call)
                return
            assert call.answered_at is not None
            deadline = call.answered_at + dt.timedelta(seconds=ABANDON_AFTER_SECONDS)
            first = True
            reserved = call.seat_user_id
            while True:
                freed = self._seat_freed  # taken before looking: a wake during the look is not lost
                assert freed is not None
                if call.ended:
                    break
                if reserved is not None:
                    user_id = await asyncio.to_thread(self._db_connect_reserved, call, reserved)
                    reserved = None
                    if user_id is None:
                        call.seat_user_id = None  # the reserved seat could not take it: any ready seat
                else:
                    user_id, exten = await asyncio.to_thread(self._db_connect_any, call, first)
                    if user_id is not None and exten is not None:
                        await self._redirect(call, self.settings.interviewer_context, exten)
                first = False
                if user_id is not None:
                    self._connected(call)
                    return
                if not await self.clock.wait_until(deadline, freed):
                    break  # the service clock reached the deadline with no seat
            if call.ended:
                # the respondent hung up while waiting: abandoned by the 2-second rule if they waited
                # that long (in service time) without an interviewer
                held = ((call.hung_up_at or self.clock.now()) - call.answered_at).total_seconds()
                if held >= ABANDON_AFTER_SECONDS:
                    self._count_abandoned(call, held)
                    await asyncio.to_thread(self._db_abandoned, call)
                return
            await self._abandon(call, (self.clock.now() - call.answered_at).total_seconds())

    def _connected(self, call: _Call) -> None:
        assert call.answered_mono is not None
        call.connected = True
        committed = call.committed_mono if call.committed_mono is not None else time.monotonic()
        self.latencies_ms.append((committed - call.answered_mono) * 1000.0)
        self.counters["connected"] += 1
        st = self._campaigns.get(call.campaign_id)
        if st is not None:
            st.connected += 1

    def _count_abandoned(self, call: _Call, held_s: float) -> None:
        call.abandoned = True
        self.abandon_holds_s.append(held_s)
        self.counters["abandoned"] += 1
        st = self._campaigns.get(call.campaign_id)
        if st is not None:
            st.abandoned += 1

    async def _abandon(self, call: _Call, held_s: float) -> None:
        self._count_abandoned(call, held_s)
        await self._redirect(call, self.settings.abandon_context, self.settings.abandon_exten)
        await asyncio.to_thread(self._db_abandoned, call)

    async def _redirect(self, call: _Call, context: str, exten: str) -> None:
        if self.client is None or call.ended:
            return
        try:
            await self.client.redirect(call.key, context, exten)
        except (UnknownAttemptError, AmiError) as exc:
            log.warning("dialer: redirect of attempt %s to %s failed: %s", call.attempt_id, context, exc)

    async def _record_end(
        self,
        call: _Call,
        outcome: CallOutcome,
        cause: int | None,
        talk_seconds: float | None,
        detail: str | None,
    ) -> None:
        async with call.lock:
            try:
                await asyncio.to_thread(self._db_ended, call, outcome, cause)
            finally:
                self.counters["ended"] += 1
                self._calls.pop(call.key, None)
                self._by_attempt.pop(call.attempt_id, None)
        self.wake(call.campaign_id)

    async def _reconcile_db(self) -> None:
        """After a (re)connect: close every open attempt of this node the PBX no longer has."""
        client = self.client
        assert client is not None
        try:
            channels = await client.core_show_channels()
        except AmiError as exc:
            log.warning("dialer: reconciliation postponed: %s", exc)
            return
        self._reconcile_pending = False
        alive = {c.get("Uniqueid", "") for c in channels}
        alive |= {c.channel_id for c in self._calls.values()}  # the client reconciles those itself
        # Calls placed by an earlier run of this node that the PBX still has: found again by their
        # ChannelId and tracked, so they end with their real outcome instead of staying open.
        orphans = await asyncio.to_thread(self._db_open_attempts, alive)
        for found in orphans:
            await self._adopt(found)
        result = await asyncio.to_thread(self._db_reconcile, alive)
        self.counters["reconciled_attempts"] += len(result.closed_attempts)
        self.last_reconcile = {
            "at": self.clock.now().isoformat(),
            "closed_attempts": len(result.closed_attempts),
            "rescheduled_cases": len(result.rescheduled_cases),
            "with_interviewer": len(result.to_code),
        }
        await self._sweep()
        self.bus.publish("dialer", "dialer", self.status())

    async def _adopt(self, found: _Orphan) -> None:
        """Track a call of an earlier run again (the AMI client registers it by its ChannelId)."""
        client = self.client
        assert client is not None
        prefix = "cati-"
        if not (found.channel_id.startswith(prefix) and found.channel_id.endswith("-a")):
            return  # not one of ours: reconciliation decides
        key = found.channel_id[len(prefix) : -2]
        if key in self._calls or client.tracker.is_open(key):
            return
        call = _Call(
            key=key,
            channel_id=found.channel_id,
            attempt_id=found.attempt_id,
            case_id=found.case_id,
            campaign_id=found.campaign_id,
            mode=found.mode,
            seat_user_id=found.interviewer_id,
            placed_at=self.clock.now().timestamp(),
            answered=found.answered,
            connected=found.connected,
        )
        if found.answered:
            call.answered_at = self.clock.now()
            call.answered_mono = time.monotonic()
        self._calls[key] = call
        self._by_attempt[call.attempt_id] = call
        try:
            updates, up = await client.adopt(key, answered=found.answered)
        except AmiError as exc:
            log.warning("dialer: attempt %s could not be adopted: %s", found.attempt_id, exc)
            return
        log.warning(
            "dialer: 重启前的呼叫仍在进行，已重新跟踪 / attempt %s (ChannelId %s) is still alive on the PBX: "
            "tracked again until it ends",
            found.attempt_id,
            found.channel_id,
        )
        if updates or call.ended:
            return
        if up and not call.answered:
            # answered while nobody watched: far past the 2-second rule, nobody is waiting on it
            call.answered = True
            call.answered_at = self.clock.now()
            call.answered_mono = time.monotonic()
            await asyncio.to_thread(self._db_mark_answered, call)
        if call.answered and not call.connected:
            self._spawn(self._abandon(call, float(ABANDON_AFTER_SECONDS)))

    # -- database units (each runs in a worker thread, one transaction) --------------------------
    def _now(self) -> dt.datetime:
        return self.clock.now()

    def _db_views(self) -> list[_CampaignView]:
        now = self._now()
        out: list[_CampaignView] = []
        with transaction(self.factory) as s:
            campaigns = (
                s.execute(select(Campaign).where(Campaign.status == CampaignStatus.fieldwork.value))
                .scalars()
                .all()
            )
            for c in campaigns:
                if c.dialling_paused_at is not None:
                    continue  # paused by a supervisor (cati/controls/): no pacing, no top-up
                try:
                    mode = Mode(c.dialling_mode)
                except ValueError:
                    log.error("campaign %s has unknown dialling mode %r", c.code, c.dialling_mode)
                    continue
                ctx = cases.campaign_rules(s, c.id)
                seats = (
                    s.execute(select(InterviewerSeat).where(InterviewerSeat.campaign_id == c.id))
                    .scalars()
                    .all()
                )
                ready = len(console.ready_seats(s, c.id))
                talking = [
                    _age(now, seat.status_since) for seat in seats if seat.status == SeatStatus.on_call.value
                ]
                wrapping = [
                    _age(now, seat.status_since) for seat in seats if seat.status == SeatStatus.wrap_up.value
                ]
                day_start = start_of_next_local_day(now, ctx.windows.tz) - dt.timedelta(days=1)
                live, abandoned = s.execute(
                    select(
                        func.count(Attempt.id),
                        func.count(Attempt.id).filter(Attempt.abandoned.is_(True)),
                    ).where(Attempt.campaign_id == c.id, Attempt.answered_at >= day_start)
                ).one()
                out.append(
                    _CampaignView(
                        id=c.id,
                        mode=mode,
                        cap=c.abandon_cap,
                        ring_timeout_s=c.ring_timeout_s or 30,
                        tz=ctx.windows.tz,
                        ready=ready,
                        talking=talking,
                        wrapping=wrapping,
                        seats={seat.user_id: (seat.status, _epoch(seat.status_since)) for seat in seats},
                        abandoned_today=int(abandoned or 0),
                        live_today=int(live or 0),
                    )
                )
        return out

    def _new_key(self) -> tuple[str, str]:
        key = uuid.uuid4().hex
        return key, f"cati-{key}-a"

    def _db_hand_out(self, campaign_id: int, mode: Mode, wanted: int) -> list[_Placed]:
        """Hand out up to ``wanted`` cases, one transaction per call (short row locks)."""
        out: list[_Placed] = []
        for _ in range(wanted):
            now = self._now()
            with transaction(self.factory) as s:
                seat: InterviewerSeat | None = None
                exten: str | None = None
                if mode is Mode.PROGRESSIVE:
                    seat = console.pick_ready_seat(s, campaign_id, now=now)
                    if seat is None:
                        return out
                    exten = self._exten(s, seat.user_id)
                case = cases.next_case(
                    s, campaign_id, now=now, interviewer_id=seat.user_id if seat is not None else None
                )
                if case is None:
                    return out
                key, channel_id = self._new_key()
                attempt = cases.start_attempt(
                    s,
                    case,
                    channel_id=channel_id,
                    dialling_mode=mode.value,
                    interviewer_id=seat.user_id if seat is not None else None,
                    now=now,
                    node=self.node,
                )
                if seat is not None:
                    console.reserve_seat(s, seat, case_id=case.id, attempt_id=attempt.id, now=now)
                out.append(
                    _Placed(
                        key,
                        channel_id,
                        attempt.id,
                        case.id,
                        case.phone_number,
                        seat.user_id if seat is not None else None,
                        exten,
                    )
                )
        return out

    def _db_start_preview(self, user_id: int, case_id: int) -> tuple[_Placed, int, int]:
        now = self._now()
        with transaction(self.factory) as s:
            case = s.get(Case, case_id)
            if case is None:
                raise DialerUnavailable(f"case {case_id} not found")
            campaign = s.get(Campaign, case.campaign_id)
            assert campaign is not None
            stopped = paused_for(s, campaign, case.district_id, case.stratum)
            stopped = stopped or self.breaker_block(campaign.id)
            if stopped is not None:
                raise DialerUnavailable(stopped)
            seat = s.get(InterviewerSeat, user_id)
            if seat is None:
                raise DialerUnavailable(f"interviewer {user_id} has no seat")
            key, channel_id = self._new_key()
            try:
                attempt = cases.start_attempt(
                    s,
                    case,
                    channel_id=channel_id,
                    dialling_mode=Mode.PREVIEW.value,
                    interviewer_id=user_id,
                    now=now,
                    node=self.node,
                )
            except AppError as exc:
                raise DialerUnavailable(str(exc.detail)) from None
            try:  # ready -> reserved, or the seat already previewing this case takes the attempt
                console.reserve_seat(s, seat, case_id=case.id, attempt_id=attempt.id, now=now)
            except AppError as exc:
                raise DialerUnavailable(str(exc.detail)) from None
            exten = self._exten(s, user_id)
            placed = _Placed(key, channel_id, attempt.id, case.id, case.phone_number, user_id, exten)
            return placed, campaign.id, campaign.ring_timeout_s or 30

    def _exten(self, s: Session, user_id: int) -> str:
        user = s.get(User, user_id)
        extension = (user.extension if user is not None else None) or str(user_id)
        return self.settings.interviewer_exten_template.format(extension=extension, user_id=user_id)

    def _db_top_up(self, campaign_id: int) -> None:
        try:
            with transaction(self.factory) as s:
                released = cases.top_up(s, campaign_id, self._now())
            if released:
                log.info("dialer: campaign %s topped up %d replicate(s)", campaign_id, len(released))
        except AppError as exc:
            log.warning("dialer: top-up of campaign %s failed: %s", campaign_id, exc.detail)

    def _db_announce_finished(self, campaign_id: int, told: str | None) -> str | None:
        """Tell the campaign's seats that dialling has finished (unless already told for the same reason)."""
        with transaction(self.factory) as s:
            reason = cases.dialling_outlook(s, campaign_id)
            if reason is not None and reason != told:
                console.announce_dialling_finished(s, campaign_id, reason)
                log.info("dialer: campaign %s has finished dialling (%s); seats told", campaign_id, reason)
            return reason

    def _db_mark_answered(self, call: _Call) -> None:
        with transaction(self.factory) as s:
            cases.mark_answered(s, call.attempt_id, now=self._now())

    def _db_connect_reserved(self, call: _Call, user_id: int) -> int | None:
        """Progressive/preview: the call rang straight through to the reserved interviewer."""
        now = self._now()
        try:
            with transaction(self.factory) as s:
                cases.mark_answered(s, call.attempt_id, now=now)
                console.connect_call(
                    s, user_id=user_id, case_id=call.case_id, attempt_id=call.attempt_id, now=now
                )
        except AppError as exc:
            log.warning(
                "dialer: reserved seat %s could not take attempt %s: %s", user_id, call.attempt_id, exc
            )
            with transaction(self.factory) as s:
                cases.mark_answered(s, call.attempt_id, now=now)
            return None
        call.committed_mono = time.monotonic()  # the console's event is published at this commit
        call.seat_user_id = user_id
        return user_id

    def _db_connect_any(self, call: _Call, first: bool) -> tuple[int | None, str | None]:
        """Predictive: the first ready seat takes the call (row-locked), or nobody is ready."""
        now = self._now()
        with transaction(self.factory) as s:
            if first:
                cases.mark_answered(s, call.attempt_id, now=now)
            case = s.get(Case, call.case_id)
            prefer = case.appointment_interviewer_id if case is not None else None
            seat = console.pick_ready_seat(s, call.campaign_id, now=now, prefer_user_id=prefer)
            if seat is None:
                return None, None
            user_id = seat.user_id
            exten = self._exten(s, user_id)
            console.connect_call(
                s, user_id=user_id, case_id=call.case_id, attempt_id=call.attempt_id, now=now
            )
        call.committed_mono = time.monotonic()  # the console's event is published at this commit
        call.seat_user_id = user_id
        return user_id, exten

    def _db_abandoned(self, call: _Call) -> None:
        with transaction(self.factory) as s:
            cases.mark_abandoned(s, call.attempt_id, now=self._now())

    def _db_ended(self, call: _Call, outcome: CallOutcome, cause: int | None) -> None:
        now = self._now()
        code = call_disposition(outcome, answered=call.answered, cause=cause)
        with transaction(self.factory) as s:
            if call.seat_user_id is not None:
                # the seat before the case, as the console locks them: the other order deadlocks on
                # PostgreSQL with an interviewer coding the call just as it ends
                with contextlib.suppress(AppError):
                    console.lock_seat(s, call.seat_user_id, create=False)
            cases.record_call_result(
                s, call.attempt_id, outcome=outcome.value, hangup_cause=cause, disposition=code, now=now
            )
            if call.connected:
                _guarded(s, lambda: console.call_ended(s, attempt_id=call.attempt_id, now=now))
            elif call.seat_user_id is not None:
                user_id = call.seat_user_id
                _guarded(s, lambda: console.release_seat(s, user_id, now=now, reason=outcome.value))

    def _db_open_attempts(self, alive: set[str]) -> list[_Orphan]:
        """This node's open attempts that the PBX still has a channel for and no one tracks."""
        with transaction(self.factory) as s:
            rows = s.execute(
                select(Attempt).where(Attempt.ended_at.is_(None), Attempt.dialer_node == self.node)
            ).scalars()
            out: list[_Orphan] = []
            for a in rows:
                if a.channel_id not in alive or a.id in self._by_attempt:
                    continue
                try:
                    mode = Mode(a.dialling_mode)
                except ValueError:
                    mode = Mode.PREDICTIVE
                out.append(
                    _Orphan(
                        attempt_id=a.id,
                        channel_id=a.channel_id,
                        case_id=a.case_id,
                        campaign_id=a.campaign_id,
                        mode=mode,
                        interviewer_id=a.interviewer_id,
                        answered=a.answered_at is not None,
                        connected=a.connected_at is not None,
                    )
                )
            return out

    def _db_reconcile(self, alive: set[str]) -> recovery.Recovered:
        out = recovery.Recovered()
        with transaction(self.factory) as s:
            # seats are locked before cases (campaign share -> seat -> case -> attempt); an on_call
            # seat goes to wrap_up with its call to code, a reserved one back to ready
            recovery.reconcile(s, alive, self._now(), node=self.node, into=out)
        if out.closed_attempts:
            log.warning("dialer: reconciliation closed %d open attempt(s)", len(out.closed_attempts))
        return out

    def _db_sweep(self) -> recovery.Recovered:
        return recovery.sweep(self.factory, self._now, code_after_s=self.settings.recover_code_after_seconds)


def paused_for(s: Session, campaign: Campaign, district_id: int, stratum: str) -> str | None:
    """Why no new call may be placed for a case of this district and stratum now, or None."""
    if campaign.dialling_paused_at is not None:
        return "督导已暂停本调查活动的拨号 / a supervisor paused dialling for this campaign"
    district = s.get(District, district_id)
    if district is not None and district.dialling_paused_at is not None:
        return (
            f"督导已暂停 {district.name_zh} 的拨号 / "
            f"a supervisor paused dialling for district {district.code}"
        )
    closed = s.execute(
        select(QuotaCell.id).where(
            QuotaCell.district_id == district_id,
            QuotaCell.stratum == stratum,
            QuotaCell.closed_at.is_not(None),
        )
    ).first()
    if closed is not None:
        return "该配额单元已被督导关闭 / a supervisor closed this quota cell"
    return None


def _guarded(s: Session, step: Callable[[], object]) -> None:
    """Run a seat step in a savepoint: a seat the console already moved on must not undo the call's record."""
    try:
        with s.begin_nested():
            step()
    except AppError as exc:
        log.info("dialer: seat step skipped: %s", exc.detail)


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return max(0.0, (now - since).total_seconds())


def _epoch(when: dt.datetime | None) -> float:
    if when is None:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    if len(sorted_values) == 1:
        return round(sorted_values[0], 2)
    return round(statistics.quantiles(sorted_values, n=100, method="inclusive")[round(q * 100) - 1], 2)


__all__ = ["DialerService"]
