"""The live snapshot of one campaign, as the supervisor room and the witness room show it.

One function, ``live_snapshot``, reads the database in one (read) transaction and returns a JSON-able
dict; the shape is documented in docs/live.md and only ever grows (keys are added, never renamed).
Two views: ``supervisor`` (supervisor, admin: adds every interviewer's seat and the alerts) and
``witness`` (witness, assessor: no personal data at all). The arithmetic lives in
``cati.live.arith``; AAPOR rates come from ``cati.results`` (never recomputed here).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.campaigns.service import get_campaign, to_read
from cati.checkpoints import service as checkpoints
from cati.live import arith
from cati.live.arith import AlertRules, local_iso, ratio
from cati.live.feed import recent_entries
from cati.models import (
    Attempt,
    AuditEntry,
    Campaign,
    CampaignStatus,
    Case,
    CaseStatus,
    Interview,
    InterviewerSeat,
    QuotaCell,
    SeatStatus,
    User,
)
from cati.results.service import RATES_NOTE, _case_codes, _rates_pair, campaign_results
from cati.results.visibility import OPENED_EARLY, scores_open
from dialer.schedule import CallingWindows, ScheduleConfigError, start_of_next_local_day

View = Literal["supervisor", "witness"]
VIEWS: tuple[View, ...] = ("supervisor", "witness")

#: Version of the snapshot's shape (docs/live.md); bumped only if a key ever had to change meaning.
SHAPE_VERSION = 1
#: The abandonment definition the dialer applies (docs/dialing.md): no interviewer within 2 s.
ABANDON_RULE_SECONDS = 2
CHECKPOINT_URL = "/api/v1/audit/checkpoints/latest"
#: A completed interview (AAPOR 1.1): what fills a quota cell.
COMPLETE = "1.1"


def live_snapshot(
    session: Session,
    campaign_id: int,
    *,
    view: View,
    now: dt.datetime,
    rules: AlertRules | None = None,
    feed_entries: int = 50,
    key_fingerprint: str | None = None,
    dialer_status: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The campaign's live state for ``view`` at ``now`` (aware); raises NotFound for no campaign."""
    return live_snapshots(
        session,
        campaign_id,
        views=(view,),
        now=now,
        rules=rules,
        feed_entries=feed_entries,
        key_fingerprint=key_fingerprint,
        dialer_status=dialer_status,
    )[view]


