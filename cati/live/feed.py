"""The audit feed of the live rooms: who did what, with a short zh-CN / English description.

No entry's details are shipped as stored: only a few whitelisted keys, every string passed through
``mask_value`` (free text a respondent dictated could hold a number; answer values, IP addresses,
extensions and ledger digests are left out).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.live.arith import local_iso, mask_text, mask_value
from cati.models import AuditEntry

#: Detail keys a witness may read (after masking).
SHOWN_KEYS = (
    "code",
    "from",
    "to",
    "disposition",
    "outcome",
    "abandoned",
    "stratum",
    "district",
    "count",
    "counts",
    "target",
    "reason",
    "why",
    "seed_commitment",
    "results_sha256",
    "attempts",
)

#: action -> (zh-CN, English) description.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "campaign.created": ("创建调查项目", "campaign created"),
    "campaign.status_changed": ("调查项目状态变更", "campaign status changed"),
    "campaign.quota_set": ("设置配额", "quota set"),
    "campaign.closed": ("调查结束，结果封存", "fieldwork closed, results sealed"),
    "sample.released": ("释放一批样本号码", "sample numbers released"),
    "attempt.started": ("开始拨号", "call placed"),
    "attempt.answered": ("电话接通", "call answered"),
    "attempt.connected": ("转接访问员", "call connected to an interviewer"),
    "attempt.abandoned": ("放弃呼叫（2 秒内无访问员）", "call abandoned (no interviewer within 2 s)"),
    "attempt.ended": ("通话结束", "call ended"),
    "attempt.lost": ("通话丢失（连接中断）", "call lost (link down)"),
    "attempt.coded": ("通话结果编码", "call coded"),
    "case.finalised": ("号码最终处理", "case finalised"),
    "case.appointment": ("预约回访", "appointment set"),
    "cases.finalised_at_close": ("结束时统一处理未完成号码", "open cases finalised at close"),
    "console.disposition": ("访问员记录结果", "interviewer coded the call"),
    "interview.started": ("访问开始", "interview started"),
    "interview.resumed": ("访问继续", "interview resumed"),
    "interview.answer": ("记录答案", "answer saved"),
    "interview.change": ("修改答案", "answer changed"),
    "interview.refuse": ("受访者拒答一题", "item refused"),
    "interview.dont_know": ("受访者回答不知道", "don't know"),
    "interview.back": ("返回上一题", "back one item"),
    "interview.break_off": ("访问中断", "interview broken off"),
    "seat.paused": ("访问员暂停", "interviewer paused"),
    "shift.started": ("访问员上班", "interviewer shift started"),
    "shift.ended": ("访问员下班", "interviewer shift ended"),
    "auth.login_succeeded": ("登录", "signed in"),
    "auth.login_failed": ("登录失败", "sign-in failed"),
    "auth.logout": ("退出登录", "signed out"),
    "auth.token_issued": ("签发接口令牌", "API token issued"),
    "user.created": ("创建用户", "user created"),
    "user.password_reset": ("重设密码", "password reset"),
    "results.scores_opened_early": ("提前开放成绩（已记录）", "scores opened early (recorded)"),
    "controls.dialling_paused": ("督导暂停全部拨号", "supervisor paused all dialling"),
    "controls.dialling_resumed": ("督导恢复拨号", "supervisor resumed dialling"),
    "controls.district_paused": ("督导暂停区县拨号", "supervisor paused a district's dialling"),
    "controls.district_resumed": ("督导恢复区县拨号", "supervisor resumed a district's dialling"),
    "controls.quota_cell_closed": ("督导关闭配额单元", "supervisor closed a quota cell"),
    "controls.quota_cell_reopened": ("督导重新开放配额单元", "supervisor reopened a quota cell"),
    "controls.pacing_changed": ("督导切换拨号方式", "supervisor switched the pacing mode"),
    "seat.logged_out": ("督导将访问员签退", "supervisor logged a seat out"),
}


def describe(action: str) -> dict[str, str]:
    zh, en = DESCRIPTIONS.get(action, (action, action))
    return {"zh-CN": zh, "en": en}


def entry_view(entry: AuditEntry, tz: dt.tzinfo) -> dict[str, Any]:
    """One audit entry as the feed shows it: masked, no free text, no personal data."""
    details = entry.details or {}
    shown = {k: details[k] for k in SHOWN_KEYS if k in details}
    return {
        "seq": entry.seq,
        "at": local_iso(entry.at, tz),
        "actor": mask_text(entry.actor),
        "action": entry.action,
        "object": f"{entry.object_type}:{mask_text(entry.object_id)}",
        "description": describe(entry.action),
        "details": mask_value(shown),
        "hash": entry.hash,
    }


def recent_entries(session: Session, limit: int, tz: dt.tzinfo) -> list[dict[str, Any]]:
    """The newest ``limit`` entries of the (service-wide) chain, newest first."""
    rows = session.execute(
        select(AuditEntry).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq.desc()).limit(limit)
    ).scalars()
    return [entry_view(e, tz) for e in rows]
