"""The one scoring path shared by ``cati score`` / ``cati rates`` and the results API.

Why one module: the assessment office compares the service's published figures with ``cati score``
run on the exported CSV, so both must be the very same computation on the very same cell texts.
Callers hand over columns of cell texts (as read from a CSV, or as stored with each interview);
a bad cell raises ``CellError`` with its row index and column, which each door words for its users
(the CLI as ``file: line N, column C: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from cati.instrument_scoring import answer_vocabulary, scheme_for
from questionnaire.model import Instrument
from questionnaire.validity import judge
from scoring.aapor import RATE_NAMES, OutcomeClass, UnknownDisposition, classify, outcome_rates
from scoring.scores import DistrictScore, score_districts

#: Numbers in the JSON are rounded to this many places.
DIGITS = 6

TextColumn = np.ndarray[Any, np.dtype[np.str_]]


class CellError(ValueError):
    """A cell that cannot be scored: ``row`` is the 0-based data row, ``column`` its column name."""

    def __init__(self, row: int, column: str, problem: str) -> None:
        super().__init__(f"row {row}, column {column}: {problem}")
        self.row = row
        self.column = column
        self.problem = problem


def response_columns(instrument: Instrument) -> list[str]:
    """The columns a responses table needs: ``district``, ``stratum`` and the scored items."""
    return ["district", "stratum", *scheme_for(instrument).items]


def _first_row(values: TextColumn, bad: str) -> int:
    return int(np.flatnonzero(values == bad)[0])


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, DIGITS)


def _pair(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [_number(pair[0]), _number(pair[1])]


def district_json(d: DistrictScore) -> dict[str, Any]:
    """One district's entry of the ``cati score`` JSON."""
    return {
        "district": d.district,
        "valid": d.valid,
        "invalid": d.invalid,
        "score": _number(d.score),
        "component": _number(d.component),
        "ci95": _pair(d.ci95),
        "component_ci95": _pair(d.component_ci95),
        "sd": _number(d.sd),
        "overall_points": _number(d.overall_points),
        "dimensions": {key: _number(value) for key, value in d.dimensions.items()},
        "strata": {
            key: {"valid": s.valid, "invalid": s.invalid, "score": _number(s.score)}
            for key, s in d.strata.items()
        },
        "rank": d.rank,
        "rank_range": None if d.rank_range is None else list(d.rank_range),
        "prob_above": {key: _number(value) for key, value in d.prob_above.items()},
    }


def score_responses(
    instrument: Instrument, columns: Mapping[str, Sequence[str] | TextColumn]
) -> dict[str, Any]:
    """The ``cati score`` JSON from columns of cell texts (stripped); raises CellError.

    ``columns`` holds ``district``, ``stratum`` and every scored item (``overall``, ``q1``...), one
    text per questionnaire; an empty item cell means not answered. The instrument's scoring policy
    (``questionnaire.validity.judge``) decides which rows count. Optional ``rule`` and ``valid``
    columns (as in responses.csv) must name that policy and agree with it on the cells.
    """
    scheme = scheme_for(instrument)
    cols = {name: np.asarray(list(columns[name]), dtype=np.str_) for name in response_columns(instrument)}
    districts = cols["district"]
    n = len(districts)
    if n and (districts == "").any():
        raise CellError(_first_row(districts, ""), "district", "empty")
    strata = cols["stratum"]
    known_strata = instrument.stratum_ids
    for value in np.unique(strata).tolist():
        if value not in known_strata:
            shown = repr(value) if value else "empty"
            raise CellError(
                _first_row(strata, value), "stratum", f"{shown}: expected {' or '.join(known_strata)}"
            )

    points = np.full((n, len(scheme.items)), np.nan)
    for j, item_id in enumerate(scheme.items):
        vocabulary = answer_vocabulary(instrument, item_id)
        cells = cols[item_id]
        uniques, inverse = np.unique(cells, return_inverse=True)
        mapped = np.empty(len(uniques))
        for u, value in enumerate(uniques.tolist()):
            if value == "":
                mapped[u] = np.nan  # not answered: the questionnaire is invalid
                continue
            found = vocabulary.get(value, vocabulary.get(value.lower()))
            if found is None:
                expected = ", ".join(vocabulary)
                raise CellError(
                    _first_row(cells, value),
                    item_id,
                    f"unknown value {value!r} (expected {expected} or empty)",
                )
            mapped[u] = found
        points[:, j] = mapped[inverse.reshape(-1)] if n else mapped[:0]

    rated = (~np.isnan(points)).sum(axis=1)
    valid = rule_valid(instrument, rated)
    _check_rule_columns(instrument, columns, valid, n)
    points[~valid, :] = np.nan  # the scoring policy decides which questionnaires count
    results = score_districts(districts, strata, points, scheme, strata_names=known_strata)
    return {"districts": [district_json(d) for d in results]}


