"""Scores sealed at every door: the results endpoint, the exports and the CLI withhold them before close.

Why at the doors and not in ``cati.results.service``: the close, the witness room and the other
helpers call ``campaign_results`` / ``export_rows`` for their own purposes (the close seals exactly
those results), so the service stays as it is and each door a user goes through asks
``visibility.scores_open`` first. The results JSON keeps counts and provisional rates (the witnesses
watch them) and replaces ``scores`` with the marker below; an export that reveals scores or the
answers per questionnaire is refused with 409 (the CLI exits 2).
"""

from __future__ import annotations

from typing import Any, Literal

from cati.errors import Conflict
from cati.models import Campaign, CampaignStatus
from cati.results.visibility import scores_open

Lang = Literal["zh-CN", "en"]

SEALED_ZH = "调查结束前各区县成绩处于封存状态，结束后公布（管理员可为试点调查提前开放，此操作记入审计日志）"
SEALED_EN = (
    "district scores are sealed until the campaign closes (an admin may open them early for a pilot; "
    "that is recorded in the audit log)"
)
EXPORT_SEALED_ZH = "调查尚未结束，成绩和答卷数据处于封存状态，暂不能导出"
EXPORT_SEALED_EN = "the campaign has not closed: scores and answers are sealed and cannot be exported yet"
NOT_CLOSED_ZH = "最终成绩 JSON 在调查结束（封存结果）后才能下载"
NOT_CLOSED_EN = "the final-score JSON is available only after the campaign has closed (results sealed)"


def lang_of(value: str | None) -> Lang:
    """``en`` for ``?lang=en`` (``en-US`` ...), else zh-CN (the default for every export)."""
    return "en" if value and value.strip().lower().startswith("en") else "zh-CN"


def sealed_marker(lang: Lang = "zh-CN") -> dict[str, Any]:
    """What stands in for ``scores`` while they are sealed."""
    return {"sealed": True, "message": SEALED_EN if lang == "en" else SEALED_ZH, "opens": "at close"}


def withhold_scores(results: dict[str, Any], campaign: Campaign, lang: Lang = "zh-CN") -> dict[str, Any]:
    """The results as a user may see them now: ``scores`` replaced by the sealed marker before close."""
    if scores_open(campaign):
        return results
    return {**results, "scores": sealed_marker(lang)}


def require_scores_open(campaign: Campaign, lang: Lang = "zh-CN") -> None:
    """Refuse (409) an export of scores or answers while the scores are sealed."""
    if not scores_open(campaign):
        raise Conflict(EXPORT_SEALED_EN if lang == "en" else EXPORT_SEALED_ZH)


def require_closed(campaign: Campaign, lang: Lang = "zh-CN") -> None:
    """Refuse (409) what exists only after close (the final-score JSON), even when opened early."""
    if campaign.status != CampaignStatus.closed.value:
        raise Conflict(NOT_CLOSED_EN if lang == "en" else NOT_CLOSED_ZH)
