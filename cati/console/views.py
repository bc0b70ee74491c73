"""What the console shows: ``ConsoleState`` and ``InterviewView`` (docs/console-api.md).

An interviewer sees only the case in hand, and its phone number masked except the last digits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.campaigns.instruments import campaign_instrument
from cati.cases.service import dialling_outlook
from cati.console.labels import item_label, label_pair
from cati.console.service import (
    CHOICES,
    Loaded,
    load_interview,
    needs_code,
    rule_choice,
    saved_after_drop,
)
from cati.messages import render
from cati.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Case,
    District,
    InterviewerSeat,
    SeatStatus,
    User,
)
from dialer.schedule import Next
from dialer.schedule import disposition as schedule_entry
from questionnaire.engine import State
from questionnaire.model import Instrument, Item, ItemKind, Text
from scoring import aapor


def _iso(value: dt.datetime | None, tz: ZoneInfo | None = None) -> str | None:
    """ISO 8601 with offset; in the campaign's time zone ``tz`` when given (what the console shows)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return (value.astimezone(tz) if tz is not None else value).isoformat()


def _zone(campaign: Campaign | None) -> ZoneInfo | None:
    if campaign is None:
        return None
    try:
        return ZoneInfo(campaign.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _text(text: Text | None) -> dict[str, str] | None:
    return None if text is None else {"zh": text.get("zh-CN"), "en": text.get("en")}


def mask_phone(number: str, visible: int) -> str:
    """``*******1234``: every digit hidden but the last ``visible``."""
    if visible <= 0:
        return "*" * len(number)
    shown = number[-visible:]
    return "*" * (len(number) - len(shown)) + shown


def _section(loaded: Loaded) -> str:
    engine = loaded.engine
    if engine.state is not State.ASKING:
        return "end"
    item = engine.current
    assert item is not None
    if item.screening:
        return "screening"
    if item.kind is ItemKind.TEXT:
        return "open"
    return "items"


def _item_view(item: Item, instrument: Instrument) -> dict[str, Any]:
    return {
        "id": item.id,  # for the API; the console shows ``label`` (interviewers never see ids)
        "label": label_pair(item_label(instrument, item.id)),
        "kind": item.kind.value,
        "text": _text(item.text),
        "instructions": _text(item.instructions),
        "options": [{"code": o.value, "key": str(o.code), "label": _text(o.label)} for o in item.options],
        "allow_refuse": item.allows_refusal,
        "allow_dont_know": item.allows_refusal,
        "min": item.min,
        "max": item.max,
        "max_length": item.max_length,
        "scored": item.id in instrument.scored_items,
    }


def interview_view(loaded: Loaded) -> dict[str, Any]:
    """The InterviewView of docs/console-api.md."""
    row, engine, inst = loaded.row, loaded.engine, loaded.instrument
    item = engine.current
    current_answer = engine.current_answer
    answers = []
    saved = engine.answers
    for it in inst.items:
        a = saved.get(it.id)
        if a is None:
            continue
        label = None
        if a.value is not None and it.kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
            opt = it.option(int(a.value))
            label = _text(opt.label) if opt else None
        answers.append(
            {
                "item_id": it.id,
                "item_label": label_pair(item_label(inst, it.id)),
                "value": a.value,
                "label": label,
                "status": a.status.value,
                "text": _text(it.text),
            }
        )
    _position, total = engine.progress
    return {
        "id": row.id,
        "version": row.version,
        "state": engine.state.value if engine.state else None,
        "section": _section(loaded),
        "finished": row.finished,
        "disposition": engine.disposition,
        "valid_for_scoring": engine.valid_for_scoring,
        # What the scoring policy says; the picker suggests (and the console records) its code.
        "rule": {
            "name": inst.policy.label,
            "disposition": engine.disposition,
            "valid": engine.valid_for_scoring,
            "choice": rule_choice(engine),
        },
        "progress": {"answered": len(answers), "total": total},
        "can_back": engine.can_back,
        "item": _item_view(item, inst) if item is not None else None,
        "current_answer": (
            {"value": current_answer.value, "status": current_answer.status.value}
            if current_answer is not None
            else None
        ),
        "answers": answers,
        "script": {
            "title": _text(inst.title),
            "introduction": _text(inst.introduction),
            "closing": _text(inst.closing),
            "screened_out": _text(inst.screened_out),
        },
    }


def _call_state(attempt: Attempt | None) -> dict[str, Any]:
    if attempt is None:
        return {"state": "preview", "outcome": None, "connected_at": None}
    if attempt.ended_at is not None:
        state = "ended"
    elif attempt.connected_at is not None:
        state = "connected"
    else:
        state = "dialling"
    return {"state": state, "outcome": attempt.outcome, "connected_at": _iso(attempt.connected_at)}


def dispositions() -> list[dict[str, Any]]:
    """The disposition picker: console code, AAPOR code and labels, key, whether it ends the case."""
    out = []
    for c in CHOICES:
        out.append(
            {
                "code": c.code,
                "aapor": c.aapor,
                "key": c.key,
                "label": {"zh": c.zh, "en": c.en},
                "aapor_label": {"zh": aapor.label(c.aapor), "en": aapor.label(c.aapor, "en")},
                "needs_time": c.needs_time,
                "ends_case": schedule_entry(c.aapor).next is Next.final,
            }
        )
    return out


def current_view(
    session: Session, seat: InterviewerSeat, visible_digits: int, tz: ZoneInfo | None = None
) -> dict[str, Any] | None:
    """The case in hand, or None (times in the campaign's time zone ``tz``)."""
    if seat.current_case_id is None:
        return None
    c = session.get(Case, seat.current_case_id)
    if c is None:
        return None
    district = session.get(District, c.district_id)
    attempt = session.get(Attempt, seat.current_attempt_id) if seat.current_attempt_id else None
    interview = None
    inst: Instrument | None = None
    dropped_at = attempt.ended_at if attempt is not None else None
    if dropped_at is not None and dropped_at.tzinfo is None:
        dropped_at = dropped_at.replace(tzinfo=dt.UTC)
    after_drop = 0
    to_code = seat.status == SeatStatus.on_call.value or needs_code(session, seat)
    if seat.current_interview_id is not None:
        loaded = load_interview(session, seat.current_interview_id)
        interview = interview_view(loaded)
        if loaded.row.campaign_id == c.campaign_id:
            inst = loaded.instrument
        if dropped_at is not None and not loaded.row.finished:
            after_drop = saved_after_drop(session, loaded.row.id, dropped_at)
    if inst is None:
        campaign = session.get(Campaign, c.campaign_id)
        inst = campaign_instrument(campaign) if campaign is not None else None
    stratum_label = None
    if inst is not None:
        found = next((s for s in inst.strata if s.id == c.stratum), None)
        stratum_label = _text(found.label) if found else None
    return {
        "case_id": c.id,
        "attempt_id": seat.current_attempt_id,
        "attempts_count": c.attempts_count,
        "district": {
            "code": district.code if district else None,
            "name_zh": district.name_zh if district else None,
            "name_en": district.name_en if district else None,
        },
        "stratum": c.stratum,
        "stratum_label": stratum_label,
        "phone_masked": mask_phone(c.phone_number, visible_digits),
        "call": _call_state(attempt),
        # The line dropped before the call was coded (对方已挂断): the console says so; a 1.1/1.2
        # on actions saved after the drop needs ``completed_elsewhere`` (docs/recovery.md).
        "line_dropped": dropped_at is not None and to_code,
        "saved_after_drop": after_drop,
        "to_code": to_code,
        "appointment": (
            {"at": _iso(c.appointment_at, tz), "note": c.appointment_note} if c.appointment_at else None
        ),
        "interview": interview,
    }


_ON_A_CALL = frozenset({SeatStatus.reserved.value, SeatStatus.on_call.value})


def dialling_view(session: Session, campaign: Campaign | None, seat_status: str) -> dict[str, Any]:
    """Whether dialling of the seat's campaign has finished, and the banner's words.

    Not asked for a seat with a call in hand (it has its work); ``reason`` is
    ``closed``, ``quotas_full`` or ``exhausted`` (``cases.dialling_outlook``).
    """
    reason = None
    if campaign is not None and seat_status not in _ON_A_CALL:
        reason = dialling_outlook(session, campaign.id)
    if reason is None:
        return {"finished": False, "reason": None, "code": None, "message": None}
    code = f"dialling.{reason}"
    params = {"campaign": campaign.code if campaign else ""}
    return {
        "finished": True,
        "reason": reason,
        "code": code,
        "message": {"zh": render(code, params, "zh-CN"), "en": render(code, params, "en")},
    }


def _only_fieldwork(session: Session) -> Campaign | None:
    """The one campaign in fieldwork (the one Ready would join), for the clock of a seat without one."""
    found = (
        session.execute(select(Campaign).where(Campaign.status == CampaignStatus.fieldwork.value).limit(2))
        .scalars()
        .all()
    )
    return found[0] if len(found) == 1 else None


def clock_view(campaign: Campaign | None, now: dt.datetime | None, speed: float) -> dict[str, Any]:
    """The service clock for the console's clock, in the campaign's time zone."""
    tz = _zone(campaign)
    at = now or dt.datetime.now(dt.UTC)
    return {
        "now": _iso(at, tz),
        "timezone": campaign.timezone if campaign is not None and tz is not None else "UTC",
        "speed": speed,
    }


def console_state(
    session: Session,
    user: User,
    *,
    visible_digits: int,
    wrap_up_seconds: int,
    now: dt.datetime | None = None,
    speed: float = 1.0,
) -> dict[str, Any]:
    """The whole ConsoleState for one interviewer (times in the campaign's time zone)."""
    seat = session.get(InterviewerSeat, user.id)
    if seat is None:
        seat = InterviewerSeat(
            user_id=user.id,
            status=SeatStatus.offline.value,
            shift_calls=0,
            shift_completes=0,
            shift_talk_seconds=0,
        )
    campaign = session.get(Campaign, seat.campaign_id) if seat.campaign_id else None
    tz = _zone(campaign)
    seat_since = _iso(seat.status_since, tz)
    return {
        "seat": {"status": seat.status, "pause_reason": seat.pause_reason, "since": seat_since},
        "interviewer": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "extension": user.extension,
        },
        "shift": {
            "started_at": _iso(seat.shift_started_at, tz),
            "calls": seat.shift_calls or 0,
            "completes": seat.shift_completes or 0,
            "talk_seconds": seat.shift_talk_seconds or 0,
        },
        "campaign": (
            {
                "id": campaign.id,
                "code": campaign.code,
                "name_zh": campaign.name_zh,
                "name_en": campaign.name_en,
                "dialling_mode": campaign.dialling_mode,
                "timezone": campaign.timezone,
            }
            if campaign
            else None
        ),
        "current": current_view(session, seat, visible_digits, tz) if seat.user_id else None,
        "dialling": dialling_view(session, campaign, seat.status),
        "clock": clock_view(campaign or _only_fieldwork(session), now, speed),
        "dispositions": dispositions(),
        "pause_reasons": ["break", "meal", "training", "technical", "other"],
        "wrap_up_seconds": wrap_up_seconds,
    }
