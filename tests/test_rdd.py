"""The RDD sample: a seeded permutation of the frame, commitments anyone can recompute, banks."""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer import rdd
from dialer.rdd import Frame

SEED = "00112233445566778899aabbccddeeff"
OTHER_SEED = "ffeeddccbbaa99887766554433221100"


def _all_numbers(frame: Frame) -> set[int]:
    """The frame written out by hand from its definition (prefix + every suffix, minus banks)."""
    out = set()
    for p in frame.prefixes:
        for suffix in range(10**frame.suffix_digits):
            text = p + str(suffix).zfill(frame.suffix_digits)
            if text[:-2] not in frame.excluded_banks:
                out.add(int(text))
    return out


# ---------------------------------------------------------------- frame


def test_frame_is_canonical_whatever_the_prefix_order() -> None:
    a = Frame(("234", "233"), 4, frozenset({"23345"}))
    b = Frame(("233", "234"), 4, frozenset({"23345"}))
    assert a == b
    assert a.prefixes == ("233", "234")
    assert a.canonical_text() == (
        "cati-rdd-frame v1\nsuffix-digits 4\nprefix 233\nprefix 234\nexclude 23345\n"
    )
    assert a.size == 2 * 10_000 - 100


@pytest.mark.parametrize(
    ("prefixes", "suffix", "banks", "needle"),
    [
        (("23a",), 4, (), "malformed prefix '23a'"),
        (("",), 4, (), "malformed prefix ''"),
        (("0233",), 4, (), "never starts with 0"),
        (("２３３",), 4, (), "malformed prefix"),  # full-width digits are not ASCII digits
        (("233", "233"), 4, (), "duplicate prefix '233'"),
        ((), 4, (), "at least one prefix"),
        (("233",), 1, (), "suffix digits"),
        (("233",), 11, (), "suffix digits"),
        (("1234567890",), 10, (), "longer than 18 digits"),
        (("233",), 4, ("2334",), "not a 100-bank"),
        (("233",), 4, ("23445",), "not a 100-bank"),
        (("233",), 4, ("2334x",), "digits only"),
        (("233",), 2, ("233",), "every bank of the frame is excluded"),
    ],
)
def test_bad_frames_are_refused_by_name(
    prefixes: tuple[str, ...], suffix: int, banks: tuple[str, ...], needle: str
) -> None:
    with pytest.raises(rdd.FrameError, match=needle) as info:
        Frame(prefixes, suffix, frozenset(banks))
    assert isinstance(info.value, ValueError)


def test_one_string_is_not_a_list_of_prefixes() -> None:
    with pytest.raises(rdd.FrameError, match="not one string"):
        Frame("233")  # type: ignore[arg-type]


def test_bank_of_and_membership() -> None:
    frame = Frame(("233",), 4, frozenset({"23345"}))
    assert frame.bank_of("2331234") == "23312"
    assert frame.bank_of(2339999) == "23399"
    assert 2334500 not in frame and "2334599" not in frame
    assert "2334400" in frame
    for bad in ("2341234", "233123", "abc", "0331234"):
        assert bad not in frame
    with pytest.raises(rdd.FrameError, match="not in the frame"):
        frame.bank_of("2334512")


def test_bank_file_lines_are_checked_with_their_line_number() -> None:
    lines = ["# non-working banks", "23345", "", "  23346  # trailing comment", "2339"]
    with pytest.raises(rdd.BankFileError, match=r"^line 5: bank '2339'") as info:
        rdd.parse_bank_lines(lines, ["233"], 4)
    assert info.value.line == 5
    assert rdd.parse_bank_lines(lines[:4], ["233"], 4) == frozenset({"23345", "23346"})


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    ("seed", "needle"),
    [
        ("xyz" * 11, "hexadecimal"),
        ("0x" + "ab" * 16, "hexadecimal"),
        ("ab" * 16 + " ", "hexadecimal"),
        ("a" * 33, "even number"),
        ("ab" * 15, "32..128 hex digits"),
        ("ab" * 65, "32..128 hex digits"),
    ],
)
def test_bad_seeds_are_refused(seed: str, needle: str) -> None:
    with pytest.raises(rdd.SeedError, match=needle):
        rdd.generate(Frame(("233",)), seed, 1)


def test_seed_case_does_not_matter_and_new_seeds_are_valid() -> None:
    frame = Frame(("233",))
    assert (rdd.generate(frame, SEED.upper(), 50) == rdd.generate(frame, SEED, 50)).all()
    seed = rdd.new_seed()
    assert rdd.normalise_seed(seed) == seed and len(seed) == 64
    assert rdd.new_seed() != seed


