"""The close of fieldwork, in one transaction: every door that closes a campaign comes here.

Order matters: the campaign row is locked first (``FOR UPDATE``), so the dialer places nothing new
(``next_case`` and every writer take the row for share: see ``cati.campaigns.freeze``); then the
calls still in hand are coded (refused without ``force`` while any is live), every open case gets
its final code, the final results are computed once and sealed with their SHA-256, the reason and
the summary go into the audit log, and ``change_status`` closes the campaign last (its audit entry
ends the close). The caller commits; any error rolls the whole close back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati import audit
from cati.campaigns.freeze import CampaignClosed
from cati.campaigns.service import change_status, get_campaign
from cati.campaigns.states import check_transition
from cati.cases import service as cases
from cati.console import service as console
from cati.errors import Conflict, Invalid
from cati.models import (
    Attempt,
    CampaignClosure,
    CampaignStatus,
    Case,
    CaseStatus,
    Interview,
    InterviewerSeat,
    SeatStatus,
    User,
)
from cati.results.sealed import canonical_json, digest
from cati.results.service import campaign_results
from questionnaire.engine import State

MAX_REASON = 2000


@dataclass
class CloseSummary:
    """What the close did (also the audit entry's ``summary``)."""

    interviews_broken_off: dict[str, int] = field(default_factory=dict)
    calls_ended: dict[str, int] = field(default_factory=dict)
    cases_handed_back: int = 0
    cases_finalised: dict[str, int] = field(default_factory=dict)
    seats_released: int = 0
    #: Attempts whose line may still be up at the PBX: the dialer hangs them up after commit.
    hang_up: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "interviews_broken_off": self.interviews_broken_off,
            "calls_ended": self.calls_ended,
            "cases_handed_back": self.cases_handed_back,
            "cases_finalised": self.cases_finalised,
            "seats_released": self.seats_released,
        }


@dataclass(frozen=True)
class CloseResult:
    campaign_id: int
    code: str
    summary: CloseSummary
    results_sha256: str


def _count(counts: dict[str, int], code: str) -> None:
    counts[code] = counts.get(code, 0) + 1


def _choice_by_engine(session: Session, seat: InterviewerSeat, now: dt.datetime) -> str:
    """The console choice for an interview on the line when the close ends it.

    ``record_disposition`` breaks the interview off and records the scoring policy's verdict
    whatever key is pressed when it is a questionnaire (1.1/1.2), so only the rest is chosen here:
    a screen-out stays one; before screening passed the close, not the respondent, ended the call
    (3.21, answered, eligibility unknown: never a refusal charged to the household); an eligible
    respondent who answered nothing substantive is the respondent's refusal (2.112), else 2.12.
    """
    if seat.current_interview_id is None:
        return "no_screener"
    engine = console.load_interview(session, seat.current_interview_id).engine
    if engine.state is State.SCREENED_OUT:
        return "screened_out"
    if engine.eligible is not True:
        return "no_screener"
    if not engine.is_final:
        engine.break_off(now)  # a copy: the console's own disposition saves the real break-off
    return "refusal" if engine.disposition == "2.11" else "break_off"


def _live(session: Session, campaign_id: int) -> tuple[list[InterviewerSeat], list[Attempt], list[Case]]:
    seats = list(
        session.execute(
            select(InterviewerSeat)
            .join(Case, Case.id == InterviewerSeat.current_case_id)
            .where(Case.campaign_id == campaign_id, InterviewerSeat.status == SeatStatus.on_call.value)
            .order_by(InterviewerSeat.user_id)
        ).scalars()
    )
    attempts = list(
        session.execute(
            select(Attempt)
            .where(Attempt.campaign_id == campaign_id, Attempt.ended_at.is_(None))
            .order_by(Attempt.id)
        ).scalars()
    )
    in_call = list(
        session.execute(
            select(Case)
            .where(
                Case.campaign_id == campaign_id,
                Case.status.in_([CaseStatus.dialling.value, CaseStatus.interviewing.value]),
            )
            .order_by(Case.id)
        ).scalars()
    )
    return seats, attempts, in_call


