"""Pacing: how many calls to place now, in preview, progressive or predictive mode.

Why this shape: the dialer service calls :meth:`Pacer.decide` every tick with a
:class:`Snapshot` of what it knows (ready interviewers, how long busy interviewers have been
talking or wrapping up, the age of every line still ringing, today's abandonment counters) and
places the number of calls returned. Everything here is pure: no I/O and no clock reads (time
enters only as numbers in the snapshot), so the same code runs in the service, in the seeded
fieldwork simulator (:mod:`dialer.pacing_sim`) and in the tests.

* **Preview**: the interviewer asks for each call; the pacer never places one on its own.
* **Progressive**: one line per ready interviewer, counting lines already ringing or answered
  and waiting; it can never abandon a call while interviewers stay logged in.
* **Predictive**: dials more lines than ready interviewers, choosing the largest number of new
  lines for which the forecast share of live answers that would find no interviewer within
  :data:`ABANDON_SECONDS` stays under a target. The forecast uses :class:`CallStats`, an online
  estimator of the live-answer rate, of when a ringing line is answered by a person, and of talk
  and wrap-up times (so of when busy interviewers free up). The target follows the day's realised
  abandonment rate: under budget it may dial a little harder, over budget it backs off toward
  progressive. It never places fewer lines than progressive would.

Abandonment follows the 2-second rule: a live answer with no interviewer connected within 2 s
is abandoned. The cap is per campaign per day (:data:`DEFAULT_CAP` 1%); a cap configured above
:data:`MAX_CAP` (3%) is clamped to 3% (:func:`clamp_cap`), a negative or non-numeric one is refused.

:class:`AdaptiveDialLevel` is the baseline common in open-source dialers, kept for comparison.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "ABANDON_SECONDS",
    "DEFAULT_CAP",
    "MAX_CAP",
    "AdaptiveDialLevel",
    "CallStats",
    "DialPolicy",
    "Mode",
    "Pacer",
    "PacingError",
    "Snapshot",
    "clamp_cap",
    "progressive_calls",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Model = tuple[FloatArray, FloatArray, FloatArray, IntArray]

ABANDON_SECONDS = 2.0
DEFAULT_CAP = 0.01
MAX_CAP = 0.03
DIAL_BINS = 121  # 1-second bins for dial durations; longer ones land in the last bin
TALK_BINS = 7200
WRAP_BINS = 900


class PacingError(ValueError):
    """Bad pacing input: a cap, a mode or a snapshot value that makes no sense."""


class Mode(StrEnum):
    """How calls are placed."""

    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


def clamp_cap(cap: float) -> float:
    """The abandonment cap actually used: ``cap`` clamped to at most :data:`MAX_CAP` (3%)."""
    if isinstance(cap, bool) or not isinstance(cap, int | float) or not math.isfinite(cap) or cap < 0:
        raise PacingError(f"abandonment cap must be a share between 0 and {MAX_CAP}, not {cap!r}")
    return min(float(cap), MAX_CAP)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the service knows at one tick. Times are seconds; ``now`` is any monotonic clock."""

    now: float
    ready: int
    talking: Sequence[float] = ()  # elapsed talk time of each interviewer on a call
    wrapping: Sequence[float] = ()  # elapsed wrap-up time of each interviewer wrapping up
    ringing: Sequence[float] = ()  # age of each line dialled and not yet answered or ended
    waiting: int = 0  # live answers waiting for an interviewer (younger than 2 s)
    abandoned_today: int = 0
    live_answers_today: int = 0

    def __post_init__(self) -> None:
        for name in ("ready", "waiting", "abandoned_today", "live_answers_today"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PacingError(f"snapshot {name} must be a whole number >= 0, not {value!r}")
        if self.abandoned_today > self.live_answers_today:
            raise PacingError("snapshot has more abandoned calls than live answers today")

    @property
    def interviewers(self) -> int:
        """Interviewers logged in: ready, talking or wrapping up."""
        return self.ready + len(self.talking) + len(self.wrapping)


def progressive_calls(snap: Snapshot) -> int:
    """One line per ready interviewer, minus lines already ringing or answered and waiting."""
    return max(0, snap.ready - snap.waiting - len(snap.ringing))


class DialPolicy(Protocol):
    """What the simulator and the service need from a pacing policy."""

    def decide(self, snap: Snapshot) -> int:
        """Calls to place now."""
        ...

    def observe_dial(self, seconds: float, live: bool) -> None:
        """A line ended or was answered by a person after ``seconds``."""
        ...

    def observe_talk(self, seconds: float) -> None:
        """A conversation lasted ``seconds``."""
        ...

    def observe_wrap(self, seconds: float) -> None:
        """A wrap-up lasted ``seconds``."""
        ...


# ------------------------------------------------------------------------------ estimation


def _spread(bins: int, mean: float, weight: float) -> FloatArray:
    """A prior: ``weight`` spread evenly over [mean/2, 3*mean/2] (1-second bins)."""
    out = np.zeros(bins)
    lo = max(0, int(mean * 0.5))
    hi = min(bins - 1, max(lo, int(mean * 1.5)))
    out[lo : hi + 1] = weight / (hi - lo + 1)
    return out


class _Histogram:
    """Exponentially forgetting histogram of durations in 1-second bins, with its cumulative sum."""

    def __init__(self, bins: int, memory: float, prior: FloatArray) -> None:
        self.counts = prior.astype(np.float64).copy()
        self._decay = 0.5 ** (1.0 / memory)
        self._cum: FloatArray | None = None

    def add(self, seconds: float) -> None:
        self.counts *= self._decay
        self.counts[min(max(int(seconds), 0), self.counts.size - 1)] += 1.0
        self._cum = None

    def decay(self) -> None:
        self.counts *= self._decay
        self._cum = None

    @property
    def cum(self) -> FloatArray:
        """``cum[k]`` = weight of durations in bins below ``k`` (length bins + 1)."""
        if self._cum is None:
            self._cum = np.concatenate(([0.0], np.cumsum(self.counts)))
        return self._cum

    @property
    def total(self) -> float:
        return float(self.cum[-1])

    def mean(self) -> float:
        centres = np.arange(self.counts.size) + 0.5
        return float((self.counts * centres).sum() / max(self.total, 1e-12))

    def conditional_cdf(self, elapsed: Sequence[float], steps: int) -> FloatArray:
        """``P(D < e + j | D >= e)`` for each elapsed ``e`` and ``j`` in ``0..steps-1``."""
        bins = self.counts.size
        e = np.minimum(np.maximum(np.asarray(elapsed, dtype=np.float64), 0.0), bins - 1).astype(np.int64)
        idx = np.minimum(e[:, None] + np.arange(steps)[None, :], bins)
        cum = self.cum
        alive = cum[-1] - cum[e]
        done = cum[idx] - cum[e][:, None]
        safe = np.maximum(alive, 1e-12)[:, None]
        out: FloatArray = np.where(alive[:, None] > 1e-9 * max(cum[-1], 1e-12), done / safe, 0.0)
        # beyond every observation: fall back to a memoryless guess with the observed mean
        tail = alive <= 1e-9 * max(cum[-1], 1e-12)
        if tail.any():
            out[tail] = 1.0 - np.exp(-np.arange(steps) / max(self.mean(), 1.0))
        return np.minimum(np.maximum(out, 0.0), 1.0)


class CallStats:
    """Online estimates the predictive pacer needs; fed by the service as calls progress.

    * dial outcomes: how long after dialling a line was answered by a person (live) or ended
      otherwise (busy, no answer, unallocated, machine), as two forgetting histograms; from them
      the live-answer rate and, for a line that has rung ``a`` seconds, the chance it will be
      answered by a person within the next ``t`` seconds;
    * talk and wrap-up times, from which the chance a busy interviewer is free within ``t``.

    ``memory`` is the half-life in observations; the priors weigh ``prior_weight`` observations.
    """

    def __init__(
        self,
        *,
        answer_rate: float = 0.15,
        ring_to_answer: float = 10.0,
        ring_timeout: float = 30.0,
        talk: float = 240.0,
        wrap: float = 45.0,
        prior_weight: float = 20.0,
        memory: float = 1500.0,
    ) -> None:
        if not 0.0 < answer_rate < 1.0:
            raise PacingError(f"prior answer rate must be between 0 and 1, not {answer_rate!r}")
        live_prior = _spread(DIAL_BINS, ring_to_answer, prior_weight * answer_rate)
        self._live = _Histogram(DIAL_BINS, memory, live_prior)
        other = np.zeros(DIAL_BINS)
        other[min(int(ring_timeout), DIAL_BINS - 1)] = prior_weight * (1 - answer_rate)
        self._other = _Histogram(DIAL_BINS, memory, other)
        self._talk = _Histogram(TALK_BINS, memory / 4, _spread(TALK_BINS, talk, prior_weight / 4))
        self._wrap = _Histogram(WRAP_BINS, memory / 4, _spread(WRAP_BINS, wrap, prior_weight / 4))
        self.dials_observed = 0

    # -- feeding
    def record_dial(self, seconds: float, live: bool) -> None:
        """A dial answered by a person after ``seconds`` (live) or ended otherwise after ``seconds``."""
        self.dials_observed += 1
        if live:
            self._other.decay()
            self._live.add(seconds)
        else:
            self._live.decay()
            self._other.add(seconds)

    def record_talk(self, seconds: float) -> None:
        """A conversation's length (connect to hang-up)."""
        self._talk.add(seconds)

    def record_wrap(self, seconds: float) -> None:
        """A wrap-up's length (hang-up to ready)."""
        self._wrap.add(seconds)

    # -- estimates
    @property
    def answer_rate(self) -> float:
        """Share of dials answered by a person."""
        live = self._live.total
        return live / max(live + self._other.total, 1e-12)

    @property
    def mean_ring_to_answer(self) -> float:
        """Mean seconds from dial to a person's answer."""
        return self._live.mean()

    @property
    def mean_talk(self) -> float:
        """Mean conversation length, seconds."""
        return self._talk.mean()

    @property
    def mean_wrap(self) -> float:
        """Mean wrap-up length, seconds."""
        return self._wrap.mean()

    def new_line_live_by(self, steps: int) -> FloatArray:
        """``P(a line dialled now is answered by a person within t s)`` for ``t`` in ``0..steps-1``."""
        idx = np.minimum(np.arange(steps), DIAL_BINS)
        total = self._live.total + self._other.total
        out: FloatArray = self._live.cum[idx] / max(total, 1e-12)
        return out

    def ringing_live_by(self, ages: Sequence[float], steps: int) -> FloatArray:
        """For lines that have rung ``age`` s: ``P(answered by a person within the next t s)``."""
        a = np.minimum(np.maximum(np.asarray(ages, dtype=np.float64), 0.0), DIAL_BINS - 1).astype(np.int64)
        idx = np.minimum(a[:, None] + np.arange(steps)[None, :], DIAL_BINS)
        live, other = self._live.cum, self._other.cum
        alive = (live[-1] - live[a]) + (other[-1] - other[a])
        out: FloatArray = (live[idx] - live[a][:, None]) / np.maximum(alive, 1e-12)[:, None]
        return out

    def free_by(self, talking: Sequence[float], wrapping: Sequence[float], steps: int) -> FloatArray:
        """``P(busy interviewer is ready within t s)`` for ``t`` in ``0..steps-1``; talkers first.

        A talker is free once the rest of the conversation and a whole wrap-up are over.
        """
        rows = []
        wrap_pmf = self._wrap.counts[:steps] / max(self._wrap.total, 1e-12)
        if len(talking) and wrap_pmf.sum() < 1e-6:  # no wrap-up is that short: no talker frees in time
            rows.append(np.zeros((len(talking), steps)))
        elif len(talking):
            rest = self._talk.conditional_cdf(talking, steps)
            lag = np.arange(steps)[None, :] - np.arange(steps)[:, None]
            shift = np.where(lag >= 0, wrap_pmf[np.clip(lag, 0, steps - 1)], 0.0)  # P(W = s - j)
            rows.append(rest @ shift)
        if len(wrapping):
            rows.append(self._wrap.conditional_cdf(wrapping, steps))
        if not rows:
            return np.zeros((0, steps))
        return np.minimum(np.maximum(np.vstack(rows), 0.0), 1.0)


# ------------------------------------------------------------------------------ the pacer


def _poisson_excess(lam: FloatArray, free: IntArray, lnfact: FloatArray) -> FloatArray:
    """``E[(Y - f)^+]`` for ``Y ~ Poisson(lam[t])`` and every ``f >= 0`` in ``free`` (shape t x f).

    Summed over the upper tail, ``lam P(Y >= f) - f P(Y >= f + 1)``, so that tiny risks stay
    positive instead of cancelling to zero when ``f`` is far above ``lam``.
    """
    peak = float(lam.max(initial=0.0))
    top = min(max(int(free[-1]) + 2, int(peak + 12.0 * math.sqrt(peak) + 30.0)), lnfact.size - 1)
    k = np.arange(top + 1)
    loglam = np.log(np.maximum(lam, 1e-300))[:, None]
    pmf = np.exp(k[None, :] * loglam - lam[:, None] - lnfact[None, : top + 1])
    sf = np.zeros((lam.size, top + 2))
    sf[:, :-1] = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # sf[:, j] = P(Y >= j)
    out: FloatArray = np.maximum(lam[:, None] * sf[:, free] - free[None, :] * sf[:, free + 1], 0.0)
    return out


class Pacer:
    """The service's pacing policy for one campaign: call :meth:`decide` every tick.

    ``cap`` is the daily abandonment cap (clamped to 3%). Predictive mode aims at ``aim`` x cap
    and corrects with ``gain`` against the day's realised rate; ``horizon`` is how far ahead
    (seconds) it looks, at least the ring timeout; ``max_lines`` is the trunk limit.
    """

    def __init__(
        self,
        mode: Mode | str = Mode.PREDICTIVE,
        *,
        cap: float = DEFAULT_CAP,
        stats: CallStats | None = None,
        horizon: int = 32,
        max_lines: int = 1000,
        aim: float = 0.6,
        gain: float = 2.0,
        prior_answers: float = 200.0,
        learn_dials: int = 200,
    ) -> None:
        try:
            self.mode = Mode(mode)
        except ValueError:
            names = ", ".join(m.value for m in Mode)
            raise PacingError(f"pacing mode must be one of {names}, not {mode!r}") from None
        self.cap = clamp_cap(cap)
        self.stats = stats or CallStats()
        if horizon < 5 or max_lines < 1:
            raise PacingError("horizon must be >= 5 s and max_lines >= 1")
        self.horizon = int(horizon)
        self.max_lines = int(max_lines)
        self.aim = aim
        self.gain = gain
        self.prior_answers = prior_answers
        self.learn_dials = learn_dials
        self._lnfact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, 4097)))))

    # -- feeding the estimator
    def observe_dial(self, seconds: float, live: bool) -> None:
        """A line ended or was answered by a person after ``seconds``."""
        self.stats.record_dial(seconds, live)

    def observe_talk(self, seconds: float) -> None:
        """A conversation lasted ``seconds``."""
        self.stats.record_talk(seconds)

    def observe_wrap(self, seconds: float) -> None:
        """A wrap-up lasted ``seconds``."""
        self.stats.record_wrap(seconds)

    # -- deciding
    def target(self, snap: Snapshot) -> float:
        """Share of forecast live answers the next decision may leave without an interviewer."""
        if self.cap <= 0:
            return 0.0
        # the day's rate, shrunk toward the aim while there are few answers yet
        rate = (snap.abandoned_today + self.aim * self.cap * self.prior_answers) / (
            snap.live_answers_today + self.prior_answers
        )
        factor = self.aim + self.gain * (self.aim - rate / self.cap)
        return self.cap * min(max(factor, 0.05), 2.0 * self.aim)

    def decide(self, snap: Snapshot) -> int:
        """Calls to place now."""
        if self.mode is Mode.PREVIEW:
            return 0
        room = max(0, self.max_lines - len(snap.ringing) - snap.waiting)
        floor = min(progressive_calls(snap), room)
        if self.mode is Mode.PROGRESSIVE or room == 0:
            return floor
        if self.stats.dials_observed < self.learn_dials:
            # the first outcomes to come back are the fast failures: until enough dials have
            # ended, the answer rate is biased low and the forecast cannot be trusted
            return floor
        return max(floor, min(self._predictive(snap, room), room))

    def forecast(self, snap: Snapshot, new_lines: int) -> tuple[float, float]:
        """(expected live answers, expected abandoned) over the horizon if ``new_lines`` are placed."""
        model = self._model(snap)
        if model is None:
            return 0.0, 0.0
        return self._evaluate(model, new_lines)

    def _model(self, snap: Snapshot) -> _Model | None:
        steps = self.horizon + 1
        span = steps + math.ceil(ABANDON_SECONDS)
        stats = self.stats
        free = stats.free_by(snap.talking, snap.wrapping, span)[:, -steps:]  # free by t + 2 s
        free = free[free[:, -1] > 0.02]  # the rest barely matter: leaving them out errs on the safe side
        # distribution of busy interviewers freed by each t: Poisson-binomial, by convolution
        dist = np.zeros((steps, free.shape[0] + 1))
        dist[:, 0] = 1.0
        for i in range(free.shape[0]):
            p = free[i][:, None]
            dist[:, 1 : i + 2] = dist[:, 1 : i + 2] * (1 - p) + dist[:, : i + 1] * p
            dist[:, 0] *= 1 - free[i]
        agents = snap.ready - snap.waiting + np.arange(free.shape[0] + 1, dtype=np.int64)
        if agents[-1] <= 0:
            return None
        if len(snap.ringing):
            already = stats.ringing_live_by(snap.ringing, steps).sum(axis=0)
        else:
            already = np.zeros(steps)
        per_new = stats.new_line_live_by(steps)
        return already, per_new, dist, agents

    def _evaluate(self, model: _Model, n: int) -> tuple[float, float]:
        already, per_new, dist, agents = model
        lam = already + n * per_new
        excess = _poisson_excess(lam, np.maximum(agents, 0), self._lnfact)
        # interviewers short even before any answer (waiting calls beyond the ready ones)
        excess = excess + np.maximum(-agents, 0)[None, :]
        lost = float((dist * excess).sum(axis=1).max())
        return float(lam[-1]), lost

    def _predictive(self, snap: Snapshot, room: int) -> int:
        model = self._model(snap)
        if model is None:
            return 0
        target = self.target(snap)
        waiting = snap.waiting

        def ok(n: int) -> bool:
            answers, lost = self._evaluate(model, n)
            return lost <= target * max(answers + waiting, 1e-9)

        if not ok(1):  # the usual tick: lines already in flight cover the interviewers
            return 0
        per_new = float(model[1][-1])
        limit = min(room, math.ceil((int(model[3][-1]) + 3) / max(per_new, 0.01)) + 1)
        lo, hi = 1, 2  # ok(lo) holds; gallop, then bisect
        while hi <= limit and ok(hi):
            lo, hi = hi, hi * 2
        if hi > limit:
            if ok(limit):
                return limit
            hi = limit
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if ok(mid):
                lo = mid
            else:
                hi = mid
        return lo