# ---------------------------------------------------------------- the ordered sample


@pytest.mark.parametrize(
    "frame",
    [
        Frame(("7",), 2),  # 100 numbers: the smallest frame
        Frame(("233", "234"), 4, frozenset({"23345", "23400", "23499"})),
        Frame(("28", "291", "3"), 3, frozenset({"2910", "35"})),  # prefixes of different lengths
        Frame(tuple(str(40 + i) for i in range(13)), 4),  # 130,000: not a power of two
    ],
)
def test_whole_sample_is_a_permutation_of_the_frame(frame: Frame) -> None:
    sample = rdd.generate(frame, SEED, frame.size)
    assert sample.dtype == np.int64
    assert len(set(sample.tolist())) == frame.size  # no repeats
    assert set(sample.tolist()) == _all_numbers(frame)  # exactly the frame, excluded banks honoured
    assert (rdd.positions(frame, SEED, sample) == np.arange(frame.size)).all()


def test_sample_is_deterministic_and_depends_on_the_seed() -> None:
    frame = Frame(("233", "234"))
    first = rdd.generate(frame, SEED, 1000)
    assert (first == rdd.generate(frame, SEED, 1000)).all()
    other = rdd.generate(frame, OTHER_SEED, 1000)
    assert (first != other).mean() > 0.9
    # not the frame order: the permutation actually shuffles
    assert not (np.diff(first) > 0).all()


def test_sample_is_spread_over_the_frame() -> None:
    frame = Frame(tuple(str(200 + i) for i in range(10)), 4)
    sample = rdd.generate(frame, SEED, 20_000)
    per_prefix = np.bincount(sample // 10_000 - 200, minlength=10)
    # 2,000 expected per prefix; hypergeometric sd about 42, so 250 is six of them
    assert np.abs(per_prefix - 2000).max() < 250
    last_digit = np.bincount(sample % 10, minlength=10)
    assert np.abs(last_digit - 2000).max() < 250


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=9_900), min_size=1, max_size=6),
)
def test_slices_concatenate_to_the_sample_and_never_overlap(cuts: list[int]) -> None:
    frame = Frame(("233",), 4, frozenset({"23311"}))
    bounds = sorted({0, frame.size, *cuts})
    whole = rdd.generate(frame, SEED, frame.size)
    parts = [rdd.generate(frame, SEED, b - a, a) for a, b in itertools.pairwise(bounds)]
    joined = np.concatenate(parts)
    assert (joined == whole).all()
    assert np.unique(joined).size == frame.size


def test_restart_from_a_stored_position_continues_without_repeats() -> None:
    """Two dialer processes and a restart share one counter: what they take never overlaps."""
    frame = Frame(("233", "234"))
    position = 0
    taken: list[int] = []
    for size in (17, 250, 1, 999, 40):  # e.g. process A, process B, A after a restart, ...
        taken += rdd.generate(frame, SEED, size, position).tolist()
        position += size
    assert len(taken) == len(set(taken)) == position


def test_replicates_partition_the_ordered_sample() -> None:
    frame = Frame(("233",), 4, frozenset({"23300"}))  # 9,900 numbers
    assert rdd.replicate_count(frame, 1000) == 10
    assert rdd.replicate_bounds(frame, 1000, 9) == (9000, 9900)
    reps = list(rdd.iter_replicates(frame, SEED, 1000))
    assert [r.size for r in reps] == [1000] * 9 + [900]
    assert (np.concatenate(reps) == rdd.generate(frame, SEED, frame.size)).all()
    assert (rdd.replicate(frame, SEED, 1000, 3) == reps[3]).all()
    with pytest.raises(rdd.SampleRangeError, match="replicate 10 does not exist"):
        rdd.replicate_bounds(frame, 1000, 10)
    with pytest.raises(rdd.SampleRangeError, match="replicate size"):
        rdd.replicate_count(frame, 0)


def test_count_larger_than_the_frame_is_refused() -> None:
    frame = Frame(("233",))
    with pytest.raises(rdd.SampleRangeError, match="10001 numbers requested but the frame holds only 10000"):
        rdd.generate(frame, SEED, 10_001)
    with pytest.raises(rdd.SampleRangeError, match=r"positions 9990\.\.10000"):
        rdd.generate(frame, SEED, 11, 9990)
    with pytest.raises(rdd.SampleRangeError, match="count must be"):
        rdd.generate(frame, SEED, -1)
    assert rdd.generate(frame, SEED, 0).size == 0
    assert rdd.generate(frame, SEED, 10, 9990).size == 10


