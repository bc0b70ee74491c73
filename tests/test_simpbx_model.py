"""The respondent model: reproducible natures, shares, time of day, and the model file's checks."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dialer.simpbx import ModelError, RespondentModel, SimClock, line_kind, load_model, parse_model

SH = ZoneInfo("Asia/Shanghai")


def _numbers(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


def test_same_number_same_nature_under_the_same_seed() -> None:
    a, b, c = RespondentModel(seed=1), RespondentModel(seed=1), RespondentModel(seed=2)
    nums = _numbers("2334", 2000)
    assert [a.line_kind(n) for n in nums] == [b.line_kind(n) for n in nums]
    assert [a.line_kind(n) for n in nums] != [c.line_kind(n) for n in nums]
    assert line_kind("23340001") in ("residential", "business", "fax", "nonworking")


def test_shares_follow_the_parameters() -> None:
    model = RespondentModel(
        parse_model(
            {
                "defaults": {
                    "working_share": 0.5,
                    "empty_bank_share": 0.0,
                    "business_share": 0.3,
                    "fax_share": 0.0,
                }
            }
        ),
        seed=9,
    )
    kinds = Counter(model.line_kind(n) for n in _numbers("6431", 10000))
    assert 0.46 < (10000 - kinds["nonworking"]) / 10000 < 0.54
    assert 0.26 < kinds["business"] / (10000 - kinds["nonworking"]) < 0.34


def test_empty_banks_have_no_working_number() -> None:
    model = RespondentModel(parse_model({"defaults": {"empty_bank_share": 0.3}}), seed=4)
    banks: dict[str, set[str]] = {}
    for n in _numbers("5566", 10000):
        banks.setdefault(n[:-2], set()).add(model.line_kind(n))
    empty = [b for b, kinds in banks.items() if kinds == {"nonworking"}]
    assert 15 <= len(empty) <= 45  # about 30 of 100 banks


def test_overrides_by_district_prefix_and_bank() -> None:
    spec = parse_model(
        {
            "districts": {"Huangpu": {"prefixes": ["6321"], "working_share": 0.9, "empty_bank_share": 0}},
            "overrides": {"632155": {"working_share": 0.0}, "6321": {"business_share": 0.98}},
        }
    )
    model = RespondentModel(spec, seed=1)
    assert model.district("63215501") == "Huangpu"
    assert {model.line_kind(n) for n in _numbers("632155", 100)} == {"nonworking"}
    kinds = Counter(model.line_kind(n) for n in _numbers("632100", 100))
    assert kinds["business"] >= 80 and "residential" not in kinds


def test_answer_depends_on_time_of_day_and_kind() -> None:
    spec = parse_model(
        {
            "defaults": {"empty_bank_share": 0, "working_share": 1.0, "busy": 0, "congestion": 0},
            "holidays": ["2026-10-01"],
            "workdays": ["2026-10-10"],
        }
    )
    model = RespondentModel(spec, seed=3)
    homes = [n for n in _numbers("7000", 3000) if model.line_kind(n) == "residential"][:400]
    offices = [n for n in _numbers("7000", 3000) if model.line_kind(n) == "business"][:200]
    tuesday_10 = datetime(2026, 3, 3, 10, 0, tzinfo=SH)
    tuesday_19 = datetime(2026, 3, 3, 19, 0, tzinfo=SH)

    def answered(nums: list[str], when: datetime) -> float:
        return sum(model.plan(n, when, 0).outcome == "answer" for n in nums) / len(nums)

    assert answered(homes, tuesday_19) > answered(homes, tuesday_10) + 0.2
    assert answered(offices, tuesday_10) > answered(offices, tuesday_19) + 0.4
    assert model.is_workday(datetime(2026, 10, 10).date()) and not model.is_workday(
        datetime(2026, 10, 1).date()
    )


def test_nonworking_numbers_are_unallocated_and_attempts_differ() -> None:
    model = RespondentModel(seed=5)
    when = datetime(2026, 3, 3, 19, 0, tzinfo=SH)
    dead = next(n for n in _numbers("8100", 500) if model.line_kind(n) == "nonworking")
    assert {model.plan(dead, when, a).outcome for a in range(5)} == {"unallocated"}
    live = [n for n in _numbers("8100", 500) if model.line_kind(n) == "residential"][:50]
    assert any(model.plan(n, when, 0) != model.plan(n, when, 1) for n in live)
    assert model.plan(live[0], when, 0) == RespondentModel(seed=5).plan(live[0], when, 0)


def test_fixed_numbers_take_their_outcome_from_the_file_and_their_timings_from_the_parameters() -> None:
    when = datetime(2026, 11, 23, 19, 0, tzinfo=SH)
    model = RespondentModel(
        parse_model(
            {
                "fixed": {"23340001": "answer", "23340002": "busy"},
                "defaults": {"ring_median": 2, "ring_min": 1, "ring_max": 3, "fail_delay": 4},
            }
        ),
        seed=3,
    )
    for attempt in range(20):
        answer = model.plan("23340001", when, attempt)
        assert answer.outcome == "answer" and 1.0 <= answer.delay <= 3.0
        assert answer.talk is None  # talk_seconds 0: stays on the line until hung up
        busy = model.plan("23340002", when, attempt)
        assert busy.outcome == "busy" and 2.0 <= busy.delay <= 6.0  # fail_delay x (0.5 .. 1.5)
    spec = parse_model({"fixed": {"23340001": "answer"}, "defaults": {"talk_seconds": 60}})
    talking = RespondentModel(spec)
    assert all(talking.plan("23340001", when, a).talk is not None for a in range(5))
    # the lab numbers keep the captured dialplan's timings: ring 1-3 s, hang up after 4-8 s of talk
    lab = [model.plan("5551001", when, a) for a in range(20)]
    assert all(p.outcome == "answer" and 1.0 <= p.delay <= 3.0 for p in lab)
    assert all(p.talk is not None and 4.0 <= p.talk <= 8.0 for p in lab)


def test_model_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = {
        "defaults: {working_share: 1.5}": "working_share",
        "defaults: {ring_speed: 3}": "ring_speed",
        "districts: {X: {working_share: 0.5}}": "prefixes",
        "overrides: {'12a': {busy: 0.1}}": "12a",
        "holidays: [tomorrow]": "holidays",
        "fixed: {'123': sings}": "fixed",
        "[1, 2]": "mapping",
        "defaults: {business_workday: [[9, 30, 0.5]]}": "business_workday",
    }
    for text, needle in bad.items():
        path = tmp_path / "m.yaml"
        path.write_text(text)
        with pytest.raises(ModelError, match=needle):
            load_model(path)
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.yaml")
    good = tmp_path / "good.yaml"
    good.write_text("defaults: {working_share: 0.4}\noverrides: {'23345': {busy: 0.2}}\n")
    assert RespondentModel(load_model(good)).params("233450001").busy == 0.2


def test_clock_runs_faster_from_the_configured_start() -> None:
    ticks = iter([100.0, 100.0, 101.0, 101.0])
    clock = SimClock(speed=60, start=datetime(2026, 3, 3, 9, 0), monotonic=lambda: next(ticks))
    assert clock.datetime().hour == 9 and clock.datetime().tzinfo is not None
    assert clock.datetime().minute == 1  # one real second later: one simulated minute
    assert clock.real_delay(30) == 0.5
    with pytest.raises(ValueError):
        SimClock(speed=0)