# ------------------------------------------------------------------------------ the baseline


class AdaptiveDialLevel:
    """The adaptive dial-level controller common in open-source dialers (the comparison baseline).

    Every ``interval`` seconds: ``level <- level * (1 + (ready - waiting) / interviewers)``,
    clamped to ``[low, high]`` (``[1, 3]`` by default). Lines are then kept at ``level`` times the
    interviewers counted by ``tally``: ``"active"`` counts ready and talking interviewers and
    subtracts every call in progress (ringing, waiting, connected), as VICIdial does by default;
    ``"ready"`` counts ready interviewers only and subtracts ringing and waiting calls.
    """

    def __init__(
        self,
        *,
        interval: float = 15.0,
        low: float = 1.0,
        high: float = 3.0,
        start: float = 1.0,
        tally: Literal["active", "ready"] = "active",
    ) -> None:
        if not 0 < low <= high or interval <= 0:
            raise PacingError("dial level needs 0 < low <= high and interval > 0")
        self.interval = interval
        self.low, self.high = low, high
        self.level = min(max(start, low), high)
        self.tally = tally
        self._next: float | None = None

    def decide(self, snap: Snapshot) -> int:
        """Calls to place now."""
        if self._next is None:
            self._next = snap.now + self.interval
        while snap.now >= self._next:
            staff = max(snap.interviewers, 1)
            self.level *= 1 + (snap.ready - snap.waiting) / staff
            self.level = min(max(self.level, self.low), self.high)
            self._next += self.interval
        if self.tally == "ready":
            goal = math.floor(self.level * snap.ready + 0.5)
            return max(0, goal - len(snap.ringing) - snap.waiting)
        talking = len(snap.talking)
        goal = math.floor(self.level * (snap.ready + talking) + 0.5)
        return max(0, goal - len(snap.ringing) - snap.waiting - talking)

    def observe_dial(self, seconds: float, live: bool) -> None:
        """Not used by the baseline."""

    def observe_talk(self, seconds: float) -> None:
        """Not used by the baseline."""

    def observe_wrap(self, seconds: float) -> None:
        """Not used by the baseline."""