def rule_valid(
    instrument: Instrument, rated: np.ndarray[Any, np.dtype[Any]]
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per row, whether ``questionnaire.validity.judge`` counts a questionnaire with this many rated
    items (every row of a responses table passed screening)."""
    verdicts = np.array(
        [
            judge(instrument, rated=r, eligible=True, substantive=r > 0, completed=False).valid
            for r in range(len(instrument.scored_items) + 1)
        ]
    )
    return verdicts[np.asarray(rated, dtype=np.intp)]


def _check_rule_columns(
    instrument: Instrument,
    columns: Mapping[str, Sequence[str] | TextColumn],
    valid: np.ndarray[Any, np.dtype[np.bool_]],
    n: int,
) -> None:
    """Optional ``rule`` and ``valid`` columns must name the instrument's rule and agree with it."""
    label = instrument.policy.label
    if "rule" in columns:
        rules = np.asarray(list(columns["rule"]), dtype=np.str_)
        for value in np.unique(rules).tolist():
            if value != label:
                shown = repr(value) if value else "empty"
                raise CellError(
                    _first_row(rules, value),
                    "rule",
                    f"未知评分规则 {shown}，本问卷的规则是 {label} / unknown scoring rule {shown}: "
                    f"this instrument's rule is {label}",
                )
    if "valid" in columns:
        marks = np.asarray(list(columns["valid"]), dtype=np.str_)
        for value in np.unique(marks).tolist():
            if value not in ("0", "1"):
                raise CellError(
                    _first_row(marks, value), "valid", f"{value!r}: 应为 0 或 1 / expected 0 or 1"
                )
        wrong = np.flatnonzero((marks == "1") != valid) if n else np.array([], dtype=np.intp)
        if len(wrong):
            row = int(wrong[0])
            says = "有效" if valid[row] else "无效"
            raise CellError(
                row,
                "valid",
                f"{marks[row]} 与评分规则 {label} 不符（按各项答案应为{says}）/ contradicts scoring "
                f"rule {label}: the cells make it {'valid' if valid[row] else 'not valid'}",
            )


def count_dispositions(codes: Iterable[str]) -> tuple[dict[OutcomeClass, int], int]:
    """Cases per AAPOR outcome class and the total; raises CellError (column ``code``) on a bad code."""
    values = np.asarray(list(codes), dtype=np.str_)
    uniques, counts = np.unique(values, return_counts=True)
    by_class: dict[OutcomeClass, int] = {}
    for value, count in zip(uniques.tolist(), counts.tolist(), strict=True):
        if value == "":
            raise CellError(_first_row(values, value), "code", "empty")
        try:
            cls = classify(value)
        except UnknownDisposition:
            raise CellError(
                _first_row(values, value), "code", f"unknown AAPOR disposition code {value!r}"
            ) from None
        by_class[cls] = by_class.get(cls, 0) + int(count)
    return by_class, len(values)


def rates_report(codes: Iterable[str], e: float | None = None) -> dict[str, Any]:
    """The ``cati rates`` JSON for a list of AAPOR codes (one per case); raises CellError."""
    by_class, total = count_dispositions(codes)
    result = outcome_rates(by_class, e)
    out: dict[str, Any] = {name: _number(result.rates[name]) for name in RATE_NAMES}
    out["e"] = _number(result.e)
    out["e_estimated"] = result.e_estimated
    out["counts"] = {cls.value: n for cls, n in result.counts.items()}
    out["total"] = total
    return out
