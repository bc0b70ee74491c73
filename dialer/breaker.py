"""Circuit breaker for the PBX, pure: when to stop originating, when to probe, when to resume.

Why: a PBX that refuses every Originate ("Asterisk is shutting down" during ``core restart
gracefully``) or a dial plan that points at a context that does not exist fails every call in
milliseconds. Without a breaker the dialer hands out the whole sample in seconds (issue 10: 114
refused originates in 1.7 s; 200 attempts in 10 s with a wrong context). The breaker turns those
failures into a pause of the campaign's dialling, with a reason an operator can read, and resumes by
itself once a single probe call gets through.

No I/O and no clock reads: every method takes ``now`` (seconds on any monotonic clock) and the shell
(``cati.dialing.service``) feeds it what the AMI client reports.

Signals (what one originate told us):

* ``REFUSED``: the PBX refused the Originate action itself (Response: Error, e.g. "Asterisk is
  shutting down"): the call never existed. ``threshold`` consecutive ones open the breaker.
* ``DIALPLAN``: the Originate was queued but failed with no network outcome (OriginateResponse
  Failure, Reason 0, Q.850 cause 0: bad context, extension or channel technology; the
  ``bad-extension`` and ``bad-channel-tech`` captures). A configuration error: opens at once.
* ``SUCCESS``: the network gave the call a result (ringing, answer, busy, no answer, a Q.850 cause
  about the number...). Resets the count; closes a breaker whose probe it is.
* ``NEUTRAL``: nothing learnt (the link dropped, the call was lost).

Transition table (the one place ``state`` changes)::

    CLOSED  --REFUSED (count reaches threshold) / DIALPLAN--> OPEN     (back-off = base)
    OPEN    --allow() at or after reopen_at--> PROBING                  (one probe handed out)
    PROBING --SUCCESS of the probe--> CLOSED                           (back-off reset)
    PROBING --REFUSED / DIALPLAN of the probe--> OPEN                  (back-off doubled, capped)
    PROBING --NEUTRAL of the probe, or probe_not_placed()--> OPEN      (same back-off: nothing learnt)

While OPEN or PROBING only the probe's own signals count: calls placed before the breaker opened
may still end with a real outcome (a graceful restart lets them finish), which says nothing about
whether a *new* Originate would be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from dialer.ami.outcomes import REASON_FAILED, AttemptPhase, AttemptUpdate, CallOutcome

__all__ = ["Breaker", "BreakerConfig", "BreakerState", "Signal", "signal_of"]


class BreakerState(StrEnum):
    CLOSED = "closed"  # dialling normally
    OPEN = "open"  # no originate until reopen_at
    PROBING = "probing"  # one probe call is out; nothing else is originated


class Signal(StrEnum):
    SUCCESS = "success"
    REFUSED = "refused"
    DIALPLAN = "dialplan"
    NEUTRAL = "neutral"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """``threshold`` consecutive refusals open the breaker; a probe follows ``backoff`` seconds later,
    doubled after every failed probe up to ``max_backoff``."""

    threshold: int = 5
    backoff: float = 30.0
    max_backoff: float = 600.0

    def __post_init__(self) -> None:
        if self.threshold < 1:
            raise ValueError("breaker threshold must be at least 1")
        if not (self.backoff > 0 and self.max_backoff >= self.backoff):
            raise ValueError("breaker back-off must be > 0 and max back-off >= back-off")


@dataclass(slots=True)
class Breaker:
    """One campaign's breaker. ``allow`` before handing out calls; ``record`` every originate's signal."""

    config: BreakerConfig = field(default_factory=BreakerConfig)
    state: BreakerState = BreakerState.CLOSED
    refusals: int = 0  # consecutive refusals while closed
    backoff: float = 0.0  # the current back-off (0 while closed)
    reopen_at: float | None = None  # OPEN: when the probe may go
    opened_at: float | None = None
    probe_key: str | None = None  # PROBING: the probe's attempt key
    reason: str | None = None  # why it opened (REFUSED / DIALPLAN), for the log and the status
    detail: str | None = None  # the PBX's words (e.g. "Asterisk is shutting down")
    opened_count: int = 0
    probes: int = 0

    # -- questions ------------------------------------------------------------------------------
    def allow(self, now: float) -> int | None:
        """How many calls may be handed out now: ``None`` (no limit: closed), ``0`` or ``1`` (the probe).

        At or after ``reopen_at`` an OPEN breaker goes to PROBING and allows one call; the caller
        names it with ``probe_started`` (or gives it back with ``probe_not_placed``).
        """
        if self.state is BreakerState.CLOSED:
            return None
        if self.state is BreakerState.OPEN and self.reopen_at is not None and now >= self.reopen_at:
            self.state = BreakerState.PROBING
            self.probe_key = None
            return 1
        if self.state is BreakerState.PROBING and self.probe_key is None:
            return 1  # the probe is allowed but not placed yet
        return 0

    def may_place(self, now: float) -> bool:
        """Whether a call may be placed now (closed, or a probe is due and not yet out); no change."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self.reopen_at is not None and now >= self.reopen_at
        return self.probe_key is None

    @property
    def is_closed(self) -> bool:
        return self.state is BreakerState.CLOSED

    # -- the probe ------------------------------------------------------------------------------
    def probe_started(self, key: str) -> None:
        """The probe call (attempt ``key``) is being originated."""
        if self.state is not BreakerState.PROBING:
            raise ValueError(f"no probe is due: the breaker is {self.state.value}")
        self.probe_key = key
        self.probes += 1

    def probe_not_placed(self, now: float) -> None:
        """The probe was allowed but nothing was dialled (no case, no ready seat): wait and try again."""
        if self.state is BreakerState.PROBING and self.probe_key is None:
            self._open(now, self.backoff, self.reason, self.detail, count=False)

    # -- signals --------------------------------------------------------------------------------
    def record(
        self, now: float, signal: Signal, *, key: str | None = None, detail: str | None = None
    ) -> bool:
        """Account one originate's signal; True when the state changed (the shell logs it)."""
        before = self.state
        if self.state is BreakerState.CLOSED:
            if signal is Signal.SUCCESS:
                self.refusals = 0
            elif signal is Signal.REFUSED:
                self.refusals += 1
                if self.refusals >= self.config.threshold:
                    self._open(now, self.config.backoff, signal, detail)
            elif signal is Signal.DIALPLAN:
                self._open(now, self.config.backoff, signal, detail)
            return self.state is not before
        if self.state is not BreakerState.PROBING or key is None or key != self.probe_key:
            return False  # only the probe speaks while the breaker is not closed
        if signal is Signal.SUCCESS:
            self.state = BreakerState.CLOSED
            self.refusals = 0
            self.backoff = 0.0
            self.reopen_at = None
            self.probe_key = None
        elif signal is Signal.NEUTRAL:
            self._open(now, self.backoff, self.reason, self.detail, count=False)
        else:
            self._open(now, min(self.backoff * 2, self.config.max_backoff), signal, detail, count=False)
        return True

    def _open(
        self, now: float, backoff: float, reason: str | None, detail: str | None, *, count: bool = True
    ) -> None:
        if count:
            self.opened_count += 1
            self.opened_at = now
        self.state = BreakerState.OPEN
        self.backoff = backoff
        self.reopen_at = now + backoff
        self.probe_key = None
        self.reason = str(reason) if reason is not None else None
        self.detail = detail

    # -- for the status endpoint ----------------------------------------------------------------
    def snapshot(self, now: float) -> dict[str, Any]:
        """The breaker as plain data (seconds relative to ``now``, so no clock leaks out)."""
        return {
            "state": self.state.value,
            "open": self.state is not BreakerState.CLOSED,
            "reason": self.reason if self.state is not BreakerState.CLOSED else None,
            "detail": self.detail if self.state is not BreakerState.CLOSED else None,
            "consecutive_refusals": self.refusals,
            "threshold": self.config.threshold,
            "backoff_s": round(self.backoff, 3),
            "probe_in_s": (
                round(max(0.0, self.reopen_at - now), 3)
                if self.state is BreakerState.OPEN and self.reopen_at is not None
                else None
            ),
            "opened": self.opened_count,
            "probes": self.probes,
        }


def signal_of(update: AttemptUpdate) -> Signal | None:
    """What one attempt update says about the PBX accepting calls (None: nothing yet).

    A refused Originate ends ``failed`` *with* a detail (``AttemptTracker.refused``); a queued one that
    failed inside the PBX ends ``failed`` from the event stream with OriginateResponse Reason 0 and no
    Q.850 cause naming the number (``bad-extension``, ``bad-channel-tech``): a dial plan error. A ring,
    an answer or any network outcome is a success; a lost call says nothing.
    """
    if update.phase in (AttemptPhase.RINGING, AttemptPhase.ANSWERED):
        return Signal.SUCCESS
    if update.phase is not AttemptPhase.ENDED:
        return None
    outcome = update.outcome
    if outcome is CallOutcome.FAILED:
        if update.detail is not None:
            return Signal.REFUSED
        return Signal.DIALPLAN if update.reason == REASON_FAILED else Signal.NEUTRAL
    if outcome is None or outcome is CallOutcome.LOST:
        return Signal.NEUTRAL
    return Signal.SUCCESS
