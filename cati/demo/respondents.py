"""The people the simulated interviewers talk to: who answers, who refuses, and how they rate.

Why seeded by (seed, case, call): a demo or a test replays the same survey under the same seed,
whatever order the calls happen in, and a second call to the same household meets the same person
(with the same opinions) in a new mood. Pure: no I/O, no clock.

Districts differ on purpose, so the scores visibly separate: each district has a satisfaction
level (Zibo's districts a fixed, made-up one; any other code one drawn from its name) and its own
strong and weak items; each respondent adds a personal leaning.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Literal

#: Made-up satisfaction levels (0-1) for the example campaign's districts: not real opinions.
DISTRICT_LEVELS: dict[str, float] = {
    "zhangdian": 0.78,
    "zichuan": 0.52,
    "boshan": 0.60,
    "zhoucun": 0.70,
    "linzi": 0.66,
    "huantai": 0.74,
    "gaoqing": 0.45,
    "yiyuan": 0.56,
}

RATING_ITEMS = ("overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10")

#: Problems and suggestions by theme (the city sorts them by theme).
SUGGESTIONS: dict[str, tuple[str, ...]] = {
    "roads": ("小区门口的路坑坑洼洼，希望尽快修一修", "公交车班次太少，上下班等车时间长"),
    "environment": ("河边有垃圾没人清理", "冬天空气质量差，希望加强治理"),
    "health": ("社区医院看病排队时间太长", "希望多配几个全科医生"),
    "education": ("孩子上学太远，附近学校学位紧张", "希望幼儿园收费再降一降"),
    "jobs": ("年轻人找工作难，希望多办招聘会", "灵活就业人员的社保手续太复杂"),
    "services": ("办事还要跑好几个窗口，希望一网通办", "街道工作人员态度很好，继续保持"),
}

Plan = Literal[
    "interview",  # takes the interview (may still refuse items, break off or fail screening)
    "refuse",  # refuses at the introduction
    "appointment",  # asks to be called at another time
    "machine",  # an answering machine picked up
    "fax",  # a fax or data tone
    "language",  # cannot do the interview in Mandarin
]


@dataclass(frozen=True)
class Respondent:
    """What happens on one answered call, decided in advance."""

    plan: Plan
    #: The answers by item id: option code (1-4) or None for refused; "dk" for don't know.
    ratings: dict[str, int | str | None] = field(default_factory=dict)
    age: int = 40
    #: Screening answer codes: s_line (1 home, 2 business), s_tie (1 lives, 2 works, 3 both, 4 neither).
    line: int = 1
    tie: int = 1
    #: Break off before this item id (None: to the end).
    break_before: str | None = None
    suggestion: str = ""
    theme: str = ""
    #: A respondent who took an appointment asks for it this many minutes ahead.
    appointment_minutes: int = 120


def _rng(seed: int | str, *parts: object) -> random.Random:
    text = ":".join(str(p) for p in (seed, *parts))
    return random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))


def district_level(code: str) -> float:
    """The district's satisfaction level in [0.35, 0.85] (fixed for the example's districts)."""
    if code in DISTRICT_LEVELS:
        return DISTRICT_LEVELS[code]
    return 0.35 + 0.5 * _rng("level", code).random()


def _item_effect(code: str, item: str) -> float:
    """A district's own strong (+) and weak (-) items, up to +-0.12."""
    return (_rng("item", code, item).random() - 0.5) * 0.24


def _option_for(p: float) -> int:
    """Latent satisfaction -> option code: 1 good, 2 fairly good, 3 average, 4 poor."""
    if p >= 0.72:
        return 1
    if p >= 0.5:
        return 2
    if p >= 0.3:
        return 3
    return 4


def respondent(
    seed: int | str,
    *,
    case_id: int,
    call: int,
    district: str,
    stratum: str,
    line_kind: str | None = None,
    appointment_due: bool = False,
) -> Respondent:
    """The respondent met on call number ``call`` of case ``case_id`` (same seed: same person).

    ``line_kind`` (from the simulated PBX's model, when known) makes the answers agree with the
    line: a fax answers with a tone, a business line says so in the resident stratum.
    ``appointment_due``: the respondent asked for this call and is ready to do the interview.
    """
    mood = _rng(seed, "call", case_id, call)
    person = _rng(seed, "person", case_id)
    if line_kind == "fax":
        return Respondent("fax")
    if not appointment_due:
        roll = mood.random()
        if roll < 0.12:
            return Respondent("refuse")
        if roll < 0.19:
            return Respondent("appointment", appointment_minutes=mood.choice((30, 60, 120, 24 * 60)))
        if roll < 0.22:
            return Respondent("machine")
        if roll < 0.23:
            return Respondent("language")
    level = district_level(district) + person.gauss(0.0, 0.12)
    ratings: dict[str, int | str | None] = {}
    for item in RATING_ITEMS:
        r = mood.random()
        if r < 0.015:
            ratings[item] = None  # refused
        elif r < 0.03:
            ratings[item] = "dk"
        else:
            ratings[item] = _option_for(level + _item_effect(district, item) + mood.gauss(0.0, 0.12))
    age = person.randint(18, 69) if person.random() > 0.05 else person.choice((16, 17, 72, 80))
    line = 2 if line_kind == "business" else 1
    # Staff work in the district (2); residents live there (1); a few do neither (4).
    usual, odd_share = (2, 0.06) if stratum == "staff" else (1, 0.04)
    tie = usual if person.random() > odd_share else 4
    break_before = None
    if not appointment_due and mood.random() < 0.05:
        break_before = mood.choice(RATING_ITEMS[2:])
    theme = ""
    suggestion = ""
    if person.random() < 0.6:
        theme = person.choice(sorted(SUGGESTIONS))
        suggestion = person.choice(SUGGESTIONS[theme])
    return Respondent(
        "interview",
        ratings=ratings,
        age=age,
        line=line,
        tie=tie,
        break_before=break_before,
        suggestion=suggestion,
        theme=theme,
    )
