"""Console service: interviewer seats, the case in hand, the interview saved answer by answer.

Two callers share it. The dialing loop asks for ready seats, reserves one for a call it places,
releases it when nobody answered, and connects an answered call (``connect_call`` starts or resumes
the case's interview). The console API moves the seat (ready, pause, offline, next), saves every
interview action with an optimistic ``version`` and records the interviewer's disposition through
``cati.cases.service.record_interviewer_outcome``.

Every seat change goes through ``cati.console.states.transition`` (one table) and queues a ``state``
event on topic ``seat:{user_id}`` that reaches the console after commit. Services only flush; the
caller commits. Lock order follows the case service: seat, then case, then attempt, then interview.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati import audit, ledger
from cati.campaigns.freeze import ensure_open, refuse_if_closed
from cati.campaigns.instruments import campaign_instrument, instrument_of
from cati.cases import service as cases
from cati.console import states
from cati.console.labels import item_label
from cati.errors import Conflict, Invalid, NotFound
from cati.events import campaign_topic, queue_event
from cati.messages import localized, seat_word, word
from cati.models import (
    AnswerEvent,
    Attempt,
    Campaign,
    CampaignStatus,
    Case,
    CaseStatus,
    DiallingMode,
    Interview,
    InterviewerSeat,
    SeatStatus,
    User,
)
from questionnaire.engine import BadSavedState, InterviewError, InvalidAction, InvalidAnswer, State
from questionnaire.engine import Interview as Engine
from questionnaire.model import Instrument, ItemKind

S = SeatStatus


def seat_topic(user_id: int) -> str:
    """The live-event topic of one interviewer's seat."""
    return f"seat:{user_id}"


