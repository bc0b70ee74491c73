"""District satisfaction scores from answer points, vectorised with numpy.

Why this shape: the assessment office ranks districts on these numbers, so the arithmetic must be the
one in the source document and nothing else, and it must be fast enough to re-run on every export.
The caller hands in a matrix of points (one row per questionnaire, one column per scored item,
NaN = not answered with one of the four options) and a ``ScoringScheme`` naming the weights:

* per valid questionnaire: sum over items of weight x points / 100. With the overall item at 20 and ten
  items at 8 this is 0.2 x overall + 0.8 x mean of the ten items, always within [40, 100];
* a questionnaire with any NaN is invalid: counted, never scored;
* district score: mean over its valid questionnaires; component = score x 0.6 (the 60-point part of
  the annual assessment);
* dimension points: the same weighted points summed per dimension and averaged; with the overall
  item's points they add up to the score exactly (up to rounding);
* 95% interval: score +- 1.96 x sd / sqrt(n) with sd using ddof=1 (undefined for n < 2), also x 0.6;
* pairwise: P(district i truly scores above j) = Phi((m_i - m_j) / sqrt(se_i^2 + se_j^2)), the normal
  approximation; a district's plausible ranks run from 1 + the number of districts clearly above it to
  K - the number clearly below it, "clearly" meaning a probability above 0.975 (a two-sided 95% call).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Z95 = 1.959963984540054
COMPONENT_FACTOR = 0.6
CLEARLY = 0.975

#: The four answers and their points, as in the source document.
RATING_POINTS: dict[str, float] = {"good": 100.0, "fairly_good": 80.0, "average": 60.0, "poor": 40.0}


@dataclass(frozen=True, slots=True)
class Dimension:
    """A group of scored items whose points are reported together (max = weight)."""

    id: str
    weight: float
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoringScheme:
    """Which columns are scored and how much each weighs (points out of 100 in total).

    ``items`` is the column order of the points matrix: the overall item first, then the items of
    each dimension in order. Each item in a dimension weighs the dimension's weight / its item count.
    """

    overall_item: str
    overall_weight: float
    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        items = self.items
        for dim in self.dimensions:
            if not dim.items or dim.weight <= 0:
                raise ValueError(f"dimension {dim.id} needs items and a positive weight")
        if len(set(items)) != len(items):
            raise ValueError("an item is scored twice")
        if not math.isclose(self.total_weight, 100.0):
            raise ValueError(f"weights add up to {self.total_weight}, not 100")

    @property
    def items(self) -> tuple[str, ...]:
        """Column order of the points matrix."""
        return (self.overall_item, *(item for dim in self.dimensions for item in dim.items))

    @property
    def total_weight(self) -> float:
        return self.overall_weight + sum(dim.weight for dim in self.dimensions)

    def weights(self) -> NDArray[np.float64]:
        """Weight of each column in points (sums to 100)."""
        per_item = [self.overall_weight]
        for dim in self.dimensions:
            per_item.extend([dim.weight / len(dim.items)] * len(dim.items))
        return np.asarray(per_item, dtype=np.float64)

    def dimension_matrix(self) -> NDArray[np.float64]:
        """(items x dimensions) matrix: points x this = each dimension's points."""
        weights = self.weights() / 100.0
        matrix = np.zeros((len(self.items), len(self.dimensions)), dtype=np.float64)
        column = 1
        for d, dim in enumerate(self.dimensions):
            for _ in dim.items:
                matrix[column, d] = weights[column]
                column += 1
        return matrix

    @classmethod
    def standard(cls) -> ScoringScheme:
        """The 1+10 scheme of the source document: overall 20; 16/24/16/16/8 over q1..q10."""
        return cls(
            overall_item="overall",
            overall_weight=20.0,
            dimensions=(
                Dimension("work_style", 16.0, ("q1", "q2")),
                Dimension("economy_environment", 24.0, ("q3", "q4", "q5")),
                Dimension("hardship_employment", 16.0, ("q6", "q7")),
                Dimension("social_undertakings", 16.0, ("q8", "q9")),
                Dimension("grassroots", 8.0, ("q10",)),
            ),
        )


def _as_points(points: ArrayLike, scheme: ScoringScheme) -> NDArray[np.float64]:
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != len(scheme.items):
        raise ValueError(f"points must be (n, {len(scheme.items)}), not {array.shape}")
    return array