def close_campaign(
    session: Session, campaign_id: int, *, reason: str, force: bool, actor: str, now: dt.datetime
) -> CloseResult:
    """Close fieldwork of ``campaign_id`` (see the module docstring); flushes, never commits."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("必须填写结束原因 / a reason for the close is required")
    if len(reason) > MAX_REASON:
        raise Invalid(f"结束原因超过 {MAX_REASON} 个字符 / the reason is longer than {MAX_REASON} characters")
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status == CampaignStatus.closed.value:
        raise CampaignClosed(
            f"调查活动 {campaign.code} 已经结束，不能再次结束 / campaign {campaign.code} is already closed"
        )
    if campaign.status != CampaignStatus.fieldwork.value:
        try:
            check_transition(CampaignStatus(campaign.status), CampaignStatus.closed)
        except Conflict as exc:
            raise type(exc)(
                f"调查活动 {campaign.code} 状态为 {campaign.status}，只有实地访问中的活动可以结束 / "
                f"{exc.detail}"
            ) from None
    seats, attempts, in_call = _live(session, campaign_id)
    interviewing = sum(1 for c in in_call if c.status == CaseStatus.interviewing.value)
    live_interviews = max(len(seats), interviewing)
    if (live_interviews or attempts) and not force:
        raise Conflict(
            f"调查活动 {campaign.code} 还有 {live_interviews} 个访问正在进行、{len(attempts)} 个呼叫未结束，"
            f"不能结束；等待其结束，或使用 --force 强制结束 / campaign {campaign.code} has "
            f"{live_interviews} interview(s) on the line and {len(attempts)} call(s) in progress: "
            "wait for them or close with force"
        )
    summary = CloseSummary()
    # 1. Interviews on the line: broken off and coded by the interview's own state; seat -> wrap_up.
    for seat in seats:
        user = session.get(User, seat.user_id)
        assert user is not None
        _, hang_up = console.record_disposition(
            session, user, code=_choice_by_engine(session, seat, now), now=now
        )
        coded = session.get(Attempt, seat.current_attempt_id) if seat.current_attempt_id else None
        _count(summary.interviews_broken_off, (coded.disposition if coded else None) or "?")
        summary.seats_released += 1
        if hang_up is not None:
            summary.hang_up.append(hang_up)
    # 2. Calls still ringing or answered but never bridged: ended and coded like a lost call.
    for a in session.execute(
        select(Attempt)
        .where(Attempt.campaign_id == campaign_id, Attempt.ended_at.is_(None))
        .order_by(Attempt.id)
        .execution_options(populate_existing=True)
    ).scalars():
        code = "3.21" if a.answered_at is not None else "3.16"
        cases.record_call_result(session, a.id, outcome="lost", disposition=code, now=now, actor=actor)
        had_seat = session.execute(
            select(InterviewerSeat.user_id).where(InterviewerSeat.current_attempt_id == a.id)
        ).scalar_one_or_none()
        console.call_ended(session, attempt_id=a.id, now=now)
        summary.seats_released += had_seat is not None
        _count(summary.calls_ended, code)
        summary.hang_up.append(a.id)
    # 3. Cases still in a call with no seat or attempt left (a preview on screen, a lost seat).
    orphans: list[Interview] = []  # interviews ended here: bound by the close's own audit entry
    for c in session.execute(
        select(Case)
        .where(
            Case.campaign_id == campaign_id,
            Case.status.in_([CaseStatus.dialling.value, CaseStatus.interviewing.value]),
        )
        .order_by(Case.id)
        .execution_options(populate_existing=True)
    ).scalars():
        for seat in session.execute(
            select(InterviewerSeat).where(
                InterviewerSeat.current_case_id == c.id, InterviewerSeat.status == SeatStatus.reserved.value
            )
        ).scalars():
            console.release_seat(session, seat.user_id, now=now, reason="campaign closed")
            summary.seats_released += 1
        if c.status == CaseStatus.dialling.value:
            cases.release_case(session, c, now=now)
            summary.cases_handed_back += 1
            continue
        row = session.execute(
            select(Interview).where(Interview.case_id == c.id, Interview.finished.is_(False))
        ).scalar_one_or_none()
        eligible = False
        if row is not None:
            loaded = console.load_interview(session, row.id, lock=True)
            eligible = loaded.engine.eligible is True
        code = "2.12" if eligible else "3.21"
        cases.record_interviewer_outcome(session, c, disposition_code=code, now=now, actor=actor)
        if row is not None:
            row.finished = True
            row.ended_at = now
            row.disposition = code
            row.valid_for_scoring = False
            orphans.append(row)
        _count(summary.interviews_broken_off, code)
    # 4. Every open case gets its final code (3.11 never dialled; otherwise by precedence).
    summary.cases_finalised = cases.finalise_open_cases(session, campaign_id, now=now, actor=actor)
    if summary.cases_finalised.get("in_call"):
        raise Conflict(f"campaign {campaign.code}: cases still in a call after close; nothing was closed")
    # 5. The final results, computed once and sealed.
    results = campaign_results(session, campaign_id)
    results["campaign"]["status"] = CampaignStatus.closed.value
    sha = digest(results)
    session.add(
        CampaignClosure(
            campaign_id=campaign_id,
            closed_at=now,
            actor=actor,
            reason=reason,
            summary=summary.as_json(),
            results_json=canonical_json(results).decode("utf-8"),
            results_sha256=sha,
        )
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="campaign.closed",
        object_type="campaign",
        object_id=campaign_id,
        details={
            "code": campaign.code,
            "reason": reason,
            "force": force,
            "summary": summary.as_json(),
            "results_sha256": sha,
        },
        at=now,
        bind=orphans,
    )
    # 6. Last: the status change (seed revealed, and its own audit entry / checkpoint).
    change_status(session, campaign_id, CampaignStatus.closed, actor=actor)
    # Every interviewer still at a seat of this campaign is told at once (after commit).
    console.announce_dialling_finished(session, campaign_id, cases.FINISHED_CLOSED)
    return CloseResult(campaign_id, campaign.code, summary, sha)
