"""Pacing maths and the fieldwork simulator: properties each mode must keep."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing import (
    MAX_CAP,
    AdaptiveDialLevel,
    CallStats,
    Mode,
    Pacer,
    PacingError,
    Snapshot,
    clamp_cap,
    progressive_calls,
)
from dialer.pacing_sim import FieldworkModel, simulate

durations = st.floats(min_value=0.0, max_value=2000.0, allow_nan=False)
snapshots = st.builds(
    Snapshot,
    now=st.floats(min_value=0, max_value=1e5, allow_nan=False),
    ready=st.integers(0, 60),
    talking=st.lists(durations, max_size=40),
    wrapping=st.lists(st.floats(min_value=0, max_value=120, allow_nan=False), max_size=20),
    ringing=st.lists(st.floats(min_value=0, max_value=40, allow_nan=False), max_size=120),
    waiting=st.integers(0, 5),
)


def trained_stats(seed: int = 3) -> CallStats:
    """Estimates fed with a few thousand outcomes like the simulator's (12% live)."""
    rng = np.random.default_rng(seed)
    stats = CallStats()
    for _ in range(3000):
        if rng.random() < 0.12:
            stats.record_dial(float(rng.uniform(4, 16)), True)
        else:
            stats.record_dial(float(rng.choice([2.0, 30.0])), False)
    for _ in range(300):
        stats.record_talk(float(rng.choice([50.0, 600.0])))
        stats.record_wrap(float(rng.normal(45, 5)))
    return stats


# ------------------------------------------------------------------ caps and inputs


def test_cap_is_clamped_to_three_percent_and_nonsense_refused() -> None:
    assert clamp_cap(0.01) == 0.01
    assert clamp_cap(0.5) == MAX_CAP == 0.03
    assert Pacer(cap=0.2).cap == 0.03
    assert Pacer().cap == 0.01
    for bad in (-0.01, float("nan"), float("inf"), "1%", True):
        with pytest.raises(PacingError, match="abandonment cap"):
            clamp_cap(bad)  # type: ignore[arg-type]


def test_bad_mode_and_snapshot_are_refused_by_name() -> None:
    with pytest.raises(PacingError, match="pacing mode must be one of preview, progressive, predictive"):
        Pacer("turbo")
    with pytest.raises(PacingError, match="ready"):
        Snapshot(now=0, ready=-1)
    with pytest.raises(PacingError, match="more abandoned calls than live answers"):
        Snapshot(now=0, ready=1, abandoned_today=3, live_answers_today=2)


# ------------------------------------------------------------------ modes


@settings(max_examples=150, deadline=None)
@given(snap=snapshots)
def test_preview_never_places_a_call_on_its_own(snap: Snapshot) -> None:
    assert Pacer(Mode.PREVIEW).decide(snap) == 0


@settings(max_examples=150, deadline=None)
@given(snap=snapshots)
def test_progressive_never_places_more_than_the_ready_interviewers(snap: Snapshot) -> None:
    n = Pacer(Mode.PROGRESSIVE).decide(snap)
    assert 0 <= n <= snap.ready
    assert n + len(snap.ringing) + snap.waiting <= max(snap.ready, len(snap.ringing) + snap.waiting)
    assert n == progressive_calls(snap)


@settings(max_examples=40, deadline=None)
@given(snap=snapshots)
def test_predictive_places_at_least_progressive_and_respects_the_line_limit(snap: Snapshot) -> None:
    pacer = Pacer(Mode.PREDICTIVE, stats=trained_stats(), max_lines=150)
    n = pacer.decide(snap)
    assert n >= min(progressive_calls(snap), max(0, 150 - len(snap.ringing) - snap.waiting))
    assert n + len(snap.ringing) + snap.waiting <= max(150, len(snap.ringing) + snap.waiting)


