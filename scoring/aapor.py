"""AAPOR final disposition codes and the outcome rates built on them.

Why a table of our own: every package that ends a case (the dialer's call outcomes, the interview
engine, the console, the results sheet) must speak the same codes, and the rates must count them the
same way. The class of a code follows the rule of the AAPOR Standard Definitions (9th edition, 2016,
Table 1: RDD telephone surveys), as fixed for this project:

    1.1 I, 1.2 P, 2.1x R, 2.2x NC, 2.3x O, 3.1x UH, 3.2x and 3.9x UO, 4.x NE

The rule works on the digits, so sub-codes (2.111, 3.161) and codes that Excel shortened
(4.70 -> 4.7, 2.10 -> 2.1) fall into the right class. ``CODES`` lists the codes with Chinese and
English labels for screens and reports.

Rates (same source, "Calculating rates from response distributions"):

    RR1 = I / ((I+P) + (R+NC+O) + (UH+UO))          REF1 = R / ((I+P) + (R+NC+O) + (UH+UO))
    RR2 = (I+P) / ((I+P) + (R+NC+O) + (UH+UO))      REF2 = R / ((I+P) + (R+NC+O) + e(UH+UO))
    RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO))         REF3 = R / ((I+P) + (R+NC+O))
    RR4 = (I+P) / ((I+P) + (R+NC+O) + e(UH+UO))     CON1 = ((I+P)+R+O) / ((I+P)+(R+NC+O)+(UH+UO))
    RR5 = I / ((I+P) + (R+NC+O))                    CON2 = ((I+P)+R+O) / ((I+P)+(R+NC+O)+e(UH+UO))
    RR6 = (I+P) / ((I+P) + (R+NC+O))                CON3 = ((I+P)+R+O) / ((I+P)+(R+NC+O))
    COOP1 = I / ((I+P) + R + O)                     COOP3 = I / ((I+P) + R)
    COOP2 = (I+P) / ((I+P) + R + O)                 COOP4 = (I+P) / ((I+P) + R)

e, the share of unknown-eligibility cases taken to be eligible, is the proportional estimate
(I+P+R+NC+O) / (I+P+R+NC+O+NE) unless the caller gives one. A rate whose denominator is zero is
None (undefined), never a division error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class OutcomeClass(StrEnum):
    """The eight groups of the AAPOR formulas."""

    I = "I"  # noqa: E741 - AAPOR's own letter
    P = "P"
    R = "R"
    NC = "NC"
    O = "O"  # noqa: E741 - AAPOR's own letter
    UH = "UH"
    UO = "UO"
    NE = "NE"


@dataclass(frozen=True, slots=True)
class Disposition:
    """One final disposition code with its class and labels."""

    code: str
    outcome_class: OutcomeClass
    zh: str
    en: str


class UnknownDisposition(ValueError):
    """A code that is not an AAPOR final disposition code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown AAPOR disposition code {code!r}")
        self.code = code


_CODE_RE = re.compile(r"^([1-4])\.(\d+)$")


def classify(code: str) -> OutcomeClass:
    """The outcome class of an AAPOR code (``"2.112"`` -> R); raise UnknownDisposition if none."""
    match = _CODE_RE.match(code.strip())
    if match is None:
        raise UnknownDisposition(code)
    major, minor = match.group(1), match.group(2)
    if major == "1":
        if minor == "1":
            return OutcomeClass.I
        if minor == "2":
            return OutcomeClass.P
    elif major == "2":
        found = {"1": OutcomeClass.R, "2": OutcomeClass.NC, "3": OutcomeClass.O}.get(minor[0])
        if found is not None:
            return found
    elif major == "3":
        found = {"1": OutcomeClass.UH, "2": OutcomeClass.UO, "9": OutcomeClass.UO}.get(minor[0])
        if found is not None:
            return found
    else:  # major == "4": every 4.x is not eligible
        return OutcomeClass.NE
    raise UnknownDisposition(code)