def test_positions_of_numbers_outside_the_frame_are_minus_one() -> None:
    frame = Frame(("233",), 4, frozenset({"23345"}))
    pos = rdd.positions(frame, SEED, [2334512, 2341234, 2330000])
    assert pos[0] == -1 and pos[1] == -1 and pos[2] >= 0
    assert rdd.generate(frame, SEED, 1, int(pos[2]))[0] == 2330000


# ---------------------------------------------------------------- commitments


def test_commitment_is_sha256_of_the_documented_text() -> None:
    frame = Frame(("234", "233"), 4, frozenset({"23345"}))
    text = (
        "cati-rdd-commitment v1\n"
        f"seed {SEED}\n"
        "cati-rdd-frame v1\nsuffix-digits 4\nprefix 233\nprefix 234\nexclude 23345\n"
    )
    assert rdd.commitment_text(SEED.upper(), frame) == text
    assert rdd.commitment(SEED, frame) == hashlib.sha256(text.encode()).hexdigest()


def test_verify_accepts_the_truth_and_refuses_any_tampering() -> None:
    frame = Frame(("233", "234"), 4, frozenset({"23345"}))
    c = rdd.commitment(SEED, frame)
    assert rdd.verify(SEED, frame, c)
    assert rdd.verify(SEED, frame, c.upper())
    assert not rdd.verify(OTHER_SEED, frame, c)
    assert not rdd.verify(SEED, Frame(("233", "234")), c)  # a bank dropped from the exclusions
    assert not rdd.verify(SEED, Frame(("233", "234"), 4, frozenset({"23346"})), c)
    assert not rdd.verify(SEED, Frame(("233", "235"), 4, frozenset({"23345"})), c)
    assert not rdd.verify(SEED, Frame(("2330", "2340"), 3, frozenset({"23304"})), c)
    flipped = ("0" if c[0] != "0" else "1") + c[1:]
    assert not rdd.verify(SEED, frame, flipped)
    assert not rdd.verify(SEED, frame, "")


def test_campaign_commitment_and_district_streams() -> None:
    frames = {"310101": Frame(("233", "234")), "310104": Frame(("5521",), 4, frozenset({"552100"}))}
    c = rdd.campaign_commitment(SEED, frames)
    expected = (
        "cati-rdd-campaign v1\n"
        f"seed {SEED}\n"
        f"district 310101 {frames['310101'].digest()}\n"
        f"district 310104 {frames['310104'].digest()}\n"
    )
    assert rdd.campaign_commitment_text(SEED, dict(reversed(list(frames.items())))) == expected
    assert c == hashlib.sha256(expected.encode()).hexdigest()
    assert rdd.verify_campaign(SEED, frames, c)
    assert not rdd.verify_campaign(OTHER_SEED, frames, c)
    assert not rdd.verify_campaign(SEED, {**frames, "310105": Frame(("777",))}, c)
    assert not rdd.verify_campaign(SEED, {"310101": frames["310101"], "310199": frames["310104"]}, c)

    s1, s4 = rdd.district_seed(SEED, "310101"), rdd.district_seed(SEED, "310104")
    assert s1 != s4 and rdd.normalise_seed(s1) == s1
    assert s1 == rdd.district_seed(SEED, "310101")
    # same frame, different districts: independent streams
    f = frames["310101"]
    assert (rdd.generate(f, s1, 500) != rdd.generate(f, s4, 500)).mean() > 0.9
    with pytest.raises(rdd.FrameError, match="district code"):
        rdd.district_seed(SEED, "district one")
    with pytest.raises(rdd.FrameError, match="at least one district"):
        rdd.campaign_commitment(SEED, {})


# ---------------------------------------------------------------- 100-bank bookkeeping


def test_bank_tally_counts_attempts_and_distinct_working_numbers() -> None:
    numbers = np.array([2331201, 2331201, 2331299, 2334500, 2334501, 2339900], dtype=np.int64)
    working = np.array([True, True, False, False, False, True])
    tally = rdd.tally_banks(numbers, working)
    assert tally.banks.tolist() == [23312, 23345, 23399]
    assert tally.attempts.tolist() == [3, 2, 1]
    assert tally.working_numbers.tolist() == [1, 0, 1]  # 2331201 attempted twice counts once
    assert tally.working_rate().tolist() == pytest.approx([1 / 3, 0.0, 1.0])
    assert tally.dead_banks(min_attempts=2) == ["23345"]
    assert tally.dead_banks(min_attempts=3) == []
    assert rdd.bank_ids(numbers).tolist() == [23312, 23312, 23312, 23345, 23345, 23399]
    with pytest.raises(rdd.RddError, match="same length"):
        rdd.tally_banks(numbers, working[:-1])
