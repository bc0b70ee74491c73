"""RDD generation speed: 1,000,000 numbers of the ordered sample, target under 1 s.

Run: ``.venv/bin/python bench/bench_rdd.py``. Prints the best of a few runs per frame shape,
including the worst shape for cycle-walking (a frame just over a power of two), and the
throughput of ``positions`` (what ``cati rdd check`` uses).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from dialer import rdd

SEED = "00112233445566778899aabbccddeeff"
COUNT = 1_000_000
TARGET_S = 1.0


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    shapes = {
        "100 prefixes x 4 digits (1,000,000)": rdd.Frame(tuple(str(2000 + i) for i in range(100)), 4),
        "105 prefixes x 4 digits (worst walk)": rdd.Frame(tuple(str(2000 + i) for i in range(105)), 4),
        "2 prefixes x 7 digits (20,000,000)": rdd.Frame(("233", "234"), 7),
        "100 prefixes, 500 banks excluded": rdd.Frame(
            tuple(str(2000 + i) for i in range(110)),
            4,
            frozenset(f"{2000 + i}{b:02d}" for i in range(0, 100, 2) for b in range(10)),
        ),
    }
    print(f"RDD generation: {COUNT:,} numbers, target < {TARGET_S:.1f} s")
    print(f"{'frame':40s} {'size':>12s} {'seconds':>8s} {'numbers/s':>12s} {'vs target':>9s}")
    worst = 0.0
    for name, frame in shapes.items():
        seconds = best_of(lambda frame=frame: rdd.generate(frame, SEED, COUNT))
        worst = max(worst, seconds)
        rate = COUNT / seconds
        print(f"{name:40s} {frame.size:12,d} {seconds:8.3f} {rate:12,.0f} {seconds / TARGET_S:8.2f}x")
    frame = shapes["100 prefixes x 4 digits (1,000,000)"]
    sample = rdd.generate(frame, SEED, COUNT)
    assert np.unique(sample).size == COUNT
    seconds = best_of(lambda: rdd.positions(frame, SEED, sample))
    label = "positions() of 1,000,000 numbers"
    print(f"{label:40s} {frame.size:12,d} {seconds:8.3f} {COUNT / seconds:12,.0f}")
    t0 = time.perf_counter()
    rdd.format_numbers(sample)
    print(f"{'format 1,000,000 numbers as text':40s} {'':12s} {time.perf_counter() - t0:8.3f}")
    verdict = "OK" if worst < TARGET_S else "SLOW"
    print(f"worst generation {worst:.3f} s = {worst / TARGET_S:.2f} of the 1 s target: {verdict}")


if __name__ == "__main__":
    main()