_TABLE: tuple[tuple[str, str, str], ...] = (
    ("1.1", "完成访问", "Complete"),
    ("1.2", "部分完成", "Partial"),
    ("2.10", "拒访和中断", "Refusal and break-off"),
    ("2.11", "拒访", "Refusal"),
    ("2.111", "住户层面拒访", "Household-level refusal"),
    ("2.112", "已知受访者拒访", "Known-respondent refusal"),
    ("2.12", "中途中断", "Break-off"),
    ("2.20", "未接触到", "Non-contact"),
    ("2.21", "受访者始终不在(约访后)", "Respondent never available"),
    ("2.22", "答录机(确认为住户)", "Answering machine, household confirmed"),
    ("2.221", "答录机,已留言", "Answering machine, message left"),
    ("2.222", "答录机,未留言", "Answering machine, no message left"),
    ("2.30", "其他", "Other"),
    ("2.31", "受访者已故", "Dead"),
    ("2.32", "身体或精神原因无法受访", "Physically or mentally unable"),
    ("2.33", "语言障碍", "Language"),
    ("2.331", "住户层面语言障碍", "Household-level language problem"),
    ("2.332", "受访者语言障碍", "Respondent language problem"),
    ("2.333", "无相应语言的访员", "No interviewer for the needed language"),
    ("2.34", "听不清回答", "Inaudible response"),
    ("2.35", "所处地点或活动不便受访", "Location or activity not allowing interview"),
    ("2.36", "其他原因", "Miscellaneous"),
    ("3.10", "不确定是否为住户", "Unknown if housing unit"),
    ("3.11", "未拨打", "Not attempted or worked"),
    ("3.12", "始终占线", "Always busy"),
    ("3.13", "无人接听", "No answer"),
    ("3.14", "答录机(不确定是否住户)", "Answering machine, unknown if household"),
    ("3.15", "技术屏蔽(如来电拦截)", "Telecommunication technological barriers"),
    ("3.16", "电话技术故障", "Technical phone problems"),
    ("3.161", "线路拥塞", "Phone circuit overloaded"),
    ("3.162", "线路不良", "Bad phone line"),
    ("3.163", "噪声很大", "Very noisy connection"),
    ("3.20", "是住户,不确定有无合格受访者", "Housing unit, unknown if eligible respondent"),
    ("3.21", "未完成甄别", "No screener completed"),
    ("3.90", "其他不确定", "Other, unknown eligibility"),
    ("3.91", "其他不确定", "Other, unknown eligibility"),
    ("4.10", "不在样本范围内", "Out of sample"),
    ("4.20", "传真或数据线路", "Fax or data line"),
    ("4.30", "空号或停机", "Non-working or disconnected number"),
    ("4.31", "空号", "Non-working number"),
    ("4.32", "已停机", "Disconnected number"),
    ("4.33", "暂停服务", "Temporarily out of service"),
    ("4.40", "特殊技术情况", "Special technological circumstances"),
    ("4.41", "号码已更改", "Number changed"),
    ("4.42", "手机号码", "Cell phone"),
    ("4.43", "呼叫转移", "Call forwarding"),
    ("4.44", "住宅转住宅", "Residence to residence"),
    ("4.45", "寻呼机", "Pager"),
    ("4.50", "非住户", "Non-residence"),
    ("4.51", "单位、机关或其他组织", "Business, government office, other organization"),
    ("4.52", "机构(如医院、监狱)", "Institution"),
    ("4.53", "集体宿舍", "Group quarters"),
    ("4.54", "非本户常住人员", "Person not household resident"),
    ("4.70", "无合格受访者", "No eligible respondent"),
    ("4.80", "配额已满", "Quota filled"),
    ("4.90", "其他不合格", "Other, not eligible"),
)

#: Every listed final disposition code -> its class and labels.
CODES: Mapping[str, Disposition] = {
    code: Disposition(code, classify(code), zh, en) for code, zh, en in _TABLE
}


def label(code: str, lang: str = "zh-CN") -> str:
    """The label of a code in ``zh-CN`` or ``en``; the class's meaning for unlisted sub-codes."""
    found = CODES.get(code.strip())
    if found is None:
        found = _CLASS_LABELS[classify(code)]
    return found.en if lang == "en" else found.zh


