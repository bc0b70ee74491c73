"""A seeded discrete-event simulation of telephone fieldwork, to measure pacing policies.

Why: pacing cannot be judged on a live PBX in tests or benchmarks, and its figures (occupancy,
completes per interviewer-hour, abandonment on the 2-second rule) depend on the whole loop of
dialling, answering, talking and wrapping up. This module plays that loop in simulated time,
calling a :class:`dialer.pacing.DialPolicy` every tick with the same :class:`Snapshot` the service
would build. Pure: no I/O, no wall clock; one ``numpy`` generator seeded per run, so a run is
reproducible bit for bit.

The model (:class:`FieldworkModel`), per dial: a person answers with probability ``live_rate``
after a log-normal ring; otherwise the number is unallocated (fails in 1-4 s), busy (2-6 s), an
answering machine or fax (answered after a ring, dropped when detected) or rings out at the
timeout. A live answer is connected at once to the longest-idle ready interviewer; if none is
ready it waits, and is abandoned if no interviewer frees up within 2 s or if the respondent
hangs up first (exponential patience). A connected respondent completes the ~10-minute interview
with probability ``complete_share``, otherwise refuses or is screened out after a short
conversation; every conversation is followed by a ~45 s wrap-up.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from dialer.pacing import ABANDON_SECONDS, DialPolicy, Snapshot

__all__ = ["FieldworkModel", "SimResult", "simulate"]

_TICK, _LINE_END, _LIVE, _GIVE_UP, _TALK_END, _WRAP_END = range(6)


@dataclass(frozen=True)
class FieldworkModel:
    """Respondents and interviewers; durations in seconds."""

    live_rate: float = 0.12  # share of dials answered by a person
    unallocated_share: float = 0.22  # of the other dials
    busy_share: float = 0.08
    machine_share: float = 0.15  # the rest of the other dials ring out
    ring_timeout: float = 30.0
    live_ring_mean: float = 9.0
    live_ring_sd: float = 5.0
    machine_detect: float = 3.0
    patience_mean: float = 8.0  # a waiting respondent hangs up after this (exponential)
    complete_share: float = 0.2  # of connected respondents
    interview_mean: float = 600.0
    interview_sd: float = 150.0
    short_call_mean: float = 50.0
    short_call_sd: float = 30.0
    wrap_mean: float = 45.0
    wrap_sd: float = 8.0

    def __post_init__(self) -> None:
        shares = (self.unallocated_share, self.busy_share, self.machine_share)
        if not 0 < self.live_rate < 1 or min(shares) < 0 or sum(shares) > 1:
            raise ValueError("live rate must be in (0, 1) and the other shares must sum to at most 1")


@dataclass(frozen=True)
class SimResult:
    """What one simulated shift measured (after the warm-up)."""

    interviewers: int
    hours: float
    dials: int
    live_answers: int
    abandoned: int
    connected: int
    completes: int
    occupancy: float  # share of logged-in time talking or wrapping up
    talk_share: float  # share of logged-in time talking
    max_lines: int  # most lines ringing at once
    day_live_answers: int = 0
    day_abandoned: int = 0
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def abandon_rate(self) -> float:
        """Abandoned / live answers (2-second rule), after the warm-up."""
        return self.abandoned / max(self.live_answers, 1)

    @property
    def day_abandon_rate(self) -> float:
        """Abandoned / live answers over the whole shift, warm-up included (what the cap is on)."""
        return self.day_abandoned / max(self.day_live_answers, 1)

    @property
    def completes_per_interviewer_hour(self) -> float:
        return self.completes / max(self.interviewers * self.hours, 1e-12)


def _lognormal(rng: np.random.Generator, mean: float, sd: float) -> float:
    s2 = math.log(1 + (sd / mean) ** 2)
    return float(rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2)))


def simulate(
    policy: DialPolicy,
    *,
    interviewers: int,
    model: FieldworkModel | None = None,
    hours: float = 4.0,
    warmup: float = 900.0,
    tick: float = 1.0,
    seed: int = 0,
) -> SimResult:
    """Play one shift of ``hours`` (plus ``warmup`` seconds not measured) and measure it."""
    m = model or FieldworkModel()
    if interviewers < 1 or hours <= 0 or tick <= 0 or warmup < 0:
        raise ValueError("need interviewers >= 1, hours > 0, tick > 0 and warmup >= 0")
    rng = np.random.default_rng(seed)
    end = warmup + hours * 3600.0
    events: list[tuple[float, int, int, int]] = []
    seq = 0

    def push(t: float, kind: int, ref: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, ref))

    state = [0] * interviewers  # 0 ready, 1 talking, 2 wrapping
    since = [0.0] * interviewers
    ready: deque[int] = deque(range(interviewers))
    ringing: dict[int, float] = {}  # line -> dial time
    waiting: deque[tuple[int, float]] = deque()  # (line, answer time), oldest first
    waiting_ids: set[int] = set()
    complete_call: dict[int, bool] = {}  # interviewer -> current call is a complete
    counters = {"dials": 0, "live": 0, "abandoned": 0, "connected": 0, "completes": 0}
    day = {"live": 0, "abandoned": 0}
    busy_time = talk_time = 0.0
    max_lines = 0
    next_line = 0

    def measured(t0: float, t1: float) -> float:
        return max(0.0, min(t1, end) - max(t0, warmup))

    def connect(agent: int, t: float) -> None:
        nonlocal busy_time
        state[agent] = 1
        since[agent] = t
        is_complete = bool(rng.random() < m.complete_share)
        complete_call[agent] = is_complete
        if is_complete:
            talk = _lognormal(rng, m.interview_mean, m.interview_sd)
        else:
            talk = _lognormal(rng, m.short_call_mean, m.short_call_sd)
        if t >= warmup:
            counters["connected"] += 1
        push(t + talk, _TALK_END, agent)

    def place_call(t: float) -> None:
        nonlocal next_line, max_lines
        line = next_line
        next_line += 1
        ringing[line] = t
        max_lines = max(max_lines, len(ringing))
        if t >= warmup:
            counters["dials"] += 1
        u = rng.random()
        if u < m.live_rate:
            ring = min(max(_lognormal(rng, m.live_ring_mean, m.live_ring_sd), 1.0), m.ring_timeout - 0.5)
            push(t + ring, _LIVE, line)
            return
        v = rng.random()
        if v < m.unallocated_share:
            d = float(rng.uniform(1.0, 4.0))
        elif v < m.unallocated_share + m.busy_share:
            d = float(rng.uniform(2.0, 6.0))
        elif v < m.unallocated_share + m.busy_share + m.machine_share:
            ring = min(_lognormal(rng, m.live_ring_mean, m.live_ring_sd), m.ring_timeout - 0.5)
            d = ring + m.machine_detect
        else:
            d = m.ring_timeout
        push(t + d, _LINE_END, line)

    push(0.0, _TICK, 0)
    while events:
        t, _, kind, ref = heapq.heappop(events)
        if t > end:
            break
        if kind == _TICK:
            snap = Snapshot(
                now=t,
                ready=len(ready),
                talking=[t - since[a] for a in range(interviewers) if state[a] == 1],
                wrapping=[t - since[a] for a in range(interviewers) if state[a] == 2],
                ringing=[t - t0 for t0 in ringing.values()],
                waiting=len(waiting),
                abandoned_today=day["abandoned"],
                live_answers_today=day["live"],
            )
            for _ in range(max(0, int(policy.decide(snap)))):
                place_call(t)
            push(t + tick, _TICK, 0)
        elif kind == _LINE_END:
            t0 = ringing.pop(ref)
            policy.observe_dial(t - t0, False)
        elif kind == _LIVE:
            t0 = ringing.pop(ref)
            policy.observe_dial(t - t0, True)
            day["live"] += 1
            if t >= warmup:
                counters["live"] += 1
            if ready:
                connect(ready.popleft(), t)
            else:
                waiting.append((ref, t))
                waiting_ids.add(ref)
                patience = float(rng.exponential(m.patience_mean))
                push(t + min(ABANDON_SECONDS, patience), _GIVE_UP, ref)
        elif kind == _GIVE_UP:
            if ref in waiting_ids:  # still not connected: abandoned under the 2-second rule
                waiting_ids.discard(ref)
                waiting = deque(w for w in waiting if w[0] != ref)
                day["abandoned"] += 1
                if t >= warmup:
                    counters["abandoned"] += 1
        elif kind == _TALK_END:
            talk = t - since[ref]
            policy.observe_talk(talk)
            busy_time += measured(since[ref], t)
            talk_time += measured(since[ref], t)
            if complete_call.pop(ref, False) and t >= warmup:
                counters["completes"] += 1
            state[ref] = 2
            since[ref] = t
            wrap = max(10.0, float(rng.normal(m.wrap_mean, m.wrap_sd)))
            push(t + wrap, _WRAP_END, ref)
        elif kind == _WRAP_END:
            policy.observe_wrap(t - since[ref])
            busy_time += measured(since[ref], t)
            state[ref] = 0
            since[ref] = t
            if waiting:
                line, _answered = waiting.popleft()
                waiting_ids.discard(line)
                connect(ref, t)
            else:
                ready.append(ref)

    for a in range(interviewers):  # phases still open at the end of the shift
        if state[a] in (1, 2):
            busy_time += measured(since[a], end)
            if state[a] == 1:
                talk_time += measured(since[a], end)
    logged_in = interviewers * hours * 3600.0
    return SimResult(
        interviewers=interviewers,
        hours=hours,
        dials=counters["dials"],
        live_answers=counters["live"],
        abandoned=counters["abandoned"],
        connected=counters["connected"],
        completes=counters["completes"],
        occupancy=busy_time / logged_in,
        talk_share=talk_time / logged_in,
        max_lines=max_lines,
        day_live_answers=day["live"],
        day_abandoned=day["abandoned"],
    )
