"""Pure arithmetic of the live feed: outcome buckets, shares, alerts, masking (no I/O, no database).

Kept apart from the queries so the rules a reviewer cares about (what counts as abandoned, when
an alert fires, what a phone number looks like) read in one place and test without a database.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: The outcome mix shown to supervisors and witnesses, in display order.
OUTCOME_BUCKETS: tuple[str, ...] = ("answered", "busy", "no_answer", "failed", "abandoned")


def outcome_bucket(outcome: str | None, *, answered: bool, abandoned: bool, ended: bool) -> str | None:
    """The bucket of one attempt; ``None`` for a call still ringing (not part of the mix yet).

    Abandoned first (a live answer nobody took within 2 s: ``Attempt.abandoned``), then answered (a
    live answer that reached an interviewer), busy, no answer; every other network outcome (fast
    busy, unallocated number, rejected, lost link ...) is ``failed``.
    """
    if abandoned:
        return "abandoned"
    if answered or outcome == "answered":
        return "answered"
    if outcome == "busy":
        return "busy"
    if outcome == "no_answer":
        return "no_answer"
    if not ended and outcome is None:
        return None
    return "failed"


def empty_mix() -> dict[str, int]:
    return dict.fromkeys(OUTCOME_BUCKETS, 0)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole`` rounded to 4 places; ``None`` when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class AlertRules:
    """When the supervisor's alerts fire (settings ``CATI_LIVE_*``)."""

    idle_minutes: float = 10.0
    pause_minutes: float = 15.0
    #: Share of the abandonment cap at which the "near the cap" alert fires.
    abandon_warn_share: float = 0.8
    #: A district is "far behind" when its share of target done is below this fraction of the
    #: campaign's overall share (only once the campaign has done at least ``behind_min_share``).
    behind_fraction: float = 0.5
    behind_min_share: float = 0.1


def alert(code: str, level: str, zh: str, en: str, **data: Any) -> dict[str, Any]:
    return {"code": code, "level": level, "text": {"zh-CN": zh, "en": en}, "data": data}


def abandonment_alerts(rate: float | None, cap: float, live: int, rules: AlertRules) -> list[dict[str, Any]]:
    if rate is None or cap <= 0:
        return []
    pct, cap_pct = f"{rate * 100:.2f}%", f"{cap * 100:.2f}%"
    if rate >= cap:
        return [
            alert(
                "abandonment_over_cap",
                "critical",
                f"今日放弃率 {pct} 已达到上限 {cap_pct}",
                f"abandonment today {pct} has reached the cap {cap_pct}",
                rate=rate,
                cap=cap,
                live=live,
            )
        ]
    if rate >= rules.abandon_warn_share * cap:
        return [
            alert(
                "abandonment_near_cap",
                "warning",
                f"今日放弃率 {pct} 接近上限 {cap_pct}",
                f"abandonment today {pct} is near the cap {cap_pct}",
                rate=rate,
                cap=cap,
                live=live,
            )
        ]
    return []


def seat_alerts(seats: Iterable[Mapping[str, Any]], rules: AlertRules) -> list[dict[str, Any]]:
    """Ready without a call, or paused, for longer than the rule allows."""
    out: list[dict[str, Any]] = []
    for seat in seats:
        minutes = float(seat["seconds_in_state"]) / 60
        who = str(seat["display_name"] or seat["username"])
        if seat["state"] == "ready" and minutes >= rules.idle_minutes:
            out.append(
                alert(
                    "seat_idle",
                    "warning",
                    f"访问员 {who} 就绪 {minutes:.0f} 分钟仍无来电",
                    f"interviewer {who} ready for {minutes:.0f} min without a call",
                    user_id=seat["user_id"],
                    minutes=round(minutes, 1),
                )
            )
        elif seat["state"] == "paused" and minutes >= rules.pause_minutes:
            out.append(
                alert(
                    "seat_paused_long",
                    "warning",
                    f"访问员 {who} 已暂停 {minutes:.0f} 分钟",
                    f"interviewer {who} paused for {minutes:.0f} min",
                    user_id=seat["user_id"],
                    minutes=round(minutes, 1),
                )
            )
    return out