def _check_now(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands datetimes back naive (stored as UTC); make them aware."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------------------------------
# Seats
# --------------------------------------------------------------------------------------------------


def _notify(session: Session, seat: InterviewerSeat, why: str) -> None:
    queue_event(session, seat_topic(seat.user_id), "state", {"status": seat.status, "why": why})
    if seat.campaign_id is not None:  # the live rooms (cati/live) recompute on it
        queue_event(session, campaign_topic(seat.campaign_id), "seat", {"user_id": seat.user_id})


def _move(session: Session, seat: InterviewerSeat, target: SeatStatus, now: dt.datetime, why: str) -> None:
    states.transition(seat, target, why=why)
    seat.status_since = now
    seat.updated_at = now
    _notify(session, seat, why)


def lock_seat(session: Session, user_id: int, *, create: bool = True) -> InterviewerSeat:
    """The user's seat under a row lock; an offline seat is made on first use."""
    seat = session.execute(
        select(InterviewerSeat)
        .where(InterviewerSeat.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if seat is not None:
        return seat
    if not create:
        raise NotFound(f"user {user_id} has no seat")
    if session.get(User, user_id) is None:
        raise NotFound(f"user {user_id} not found")
    seat = InterviewerSeat(user_id=user_id, status=S.offline.value)
    session.add(seat)
    session.flush()
    return seat


def announce_dialling_finished(session: Session, campaign_id: int, reason: str | None = None) -> str | None:
    """Tell every seat of the campaign at once when dialling has finished (quotas full, campaign
    closed, no number left): a ``dialling`` event on each seat's topic, after commit, which the
    console shows as a banner. ``reason`` None asks ``cases.dialling_outlook``; returns the reason
    (None: dialling goes on, nobody is told anything)."""
    reason = reason or cases.dialling_outlook(session, campaign_id)
    if reason is None:
        return None
    campaign = session.get(Campaign, campaign_id)
    code = campaign.code if campaign is not None else str(campaign_id)
    seats = session.execute(
        select(InterviewerSeat.user_id).where(
            InterviewerSeat.campaign_id == campaign_id, InterviewerSeat.status != S.offline.value
        )
    ).scalars()
    for user_id in seats:
        data = {"finished": True, "reason": reason, "campaign": code}
        queue_event(session, seat_topic(user_id), "dialling", data)
    return reason


def ready_seats(session: Session, campaign_id: int) -> list[InterviewerSeat]:
    """Seats ready for a call in this campaign, longest idle first."""
    return list(
        session.execute(
            select(InterviewerSeat)
            .where(InterviewerSeat.campaign_id == campaign_id, InterviewerSeat.status == S.ready.value)
            .order_by(InterviewerSeat.status_since, InterviewerSeat.user_id)
        )
        .scalars()
        .all()
    )


def pick_ready_seat(
    session: Session, campaign_id: int, *, now: dt.datetime, prefer_user_id: int | None = None
) -> InterviewerSeat | None:
    """The longest-idle ready seat, row-locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

    ``prefer_user_id`` (an appointment kept for one interviewer) wins when that seat is ready.
    A competing dialer skips the locked row, so one seat never gets two calls.
    """
    _check_now(now)
    order: list[Any] = []
    if prefer_user_id is not None:
        order.append(sql_case((InterviewerSeat.user_id == prefer_user_id, 0), else_=1))
    order += [InterviewerSeat.status_since, InterviewerSeat.user_id]
    return session.execute(
        select(InterviewerSeat)
        .where(InterviewerSeat.campaign_id == campaign_id, InterviewerSeat.status == S.ready.value)
        .order_by(*order)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def reserve_seat(
    session: Session, seat: InterviewerSeat, *, case_id: int, attempt_id: int | None, now: dt.datetime
) -> None:
    """ready -> reserved: a call is placed for this interviewer (or a preview case is shown).

    A seat already reserved for the same case (preview, then dialled) just takes the attempt.
    """
    now = _check_now(now)
    seat = lock_seat(session, seat.user_id, create=False)
    if seat.status == S.reserved.value and seat.current_case_id == case_id:
        if attempt_id is not None and seat.current_attempt_id not in (None, attempt_id):
            raise Conflict(f"seat of user {seat.user_id} already waits for attempt {seat.current_attempt_id}")
        seat.current_attempt_id = attempt_id
        seat.updated_at = now
        _notify(session, seat, "dialling")
        session.flush()
        return
    _move(session, seat, S.reserved, now, "reserved for a call" if attempt_id else "preview")
    seat.current_case_id = case_id
    seat.current_attempt_id = attempt_id
    seat.current_interview_id = None
    session.flush()


def _clear_case(seat: InterviewerSeat) -> None:
    seat.current_case_id = None
    seat.current_attempt_id = None
    seat.current_interview_id = None


def needs_code(session: Session, seat: InterviewerSeat) -> bool:
    """A ``wrap_up`` seat whose call is still to be coded: the line went away before the interviewer
    coded it (``line_gone``). Its case is still ``interviewing`` and the seat's attempt is the case's last."""
    if seat.status != S.wrap_up.value or seat.current_case_id is None or seat.current_attempt_id is None:
        return False
    c = session.get(Case, seat.current_case_id)
    # interviewing, not dialling: a coded case handed out again for a preview is dialling with no
    # new attempt yet; an interviewing case's last attempt is the call that connected it
    if c is None or c.status != CaseStatus.interviewing.value:
        return False
    last = session.execute(
        select(Attempt.id)
        .where(Attempt.case_id == c.id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last == seat.current_attempt_id


def _refuse_uncoded(session: Session, seat: InterviewerSeat) -> None:
    """A seat with a dropped call still to code may not leave it (the case would have no owner)."""
    if needs_code(session, seat):
        raise Conflict(code="seat.code_call_first")


def line_dropped_at(session: Session, seat: InterviewerSeat) -> dt.datetime | None:
    """When the seat's call ended (None: the line is up, or there is no call)."""
    if seat.current_attempt_id is None:
        return None
    attempt = session.get(Attempt, seat.current_attempt_id)
    return None if attempt is None else _aware(attempt.ended_at)


def saved_after_drop(session: Session, interview_id: int, dropped_at: dt.datetime) -> int:
    """How many interview actions were saved after the line dropped (they cannot come from the call)."""
    count = session.execute(
        select(func.count()).where(AnswerEvent.interview_id == interview_id, AnswerEvent.at > dropped_at)
    ).scalar_one()
    return int(count)


def line_gone(session: Session, *, attempt_id: int, now: dt.datetime, why: str) -> InterviewerSeat | None:
    """Recovery: the seat holding this attempt lost its call (attempt ended, lost, channel gone).

    A ``reserved`` seat goes back to ready; an ``on_call`` seat goes to ``wrap_up`` with its case
    and interview kept (resumable) for the interviewer to code (``needs_code``), or for
    ``auto_code`` after the timeout. Returns the seat as left (None: no seat held it), so a caller
    needs no second look-up for who held the call.
    The caller has taken the seat's lock before the case's (campaign, seat, case, attempt).
    """
    now = _check_now(now)
    user_id = session.execute(
        select(InterviewerSeat.user_id).where(InterviewerSeat.current_attempt_id == attempt_id)
    ).scalar_one_or_none()
    if user_id is None:
        return None
    seat = lock_seat(session, user_id, create=False)
    if seat.current_attempt_id != attempt_id:
        return None
    if seat.status == S.reserved.value:
        _move(session, seat, S.ready, now, why)
        _clear_case(seat)
    elif seat.status == S.on_call.value:
        _move(session, seat, S.wrap_up, now, f"line dropped: {why}")
        audit.record(
            session,
            actor=cases.SYSTEM,
            action="seat.line_dropped",
            object_type="seat",
            object_id=seat.user_id,
            details={
                "attempt_id": attempt_id,
                "case_id": seat.current_case_id,
                "interview_id": seat.current_interview_id,
                "why": why,
            },
            at=now,
        )
    else:
        return seat
    session.flush()
    return seat


def release_seat(session: Session, user_id: int, *, now: dt.datetime, reason: str) -> None:
    """reserved -> ready: the call placed for this interviewer was not answered (or was skipped).

    A seat that is no longer reserved (the call was connected meanwhile) is left alone.
    """
    now = _check_now(now)
    seat = lock_seat(session, user_id, create=False)
    if seat.status != S.reserved.value:
        return
    _move(session, seat, S.ready, now, reason)
    _clear_case(seat)
    session.flush()


def _ensure_open_for_seat(session: Session, user_id: int) -> None:
    """Refuse when the seat's case belongs to a closed campaign (checked before any seat lock).

    One statement on the hot path of every answer: the campaign row is share-locked through the
    seat's case (``cati.campaigns.freeze``: the campaign before seat and case).
    """
    found = session.execute(
        select(Campaign.code, Campaign.status)
        .join(Case, Case.campaign_id == Campaign.id)
        .join(InterviewerSeat, InterviewerSeat.current_case_id == Case.id)
        .where(InterviewerSeat.user_id == user_id)
        .with_for_update(read=True, of=Campaign)
    ).one_or_none()
    if found is not None:
        refuse_if_closed(found[0], found[1])


def _open_interview(session: Session, case_id: int) -> Interview | None:
    return session.execute(
        select(Interview)
        .where(Interview.case_id == case_id, Interview.finished.is_(False))
        .order_by(Interview.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()


def connect_call(
    session: Session, *, user_id: int, case_id: int, attempt_id: int, now: dt.datetime
) -> Interview:
    """ready|reserved -> on_call: an answered call reaches this interviewer.

    Marks the case ``interviewing`` (``mark_connected``, unless the caller did already), starts the
    case's interview with the campaign's frozen instrument or resumes the one left unfinished (an
    appointment made mid-interview), and queues the seat's ``state`` event. Calling it again for
    the same attempt returns the same interview.
    """
    now = _check_now(now)
    campaign_id = session.execute(select(Case.campaign_id).where(Case.id == case_id)).scalar_one_or_none()
    if campaign_id is not None:
        ensure_open(session, campaign_id)
    seat = lock_seat(session, user_id)
    if (
        seat.status == S.on_call.value
        and seat.current_attempt_id == attempt_id
        and seat.current_interview_id is not None
    ):
        found = session.get(Interview, seat.current_interview_id)
        if found is not None:
            return found
    if seat.status == S.reserved.value and seat.current_case_id not in (None, case_id):
        raise Conflict(f"seat of user {user_id} is reserved for case {seat.current_case_id}, not {case_id}")
    attempt = session.get(Attempt, attempt_id)
    if attempt is None or attempt.case_id != case_id:
        raise NotFound(f"attempt {attempt_id} of case {case_id} not found")
    _move(session, seat, S.on_call, now, "call connected")
    c = session.get(Case, case_id)
    if c is None:
        raise NotFound(f"case {case_id} not found")
    if c.status == CaseStatus.dialling.value:
        cases.mark_connected(session, attempt_id, interviewer_id=user_id, now=now)
    elif attempt.interviewer_id is None:
        attempt.interviewer_id = user_id
    campaign = session.get(Campaign, c.campaign_id)
    assert campaign is not None
    row = _open_interview(session, case_id)
    if row is None:
        inst = campaign_instrument(campaign)
        engine = Engine.start(inst, c.stratum, now)
        row = Interview(
            campaign_id=c.campaign_id,
            district_id=c.district_id,
            case_id=c.id,
            attempt_id=attempt_id,
            interviewer_id=user_id,
            stratum=c.stratum,
            state=engine.to_dict(),
            version=1,
            started_at=now,
        )
        session.add(row)
        session.flush()
        action = "interview.started"
    else:
        row.attempt_id = attempt_id
        row.interviewer_id = user_id
        action = "interview.resumed"
    seat.campaign_id = seat.campaign_id or c.campaign_id
    seat.current_case_id = c.id
    seat.current_attempt_id = attempt_id
    seat.current_interview_id = row.id
    seat.shift_calls += 1
    session.flush()
    audit.record(
        session,
        actor=f"user:{user_id}",
        action=action,
        object_type="interview",
        object_id=row.id,
        details={
            "case_id": c.id,
            "attempt_id": attempt_id,
            "interviewer_id": user_id,
        },
        at=now,
        bind=[row, attempt],
    )
    return row


def call_ended(session: Session, *, attempt_id: int, now: dt.datetime) -> None:
    """The line dropped: an ``on_call`` seat keeps its case so the interviewer can code it.

    A seat still ``reserved`` for the attempt (never answered) goes back to ready. The attempt
    itself is closed by the caller (``record_call_result``).
    """
    now = _check_now(now)
    user_id = session.execute(
        select(InterviewerSeat.user_id).where(InterviewerSeat.current_attempt_id == attempt_id)
    ).scalar_one_or_none()
    if user_id is None:
        return
    seat = lock_seat(session, user_id, create=False)
    if seat.current_attempt_id != attempt_id:
        return
    if seat.status == S.reserved.value:
        _move(session, seat, S.ready, now, "call not answered")
        _clear_case(seat)
    else:
        seat.updated_at = now
        _notify(session, seat, "call ended")
    session.flush()


# --------------------------------------------------------------------------------------------------
# The interviewer's own moves
# --------------------------------------------------------------------------------------------------


def _fieldwork_campaign(session: Session, campaign_id: int | None) -> Campaign:
    if campaign_id is not None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFound(code="campaign.not_found", params={"campaign": campaign_id})
        if campaign.status == CampaignStatus.closed.value:
            raise Conflict(code="dialling.closed", params={"campaign": campaign.code})
        if campaign.status != CampaignStatus.fieldwork.value:
            raise Conflict(
                code="campaign.not_in_fieldwork",
                params={
                    "campaign": campaign.code,
                    "status": word(f"campaign.{campaign.status}", campaign.status),
                },
            )
        return campaign
    found = (
        session.execute(
            select(Campaign).where(Campaign.status == CampaignStatus.fieldwork.value).order_by(Campaign.id)
        )
        .scalars()
        .all()
    )
    if not found:
        raise Conflict(code="campaign.none_in_fieldwork")
    if len(found) > 1:
        codes = ", ".join(f"{c.id} {c.code}" for c in found)
        raise Invalid(code="campaign.several_in_fieldwork", params={"codes": codes})
    return found[0]


def _campaign_for_seat(session: Session, seat: InterviewerSeat, campaign_id: int | None) -> Campaign:
    """The campaign asked for, else the seat's own while in fieldwork, else the one in fieldwork."""
    if campaign_id is not None:
        return _fieldwork_campaign(session, campaign_id)
    if seat.campaign_id is not None:
        own = session.get(Campaign, seat.campaign_id)
        if own is not None and own.status == CampaignStatus.fieldwork.value:
            return own
        if own is not None and own.status == CampaignStatus.closed.value:
            try:
                return _fieldwork_campaign(session, None)
            except Conflict:  # the seat's campaign has closed and no other is in fieldwork: say so
                raise Conflict(code="dialling.closed", params={"campaign": own.code}) from None
    return _fieldwork_campaign(session, None)


def go_ready(
    session: Session, user: User, *, campaign_id: int | None = None, now: dt.datetime
) -> InterviewerSeat:
    """Take calls: offline/paused/wrap_up -> ready. The shift starts (figures reset) on leaving offline."""
    now = _check_now(now)
    seat = lock_seat(session, user.id)
    _refuse_uncoded(session, seat)
    campaign = _campaign_for_seat(session, seat, campaign_id)
    if seat.status in {s.value for s in states.HOLDS_CASE} and seat.campaign_id != campaign.id:
        raise Conflict(code="seat.finish_case_first")
    seat.campaign_id = campaign.id
    if seat.status == S.ready.value:
        return seat
    was = seat.status
    _move(session, seat, S.ready, now, "ready")
    seat.pause_reason = None
    _clear_case(seat)
    if was == S.offline.value or seat.shift_started_at is None:
        seat.shift_started_at = now
        seat.shift_calls = 0
        seat.shift_completes = 0
        seat.shift_talk_seconds = 0
        audit.record(
            session,
            actor=user.username,
            action="shift.started",
            object_type="seat",
            object_id=user.id,
            details={"campaign_id": seat.campaign_id},
            at=now,
        )
    session.flush()
    return seat


def _hand_back_preview(session: Session, seat: InterviewerSeat, now: dt.datetime) -> None:
    """A previewed case not dialled goes back to the queue."""
    if seat.current_attempt_id is not None:
        raise Conflict(code="seat.call_being_placed")
    if seat.current_case_id is not None:
        c = session.get(Case, seat.current_case_id)
        if c is not None and c.status == CaseStatus.dialling.value:
            cases.release_case(session, c, now=now)


def pause(session: Session, user: User, *, reason: str, now: dt.datetime) -> InterviewerSeat:
    """Take a break with a reason (break, meal, training, technical, other)."""
    now = _check_now(now)
    if reason not in states.PAUSE_REASONS:
        raise Invalid(code="seat.unknown_pause_reason", params={"reason": reason})
    seat = lock_seat(session, user.id)
    _refuse_uncoded(session, seat)
    if seat.status == S.reserved.value:
        _hand_back_preview(session, seat, now)
    _move(session, seat, S.paused, now, f"pause: {reason}")
    seat.pause_reason = reason
    _clear_case(seat)
    if seat.shift_started_at is None:
        seat.shift_started_at = now
    audit.record(
        session,
        actor=user.username,
        action="seat.paused",
        object_type="seat",
        object_id=user.id,
        details={"reason": reason},
        at=now,
    )
    session.flush()
    return seat


def go_offline(session: Session, user: User, *, now: dt.datetime) -> InterviewerSeat:
    """End of shift: ready, paused or wrap_up -> offline (the shift figures stay readable)."""
    now = _check_now(now)
    seat = lock_seat(session, user.id)
    if seat.status == S.offline.value:
        return seat
    _refuse_uncoded(session, seat)
    _move(session, seat, S.offline, now, "offline")
    seat.pause_reason = None
    _clear_case(seat)
    audit.record(
        session,
        actor=user.username,
        action="shift.ended",
        object_type="seat",
        object_id=user.id,
        details={
            "calls": seat.shift_calls,
            "completes": seat.shift_completes,
            "talk_seconds": seat.shift_talk_seconds,
        },
        at=now,
    )
    session.flush()
    return seat


#: The audit action of a supervisor's log-out (the live feed and the supervise docs name it).
LOGGED_OUT = "seat.logged_out"


def log_out_seat(
    session: Session, user_id: int, *, actor: str, reason: str, now: dt.datetime
) -> tuple[InterviewerSeat, str]:
    """A supervisor logs out the seat of an interviewer who left; returns (seat, status before).

    ready, paused, wrap_up (the call already coded) and a preview case not dialled go offline at
    once; the previewed case goes back to the queue. A seat on a call, or with a call being placed
    for it, is refused: the respondent is on the line (or about to be) and only the interviewer can
    code the case; the supervisor pauses the district or waits for the call to end and tries again.
    The console learns it on the seat's live topic (``state`` event, status ``offline``).
    """
    now = _check_now(now)
    seat = lock_seat(session, user_id, create=False)
    was = seat.status
    if was == S.offline.value:
        raise Conflict("该座席已离线，无需签退 / this seat is already offline")
    if was == S.on_call.value or (was == S.reserved.value and seat.current_attempt_id is not None):
        raise Conflict(
            "该访问员正在通话或正在为其拨号，不能签退：请等通话结束并记录结果后再试 / "
            "the interviewer is on a call (or one is being placed): log the seat out after the call ends"
        )
    if SeatStatus(was) not in states.LOG_OUT_FROM:
        raise Conflict(f"座席状态为 {was}，不能签退 / a seat that is {was} cannot be logged out")
    if needs_code(session, seat):
        raise Conflict(
            "该座席的通话已断线但尚未编码，不能签退：请访问员编码，或等待自动编码 / "
            "the seat's dropped call is not coded yet: let the interviewer code it, or wait for auto-coding"
        )
    if was == S.reserved.value:
        _hand_back_preview(session, seat, now)
    _move(session, seat, S.offline, now, "logged out by a supervisor")
    seat.pause_reason = None
    _clear_case(seat)
    audit.record(
        session,
        actor=actor,
        action=LOGGED_OUT,
        object_type="seat",
        object_id=user_id,
        details={
            "reason": reason,
            "from": was,
            "calls": seat.shift_calls,
            "completes": seat.shift_completes,
            "talk_seconds": seat.shift_talk_seconds,
        },
        at=now,
    )
    session.flush()
    return seat, was


def preview_next(session: Session, user: User, *, now: dt.datetime) -> Case | None:
    """Preview mode: hand out the next case to this ready interviewer without dialling it."""
    now = _check_now(now)
    seat = lock_seat(session, user.id)
    if seat.status != S.ready.value:
        raise Conflict(code="seat.press_ready_first", params={"status": seat_word(seat.status)})
    assert seat.campaign_id is not None
    campaign = session.get(Campaign, seat.campaign_id)
    assert campaign is not None
    if campaign.dialling_mode != DiallingMode.preview.value:
        raise Conflict(
            code="preview.not_preview",
            params={
                "campaign": campaign.code,
                "mode": word(f"mode.{campaign.dialling_mode}", campaign.dialling_mode),
            },
        )
    c = cases.next_case(session, campaign.id, now=now, interviewer_id=user.id)
    if c is None:
        return None
    reserve_seat(session, seat, case_id=c.id, attempt_id=None, now=now)
    return c


def preview_case(session: Session, user: User) -> int:
    """The case this interviewer previews and may dial now (Conflict otherwise)."""
    seat = lock_seat(session, user.id)
    if seat.status != S.reserved.value or seat.current_case_id is None:
        raise Conflict(code="preview.no_case")
    if seat.current_attempt_id is not None:
        raise Conflict(code="preview.already_dialling")
    return seat.current_case_id


# --------------------------------------------------------------------------------------------------
# The interview, saved answer by answer
# --------------------------------------------------------------------------------------------------

INTERVIEW_ACTIONS = ("answer", "refuse", "dont_know", "back", "break_off")


def engine_params(instrument: Instrument, exc: InterviewError) -> dict[str, Any]:
    """The engine error's parameters as the interviewer reads them: an item by its number (never its
    id), the interview's state and the attempted action in words."""
    out: dict[str, Any] = {}
    for key, value in exc.params.items():
        if key in ("item", "sent") and isinstance(value, str):
            out[key] = item_label(instrument, value)
        elif key == "state":
            out[key] = word(f"state.{value}", str(value))
        elif key == "action":
            out[key] = word(f"action.{value}", str(value))
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Loaded:
    """The interview in hand: its row (locked), the engine restored from it, the instrument."""

    row: Interview
    engine: Engine
    instrument: Instrument


def load_interview(session: Session, interview_id: int, *, lock: bool = False) -> Loaded:
    """Restore an interview row into the engine (Conflict if the saved state no longer fits)."""
    # One round trip: the row and its campaign's instrument digest (the instrument is cached).
    query = (
        select(Interview, Campaign.instrument_sha256)
        .join(Campaign, Campaign.id == Interview.campaign_id)
        .where(Interview.id == interview_id)
    )
    if lock:
        query = query.with_for_update(of=Interview).execution_options(populate_existing=True)
    found = session.execute(query).first()
    if found is None:
        raise NotFound(f"interview {interview_id} not found", code="interview.cannot_resume")
    row, sha256 = found
    inst = instrument_of(session, row.campaign_id, sha256)
    try:
        engine = Engine.from_dict(inst, row.state)
    except BadSavedState as exc:
        raise Conflict(
            f"interview {row.id} cannot be resumed: {exc}", code="interview.cannot_resume"
        ) from None
    return Loaded(row, engine, inst)


def _event_kind(action: str, previous: object) -> str:
    if action == "answer" and previous is not None:
        return "change"
    return action


def _save(session: Session, loaded: Loaded, first_new_event: int) -> list[AnswerEvent]:
    """Store the engine state with a new version and log its new events, in the caller's transaction."""
    row, engine = loaded.row, loaded.engine
    row.state = engine.to_dict()
    row.version += 1
    row.disposition = engine.disposition
    events = engine.events
    added: list[AnswerEvent] = []
    for seq in range(first_new_event, len(events)):
        ev = events[seq]
        value = None if ev.value is None else str(ev.value)
        added.append(
            AnswerEvent(
                interview_id=row.id,
                seq=seq,
                item_id=ev.item or "",
                kind=_event_kind(ev.action.value, ev.previous),
                value=value,
                at=ev.at,
            )
        )
    session.add_all(added)
    session.flush()
    return added


def _event_details(loaded: Loaded, ev: AnswerEvent) -> dict[str, Any]:
    """An answer event for the audit log: a closed answer in clear, free text only as its SHA-256."""
    out: dict[str, Any] = {"seq": ev.seq, "item_id": ev.item_id, "kind": ev.kind}
    if ev.value is not None:
        if _is_text(loaded.instrument, ev.item_id):
            out["value_sha256"] = ledger.sha256_text(ev.value)
        else:
            out["value"] = ev.value
    return out


def _is_text(instrument: Instrument, item_id: str) -> bool:
    try:
        return instrument.item(item_id).kind is ItemKind.TEXT
    except KeyError:
        return True  # unknown item: treat as free text, never in clear


def _record_save(
    session: Session, loaded: Loaded, added: list[AnswerEvent], *, actor: str, action: str, now: dt.datetime
) -> None:
    """One audit entry per save (one key press): its events and the interview row as written."""
    row = loaded.row
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="interview",
        object_id=row.id,
        details={
            "version": row.version,
            "events": [_event_details(loaded, ev) for ev in added],
        },
        at=now,
        bind=[*added, row],
    )


def interview_action(
    session: Session,
    user: User,
    *,
    action: str,
    version: int,
    now: dt.datetime,
    item_id: str | None = None,
    value: str | int | float | None = None,
) -> Loaded:
    """Apply one key press to the interview in hand and save it at once.

    ``version`` is the one the console last saw: a stale one (another tab, a double submit) is a
    409 naming the current version. A wrong state or item is 409, a value that does not fit 422.
    """
    now = _check_now(now)
    if action not in INTERVIEW_ACTIONS:
        raise Invalid(code="interview.unknown_action", params={"action": action})
    _ensure_open_for_seat(session, user.id)
    seat = lock_seat(session, user.id)
    in_hand = seat.status == S.on_call.value or needs_code(session, seat)  # notes after a drop
    if not in_hand or seat.current_interview_id is None:
        raise Conflict(code="seat.no_interview", params={"status": seat_word(seat.status)})
    loaded = load_interview(session, seat.current_interview_id, lock=True)
    if loaded.row.version != version:
        raise Conflict(
            code="interview.stale_version", params={"current": loaded.row.version, "sent": version}
        )
    engine = loaded.engine
    before = len(engine.events)
    try:
        if action == "answer":
            if item_id is None or value is None:
                raise Invalid(code="interview.needs_value")
            engine.answer(item_id, value, now)
        elif action == "refuse":
            engine.refuse(now, item_id=item_id)
        elif action == "dont_know":
            engine.dont_know(now, item_id=item_id)
        elif action == "back":
            engine.back(now)
        else:
            engine.break_off(now)
    except InvalidAnswer as exc:
        raise Invalid(code=exc.code, params=engine_params(loaded.instrument, exc)) from None
    except InvalidAction as exc:
        raise Conflict(code=exc.code, params=engine_params(loaded.instrument, exc)) from None
    added = _save(session, loaded, before)
    kind = added[-1].kind if added else action
    _record_save(session, loaded, added, actor=user.username, action=f"interview.{kind}", now=now)
    return loaded


# --------------------------------------------------------------------------------------------------
# Dispositions: the interviewer's choice -> an AAPOR code for the case service
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One entry of the console's disposition picker."""

    code: str  # the console's name
    aapor: str  # the AAPOR code recorded (engine's own code for ``screened_out``)
    zh: str
    en: str
    key: str  # keyboard key in the picker
    needs_time: bool = False
    #: The interview in hand is kept unfinished to be resumed on the next call.
    resumable: bool = False


CHOICES: tuple[Choice, ...] = (
    Choice("complete", "1.1", "完成访问", "Complete", "1"),
    Choice("screened_out", "4.70", "甄别不合格", "Screened out (not eligible)", "2"),
    Choice("refusal", "2.111", "拒访", "Refusal", "3"),
    Choice("break_off", "2.12", "中途中断", "Break-off", "4"),
    Choice("appointment", "2.21", "预约再访", "Appointment", "5", needs_time=True, resumable=True),
    Choice("callback", "2.35", "不便受访，稍后再打", "Not convenient, call again later", "6", resumable=True),
    Choice("answering_machine", "3.14", "答录机", "Answering machine", "7"),
    Choice("fax", "4.20", "传真/数据线路", "Fax or data line", "8"),
    Choice("business", "4.51", "单位电话", "Business number", "9"),
    Choice("non_working", "4.31", "空号", "Non-working number", "0"),
    Choice("language", "2.33", "语言障碍", "Language problem", "L"),
    Choice("no_eligible", "4.70", "无合格受访者", "No eligible person", "E"),
    Choice("unable", "2.32", "身体或精神原因无法受访", "Physically or mentally unable", "U"),
    Choice("partial", "1.2", "部分完成", "Partial interview", "P"),
    Choice("no_screener", "3.21", "接通后挂断(未甄别)", "Hung up before screening", "H"),
)
CHOICE_BY_CODE: Mapping[str, Choice] = {c.code: c for c in CHOICES}


def rule_choice(engine: Engine) -> str | None:
    """The picker entry the scoring policy points to for a finished interview (None while asking)."""
    verdict = engine.verdict
    if verdict is None:
        return None
    if engine.state is State.SCREENED_OUT:
        return "screened_out"
    return {"1.1": "complete", "1.2": "partial"}.get(verdict.disposition, "break_off")


def _aapor_for(choice: Choice, engine: Engine) -> str:
    """The AAPOR code for the interviewer's choice, checked against the scoring policy's verdict.

    A reached interview that ends here (the caller has broken it off) is judged by
    ``questionnaire.validity.judge``: a 1.1 or 1.2 verdict is recorded whatever key was pressed,
    so the stored code, the scores and responses.csv never disagree.
    """
    verdict = engine.verdict  # None: still asking, kept for the next call
    label = engine.instrument.policy.label
    if choice.code == "complete":
        if verdict is None or verdict.disposition != "1.1":
            raise Conflict(
                code="disposition.not_complete",
                params={
                    "rule": label,
                    "scored": len(engine.instrument.scored_items),
                    "rated": 0 if verdict is None else verdict.rated,
                },
            )
        return "1.1"
    if choice.code == "screened_out":
        if engine.state is not State.SCREENED_OUT:
            raise Conflict(code="disposition.not_screened_out")
        return engine.disposition or choice.aapor
    if choice.code == "partial" and engine.eligible is not True:
        raise Conflict(code="disposition.partial_needs_screening")
    if verdict is not None and verdict.disposition in ("1.1", "1.2"):
        if choice.needs_time:  # an ended questionnaire has nothing left to ask at an appointment
            raise Conflict(
                code="disposition.ended_no_appointment",
                params={"rule": label, "disposition": verdict.disposition},
            )
        return verdict.disposition  # the rule decides a questionnaire's code
    if choice.code == "partial":
        raise Conflict(
            code="disposition.not_partial",
            params={"rule": label, "partial": engine.instrument.policy.partial},
        )
    if choice.code == "refusal" and engine.eligible is True:
        return "2.112"  # the eligible respondent refused
    return choice.aapor


def _suggestions(engine: Engine, instrument: Instrument) -> str | None:
    texts = [
        str(a.value)
        for item_id, a in engine.answers.items()
        if instrument.item(item_id).kind is ItemKind.TEXT and a.value not in (None, "")
    ]
    return "\n".join(texts) or None


def record_disposition(
    session: Session,
    user: User,
    *,
    code: str,
    now: dt.datetime,
    appointment_at: dt.datetime | None = None,
    same_interviewer: bool = False,
    note: str | None = None,
    completed_elsewhere: bool = False,
    actor: str | None = None,
) -> tuple[InterviewerSeat, int | None]:
    """The interviewer codes the call: on_call -> wrap_up. Returns the seat and the attempt to hang up.

    The choice is mapped to an AAPOR code and handed to ``record_interviewer_outcome`` (which
    schedules a retry or appointment, or closes the case and counts a complete). The interview is
    finished unless the choice keeps it for the next call (appointment, call later) while it is
    still asking; a still-open call is closed here and its attempt id returned for the dialer.

    A seat in ``wrap_up`` whose dropped call is not coded yet (``needs_code``) codes it here too.
    When actions were saved after the line dropped, a 1.1 or 1.2 needs ``completed_elsewhere``
    (the respondent called back / completed by other means: audited), else 409
    ``disposition.line_dropped``; any other choice records its own code and the interview is not
    valid for scoring. ``actor`` is the automatic coder's name (default: the interviewer).
    """
    who = actor or user.username
    now = _check_now(now)
    choice = CHOICE_BY_CODE.get(code)
    if choice is None:
        raise Invalid(code="disposition.unknown", params={"code": code})
    if choice.needs_time and appointment_at is None:
        raise Invalid(code="disposition.needs_time")
    if not choice.needs_time and appointment_at is not None:
        raise Invalid(code="disposition.takes_no_time", params={"choice": localized(choice.zh, choice.en)})
    if note is not None and len(note) > 2000:
        raise Invalid(code="disposition.note_too_long", params={"max": 2000})
    _ensure_open_for_seat(session, user.id)
    seat = lock_seat(session, user.id)
    was_on_call = seat.status == S.on_call.value
    if not (was_on_call or needs_code(session, seat)) or seat.current_case_id is None:
        raise Conflict(code="seat.no_call_to_code", params={"status": seat_word(seat.status)})
    dropped_at = line_dropped_at(session, seat)
    c = session.get(Case, seat.current_case_id)
    assert c is not None
    loaded = None
    added: list[AnswerEvent] = []
    if seat.current_interview_id is not None:
        loaded = load_interview(session, seat.current_interview_id, lock=True)
    aapor = choice.aapor
    before = 0
    dead_line = False
    if loaded is not None:
        before = len(loaded.engine.events)
        if not loaded.engine.is_final and not choice.resumable:
            loaded.engine.break_off(now)  # ends here: the rule judges it as it stands
        aapor = _aapor_for(choice, loaded.engine)
        after_drop = 0 if dropped_at is None else saved_after_drop(session, loaded.row.id, dropped_at)
        if after_drop and aapor in ("1.1", "1.2") and not completed_elsewhere:
            if choice.code in ("complete", "partial"):
                raise Conflict(code="disposition.line_dropped", params={"after": after_drop})
            aapor = choice.aapor  # the rule cannot vouch for answers taken on a dead line
            dead_line = True
    elif choice.code in {"complete", "screened_out", "partial"}:
        raise Conflict(code="disposition.no_interview", params={"choice": localized(choice.zh, choice.en)})
    cases.record_interviewer_outcome(
        session,
        c,
        disposition_code=aapor,
        now=now,
        appointment_at=appointment_at,
        appointment_interviewer_id=user.id if (same_interviewer and appointment_at) else None,
        note=note,
        actor=who,
    )
    if loaded is not None:
        engine, row = loaded.engine, loaded.row
        keep = choice.resumable and not engine.is_final
        if not keep:
            added = _save(session, loaded, before)
            row.finished = True
            row.ended_at = now
            row.disposition = aapor
            # the rule: 1.1 exactly when valid (never for answers taken on a dead line)
            row.valid_for_scoring = engine.valid_for_scoring and not dead_line
            row.scoring_rule = loaded.instrument.policy.label
            row.score_row = engine.score_row()
            row.problems_text = _suggestions(engine, loaded.instrument)
    hang_up: int | None = None
    talk = 0
    attempt = None
    if seat.current_attempt_id is not None:
        attempt = session.get(Attempt, seat.current_attempt_id)
        if attempt is not None:
            if attempt.ended_at is None:
                cases.record_call_result(session, attempt, outcome="answered", now=now, actor=who)
                hang_up = attempt.id
            start = _aware(attempt.connected_at) or _aware(attempt.answered_at)
            end = _aware(attempt.ended_at) or now
            if start is not None:
                talk = max(0, int((end - start).total_seconds()))
    seat.shift_talk_seconds += talk
    if aapor == "1.1":
        seat.shift_completes += 1
        announce_dialling_finished(session, c.campaign_id)  # the last complete fills the last cell
    if was_on_call:
        _move(session, seat, S.wrap_up, now, f"coded {aapor}")
    else:  # coded from wrap_up (the line had dropped): the seat's wrap-up starts now
        seat.status_since = now
        seat.updated_at = now
        _notify(session, seat, f"coded {aapor}")
    audit.record(
        session,
        actor=who,
        action="console.disposition",
        object_type="case",
        object_id=c.id,
        details={
            "choice": choice.code,
            "disposition": aapor,
            "attempt_id": seat.current_attempt_id,
            "interview_id": seat.current_interview_id,
            "appointment_at": appointment_at.isoformat() if appointment_at else None,
            "same_interviewer": bool(same_interviewer and appointment_at),
            "line_dropped_at": dropped_at.isoformat() if dropped_at else None,
            "completed_elsewhere": completed_elsewhere,
            "dead_line": dead_line,
            **_interview_outcome(loaded, added),
        },
        at=now,
        bind=[*added, loaded.row if loaded else None, attempt],
    )
    session.flush()
    return seat, hang_up


#: The actor of dispositions recorded by ``auto_code``.
AUTO_CODER = "system:recovery"


def auto_choice(session: Session, seat: InterviewerSeat) -> str:
    """What the automatic coder records for a dropped call nobody coded (docs/recovery.md).

    No interview: hung up before screening (3.21). An interview still asking: ``callback`` (2.35),
    the interview kept to be resumed on the next call. An ended interview: the scoring policy's
    choice, but a 1.1/1.2 only when nothing was saved after the line dropped (else break-off).
    """
    if seat.current_interview_id is None:
        return "no_screener"
    loaded = load_interview(session, seat.current_interview_id)
    if not loaded.engine.is_final:
        return "callback"
    choice = rule_choice(loaded.engine) or "break_off"
    dropped_at = line_dropped_at(session, seat)
    if (
        choice in ("complete", "partial")
        and dropped_at is not None
        and saved_after_drop(session, loaded.row.id, dropped_at)
    ):
        return "break_off"
    return choice


def auto_code(session: Session, user_id: int, *, now: dt.datetime) -> str | None:
    """Code the dropped call of a ``wrap_up`` seat nobody coded in time; returns the choice (or None)."""
    now = _check_now(now)
    _ensure_open_for_seat(session, user_id)
    seat = lock_seat(session, user_id, create=False)
    if not needs_code(session, seat):
        return None
    user = session.get(User, user_id)
    assert user is not None
    choice = auto_choice(session, seat)
    record_disposition(session, user, code=choice, now=now, actor=AUTO_CODER)
    return choice


def _scored_for_log(instrument: Instrument, scored: dict[str, Any] | None) -> dict[str, Any] | None:
    """The scored row with every open (text) answer replaced by ``sha256:<hex>``."""
    if scored is None:
        return None
    keep = {"stratum"}  # the one cell that is no item: the case's stratum code
    return {
        k: (
            f"sha256:{ledger.sha256_text(str(v))}"
            if k not in keep and v not in (None, "") and _is_text(instrument, k)
            else v
        )
        for k, v in scored.items()
    }


def _interview_outcome(loaded: Loaded | None, added: list[AnswerEvent]) -> dict[str, Any]:
    """What the disposition did to the interview, for the audit log (problems text only hashed)."""
    if loaded is None:
        return {}
    row = loaded.row
    return {
        "finished": row.finished,
        "interview_disposition": row.disposition,
        "valid_for_scoring": row.valid_for_scoring,
        "score_row": _scored_for_log(loaded.instrument, row.score_row),
        "problems_sha256": ledger.sha256_text(row.problems_text),
        "events": [_event_details(loaded, ev) for ev in added],
    }


def hang_up(session: Session, user: User, *, now: dt.datetime) -> int | None:
    """The interviewer ends the call from the console; the case stays in hand to be coded.

    Returns the attempt id for the dialer to hang up (None when the line was already down).
    """
    now = _check_now(now)
    seat = lock_seat(session, user.id)
    if seat.status != S.on_call.value or seat.current_attempt_id is None:
        raise Conflict(code="seat.no_call_to_hang_up", params={"status": seat_word(seat.status)})
    attempt = session.get(Attempt, seat.current_attempt_id)
    if attempt is None or attempt.ended_at is not None:
        return None
    cases.record_call_result(session, attempt, outcome="answered", now=now, actor=user.username)
    call_ended(session, attempt_id=attempt.id, now=now)
    return attempt.id


def finish_wrap_up(session: Session, user: User, *, now: dt.datetime) -> InterviewerSeat:
    """Wrap-up done: wrap_up -> ready for the next call."""
    now = _check_now(now)
    seat = lock_seat(session, user.id)
    if seat.status != S.wrap_up.value:
        raise Conflict(code="seat.not_wrap_up", params={"status": seat_word(seat.status)})
    _refuse_uncoded(session, seat)
    _move(session, seat, S.ready, now, "next call")
    _clear_case(seat)
    session.flush()
    return seat