_CLASS_LABELS: Mapping[OutcomeClass, Disposition] = {
    OutcomeClass.I: CODES["1.1"],
    OutcomeClass.P: CODES["1.2"],
    OutcomeClass.R: CODES["2.10"],
    OutcomeClass.NC: CODES["2.20"],
    OutcomeClass.O: CODES["2.30"],
    OutcomeClass.UH: CODES["3.10"],
    OutcomeClass.UO: CODES["3.90"],
    OutcomeClass.NE: Disposition("4.0", OutcomeClass.NE, "不合格", "Not eligible"),
}


def count_classes(codes: Iterable[str]) -> dict[OutcomeClass, int]:
    """Count codes per outcome class (all eight classes present); raise UnknownDisposition."""
    values, counts = np.unique(np.asarray(list(codes), dtype=str), return_counts=True)
    result = dict.fromkeys(OutcomeClass, 0)
    for value, count in zip(values.tolist(), counts.tolist(), strict=True):
        result[classify(value)] += int(count)
    return result


RATE_NAMES: tuple[str, ...] = (
    "RR1", "RR2", "RR3", "RR4", "RR5", "RR6",
    "COOP1", "COOP2", "COOP3", "COOP4",
    "REF1", "REF2", "REF3",
    "CON1", "CON2", "CON3",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutcomeRates:
    """The sixteen AAPOR rates, the e used, and whether e was estimated or given."""

    rates: Mapping[str, float | None]
    e: float | None
    e_estimated: bool
    counts: Mapping[OutcomeClass, int]


def proportional_e(counts: Mapping[OutcomeClass, int]) -> float | None:
    """AAPOR's proportional estimate of e: (I+P+R+NC+O) / (I+P+R+NC+O+NE); None if undefined."""
    c = _complete_counts(counts)
    eligible = c[OutcomeClass.I] + c[OutcomeClass.P] + c[OutcomeClass.R] + c[OutcomeClass.NC]
    eligible += c[OutcomeClass.O]
    return _ratio(eligible, eligible + c[OutcomeClass.NE])


def outcome_rates(counts: Mapping[OutcomeClass, int], e: float | None = None) -> OutcomeRates:
    """All AAPOR outcome rates from counts per class; e by the proportional estimate unless given."""
    if e is not None and not 0.0 <= e <= 1.0:
        raise ValueError(f"e must be between 0 and 1, not {e}")
    c = _complete_counts(counts)
    for cls, n in c.items():
        if n < 0:
            raise ValueError(f"count for {cls} is negative: {n}")
    estimated = e is None
    if e is None:
        e = proportional_e(c)
    i, p, r, nc, o = (c[OutcomeClass.I], c[OutcomeClass.P], c[OutcomeClass.R], c[OutcomeClass.NC],
                      c[OutcomeClass.O])  # fmt: skip
    unknown = c[OutcomeClass.UH] + c[OutcomeClass.UO]
    known = (i + p) + (r + nc + o)
    with_all = known + unknown
    # With no unknown cases the e term vanishes, so an undefined e does not matter.
    with_e: float | None = known + e * unknown if e is not None else (known if unknown == 0 else None)
    contacted = (i + p) + r + o
    rates: dict[str, float | None] = {
        "RR1": _ratio(i, with_all),
        "RR2": _ratio(i + p, with_all),
        "RR3": _ratio(i, with_e),
        "RR4": _ratio(i + p, with_e),
        "RR5": _ratio(i, known),
        "RR6": _ratio(i + p, known),
        "COOP1": _ratio(i, (i + p) + r + o),
        "COOP2": _ratio(i + p, (i + p) + r + o),
        "COOP3": _ratio(i, (i + p) + r),
        "COOP4": _ratio(i + p, (i + p) + r),
        "REF1": _ratio(r, with_all),
        "REF2": _ratio(r, with_e),
        "REF3": _ratio(r, known),
        "CON1": _ratio(contacted, with_all),
        "CON2": _ratio(contacted, with_e),
        "CON3": _ratio(contacted, known),
    }
    return OutcomeRates(rates=rates, e=e, e_estimated=estimated, counts=c)


def _complete_counts(counts: Mapping[OutcomeClass, int]) -> dict[OutcomeClass, int]:
    result = dict.fromkeys(OutcomeClass, 0)
    for key, value in counts.items():
        result[OutcomeClass(key)] += int(value)
    return result


def _ratio(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator == 0:
        return None
    return float(numerator) / float(denominator)
