"""What the console shows: ``ConsoleState`` and ``InterviewView`` (docs/console-api.md).

An interviewer sees only the case in hand, and its phone number masked except the last digits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from cati.campaigns.instruments import campaign_instrument
from cati.console.service import CHOICES, Loaded, load_interview, rule_choice
from cati.models import (
    Attempt,
    Campaign,
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


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


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
        "id": item.id,
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


def current_view(session: Session, seat: InterviewerSeat, visible_digits: int) -> dict[str, Any] | None:
    """The case in hand, or None."""
    if seat.current_case_id is None:
        return None
    c = session.get(Case, seat.current_case_id)
    if c is None:
        return None
    district = session.get(District, c.district_id)
    attempt = session.get(Attempt, seat.current_attempt_id) if seat.current_attempt_id else None
    interview = None
    inst: Instrument | None = None
    if seat.current_interview_id is not None:
        loaded = load_interview(session, seat.current_interview_id)
        interview = interview_view(loaded)
        if loaded.row.campaign_id == c.campaign_id:
            inst = loaded.instrument
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
        "appointment": (
            {"at": _iso(c.appointment_at), "note": c.appointment_note} if c.appointment_at else None
        ),
        "interview": interview,
    }


def console_state(
    session: Session, user: User, *, visible_digits: int, wrap_up_seconds: int
) -> dict[str, Any]:
    """The whole ConsoleState for one interviewer."""
    seat = session.get(InterviewerSeat, user.id)
    if seat is None:
        seat = InterviewerSeat(
            user_id=user.id,
            status=SeatStatus.offline.value,
            shift_calls=0,
            shift_completes=0,
            shift_talk_seconds=0,
        )
        seat_since = None
    else:
        seat_since = _iso(seat.status_since)
    campaign = session.get(Campaign, seat.campaign_id) if seat.campaign_id else None
    return {
        "seat": {"status": seat.status, "pause_reason": seat.pause_reason, "since": seat_since},
        "interviewer": {
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "extension": user.extension,
        },
        "shift": {
            "started_at": _iso(seat.shift_started_at),
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
            }
            if campaign
            else None
        ),
        "current": current_view(session, seat, visible_digits) if seat.user_id else None,
        "dispositions": dispositions(),
        "pause_reasons": ["break", "meal", "training", "technical", "other"],
        "wrap_up_seconds": wrap_up_seconds,
    }
