"""The bridge from an instrument (questionnaire/) to the scoring maths (scoring/).

The two pure packages do not import each other, so the service builds the scoring scheme and the
answer vocabulary from the instrument here, for the CLI today and the results pages later.
"""

from __future__ import annotations

from questionnaire.model import Instrument
from scoring.scores import Dimension, ScoringScheme


def scheme_for(instrument: Instrument) -> ScoringScheme:
    """The instrument's scoring weights as a ScoringScheme (columns: overall, then q1..q10)."""
    spec = instrument.scoring
    return ScoringScheme(
        overall_item=spec.overall.item,
        overall_weight=spec.overall.weight,
        dimensions=tuple(Dimension(d.id, d.weight, tuple(d.items)) for d in spec.dimensions),
    )


def answer_vocabulary(instrument: Instrument, item_id: str) -> dict[str, float]:
    """Accepted cell texts for a scored item -> points: each option's value (``fairly_good``,
    matched case-insensitively) and its Chinese label (``较好``)."""
    vocabulary: dict[str, float] = {}
    for option in instrument.item(item_id).options:
        if option.points is None:
            continue
        vocabulary[option.value.lower()] = option.points
        vocabulary[option.label.zh_CN] = option.points
    return vocabulary
