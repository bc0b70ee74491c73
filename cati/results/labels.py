"""Column headers and cell labels of the labelled responses exports, and the way back.

Light on purpose (no spreadsheet libraries): ``cati score`` imports it to read the Chinese-labelled
responses.csv, mapping its headers and labels back to the codes it scores.
"""

from __future__ import annotations

from cati.instrument_scoring import scheme_for
from cati.results.sealing import Lang
from questionnaire.engine import AnswerStatus
from questionnaire.model import Instrument

#: SPSS codes of a rating that was not given, declared as user-missing values in responses.sav.
DONT_KNOW_CODE = 98
REFUSED_CODE = 99

MISSING_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {AnswerStatus.DONT_KNOW.value: "不知道", AnswerStatus.REFUSED.value: "拒答"},
    "en": {AnswerStatus.DONT_KNOW.value: "Don't know", AnswerStatus.REFUSED.value: "Refused"},
}
VALID_LABELS: dict[str, dict[str, str]] = {
    "zh-CN": {"1": "有效", "0": "无效"},
    "en": {"1": "valid", "0": "not valid"},
}

#: Headers of the responses' fixed columns (the item columns come from the instrument).
RESPONSE_HEADERS_ZH: dict[str, str] = {
    "interview_id": "访问编号",
    "case_id": "样本编号",
    "district": "区县",
    "district_code": "区县代码",
    "stratum": "访问对象",
    "valid": "问卷有效性",
    "rule": "评分规则",
    "disposition": "结果代码",
    "interviewer_id": "访问员编号",
    "interviewer": "访问员",
    "started_at": "开始时间",
    "ended_at": "结束时间",
}
RESPONSE_HEADERS_EN: dict[str, str] = {
    "interview_id": "Interview id",
    "case_id": "Case id",
    "district": "District",
    "district_code": "District code",
    "stratum": "Stratum",
    "valid": "Valid questionnaire",
    "rule": "Scoring rule",
    "disposition": "AAPOR disposition",
    "interviewer_id": "Interviewer id",
    "interviewer": "Interviewer",
    "started_at": "Started",
    "ended_at": "Ended",
}



def item_headers(instrument: Instrument) -> dict[str, str]:
    """Short Chinese headers of the answer columns: 总体评价, 第1题..第10题, 意见建议."""
    scheme = scheme_for(instrument)
    out: dict[str, str] = {}
    n = 0
    texts = 0
    for item in instrument.items:
        if item.screening:
            continue
        if item.id == scheme.overall_item:
            out[item.id] = "总体评价"
        elif item.id in scheme.items:
            n += 1
            out[item.id] = f"第{n}题"
        else:
            texts += 1
            out[item.id] = "意见建议" if texts == 1 else f"意见建议{texts}"
    return out


def response_headers(instrument: Instrument, lang: Lang) -> dict[str, str]:
    """Column code -> header shown in the labelled exports (zh-CN: Chinese; en: the codes)."""
    if lang == "en":
        return {}
    return {**RESPONSE_HEADERS_ZH, **item_headers(instrument)}


def header_aliases(instrument: Instrument) -> dict[str, str]:
    """Chinese header -> column code (``cati score`` reads the Chinese-labelled CSV with it)."""
    return {v: k for k, v in response_headers(instrument, "zh-CN").items()}


def value_aliases(instrument: Instrument) -> dict[str, dict[str, str]]:
    """Per column, a Chinese cell label -> the machine cell (``cati score`` maps them back)."""
    scheme = scheme_for(instrument)
    missing = {label: "" for label in MISSING_LABELS["zh-CN"].values()}
    out: dict[str, dict[str, str]] = {
        "stratum": {s.label.zh_CN: s.id for s in instrument.strata},
        "valid": {label: code for code, label in VALID_LABELS["zh-CN"].items()},
    }
    for item_id in scheme.items:
        out[item_id] = {**missing, **{o.label.zh_CN: o.value for o in instrument.item(item_id).options}}
    return out
