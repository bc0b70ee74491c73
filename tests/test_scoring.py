"""Scores: hand-computed cases and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.scores import (
    Dimension,
    ScoringScheme,
    prob_above,
    questionnaire_scores,
    rank_ranges,
    score_districts,
)

SCHEME = ScoringScheme.standard()
NAN = math.nan


def row(overall: float, *items: float) -> list[float]:
    assert len(items) == 10
    return [overall, *items]


def test_standard_scheme_weights() -> None:
    assert SCHEME.items == ("overall", *(f"q{i}" for i in range(1, 11)))
    assert SCHEME.weights().tolist() == [20.0] + [8.0] * 10
    assert [d.weight for d in SCHEME.dimensions] == [16, 24, 16, 16, 8]


def test_questionnaire_score_by_hand() -> None:
    points = np.array(
        [
            row(100, *[80] * 10),  # 0.2*100 + 0.8*80 = 84
            row(40, *[40] * 10),  # the floor
            row(100, *[100] * 10),  # the ceiling
            row(60, 100, 80, 60, 40, 100, 80, 60, 40, 100, 80),  # 12 + 0.8*74 = 71.2
            row(100, *[100] * 9, NAN),  # unanswered: invalid
        ]
    )
    scores = questionnaire_scores(points, SCHEME)
    assert scores[:4] == pytest.approx([84.0, 40.0, 100.0, 71.2])
    assert math.isnan(scores[4])
    # the same as overall/100*20 + sum(item/100*8)
    assert scores[3] == pytest.approx(60 / 100 * 20 + sum(p / 100 * 8 for p in points[3, 1:]))


def test_district_score_ci_component_dimensions_strata_by_hand() -> None:
    points = np.array(
        [
            row(100, *[80] * 10),  # 84
            row(60, *[60] * 10),  # 60
            row(80, *[100] * 10),  # 96
            row(100, *[100] * 10),  # invalid below
        ],
        dtype=float,
    )
    points[3, 5] = NAN
    result = score_districts(["A", "A", "A", "A"], ["staff", "resident", "staff", "resident"], points, SCHEME)
    (a,) = result
    assert a.valid == 3 and a.invalid == 1
    assert a.score == pytest.approx(80.0)
    assert a.component == pytest.approx(48.0)
    sd = math.sqrt(((84 - 80) ** 2 + (60 - 80) ** 2 + (96 - 80) ** 2) / 2)  # ddof=1
    assert a.sd == pytest.approx(sd)
    half = 1.959963984540054 * sd / math.sqrt(3)
    assert a.ci95 == pytest.approx((80 - half, 80 + half))
    assert a.component_ci95 == pytest.approx((0.6 * (80 - half), 0.6 * (80 + half)))
    # overall points: mean of 20, 12, 16 = 16; work_style (q1,q2 at 8 each): mean of 12.8, 9.6, 16
    assert a.overall_points == pytest.approx(16.0)
    assert a.dimensions["work_style"] == pytest.approx((12.8 + 9.6 + 16) / 3)
    assert a.dimensions["economy_environment"] == pytest.approx((19.2 + 14.4 + 24) / 3)
    assert a.dimensions["grassroots"] == pytest.approx((6.4 + 4.8 + 8) / 3)
    assert a.overall_points + sum(v for v in a.dimensions.values() if v is not None) == pytest.approx(a.score)
    assert a.strata["staff"].valid == 2 and a.strata["staff"].score == pytest.approx(90.0)
    assert a.strata["resident"].valid == 1 and a.strata["resident"].invalid == 1
    assert a.strata["resident"].score == pytest.approx(60.0)


def test_small_districts_have_no_interval_and_empty_ones_no_score() -> None:
    points = np.array([row(100, *[100] * 10), row(NAN, *[100] * 10)])
    one, empty = score_districts(["B", "C"], ["staff", "staff"], points, SCHEME)
    assert one.score == pytest.approx(100) and one.sd is None and one.ci95 is None
    assert empty.valid == 0 and empty.invalid == 1
    assert empty.score is None and empty.component is None and empty.rank is None
    assert one.rank == 1 and one.rank_range == (1, 1)


def test_pairwise_probability_normal_approximation_by_hand() -> None:
    means = np.array([80.0, 78.0, 70.0])
    se = np.array([1.0, 1.0, 0.5])
    p = prob_above(means, se)
    # P(A > B) = Phi(2 / sqrt(2)) = Phi(1.41421) = 0.92135
    assert p[0, 1] == pytest.approx(0.9213503964748575)
    assert p[1, 0] == pytest.approx(1 - 0.9213503964748575)
    assert math.isnan(p[0, 0])
    assert p[0, 2] > 0.999
    ranks, ranges = rank_ranges(means, p)
    assert ranks.tolist() == [1, 2, 3]
    # A and B are not clearly apart (0.92 < 0.975), both clearly above C.
    assert ranges.tolist() == [[1, 2], [1, 2], [3, 3]]


def test_ties_and_unknown_precision() -> None:
    p = prob_above([80.0, 80.0, 60.0], [0.0, 0.0, math.nan])
    assert p[0, 1] == 0.5
    assert p[0, 2] == 0.5  # no precision known for the third: no call either way
    ranks, ranges = rank_ranges([80.0, 80.0, 60.0], p)
    assert ranks.tolist() == [1, 1, 3]
    assert ranges.tolist() == [[1, 3], [1, 3], [1, 3]]


def test_scheme_is_checked() -> None:
    with pytest.raises(ValueError, match="not 100"):
        ScoringScheme("overall", 20, (Dimension("d", 70, ("q1",)),))
    with pytest.raises(ValueError, match="twice"):
        ScoringScheme("overall", 20, (Dimension("d", 80, ("overall",)),))
    with pytest.raises(ValueError, match=r"\(n, 11\)"):
        questionnaire_scores(np.zeros((3, 4)), SCHEME)


# ---- properties ----------------------------------------------------------------------------------

answers = st.sampled_from([100.0, 80.0, 60.0, 40.0])
maybe = st.one_of(answers, answers, answers, st.just(NAN))
questionnaires = st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from(["staff", "resident"]),
                                    st.lists(maybe, min_size=11, max_size=11)),
                          min_size=1, max_size=60)  # fmt: skip


Rows = list[tuple[str, str, list[float]]]


def _arrays(data: Rows) -> tuple[list[str], list[str], np.ndarray]:
    return [d for d, _, _ in data], [s for _, s, _ in data], np.array([p for _, _, p in data])


@settings(max_examples=150, deadline=None)
@given(questionnaires)
def test_every_score_is_between_40_and_100(data: list[tuple[str, str, list[float]]]) -> None:
    _, _, points = _arrays(data)
    scores = questionnaire_scores(points, SCHEME)
    valid = ~np.isnan(points).any(axis=1)
    assert np.array_equal(np.isnan(scores), ~valid)
    assert ((scores[valid] >= 40 - 1e-9) & (scores[valid] <= 100 + 1e-9)).all()
    for district in score_districts(*_arrays(data), SCHEME):
        if district.score is not None:
            assert 40 - 1e-9 <= district.score <= 100 + 1e-9
            assert district.component == pytest.approx(0.6 * district.score)


@settings(max_examples=150, deadline=None)
@given(questionnaires)
def test_dimension_points_plus_overall_points_equal_the_score(data: Rows) -> None:
    for district in score_districts(*_arrays(data), SCHEME):
        if district.score is None:
            assert district.overall_points is None
            continue
        parts = [v for v in district.dimensions.values() if v is not None]
        assert district.overall_points is not None
        assert district.overall_points + sum(parts) == pytest.approx(district.score, abs=1e-9)
        for dim in SCHEME.dimensions:
            value = district.dimensions[dim.id]
            assert value is not None and 0.4 * dim.weight - 1e-9 <= value <= dim.weight + 1e-9


@settings(max_examples=100, deadline=None)
@given(questionnaires, st.randoms(use_true_random=False))
def test_invariant_under_row_order(data: list[tuple[str, str, list[float]]], rnd: object) -> None:
    shuffled = list(data)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    before = score_districts(*_arrays(data), SCHEME)
    after = score_districts(*_arrays(shuffled), SCHEME)
    assert [d.district for d in before] == [d.district for d in after]
    for x, y in zip(before, after, strict=True):
        assert (x.valid, x.invalid, x.rank, x.rank_range) == (y.valid, y.invalid, y.rank, y.rank_range)
        assert (x.score is None) == (y.score is None)
        if x.score is not None and y.score is not None:
            assert x.score == pytest.approx(y.score, abs=1e-9)
        for s in ("staff", "resident"):
            assert x.strata[s].valid == y.strata[s].valid


@settings(max_examples=100, deadline=None)
@given(questionnaires)
def test_matches_a_plain_python_computation(data: list[tuple[str, str, list[float]]]) -> None:
    by_district: dict[str, list[float]] = {}
    for district, _, points in data:
        if not any(math.isnan(p) for p in points):
            by_district.setdefault(district, []).append(0.2 * points[0] + 0.8 * sum(points[1:]) / 10)
        else:
            by_district.setdefault(district, [])
    for result in score_districts(*_arrays(data), SCHEME):
        scores = by_district[result.district]
        assert result.valid == len(scores)
        if scores:
            assert result.score == pytest.approx(sum(scores) / len(scores), abs=1e-9)
