"""The supervisor's controls over fieldwork, each one audited in the caller's transaction.

Why flags, not campaign states: pausing dialling does not change what the campaign *is* (its status
machine, ``cati/campaigns/states.py``, is about the published plan and the frozen data); it only
tells the case hand-out (``cati.cases.service.next_case``) and the dialing loop to place no new call.
So a pause is a timestamp with a reason on the campaign or district row, a closed quota cell one on
the cell row, and ``next_case`` honours all three, which stops every dialling mode at once (the
predictive and progressive loop, and an interviewer asking for a preview case). Calls already placed
finish normally. Seats move through their own table (``cati/console/states.py``).

Every control refuses a closed campaign (``cati.campaigns.freeze``) and takes the campaign lock first
(the close's own lock order). Messages are zh-CN first with English after " / ".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati import audit
from cati.campaigns.freeze import refuse_if_closed, share_lock
from cati.campaigns.service import get_campaign
from cati.console import service as console
from cati.errors import Conflict, Invalid, NotFound
from cati.events import campaign_topic, queue_event
from cati.models import (
    DiallingMode,
    District,
    InterviewerSeat,
    QuotaCell,
    Stratum,
    User,
)

#: Audit actions (docs/supervise.md lists them).
DIALLING_PAUSED = "controls.dialling_paused"
DIALLING_RESUMED = "controls.dialling_resumed"
DISTRICT_PAUSED = "controls.district_paused"
DISTRICT_RESUMED = "controls.district_resumed"
CELL_CLOSED = "controls.quota_cell_closed"
CELL_REOPENED = "controls.quota_cell_reopened"
PACING_CHANGED = "controls.pacing_changed"
SEAT_LOGGED_OUT = console.LOGGED_OUT

MAX_REASON = 2000


def _reason(reason: str | None, *, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise Invalid("请填写操作理由（记入审计日志）/ a reason is needed (it goes into the audit log)")
    if len(text) > MAX_REASON:
        raise Invalid(f"理由过长（最多 {MAX_REASON} 字）/ the reason is too long (at most {MAX_REASON})")
    return text


def _when(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


def _open_campaign(session: Session, campaign_id: int) -> str:
    """Share-lock the campaign and refuse a closed one; returns its code."""
    code, status = share_lock(session, campaign_id)
    refuse_if_closed(code, status)
    return code


def _changed(session: Session, campaign_id: int) -> dict[str, Any]:
    """Tell the live rooms after commit (the live hub listens on the campaign's topic); returns the
    new :func:`controls_state`, read once for the event and the caller's answer."""
    state = controls_state(session, campaign_id)
    queue_event(session, campaign_topic(campaign_id), "controls", state)
    return state


def controls_state(session: Session, campaign_id: int) -> dict[str, Any]:
    """What the controls have set: campaign pause, paused districts, closed cells, pacing mode."""
    campaign = get_campaign(session, campaign_id)
    return {
        "campaign_id": campaign.id,
        "status": campaign.status,
        "dialling_mode": campaign.dialling_mode,
        "modes": [m.value for m in DiallingMode],
        "paused": campaign.dialling_paused_at is not None,
        "paused_at": _when(campaign.dialling_paused_at),
        "paused_reason": campaign.dialling_paused_reason,
        "districts": [
            {
                "code": d.code,
                "name": {"zh-CN": d.name_zh, "en": d.name_en or d.name_zh},
                "paused": d.dialling_paused_at is not None,
                "paused_at": _when(d.dialling_paused_at),
                "paused_reason": d.dialling_paused_reason,
                "cells": [
                    {
                        "stratum": c.stratum,
                        "target": c.target,
                        "completes": c.completes,
                        "full": c.completes >= c.target,
                        "closed": c.closed_at is not None,
                        "closed_at": _when(c.closed_at),
                        "closed_reason": c.closed_reason,
                    }
                    for c in d.quota_cells
                ],
            }
            for d in campaign.districts
        ],
    }


def set_campaign_paused(
    session: Session, campaign_id: int, paused: bool, *, actor: str, reason: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Pause or resume dialling for the whole campaign (no new calls; calls in progress finish)."""
    text = _reason(reason, required=paused)
    campaign = get_campaign(session, campaign_id, for_update=True)
    refuse_if_closed(campaign.code, campaign.status)
    if paused and campaign.dialling_paused_at is not None:
        raise Conflict("本调查活动已暂停拨号 / dialling is already paused for this campaign")
    if not paused and campaign.dialling_paused_at is None:
        raise Conflict("本调查活动未暂停拨号 / dialling is not paused for this campaign")
    campaign.dialling_paused_at = now if paused else None
    campaign.dialling_paused_reason = text if paused else None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=DIALLING_PAUSED if paused else DIALLING_RESUMED,
        object_type="campaign",
        object_id=campaign.id,
        details={"code": campaign.code, "reason": text},
        at=now,
    )
    return _changed(session, campaign_id)


def _district(session: Session, campaign_id: int, code: str) -> District:
    district = session.execute(
        select(District)
        .where(District.campaign_id == campaign_id, District.code == code)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if district is None:
        raise NotFound(f"本调查活动没有区 {code!r} / campaign {campaign_id} has no district {code!r}")
    return district


def set_district_paused(
    session: Session,
    campaign_id: int,
    district_code: str,
    paused: bool,
    *,
    actor: str,
    reason: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Pause or resume dialling for one district of the campaign."""
    text = _reason(reason, required=paused)
    _open_campaign(session, campaign_id)
    district = _district(session, campaign_id, district_code)
    name = district.name_zh
    if paused and district.dialling_paused_at is not None:
        raise Conflict(f"{name} 已暂停拨号 / dialling is already paused for district {district.code}")
    if not paused and district.dialling_paused_at is None:
        raise Conflict(f"{name} 未暂停拨号 / dialling is not paused for district {district.code}")
    district.dialling_paused_at = now if paused else None
    district.dialling_paused_reason = text if paused else None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=DISTRICT_PAUSED if paused else DISTRICT_RESUMED,
        object_type="district",
        object_id=district.id,
        details={"campaign_id": campaign_id, "district": district.code, "reason": text},
        at=now,
    )
    return _changed(session, campaign_id)


def set_cell_closed(
    session: Session,
    campaign_id: int,
    district_code: str,
    stratum: str,
    closed: bool,
    *,
    actor: str,
    reason: str | None,
    now: dt.datetime,
) -> dict[str, Any]:
    """Close a quota cell by hand (no new cases from it, as when full), or reopen it if not full."""
    text = _reason(reason, required=closed)
    if stratum not in {s.value for s in Stratum}:
        raise Invalid(
            f"层别 {stratum!r} 未知，应为 staff 或 resident / stratum {stratum!r} unknown: staff or resident"
        )
    _open_campaign(session, campaign_id)
    district = _district(session, campaign_id, district_code)
    cell = session.execute(
        select(QuotaCell)
        .where(QuotaCell.district_id == district.id, QuotaCell.stratum == stratum)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    where = f"{district.name_zh} {stratum}"
    if cell is None:
        raise NotFound(
            f"{where} 没有配额单元 / district {district.code} has no quota cell for stratum {stratum}"
        )
    if closed and cell.closed_at is not None:
        raise Conflict(f"{where} 配额单元已关闭 / quota cell {district.code}/{stratum} is already closed")
    if not closed:
        if cell.closed_at is None:
            raise Conflict(f"{where} 配额单元未关闭 / quota cell {district.code}/{stratum} is not closed")
        if cell.completes >= cell.target:
            raise Conflict(
                f"{where} 配额已满（{cell.completes}/{cell.target}），不能重新开放 / "
                f"quota cell {district.code}/{stratum} is full ({cell.completes}/{cell.target}): "
                "it cannot be reopened"
            )
    cell.closed_at = now if closed else None
    cell.closed_reason = text if closed else None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=CELL_CLOSED if closed else CELL_REOPENED,
        object_type="quota_cell",
        object_id=cell.id,
        details={
            "campaign_id": campaign_id,
            "district": district.code,
            "stratum": stratum,
            "completes": cell.completes,
            "target": cell.target,
            "reason": text,
        },
        at=now,
    )
    return _changed(session, campaign_id)


def set_pacing(
    session: Session, campaign_id: int, mode: str, *, actor: str, reason: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Switch the pacing mode; the dialing loop reads it on its next tick (no restart)."""
    text = _reason(reason, required=True)
    modes = [m.value for m in DiallingMode]
    if mode not in modes:
        raise Invalid(f"拨号模式 {mode!r} 未知，应为 {' / '.join(modes)} / dialling mode {mode!r} unknown")
    campaign = get_campaign(session, campaign_id, for_update=True)
    refuse_if_closed(campaign.code, campaign.status)
    before = campaign.dialling_mode
    if before == mode:
        raise Conflict(f"拨号模式已是 {mode} / the dialling mode is already {mode}")
    campaign.dialling_mode = mode
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=PACING_CHANGED,
        object_type="campaign",
        object_id=campaign.id,
        details={"code": campaign.code, "from": before, "to": mode, "reason": text},
        at=now,
    )
    return _changed(session, campaign_id)


def log_out_seat(
    session: Session, campaign_id: int, user_id: int, *, actor: str, reason: str | None, now: dt.datetime
) -> dict[str, Any]:
    """Log out an interviewer's seat of this campaign (see ``console.log_out_seat`` for the rule)."""
    text = _reason(reason, required=True)
    _open_campaign(session, campaign_id)
    seat = session.get(InterviewerSeat, user_id)
    if seat is None or seat.campaign_id != campaign_id:
        raise NotFound(
            f"本调查活动没有访问员 {user_id} 的座席 / campaign {campaign_id} has no seat of user {user_id}"
        )
    user = session.get(User, user_id)
    seat, was = console.log_out_seat(session, user_id, actor=actor, reason=text, now=now)
    _changed(session, campaign_id)
    return {
        "user_id": user_id,
        "username": user.username if user is not None else None,
        "status": seat.status,
        "was": was,
    }