def test_predictive_dials_more_lines_than_ready_interviewers_when_estimates_allow() -> None:
    pacer = Pacer(Mode.PREDICTIVE, stats=trained_stats())
    snap = Snapshot(now=0.0, ready=5, talking=[100.0] * 15)
    n = pacer.decide(snap)
    assert n > 5  # over-dials
    answers, lost = pacer.forecast(snap, n)
    # with nobody freeing up soon, a burst of answers would be abandoned: expect fewer than ready
    assert 1.0 < answers < 5.0
    assert lost <= pacer.target(snap) * answers + 1e-12
    # one line more would break the target: n is the largest allowed
    answers1, lost1 = pacer.forecast(snap, n + 1)
    assert lost1 > pacer.target(snap) * answers1


def test_predictive_counts_lines_already_ringing() -> None:
    pacer = Pacer(Mode.PREDICTIVE, stats=trained_stats())
    empty = pacer.decide(Snapshot(now=0.0, ready=5, talking=[100.0] * 15))
    busy = pacer.decide(Snapshot(now=0.0, ready=5, talking=[100.0] * 15, ringing=[3.0] * empty))
    assert busy < empty // 3


def test_predictive_anticipates_interviewers_about_to_finish_wrap_up() -> None:
    pacer = Pacer(Mode.PREDICTIVE, stats=trained_stats())
    nobody_ready = Snapshot(now=0.0, ready=0, talking=[100.0] * 10)
    assert pacer.decide(nobody_ready) == 0  # nobody will be free in time: no call
    finishing = Snapshot(now=0.0, ready=0, talking=[100.0] * 5, wrapping=[44.0] * 5)
    assert pacer.decide(finishing) > 0  # five interviewers are about to be ready


def test_predictive_backs_off_when_the_day_is_over_budget() -> None:
    pacer = Pacer(Mode.PREDICTIVE, stats=trained_stats())
    base = {"now": 0.0, "ready": 8, "talking": [100.0] * 12}
    under = pacer.decide(Snapshot(**base, abandoned_today=0, live_answers_today=1000))  # type: ignore[arg-type]
    over = pacer.decide(Snapshot(**base, abandoned_today=20, live_answers_today=1000))  # type: ignore[arg-type]
    assert pacer.target(Snapshot(**base, abandoned_today=20, live_answers_today=1000)) < 0.002  # type: ignore[arg-type]
    assert over < under
    assert over >= 8  # never below progressive


def test_predictive_waits_for_enough_outcomes_before_over_dialling() -> None:
    pacer = Pacer(Mode.PREDICTIVE)  # priors only
    snap = Snapshot(now=0.0, ready=10)
    assert pacer.decide(snap) == 10
    for _ in range(pacer.learn_dials):
        pacer.observe_dial(30.0, False)
    assert pacer.decide(Snapshot(now=0.0, ready=10, talking=[10.0])) > 10


# ------------------------------------------------------------------ estimator


def test_call_stats_learn_rate_and_times() -> None:
    stats = trained_stats()
    assert stats.answer_rate == pytest.approx(0.12, abs=0.02)
    assert stats.mean_ring_to_answer == pytest.approx(10.5, abs=1.0)
    assert stats.mean_wrap == pytest.approx(45.5, abs=2.0)
    new = stats.new_line_live_by(33)
    assert new[0] == 0 and new[-1] == pytest.approx(stats.answer_rate, abs=1e-9)
    assert (np.diff(new) >= 0).all()
    # a line that has rung 20 s without an answer will not be answered by a person (all answer by 16 s)
    late = stats.ringing_live_by([20.0], 10)
    assert late.max() < 0.01
    early = stats.ringing_live_by([3.0], 33)
    assert early[0, -1] > stats.answer_rate  # surviving the fast failures raises the chance
    free = stats.free_by([10.0], [40.0, 5.0], 20)
    assert free.shape == (3, 20)
    assert free[0].max() < 0.01  # a talker needs the rest of the talk and a whole wrap-up
    assert free[1, -1] > 0.9 and free[2, -1] < 0.05  # wrap-up at 40 s ends soon, at 5 s it does not


