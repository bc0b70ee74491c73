"""Where a district's ordered RDD sample comes from: the one seam between cases and ``dialer.rdd``.

``district_numbers`` returns positions [start, start + count) of a district's ordered sample. The
service hands those positions out under a row lock on the district, so the same position is never
released twice; the sample itself is a pure function of (campaign seed, district, frame), so every
process and every restart sees the same order, and after close anyone can re-generate it.

Interim implementation until ``dialer.rdd`` (branch ``rdd``) lands: a seeded numpy permutation of
the district's frame (prefix x every suffix). Replace ``_ordered_indices`` with the rdd API when it
is merged; the signature of ``district_numbers`` stays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from cati.errors import Invalid


def frame_size(prefixes: Sequence[str], suffix_digits: int) -> int:
    """How many numbers the district's frame holds."""
    return len(prefixes) * int(10**suffix_digits)


def _district_seed(seed_hex: str, district_code: str) -> int:
    digest = hashlib.sha256(f"cati-district-sample\0{seed_hex}\0{district_code}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


def _ordered_indices(seed_hex: str, district_code: str, size: int, stop: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(_district_seed(seed_hex, district_code)))
    return rng.permutation(size)[:stop]


def district_numbers(
    *,
    seed_hex: str | None,
    district_code: str,
    prefixes: Sequence[str],
    suffix_digits: int,
    start: int,
    count: int,
) -> list[str]:
    """Numbers at positions [start, start + count) of the district's ordered sample.

    Raises Invalid when the campaign has no seed, the district no prefix, or the frame is used up.
    """
    if not seed_hex:
        raise Invalid("the campaign has no sampling seed; set one before releasing sample")
    if not prefixes:
        raise Invalid(f"district {district_code!r} has no exchange prefix")
    frame = sorted(prefixes)
    size = frame_size(frame, suffix_digits)
    if start + count > size:
        raise Invalid(
            f"district {district_code!r}: {count} more numbers asked for but only "
            f"{max(size - start, 0)} of its {size} are left"
        )
    idx = _ordered_indices(seed_hex, district_code, size, start + count)[start:]
    base = 10**suffix_digits
    return [f"{frame[int(i) // base]}{int(i) % base:0{suffix_digits}d}" for i in idx]