def questionnaire_scores(points: ArrayLike, scheme: ScoringScheme) -> NDArray[np.float64]:
    """Score of each questionnaire (0-100); NaN where any scored item is unanswered."""
    array = _as_points(points, scheme)
    return _scores(array, scheme, _valid(array))


def _valid(array: NDArray[np.float64]) -> NDArray[np.bool_]:
    return np.asarray(~np.isnan(array).any(axis=1))


def _scores(
    array: NDArray[np.float64], scheme: ScoringScheme, valid: NDArray[np.bool_]
) -> NDArray[np.float64]:
    scores = np.asarray(array @ (scheme.weights() / 100.0), dtype=np.float64)
    scores[~valid] = np.nan
    return scores


@dataclass(frozen=True, slots=True)
class StratumScore:
    """Counts and mean score of one stratum within a district."""

    valid: int
    invalid: int
    score: float | None


@dataclass(frozen=True, slots=True)
class DistrictScore:
    """Everything reported for one district."""

    district: str
    valid: int
    invalid: int
    score: float | None
    component: float | None
    sd: float | None
    ci95: tuple[float, float] | None
    component_ci95: tuple[float, float] | None
    overall_points: float | None
    dimensions: dict[str, float | None]
    strata: dict[str, StratumScore]
    rank: int | None
    rank_range: tuple[int, int] | None
    prob_above: dict[str, float]