# ------------------------------------------------------------------ baseline


def test_adaptive_dial_level_follows_the_published_rule() -> None:
    adl = AdaptiveDialLevel(tally="ready")
    assert adl.decide(Snapshot(now=0.0, ready=4, talking=[1.0] * 16)) == 4  # level 1: progressive
    adl.decide(Snapshot(now=15.0, ready=4, talking=[1.0] * 16))
    assert adl.level == pytest.approx(1.2)  # 1 * (1 + (4 - 0) / 20)
    adl.decide(Snapshot(now=30.0, ready=0, talking=[1.0] * 20, waiting=2))
    assert adl.level == pytest.approx(1.2 * 0.9)
    for t in range(45, 600, 15):
        adl.decide(Snapshot(now=float(t), ready=20))
    assert adl.level == 3.0  # clamped
    for t in range(600, 1200, 15):
        adl.decide(Snapshot(now=float(t), ready=0, talking=[1.0] * 10, waiting=10))
    assert adl.level == 1.0
    active = AdaptiveDialLevel(tally="active", start=2.0)
    # goal = 2 * (4 ready + 16 talking) = 40 lines; minus 16 connected and 5 ringing
    assert active.decide(Snapshot(now=0.0, ready=4, talking=[1.0] * 16, ringing=[1.0] * 5)) == 19


# ------------------------------------------------------------------ simulator


def test_simulation_is_reproducible_and_seeded() -> None:
    a = simulate(Pacer(Mode.PROGRESSIVE), interviewers=5, hours=0.5, warmup=60, seed=7)
    b = simulate(Pacer(Mode.PROGRESSIVE), interviewers=5, hours=0.5, warmup=60, seed=7)
    c = simulate(Pacer(Mode.PROGRESSIVE), interviewers=5, hours=0.5, warmup=60, seed=8)
    assert a == b
    assert a != c


def test_simulator_sanity_under_progressive() -> None:
    r = simulate(
        Pacer(Mode.PROGRESSIVE), interviewers=10, hours=2, model=FieldworkModel(live_rate=0.15), seed=2
    )
    assert r.abandoned == 0 and r.day_abandoned == 0  # one line per ready interviewer
    assert r.max_lines <= 10
    assert r.live_answers / r.dials == pytest.approx(0.15, abs=0.03)
    assert r.connected == pytest.approx(r.live_answers, abs=12)  # every live answer is connected
    assert r.completes / max(r.connected, 1) == pytest.approx(0.2, abs=0.06)
    assert 0.3 < r.occupancy < 0.9 and r.talk_share < r.occupancy
    # a richer frame (more people answer) keeps interviewers busier
    richer = simulate(
        Pacer(Mode.PROGRESSIVE), interviewers=10, hours=2, model=FieldworkModel(live_rate=0.3), seed=2
    )
    assert richer.occupancy > r.occupancy


def test_simulator_counts_abandonment_on_the_two_second_rule() -> None:
    # dial-level at 3 lines per ready interviewer with nobody to take the surplus: many abandons
    r = simulate(AdaptiveDialLevel(tally="active", start=3.0), interviewers=10, hours=1, seed=4)
    assert r.abandoned > 0 and r.abandon_rate > 0.05
    assert r.abandoned <= r.live_answers


def test_predictive_respects_the_cap_over_a_long_seeded_shift() -> None:
    pacer = Pacer(Mode.PREDICTIVE, cap=0.01)
    r = simulate(pacer, interviewers=20, hours=4, seed=11)
    progressive = simulate(Pacer(Mode.PROGRESSIVE), interviewers=20, hours=4, seed=11)
    assert r.day_live_answers > 1000
    assert r.day_abandon_rate <= 0.01
    assert r.occupancy > progressive.occupancy + 0.15
