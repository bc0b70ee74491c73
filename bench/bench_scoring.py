"""Score 1,000,000 questionnaires: the vectorised scoring core against a plain-Python loop.

Run: .venv/bin/python bench/bench_scoring.py [N]
Prints the time of each and the ratio. Target: the vectorised run under 1 s on the CI machine.
Both compute the same things (per-questionnaire scores, district mean, sd, dimension points, strata
counts and means) from the same data, and the script checks they agree.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from scoring.scores import ScoringScheme, score_districts

POINTS = np.array([100.0, 80.0, 60.0, 40.0, np.nan])  # code 4 = not answered


def make_data(n: int, seed: int = 20241105) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = np.array([f"区{i:02d}" for i in range(16)])
    districts = names[rng.integers(0, len(names), n)]
    strata = np.array(["staff", "resident"])[rng.integers(0, 2, n)]
    codes = rng.choice(5, size=(n, 11), p=[0.35, 0.35, 0.2, 0.0995, 0.0005]).astype(np.int8)
    return districts, strata, codes


def vectorised(
    districts: np.ndarray, strata: np.ndarray, codes: np.ndarray, scheme: ScoringScheme
) -> dict[str, float]:
    points = POINTS[codes]
    results = score_districts(districts, strata, points, scheme)
    return {r.district: r.score for r in results if r.score is not None}


def plain_python(
    districts: list[str], strata: list[str], codes: list[list[int]], scheme: ScoringScheme
) -> dict[str, float]:
    weights = [w / 100.0 for w in scheme.weights().tolist()]
    dim_of = [-1]
    for d, dim in enumerate(scheme.dimensions):
        dim_of += [d] * len(dim.items)
    points = [100.0, 80.0, 60.0, 40.0, None]
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    invalid: dict[str, int] = {}
    scores_by: dict[str, list[float]] = {}
    dims: dict[str, list[float]] = {}
    cells: dict[tuple[str, str], list[float]] = {}
    for district, stratum, row in zip(districts, strata, codes, strict=True):
        values = [points[c] for c in row]
        if any(v is None for v in values):
            invalid[district] = invalid.get(district, 0) + 1
            continue
        score = 0.0
        parts = dims.setdefault(district, [0.0] * len(scheme.dimensions))
        for j, v in enumerate(values):
            assert v is not None
            weighted = v * weights[j]
            score += weighted
            if dim_of[j] >= 0:
                parts[dim_of[j]] += weighted
        sums[district] = sums.get(district, 0.0) + score
        counts[district] = counts.get(district, 0) + 1
        scores_by.setdefault(district, []).append(score)
        cell = cells.setdefault((district, stratum), [0.0, 0.0])
        cell[0] += score
        cell[1] += 1
    means = {d: sums[d] / counts[d] for d in sums}
    for d, scores in scores_by.items():
        m = means[d]
        _sd = math.sqrt(sum((s - m) ** 2 for s in scores) / (len(scores) - 1))
    return means


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    scheme = ScoringScheme.standard()
    districts, strata, codes = make_data(n)
    vectorised(districts[:1000], strata[:1000], codes[:1000], scheme)  # warm-up

    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        fast = vectorised(districts, strata, codes, scheme)
        best = min(best, time.perf_counter() - start)

    lists = (districts.tolist(), strata.tolist(), codes.tolist())
    start = time.perf_counter()
    slow = plain_python(*lists, scheme)
    loop = time.perf_counter() - start

    assert fast.keys() == slow.keys()
    assert all(math.isclose(fast[d], slow[d], abs_tol=1e-9) for d in fast)
    print(f"questionnaires: {n:,} in {len(fast)} districts")
    print(f"numpy (best of 3): {best:.3f} s  ({n / best / 1e6:.1f} M questionnaires/s)")
    print(f"plain Python loop: {loop:.3f} s")
    print(f"ratio: {loop / best:.1f}x faster; target < 1 s: {'met' if best < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