def score_districts(
    districts: ArrayLike,
    strata: ArrayLike,
    points: ArrayLike,
    scheme: ScoringScheme,
    strata_names: Sequence[str] = ("staff", "resident"),
) -> list[DistrictScore]:
    """Score every district (sorted by name) from per-questionnaire labels and a points matrix.

    ``districts`` and ``strata`` are one label per row; ``points`` is (rows x scheme.items) with NaN for
    an item not answered with a rating option. Strata in ``strata_names`` are always reported.
    """
    array = _as_points(points, scheme)
    district_labels = np.asarray(districts)
    stratum_labels = np.asarray(strata).astype(str)
    n = array.shape[0]
    if district_labels.shape != (n,) or stratum_labels.shape != (n,):
        raise ValueError("districts and strata need one label per row of points")
    # np.unique without an inverse hashes; searchsorted on the few names is cheaper than a full sort.
    names = np.unique(district_labels)
    d_idx = np.searchsorted(names, district_labels)
    k = len(names)
    stratum_names = list(strata_names)
    s_idx = np.full(n, -1, dtype=np.intp)
    for j, name in enumerate(stratum_names):
        s_idx[stratum_labels == name] = j
    if (s_idx < 0).any():
        for extra in np.unique(stratum_labels[s_idx < 0]).tolist():
            s_idx[stratum_labels == extra] = len(stratum_names)
            stratum_names.append(extra)
    n_strata = len(stratum_names)

    valid = _valid(array)
    scores = _scores(array, scheme, valid)
    v = valid.astype(np.float64)
    safe_scores = np.where(valid, scores, 0.0)

    n_valid = np.bincount(d_idx, weights=v, minlength=k)
    n_all = np.bincount(d_idx, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.bincount(d_idx, weights=safe_scores, minlength=k) / n_valid
        centred = np.where(valid, scores - means[d_idx], 0.0)
        sd = np.sqrt(np.bincount(d_idx, weights=centred * centred, minlength=k) / (n_valid - 1))
        sd[n_valid < 2] = np.nan
        se = sd / np.sqrt(n_valid)

        # Dimension points: average each column per district first, then weight the (k x items)
        # means; far cheaper than weighting a million rows (and the same sum).
        answered = np.where(valid[:, None], array, 0.0)
        column_means = (
            np.stack(
                [np.bincount(d_idx, weights=answered[:, j], minlength=k) for j in range(answered.shape[1])],
                axis=1,
            )
            / n_valid[:, None]
        )
        dim_means = column_means @ scheme.dimension_matrix()
        overall_means = column_means[:, 0] * (scheme.overall_weight / 100.0)

        cell = d_idx * n_strata + s_idx
        cells = k * n_strata
        cell_valid = np.bincount(cell, weights=v, minlength=cells).reshape(k, n_strata)
        cell_all = np.bincount(cell, minlength=cells).reshape(k, n_strata)
        cell_means = (np.bincount(cell, weights=safe_scores, minlength=cells).reshape(k, n_strata)
                      / cell_valid)  # fmt: skip

    prob = prob_above(means, se)
    ranks, ranges = rank_ranges(means, prob)

    results: list[DistrictScore] = []
    labels = [str(name) for name in names.tolist()]
    for i, name in enumerate(labels):
        score = _num(means[i])
        half = _num(Z95 * se[i])
        results.append(
            DistrictScore(
                district=name,
                valid=int(n_valid[i]),
                invalid=int(n_all[i] - n_valid[i]),
                score=score,
                component=None if score is None else score * COMPONENT_FACTOR,
                sd=_num(sd[i]),
                ci95=None if score is None or half is None else (score - half, score + half),
                component_ci95=None
                if score is None or half is None
                else ((score - half) * COMPONENT_FACTOR, (score + half) * COMPONENT_FACTOR),
                overall_points=_num(overall_means[i]),
                dimensions={dim.id: _num(dim_means[i, j]) for j, dim in enumerate(scheme.dimensions)},
                strata={
                    s: StratumScore(
                        valid=int(cell_valid[i, j]),
                        invalid=int(cell_all[i, j] - cell_valid[i, j]),
                        score=_num(cell_means[i, j]),
                    )
                    for j, s in enumerate(stratum_names)
                },
                rank=None if ranks[i] == 0 else int(ranks[i]),
                rank_range=None if ranks[i] == 0 else (int(ranges[i, 0]), int(ranges[i, 1])),
                prob_above={
                    other: float(prob[i, j])
                    for j, other in enumerate(labels)
                    if j != i and not np.isnan(prob[i, j])
                },
            )
        )
    return results


def prob_above(means: ArrayLike, se: ArrayLike) -> NDArray[np.float64]:
    """P[i, j]: probability district i truly scores above j (normal approximation).

    A standard error that is NaN (fewer than two valid questionnaires) counts as unbounded, giving 0.5;
    a mean that is NaN (no valid questionnaire) gives NaN; the diagonal is NaN.
    """
    m = np.asarray(means, dtype=np.float64)
    s = np.where(np.isnan(np.asarray(se, dtype=np.float64)), np.inf, np.asarray(se, dtype=np.float64))
    diff = m[:, None] - m[None, :]
    spread = np.sqrt(s[:, None] ** 2 + s[None, :] ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = diff / spread
    # Two exact scores: certain unless equal.
    exact = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
    z = np.where(spread == 0, exact, z)
    z = np.where(np.isinf(spread), 0.0, z)
    prob = np.asarray(_phi(z), dtype=np.float64)
    prob[np.isnan(diff)] = np.nan
    np.fill_diagonal(prob, np.nan)
    return prob


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _phi(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(z.shape, np.nan)
    finite = ~np.isnan(z)
    out[finite] = 0.5 * np.asarray(_erfc(-z[finite] / math.sqrt(2.0)), dtype=np.float64)
    return out


def rank_ranges(means: ArrayLike, prob: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Observed rank (1 = highest; 0 = unranked) and plausible (best, worst) rank of each district.

    Districts without a score are unranked. Best = 1 + the ranked districts clearly above;
    worst = the number ranked - the ranked districts clearly below.
    """
    m = np.asarray(means, dtype=np.float64)
    p = np.asarray(prob, dtype=np.float64)
    ranked = ~np.isnan(m)
    count = int(ranked.sum())
    filled = np.where(ranked, m, -np.inf)
    ranks = 1 + (filled[None, :] > filled[:, None]).sum(axis=1)
    clear = np.nan_to_num(p, nan=0.0) > CLEARLY
    clear &= ranked[:, None] & ranked[None, :]
    above_me = clear.sum(axis=0)  # j clearly above i: P[j, i] large
    below_me = clear.sum(axis=1)
    ranges = np.stack([1 + above_me, count - below_me], axis=1)
    ranks = np.where(ranked, ranks, 0)
    ranges = np.where(ranked[:, None], ranges, 0)
    return ranks.astype(np.int64), ranges.astype(np.int64)


def _num(value: float | np.float64) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number