def behind_alerts(districts: Iterable[Mapping[str, Any]], rules: AlertRules) -> list[dict[str, Any]]:
    """Districts whose share of target done is far below the campaign's overall share.

    The campaign has no planned end date, so "behind its window" is measured against the pace of the
    whole campaign over the same calling windows (every district is dialled in the same windows).
    """
    rows = [d for d in districts if d["target"] > 0]
    target = sum(d["target"] for d in rows)
    done = sum(d["completes"] for d in rows)
    overall = done / target if target else 0.0
    if overall < rules.behind_min_share:
        return []
    out = []
    for d in rows:
        share = d["completes"] / d["target"]
        if share < rules.behind_fraction * overall:
            out.append(
                alert(
                    "district_behind",
                    "warning",
                    f"{d['name']['zh-CN']} 完成 {share * 100:.0f}%，远低于全项目的 {overall * 100:.0f}%",
                    f"{d['name']['en'] or d['code']} at {share * 100:.0f}%, far behind the campaign's "
                    f"{overall * 100:.0f}%",
                    district=d["code"],
                    share=round(share, 4),
                    overall=round(overall, 4),
                )
            )
    return out


def link_alerts(status: Mapping[str, Any] | None, fieldwork: bool) -> list[dict[str, Any]]:
    """The PBX link is down while the campaign is in fieldwork (``off``: no dialer in this service)."""
    if not fieldwork or status is None:
        return []
    link = str(status.get("link", "off"))
    if link in ("up", "off"):
        return []
    return [
        alert(
            "pbx_link_down",
            "critical",
            f"与电话交换机的连接中断（{link}）",
            f"the PBX link is down ({link})",
            link=link,
            detail=status.get("detail"),
        )
    ]


def breaker_alerts(
    status: Mapping[str, Any] | None, campaign_id: int, fieldwork: bool
) -> list[dict[str, Any]]:
    """The dialer's PBX circuit breaker is open for this campaign: no call is placed until a probe
    call gets through (``dialer.breaker``; ``/api/v1/dialer/status`` ``breaker_open``)."""
    if not fieldwork or status is None:
        return []
    per = (status.get("campaigns") or {}).get(str(campaign_id)) or {}
    breaker = per.get("breaker") or {}
    if not breaker.get("open"):
        return []
    reason = str(breaker.get("reason") or "")
    why_zh = "拨号计划错误（无此 context 或分机）" if reason == "dialplan" else "交换机连续拒绝呼叫"
    why_en = (
        "a dial plan error (no such context or extension)"
        if reason == "dialplan"
        else ("the PBX refused originates in a row")
    )
    probe = breaker.get("probe_in_s")
    when_zh = f"，约 {probe:.0f} 秒后试拨" if isinstance(probe, int | float) else "，正在试拨"
    when_en = f"; a probe call in about {probe:.0f} s" if isinstance(probe, int | float) else "; probing now"
    return [
        alert(
            "pbx_breaker_open",
            "critical",
            f"已暂停拨号：{why_zh}{when_zh}，试拨成功后自动恢复",
            f"dialling paused: {why_en}{when_en}; it resumes by itself once a probe call gets through",
            reason=reason,
            detail=breaker.get("detail"),
            state=breaker.get("state"),
            probe_in_s=probe,
        )
    ]


# --------------------------------------------------------------------------------------------------
# Masking
# --------------------------------------------------------------------------------------------------

#: Seven or more digits, possibly split by spaces, dashes, dots or brackets, possibly with a leading
#: ``+``: anything that could be a phone number (fixed lines are 7-8 digits, mobiles 11, with an
#: area or country code more). Not inside a word, so hex digests (commitments, hashes) stay whole.
_PHONE_LIKE = re.compile(r"(?<![0-9A-Za-z])\+?\d(?:[\s\-.()]*\d){6,}(?![0-9A-Za-z])")
#: Dates are not numbers to hide (``2026-12-05``, ``2026.12.05``).
_DATE = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}")


def mask_text(text: str) -> str:
    """Hide every phone-like digit run but its first 3 and last 2 digits: ``139******34``."""

    def hide(m: re.Match[str]) -> str:
        if _DATE.fullmatch(m.group(0)):
            return m.group(0)
        digits = re.sub(r"\D", "", m.group(0))
        return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]

    return _PHONE_LIKE.sub(hide, text)


def mask_value(value: Any) -> Any:
    """``mask_text`` applied to every string (and number) inside a JSON-like value."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        masked = mask_text(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, Mapping):
        return {str(k): mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v) for v in value]
    return mask_text(str(value))


def local_iso(when: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if when is None else when.astimezone(tz).isoformat(timespec="seconds")
