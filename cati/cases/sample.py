"""Where a district's ordered RDD sample comes from: the one seam between cases and ``dialer.rdd``.

``district_numbers`` returns positions [start, start + count) of a district's ordered sample:
``dialer.rdd.generate`` over the district's frame (its exchange prefixes x every suffix) under the
district's own seed, ``dialer.rdd.district_seed(campaign seed, district code)``. The service hands
those positions out under a row lock on the district, so the same position is never released
twice; the sample itself is a pure function of (campaign seed, district code, frame), so every
process and every restart sees the same order, and after close anyone can re-generate it with
``cati rdd generate --seed <district seed> --prefix ...``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cati.errors import Invalid
from dialer import rdd


def district_frame(district_code: str, prefixes: Sequence[str], suffix_digits: int) -> rdd.Frame:
    """The district's sampling frame; Invalid names what is wrong with it."""
    if not prefixes:
        raise Invalid(f"district {district_code!r} has no exchange prefix")
    try:
        return rdd.Frame(tuple(prefixes), suffix_digits)
    except rdd.RddError as exc:
        raise Invalid(f"district {district_code!r}: {exc}") from None


def frame_size(district_code: str, prefixes: Sequence[str], suffix_digits: int) -> int:
    """How many numbers the district's frame holds."""
    return district_frame(district_code, prefixes, suffix_digits).size


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
    frame = district_frame(district_code, prefixes, suffix_digits)
    if start + count > frame.size:
        raise Invalid(
            f"district {district_code!r}: {count} more numbers asked for but only "
            f"{max(frame.size - start, 0)} of its {frame.size} are left"
        )
    try:
        seed = rdd.district_seed(seed_hex, district_code)
        return rdd.format_numbers(rdd.generate(frame, seed, count, start))
    except rdd.RddError as exc:
        raise Invalid(f"district {district_code!r}: {exc}") from None
