"""What an interviewer calls an item: never its id (``q3``, ``s_age``), always words.

The instrument has no short names, so the console numbers its questions as the interviewer meets
them: the screening questions ``甄别题 1..n``, then the questionnaire ``第 1..n 题``, and the open
question at the end by its kind. Pure functions over the instrument: used by the interview view,
the review of answers and every error that names an item.
"""

from __future__ import annotations

from cati.messages import localized
from questionnaire.model import Instrument, ItemKind


def item_label(instrument: Instrument, item_id: str) -> dict[str, str]:
    """``{"zh-CN": "第 3 题", "en": "question 3"}`` for an item of ``instrument`` (by id)."""
    screening = [i for i in instrument.items if i.screening]
    main = [i for i in instrument.items if not i.screening]
    for n, item in enumerate(screening, start=1):
        if item.id == item_id:
            return localized(f"甄别题 {n}", f"screening question {n}")
    for n, item in enumerate(main, start=1):
        if item.id == item_id:
            if item.kind is ItemKind.TEXT and n == len(main):
                return localized("开放题（意见和建议）", "open question (suggestions)")
            return localized(f"第 {n} 题", f"question {n}")
    return localized("当前问题", "the current question")  # an id the instrument does not know


def label_pair(label: dict[str, str]) -> dict[str, str]:
    """The console's ``{"zh": ..., "en": ...}`` form of a localised label."""
    return {"zh": label["zh-CN"], "en": label["en"]}
