"""AAPOR codes and outcome rates."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring.aapor import (
    CODES,
    RATE_NAMES,
    OutcomeClass,
    UnknownDisposition,
    classify,
    count_classes,
    label,
    outcome_rates,
    proportional_e,
)

C = OutcomeClass


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("1.1", C.I),
        ("1.2", C.P),
        ("2.10", C.R),
        ("2.11", C.R),
        ("2.111", C.R),
        ("2.12", C.R),
        ("2.1", C.R),  # Excel's 2.10
        ("2.21", C.NC),
        ("2.222", C.NC),
        ("2.33", C.O),
        ("2.36", C.O),
        ("3.12", C.UH),
        ("3.161", C.UH),
        ("3.20", C.UO),
        ("3.21", C.UO),
        ("3.91", C.UO),
        ("4.10", C.NE),
        ("4.51", C.NE),
        ("4.70", C.NE),
        ("4.7", C.NE),  # Excel's 4.70
        ("4.80", C.NE),
        (" 1.1 ", C.I),
    ],
)
def test_classify_follows_the_projects_rule(code: str, cls: OutcomeClass) -> None:
    assert classify(code) is cls


@pytest.mark.parametrize(
    "code", ["", "1", "1.0", "1.3", "1.10", "2.0", "2.4", "2.41", "3.3", "3.0", "5.1", "x", "4."]
)
def test_unknown_codes_are_refused(code: str) -> None:
    with pytest.raises(UnknownDisposition):
        classify(code)


def test_code_table_has_labels_and_the_engines_codes() -> None:
    for code in ("1.1", "1.2", "2.11", "2.12", "4.51", "4.70"):
        assert CODES[code].zh and CODES[code].en
    assert CODES["4.70"].outcome_class is C.NE
    assert label("4.70") == "无合格受访者"
    assert label("4.70", "en") == "No eligible respondent"
    assert label("2.19", "en") == "Refusal and break-off"  # unlisted sub-code: its class


def test_published_worked_example() -> None:
    # Worked example from the rOpenSci package "outcomerate" (Rafael Pilliard Hellwig), README,
    # https://github.com/ropensci/outcomerate — counts I=4, P=2, R=1, NC=1, O=1, UH=1, UO=1, NE=1 and
    # e = eligibility_rate(freq) = 0.9, printed rates (rounded to 3 places):
    # RR1 .364 RR2 .545 RR3 .370 RR4 .556 RR5 .444 RR6 .667 COOP1 .500 COOP2 .750 COOP3 .571
    # COOP4 .857 REF1 .091 REF2 .093 REF3 .111 CON1 .727 CON2 .741 CON3 .889.
    # Formulas: AAPOR Standard Definitions, 9th edition (2016), "Calculating rates".
    counts = {C.I: 4, C.P: 2, C.R: 1, C.NC: 1, C.O: 1, C.UH: 1, C.UO: 1, C.NE: 1}
    published = {
        "RR1": 0.364, "RR2": 0.545, "RR3": 0.370, "RR4": 0.556, "RR5": 0.444, "RR6": 0.667,
        "COOP1": 0.500, "COOP2": 0.750, "COOP3": 0.571, "COOP4": 0.857,
        "REF1": 0.091, "REF2": 0.093, "REF3": 0.111,
        "CON1": 0.727, "CON2": 0.741, "CON3": 0.889,
    }  # fmt: skip
    result = outcome_rates(counts)
    assert result.e == pytest.approx(0.9)
    assert result.e_estimated
    for name, value in published.items():
        rate = result.rates[name]
        assert rate is not None
        assert round(rate, 3) == pytest.approx(value), name


def test_hand_computed_rates_with_a_given_e() -> None:
    counts = {C.I: 300, C.P: 20, C.R: 80, C.NC: 50, C.O: 10, C.UH: 200, C.UO: 40, C.NE: 300}
    result = outcome_rates(counts, e=0.25)
    assert not result.e_estimated
    assert result.e == 0.25
    known = 320 + 140
    assert result.rates["RR1"] == pytest.approx(300 / (known + 240))
    assert result.rates["RR3"] == pytest.approx(300 / (known + 0.25 * 240))
    assert result.rates["RR4"] == pytest.approx(320 / (known + 60))
    assert result.rates["RR6"] == pytest.approx(320 / known)
    assert result.rates["COOP1"] == pytest.approx(300 / (320 + 80 + 10))
    assert result.rates["COOP4"] == pytest.approx(320 / 400)
    assert result.rates["REF2"] == pytest.approx(80 / (known + 60))
    assert result.rates["CON2"] == pytest.approx(410 / (known + 60))
    assert proportional_e(counts) == pytest.approx(460 / 760)


def test_zero_denominators_are_none_not_errors() -> None:
    result = outcome_rates({})
    assert all(result.rates[name] is None for name in RATE_NAMES)
    assert result.e is None
    only_unknown = outcome_rates({C.UH: 5})
    assert only_unknown.e is None
    assert only_unknown.rates["RR1"] == 0.0
    assert only_unknown.rates["RR3"] is None  # needs e, which nothing estimates
    assert only_unknown.rates["RR5"] is None


def test_e_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        outcome_rates({C.I: 1}, e=1.5)


def test_count_classes() -> None:
    counts = count_classes(["1.1", "1.1", "2.12", "4.70", "3.13", "3.21"])
    assert counts[C.I] == 2 and counts[C.R] == 1 and counts[C.NE] == 1
    assert counts[C.UH] == 1 and counts[C.UO] == 1 and counts[C.P] == 0
    with pytest.raises(UnknownDisposition):
        count_classes(["1.1", "9.9"])


@given(st.dictionaries(st.sampled_from(list(C)), st.integers(0, 10_000)), st.none() | st.floats(0, 1))
def test_rates_are_shares_and_ordered(counts: dict[OutcomeClass, int], e: float | None) -> None:
    rates = outcome_rates(counts, e).rates
    for name in RATE_NAMES:
        value = rates[name]
        assert value is None or 0.0 <= value <= 1.0 + 1e-12
    # Fewer unknowns counted in the denominator can only raise a rate: RR1 <= RR3 <= RR5.
    chain = [rates["RR1"], rates["RR3"], rates["RR5"]]
    present = [v for v in chain if v is not None]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(present))