def live_snapshots(
    session: Session,
    campaign_id: int,
    *,
    views: tuple[View, ...] | list[View],
    now: dt.datetime,
    rules: AlertRules | None = None,
    feed_entries: int = 50,
    key_fingerprint: str | None = None,
    dialer_status: Mapping[str, Any] | None = None,
    rates: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Several views at once: the parts they share are read once (the broadcaster's path).

    ``rates``: where the AAPOR rates come from, if not computed here (the broadcaster caches them a
    few seconds: they read every case and attempt of the campaign, the one costly part).
    """
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rules = rules or AlertRules()
    campaign = get_campaign(session, campaign_id)
    tz = ZoneInfo(campaign.timezone)
    day_start = start_of_next_local_day(now, tz) - dt.timedelta(days=1)
    fieldwork = campaign.status == CampaignStatus.fieldwork.value

    progress = _progress(session, campaign, now)
    calls = _calls(session, campaign, now, day_start)
    abandonment = _abandonment(session, campaign, day_start)
    common: dict[str, Any] = {
        "version": SHAPE_VERSION,
        "generated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
        "campaign": _campaign(session, campaign, now, tz),
        "progress": progress,
        "calls": calls,
        "rates": rates() if rates is not None else live_rates(session, campaign.id),
        "abandonment": abandonment,
        "audit": {
            "entries": recent_entries(session, feed_entries, tz),
            "checkpoint": _checkpoint(session),
            "checkpoint_url": CHECKPOINT_URL,
        },
        "scores": _scores(session, campaign),
        "scores_opened_early": _opened_early(session, campaign, tz),
    }
    result: dict[str, dict[str, Any]] = {}
    for view in views:
        out = {"version": SHAPE_VERSION, "view": view, **common}
        if view == "witness":
            out["plan"] = to_read(campaign).model_dump(mode="json")
            out["commitment"] = campaign.seed_commitment
            out["key_fingerprint"] = key_fingerprint
            out["instrument"] = {"name": campaign.instrument_name, "sha256": campaign.instrument_sha256}
        else:
            seats = _seats(session, campaign, now, day_start, tz)
            out["seats"] = seats
            out["alerts"] = [
                *arith.link_alerts(dialer_status, fieldwork),
                *arith.breaker_alerts(dialer_status, campaign.id, fieldwork),
                *arith.abandonment_alerts(
                    abandonment["today"]["rate"], campaign.abandon_cap, abandonment["today"]["live"], rules
                ),
                *(arith.seat_alerts(seats, rules) if fieldwork else []),
                *(arith.behind_alerts(progress["districts"], rules) if fieldwork else []),
            ]
            out["dialer"] = _dialer(dialer_status, campaign.id)
        result[view] = out
    return result


# --------------------------------------------------------------------------------------------------
# Parts
# --------------------------------------------------------------------------------------------------


def _campaign(session: Session, campaign: Campaign, now: dt.datetime, tz: ZoneInfo) -> dict[str, Any]:
    started: dt.datetime | None = None
    for at, details in session.execute(
        select(AuditEntry.at, AuditEntry.details)
        .where(
            AuditEntry.action == "campaign.status_changed",
            AuditEntry.object_type == "campaign",
            AuditEntry.object_id == str(campaign.id),
        )
        .order_by(AuditEntry.seq)
    ):
        if (details or {}).get("to") == CampaignStatus.fieldwork.value:
            started = at
            break
    return {
        "id": campaign.id,
        "code": campaign.code,
        "name": {"zh-CN": campaign.name_zh, "en": campaign.name_en},
        "status": campaign.status,
        "timezone": campaign.timezone,
        "dialling_mode": campaign.dialling_mode,
        "abandon_cap": campaign.abandon_cap,
        "fieldwork_started_at": local_iso(started, tz),
        "now": local_iso(now, tz),
    }


def _progress(session: Session, campaign: Campaign, now: dt.datetime) -> dict[str, Any]:
    in_progress: dict[tuple[int, str], int] = {
        (int(d), str(s)): int(n)
        for d, s, n in session.execute(
            select(Case.district_id, Case.stratum, func.count(Case.id))
            .where(Case.campaign_id == campaign.id, Case.status == CaseStatus.interviewing.value)
            .group_by(Case.district_id, Case.stratum)
        )
    }
    try:
        windows: CallingWindows | None = CallingWindows.from_json(campaign.calling_windows, campaign.timezone)
    except ScheduleConfigError:
        windows = None
    cells: dict[int, list[QuotaCell]] = defaultdict(list)
    for cell in session.execute(
        select(QuotaCell).where(QuotaCell.campaign_id == campaign.id).order_by(QuotaCell.id)
    ).scalars():
        cells[cell.district_id].append(cell)
    districts = []
    total = {"target": 0, "completes": 0, "in_progress": 0, "remaining": 0}
    for d in campaign.districts:
        rows: list[dict[str, Any]] = []
        for cell in cells[d.id]:
            rows.append(
                {
                    "stratum": cell.stratum,
                    "target": cell.target,
                    "completes": cell.completes,
                    "in_progress": in_progress.get((d.id, cell.stratum), 0),
                    "remaining": max(cell.target - cell.completes, 0),
                    "window_open": windows.is_open(cell.stratum, now) if windows is not None else None,
                }
            )
        sums = {k: sum(int(r[k]) for r in rows) for k in total}
        for k in total:
            total[k] += sums[k]
        districts.append(
            {"code": d.code, "name": {"zh-CN": d.name_zh, "en": d.name_en}, "cells": rows, **sums}
        )
    return {"districts": districts, "totals": total}


def _calls(session: Session, campaign: Campaign, now: dt.datetime, day_start: dt.datetime) -> dict[str, Any]:
    codes = {d.id: d.code for d in campaign.districts}
    hour = {code: 0 for code in codes.values()}
    for district_id, n in session.execute(
        select(Case.district_id, func.count(Attempt.id))
        .join(Case, Case.id == Attempt.case_id)
        .where(Attempt.campaign_id == campaign.id, Attempt.started_at >= now - dt.timedelta(hours=1))
        .group_by(Case.district_id)
    ):
        hour[codes.get(int(district_id), str(district_id))] = int(n)
    today_flag = sql_case((Attempt.started_at >= day_start, 1), else_=0).label("today")
    answered = Attempt.answered_at.is_not(None).label("answered")
    ended = Attempt.ended_at.is_not(None).label("ended")
    mix_total, mix_today = arith.empty_mix(), arith.empty_mix()
    ringing = 0
    for outcome, abandoned, was_answered, was_ended, today, n in session.execute(
        select(Attempt.outcome, Attempt.abandoned, answered, ended, today_flag, func.count(Attempt.id))
        .where(Attempt.campaign_id == campaign.id)
        .group_by(Attempt.outcome, Attempt.abandoned, answered, ended, today_flag)
    ):
        bucket = arith.outcome_bucket(
            outcome, answered=bool(was_answered), abandoned=bool(abandoned), ended=bool(was_ended)
        )
        if bucket is None:
            ringing += int(n)
            continue
        mix_total[bucket] += int(n)
        if today:
            mix_today[bucket] += int(n)
    return {
        "last_hour": {"total": sum(hour.values()), "districts": hour},
        "outcomes": {"today": mix_today, "total": mix_total, "ringing": ringing},
    }


def _abandonment(session: Session, campaign: Campaign, day_start: dt.datetime) -> dict[str, Any]:
    """Today's abandonment as the dialer's pacer counts it: abandoned / live answers since local midnight."""
    live, abandoned = session.execute(
        select(
            func.count(Attempt.id),
            func.count(sql_case((Attempt.abandoned.is_(True), 1))),
        ).where(Attempt.campaign_id == campaign.id, Attempt.answered_at >= day_start)
    ).one()
    rate = ratio(int(abandoned or 0), int(live or 0))
    return {
        "rule_seconds": ABANDON_RULE_SECONDS,
        "cap": campaign.abandon_cap,
        "today": {
            "live": int(live or 0),
            "abandoned": int(abandoned or 0),
            "rate": rate,
            "share_of_cap": ratio(rate, campaign.abandon_cap) if rate is not None else None,
        },
    }


def live_rates(session: Session, campaign_id: int) -> dict[str, Any]:
    """Provisional and final AAPOR rates, from the results service's codes and ``rates_report``."""
    entries = [(code, final) for _case, code, final in _case_codes(session, campaign_id)]
    pair = _rates_pair(entries)
    return {"note": RATES_NOTE, "provisional": pair["provisional"], "final": pair["final"]}


def _seats(
    session: Session, campaign: Campaign, now: dt.datetime, day_start: dt.datetime, tz: ZoneInfo
) -> list[dict[str, Any]]:
    districts = {d.id: d for d in campaign.districts}
    done: dict[int, list[float]] = defaultdict(list)
    for uid, started, ended in session.execute(
        select(Interview.interviewer_id, Interview.started_at, Interview.ended_at).where(
            Interview.campaign_id == campaign.id,
            Interview.disposition == COMPLETE,
            Interview.ended_at >= day_start,
        )
    ):
        if uid is not None and ended is not None:
            done[int(uid)].append((ended - started).total_seconds())
    out = []
    for seat, user, district_id, stratum in session.execute(
        select(InterviewerSeat, User, Case.district_id, Case.stratum)
        .join(User, User.id == InterviewerSeat.user_id)
        .outerjoin(Case, Case.id == InterviewerSeat.current_case_id)
        .where(InterviewerSeat.campaign_id == campaign.id)
        .order_by(User.username)
    ):
        lengths = done.get(seat.user_id, [])
        d = districts.get(district_id) if district_id is not None else None
        out.append(
            {
                "user_id": seat.user_id,
                "username": user.username,
                "display_name": user.display_name,
                "state": seat.status,
                "pause_reason": seat.pause_reason if seat.status == SeatStatus.paused.value else None,
                "since": local_iso(seat.status_since, tz),
                "seconds_in_state": max(int((now - seat.status_since).total_seconds()), 0),
                "district": (
                    {"code": d.code, "name": {"zh-CN": d.name_zh, "en": d.name_en}} if d is not None else None
                ),
                "stratum": stratum,
                "completes_today": len(lengths),
                "avg_interview_seconds_today": round(sum(lengths) / len(lengths)) if lengths else None,
            }
        )
    return out


def _checkpoint(session: Session) -> dict[str, Any] | None:
    latest = checkpoints.latest(session)
    if latest is None:
        return None
    data = latest.to_json()
    return {
        "seq": data["size"],
        "head_hash": data["head_hash"],
        "at": data["at"],
        "signature": data["signature"],
        "key_fingerprint": data["key_fingerprint"],
        "format": data["format"],
    }


def _scores(session: Session, campaign: Campaign) -> dict[str, Any]:
    if not scores_open(campaign):
        return {"sealed": True}
    return {"sealed": False, "scores": campaign_results(session, campaign.id)["scores"]}


def _opened_early(session: Session, campaign: Campaign, tz: ZoneInfo) -> dict[str, Any] | None:
    if campaign.scores_opened_at is None:
        return None
    actor = session.execute(
        select(AuditEntry.actor)
        .where(
            AuditEntry.action == OPENED_EARLY,
            AuditEntry.object_type == "campaign",
            AuditEntry.object_id == str(campaign.id),
        )
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    return {
        "at": local_iso(campaign.scores_opened_at, tz),
        "reason": arith.mask_text(campaign.scores_opened_reason or ""),
        "by": actor,
        "banner": {
            "zh-CN": "注意：本项目的成绩已在调查结束前提前开放（已记入审计日志）",
            "en": "Note: this campaign's scores were opened before close (recorded in the audit log)",
        },
    }


def _dialer(status: Mapping[str, Any] | None, campaign_id: int) -> dict[str, Any]:
    if status is None:
        return {"link": "off", "running": False}
    per = (status.get("campaigns") or {}).get(str(campaign_id))
    return {
        "link": status.get("link", "off"),
        "running": bool(status.get("running", False)),
        "calls": status.get("calls"),
        "campaign": per,
    }


__all__ = ["VIEWS", "View", "live_rates", "live_snapshot", "live_snapshots"]
