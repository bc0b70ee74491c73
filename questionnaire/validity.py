"""The one rule that decides an interview's questionnaire disposition and whether it counts.

Why one function: the engine, the console's picker, the stored interview row, the scores, the
counts, ``responses.csv`` and ``cati score`` once each had their own idea of "valid" and
"complete", and a district's published score disagreed with ``cati score`` on its own export.
Every one of them now asks ``judge`` (or ``rated_count`` + ``judge`` on CSV cells). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from questionnaire.model import Instrument, ScoringPolicy


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the rule says: the AAPOR code, whether the questionnaire is scored, the rule's label."""

    disposition: str
    valid: bool
    rated: int
    rule: str


def required(policy: ScoringPolicy, instrument: Instrument) -> int:
    """How many scored items must be rated for a valid questionnaire."""
    return len(instrument.scored_items)  # policy.rated is "all", the only value the maths supports


def judge(
    instrument: Instrument,
    *,
    rated: int,
    eligible: bool | None,
    substantive: bool,
    completed: bool,
    screened_out: str | None = None,
) -> Verdict:
    """The finished interview's disposition and validity under the instrument's scoring policy.

    ``rated``: scored items answered with an option that carries points (don't know, refused and
    unanswered are not rated); ``eligible``: screening passed (None: not known); ``substantive``:
    any non-screening item got an answer, refusal or don't know; ``completed``: the last question
    was reached; ``screened_out``: the screening rule's 4.x code when screening ended it.

    1.1 if and only if valid: an eligible respondent who rated all items, whether or not the call
    ran to the end (hanging up at the open question is still 1.1). 1.2 from ``policy.partial``
    rated items, then 2.12 break-off, or 2.11 refusal when not one substantive item was reached.
    """
    policy = instrument.policy
    if screened_out is not None:
        return Verdict(screened_out, False, rated, policy.label)
    if eligible is not True:
        return Verdict("2.11", False, rated, policy.label)
    if rated >= required(policy, instrument):
        return Verdict("1.1", True, rated, policy.label)
    if rated >= policy.partial:
        return Verdict("1.2", False, rated, policy.label)
    code = "2.12" if substantive or completed else "2.11"
    return Verdict(code, False, rated, policy.label)


def rated_cells(instrument: Instrument, cells: Mapping[str, str]) -> int:
    """How many scored items of a responses row are rated: a cell naming an option with points
    (its value, any case, or its Chinese label). Unknown texts are the caller's error to report."""
    count = 0
    for item_id in instrument.scored_items:
        text = cells.get(item_id, "").strip()
        if not text:
            continue
        for option in instrument.item(item_id).options:
            if option.points is not None and text.lower() in (option.value.lower(), option.label.zh_CN):
                count += 1
                break
    return count


def judge_cells(instrument: Instrument, cells: Mapping[str, str]) -> Verdict:
    """The rule on one row of ``responses.csv`` (every row with a rating passed screening)."""
    rated = rated_cells(instrument, cells)
    return judge(instrument, rated=rated, eligible=True, substantive=rated > 0, completed=False)
