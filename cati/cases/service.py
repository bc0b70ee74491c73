"""Case service: release sample, hand out the next case, record attempts and outcomes.

Why it is shaped this way: a number must never be in two calls at once and never be dialled twice
except by a scheduled retry, also with several dialer processes on PostgreSQL. So:

* ``next_case`` selects the best diallable case with ``FOR UPDATE OF cases SKIP LOCKED`` and marks
  it ``dialling`` in the same transaction: a competing transaction either skips the locked row or,
  once ours commits, re-checks the row and finds it no longer diallable. On SQLite the write
  transaction is already exclusive (``BEGIN IMMEDIATE``).
* every status change goes through ``cati.cases.states.transition`` (one table);
* only ``pending``/``scheduled`` cases are handed out, and a case in ``dialling`` or ``interviewing``
  leaves it only through a call result, an interviewer's outcome, a hand-back without attempt or
  reconciliation after a PBX reconnect;
* releases take a row lock on the district and advance its ``sample_position``; quota completes
  are counted under a row lock on the quota cell.

Services only flush; the caller commits (one transaction per step).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from cati import audit
from cati.campaigns.freeze import ensure_open, refuse_if_closed, share_lock
from cati.cases import states
from cati.cases.sample import district_numbers, frame_size
from cati.errors import Conflict, Invalid, NotFound
from cati.models import (
    Attempt,
    Campaign,
    CampaignStatus,
    Case,
    CaseStatus,
    District,
    ExchangePrefix,
    InterviewerSeat,
    QuotaCell,
)
from dialer.ami.outcomes import CallOutcome
from dialer.dispositions import UnknownCallOutcome, call_disposition, counts_as_attempt
from dialer.schedule import (
    REFUSAL_CODES,
    CallingWindows,
    Next,
    RetryReason,
    ScheduleConfigError,
    SchedulingRules,
    UnknownDisposition,
    decide_after_attempt,
    final_disposition,
    start_of_next_local_day,
)
from dialer.schedule import disposition as _disposition_entry

SYSTEM = audit.SYSTEM_ACTOR


# --------------------------------------------------------------------------------------------------
# Campaign context
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRules:
    """A campaign with its parsed calling windows and scheduling rules."""

    campaign: Campaign
    windows: CallingWindows
    rules: SchedulingRules


def campaign_rules(session: Session, campaign_id: int) -> CampaignRules:
    """Load a campaign and parse its windows and rules (Invalid names a malformed field)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} not found")
    try:
        windows = CallingWindows.from_json(campaign.calling_windows, campaign.timezone)
        rules = SchedulingRules.from_json(campaign.scheduling)
    except ScheduleConfigError as exc:
        raise Invalid(f"campaign {campaign.code}: {exc}") from None
    return CampaignRules(campaign, windows, rules)


def _touch(case: Case, now: dt.datetime) -> None:
    """Stamp ``updated_at`` with the service's ``now`` (also when equal, so onupdate's clock never wins)."""
    case.updated_at = now
    flag_modified(case, "updated_at")


def _check_now(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC)


# --------------------------------------------------------------------------------------------------
# Sample release
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseResult:
    """One replicate released into a district and stratum."""

    district_id: int
    stratum: str
    replicate: int
    first_position: int
    next_position: int
    case_ids: list[int] = field(default_factory=list)
    #: Positions whose number was already a case of the campaign (never expected; skipped).
    skipped: int = 0


def _locked_district(session: Session, campaign_id: int, district_id: int) -> District:
    district = session.execute(
        select(District)
        .where(District.id == district_id, District.campaign_id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if district is None:
        raise NotFound(f"district {district_id} not found in campaign {campaign_id}")
    return district


def _prefixes(session: Session, district_id: int) -> list[str]:
    return list(
        session.execute(select(ExchangePrefix.prefix).where(ExchangePrefix.district_id == district_id))
        .scalars()
        .all()
    )


def _release_locked(
    session: Session,
    campaign: Campaign,
    district: District,
    stratum: str,
    count: int,
    now: dt.datetime,
    actor: str,
) -> ReleaseResult:
    prefixes = _prefixes(session, district.id)
    start = district.sample_position
    numbers = district_numbers(
        seed_hex=campaign.seed_hex,
        district_code=district.code,
        prefixes=prefixes,
        suffix_digits=district.suffix_digits,
        start=start,
        count=count,
    )
    existing = set(
        session.execute(
            select(Case.phone_number).where(Case.campaign_id == campaign.id, Case.phone_number.in_(numbers))
        )
        .scalars()
        .all()
    )
    replicate = (
        session.execute(select(func.max(Case.replicate)).where(Case.district_id == district.id)).scalar() or 0
    ) + 1
    new_cases = [
        Case(
            campaign_id=campaign.id,
            district_id=district.id,
            stratum=stratum,
            phone_number=number,
            sample_position=start + i,
            replicate=replicate,
            bank=number[:-2],
            status=CaseStatus.pending.value,
            created_at=now,
            updated_at=now,
        )
        for i, number in enumerate(numbers)
        if number not in existing
    ]
    session.add_all(new_cases)
    district.sample_position = start + count
    session.flush()
    result = ReleaseResult(
        district.id, stratum, replicate, start, start + count, [c.id for c in new_cases], len(existing)
    )
    audit.record(
        session,
        actor=actor,
        action="sample.released",
        object_type="district",
        object_id=district.id,
        details={
            "campaign_id": campaign.id,
            "stratum": stratum,
            "replicate": replicate,
            "positions": [start, start + count],
            "cases": len(new_cases),
            "skipped": len(existing),
        },
        at=now,
    )
    return result


def release_sample(
    session: Session,
    campaign_id: int,
    district_id: int,
    stratum: str,
    count: int,
    now: dt.datetime,
    *,
    actor: str = SYSTEM,
) -> ReleaseResult:
    """Release the next ``count`` positions of the district's ordered RDD sample as one replicate.

    Takes a row lock on the district, so concurrent releases hand out disjoint positions; the
    unique (campaign, phone number) constraint backs that up. Raises Invalid when the stratum has
    no quota cell in the district, the count is not positive, or the frame is used up.
    """
    now = _check_now(now)
    if count <= 0:
        raise Invalid(f"count must be positive, got {count}")
    ensure_open(session, campaign_id)
    ctx = campaign_rules(session, campaign_id)
    if stratum not in ctx.windows.by_stratum:
        raise Invalid(f"unknown stratum {stratum!r}")
    district = _locked_district(session, campaign_id, district_id)
    cell = session.execute(
        select(QuotaCell.id).where(QuotaCell.district_id == district_id, QuotaCell.stratum == stratum)
    ).scalar_one_or_none()
    if cell is None:
        raise Invalid(f"district {district.code!r} has no quota cell for stratum {stratum!r}")
    return _release_locked(session, ctx.campaign, district, stratum, count, now, actor)


def top_up(
    session: Session, campaign_id: int, now: dt.datetime, *, actor: str = SYSTEM
) -> list[ReleaseResult]:
    """Release another replicate into every quota cell that is not full and runs low on open cases.

    "Low" is fewer than ``scheduling.topup_min_open`` cases not yet finalised; the replicate has
    ``scheduling.topup_batch`` numbers (fewer when the district's frame is nearly used up). The
    count is taken under the district's row lock, so two dialers topping up at once release once.
    """
    now = _check_now(now)
    ensure_open(session, campaign_id)
    ctx = campaign_rules(session, campaign_id)
    cells = (
        session.execute(
            select(QuotaCell)
            .where(
                QuotaCell.campaign_id == campaign_id,
                QuotaCell.completes < QuotaCell.target,
                QuotaCell.closed_at.is_(None),
            )
            .order_by(QuotaCell.district_id, QuotaCell.stratum)
        )
        .scalars()
        .all()
    )
    out: list[ReleaseResult] = []
    for cell in cells:
        district = _locked_district(session, campaign_id, cell.district_id)
        open_cases = session.execute(
            select(func.count())
            .select_from(Case)
            .where(
                Case.district_id == cell.district_id,
                Case.stratum == cell.stratum,
                Case.status != CaseStatus.finalised.value,
            )
        ).scalar_one()
        if open_cases >= ctx.rules.topup_min_open:
            continue
        size = frame_size(district.code, _prefixes(session, district.id), district.suffix_digits)
        left = size - district.sample_position
        count = min(ctx.rules.topup_batch, left)
        if count <= 0:
            continue
        out.append(_release_locked(session, ctx.campaign, district, cell.stratum, count, now, actor))
    return out


# --------------------------------------------------------------------------------------------------
# Handing out cases
# --------------------------------------------------------------------------------------------------


def next_case(
    session: Session,
    campaign_id: int,
    *,
    now: dt.datetime,
    stratum: str | None = None,
    district_id: int | None = None,
    interviewer_id: int | None = None,
) -> Case | None:
    """The case to dial next, already marked ``dialling``; None when nothing may be dialled now.

    Eligible: the campaign is in fieldwork; the case is pending or scheduled and due
    (``next_call_at <= now``), not blocked, under its attempt limit; its quota cell is open
    (completes < target) and not closed by hand; neither the campaign nor the case's district is
    paused by a supervisor; it has no call still up; its stratum's calling window is open now, or
    it has an appointment due (the respondent chose the time). An appointment kept for one
    interviewer goes only to that interviewer until ``appointment_grace_minutes`` have passed.

    Order: appointments due first; then the quota cell furthest from its target (completes /
    target); within a cell retries due (earliest first) before fresh numbers (in sample order).
    Ties between cells fall to sample position, which interleaves districts.
    """
    now = _check_now(now)
    if share_lock(session, campaign_id)[1] != CampaignStatus.fieldwork.value:
        return None  # closing or closed: nothing new is placed (the close holds the row lock)
    ctx = campaign_rules(session, campaign_id)
    if ctx.campaign.dialling_paused_at is not None:
        return None  # a supervisor paused dialling (cati/controls/): calls in progress finish
    rules = ctx.rules
    open_strata = ctx.windows.open_strata(now)
    appointment_due = and_(Case.appointment_at.is_not(None), Case.appointment_at <= now)
    reserved_ok = or_(
        Case.appointment_interviewer_id.is_(None),
        Case.appointment_at <= now - rules.appointment_grace(),
        (Case.appointment_interviewer_id == interviewer_id) if interviewer_id is not None else false(),
    )
    under_limit = or_(
        Case.attempts_count < rules.max_attempts,
        and_(
            Case.appointment_at.is_not(None),
            Case.attempts_count < rules.attempt_limit(has_appointment=True),
        ),
    )
    progress = case(
        (QuotaCell.target > 0, QuotaCell.completes * 1.0 / QuotaCell.target),
        else_=1.0,
    )
    query = (
        select(Case)
        .join(
            QuotaCell,
            and_(QuotaCell.district_id == Case.district_id, QuotaCell.stratum == Case.stratum),
        )
        .where(
            Case.campaign_id == campaign_id,
            Case.status.in_([s.value for s in states.DIALLABLE]),
            or_(Case.next_call_at.is_(None), Case.next_call_at <= now),
            or_(Case.blocked_until.is_(None), Case.blocked_until <= now),
            under_limit,
            QuotaCell.completes < QuotaCell.target,
            QuotaCell.closed_at.is_(None),  # closed by hand (cati/controls/): as if full
            ~select(District.id)
            .where(District.id == Case.district_id, District.dialling_paused_at.is_not(None))
            .exists(),
            or_(Case.stratum.in_(open_strata), appointment_due),
            reserved_ok,
            # An interviewer may schedule a case while its call is still up: not until it ends.
            ~select(Attempt.id).where(Attempt.case_id == Case.id, Attempt.ended_at.is_(None)).exists(),
        )
        .order_by(
            case((appointment_due, 0), else_=1),
            progress,
            case((Case.status == CaseStatus.pending.value, 1), else_=0),
            Case.next_call_at,
            Case.sample_position,
            Case.id,
        )
        .limit(1)
        .with_for_update(of=Case, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    if stratum is not None:
        query = query.where(Case.stratum == stratum)
    if district_id is not None:
        query = query.where(Case.district_id == district_id)
    chosen = session.execute(query).scalar_one_or_none()
    if chosen is None:
        return None
    states.transition(chosen, CaseStatus.dialling, why="handed out")
    _touch(chosen, now)
    session.flush()
    return chosen


#: Why dialling of a campaign has finished (``dialling_outlook``): the console's banner says which.
FINISHED_CLOSED = "closed"
FINISHED_QUOTAS_FULL = "quotas_full"
FINISHED_EXHAUSTED = "exhausted"


def dialling_outlook(session: Session, campaign_id: int) -> str | None:
    """Whether dialling of the campaign has finished for good, and why; None while work may come.

    ``closed``: the campaign is not in fieldwork any more (closed, or not yet started);
    ``quotas_full``: every quota cell has its completes (``next_case`` hands nothing out);
    ``exhausted``: no open quota cell has a case left to call and its district's frame is used up
    (a top-up could release nothing). Cases not due yet (a retry later, outside the calling
    window) are work still to come: None. Reads only; takes no lock.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.fieldwork.value:
        return FINISHED_CLOSED
    open_cells = session.execute(
        select(QuotaCell.district_id, QuotaCell.stratum).where(
            QuotaCell.campaign_id == campaign_id, QuotaCell.completes < QuotaCell.target
        )
    ).all()
    if not open_cells:
        return FINISHED_QUOTAS_FULL
    with_cases = {
        (row[0], row[1])
        for row in session.execute(
            select(Case.district_id, Case.stratum)
            .where(Case.campaign_id == campaign_id, Case.status != CaseStatus.finalised.value)
            .group_by(Case.district_id, Case.stratum)
        ).all()
    }
    if any((district_id, stratum) in with_cases for district_id, stratum in open_cells):
        return None
    for district_id in sorted({district_id for district_id, _ in open_cells}):
        district = session.get(District, district_id)
        if district is None:
            continue
        try:
            size = frame_size(district.code, _prefixes(session, district.id), district.suffix_digits)
        except Invalid:
            continue  # no usable frame: nothing can be released there
        if size - district.sample_position > 0:
            return None
    return FINISHED_EXHAUSTED


def _lock_case(session: Session, case_id: int) -> Case:
    found = session.execute(
        select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"case {case_id} not found")
    return found


def _open_attempt(session: Session, case_id: int) -> Attempt | None:
    return session.execute(
        select(Attempt).where(Attempt.case_id == case_id, Attempt.ended_at.is_(None))
    ).scalar_one_or_none()


def release_case(session: Session, case: Case, *, now: dt.datetime) -> Case:
    """Hand a case back without calling it (preview skipped, no line free): it is due again at once."""
    now = _check_now(now)
    case = _lock_case(session, case.id)
    if case.status != CaseStatus.dialling.value:
        raise states.IllegalTransition(f"case {case.id} is {case.status}, not dialling: nothing to hand back")
    if _open_attempt(session, case.id) is not None:
        raise Conflict(f"case {case.id} has a call in progress; record its result instead")
    target = CaseStatus.pending if case.attempts_count == 0 else CaseStatus.scheduled
    states.transition(case, target, why="handed back without a call")
    _touch(case, now)
    session.flush()
    return case


def reclaim_stale_handouts(
    session: Session, *, now: dt.datetime, older_than: dt.timedelta = dt.timedelta(minutes=5)
) -> list[int]:
    """Hand back cases left ``dialling`` with no attempt (a dialer died between hand-out and call)."""
    now = _check_now(now)
    open_attempts = select(Attempt.id).where(Attempt.case_id == Case.id, Attempt.ended_at.is_(None))
    stale = (
        session.execute(
            select(Case)
            .where(
                Case.status == CaseStatus.dialling.value,
                Case.updated_at < now - older_than,
                ~open_attempts.exists(),
            )
            .with_for_update(of=Case, skip_locked=True)
        )
        .scalars()
        .all()
    )
    for c in stale:
        states.transition(
            c, CaseStatus.pending if c.attempts_count == 0 else CaseStatus.scheduled, why="stale hand-out"
        )
        _touch(c, now)
    session.flush()
    return [c.id for c in stale]


# --------------------------------------------------------------------------------------------------
# Attempts
# --------------------------------------------------------------------------------------------------


def start_attempt(
    session: Session,
    case: Case,
    *,
    channel_id: str,
    dialling_mode: str,
    interviewer_id: int | None = None,
    now: dt.datetime,
    node: str,
) -> Attempt:
    """Open an attempt for a case handed out by ``next_case`` (status ``dialling``).

    ``channel_id`` is the AMI ChannelId set on the Originate; a case has at most one open attempt.
    """
    now = _check_now(now)
    ensure_open(session, case.campaign_id)
    case = _lock_case(session, case.id)
    if case.status != CaseStatus.dialling.value:
        raise Conflict(f"case {case.id} is {case.status}: only a case handed out by next_case is dialled")
    if _open_attempt(session, case.id) is not None:
        raise Conflict(f"case {case.id} already has a call in progress")
    if not channel_id:
        raise Invalid("channel_id is required")
    attempt = Attempt(
        case_id=case.id,
        campaign_id=case.campaign_id,
        channel_id=channel_id,
        interviewer_id=interviewer_id,
        dialling_mode=dialling_mode,
        started_at=now,
        dialer_node=node,
    )
    session.add(attempt)
    case.attempts_count += 1
    _touch(case, now)
    _record_attempt(session, attempt, "attempt.started", now)
    return attempt


def _record_attempt(session: Session, a: Attempt, action: str, now: dt.datetime, actor: str = SYSTEM) -> None:
    """Audit one write of an attempt, bound as committed (see ``cati.ledger``)."""
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=action,
        object_type="attempt",
        object_id=a.id,
        details={
            "case_id": a.case_id,
            "outcome": a.outcome,
            "hangup_cause": a.hangup_cause,
            "disposition": a.disposition,
            "abandoned": a.abandoned,
        },
        at=now,
        bind=[a],
    )


def _attempt_and_case(session: Session, ref: Attempt | str | int) -> tuple[Attempt, Case, tuple[str, str]]:
    """Lock the campaign (for share), the attempt's case, then the attempt: always in that order, so no
    two writers deadlock. Returns the attempt, the case and the campaign's (code, status)."""
    if isinstance(ref, Attempt):
        where = Attempt.id == ref.id
    elif isinstance(ref, str):
        where = Attempt.channel_id == ref
    else:
        where = Attempt.id == ref
    found = session.execute(select(Attempt.case_id, Attempt.campaign_id).where(where)).one_or_none()
    if found is None:
        raise NotFound(f"attempt {ref.id if isinstance(ref, Attempt) else ref} not found")
    case_id = found[0]
    campaign = share_lock(session, found[1])  # the campaign before the case: the close's lock order
    c = _lock_case(session, case_id)
    a = session.execute(
        select(Attempt).where(where).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    return a, c, campaign


def mark_answered(session: Session, attempt: Attempt | str | int, *, now: dt.datetime) -> Attempt:
    """The respondent's line answered (the 2-second abandonment clock starts here)."""
    now = _check_now(now)
    a, _, _ = _attempt_and_case(session, attempt)
    if a.answered_at is None and a.ended_at is None:
        a.answered_at = now
        a.outcome = "answered"
        _record_attempt(session, a, "attempt.answered", now)
    return a


def mark_connected(
    session: Session, attempt: Attempt | str | int, *, interviewer_id: int, now: dt.datetime
) -> Attempt:
    """The answered call reached an interviewer: the case goes to ``interviewing``."""
    now = _check_now(now)
    a, c, campaign = _attempt_and_case(session, attempt)
    refuse_if_closed(*campaign)
    if a.ended_at is not None:
        raise Conflict(f"attempt {a.id} has already ended")
    if a.answered_at is None:
        a.answered_at = now
        a.outcome = "answered"
    a.connected_at = now
    a.interviewer_id = interviewer_id
    states.transition(c, CaseStatus.interviewing, why="connected to an interviewer")
    _touch(c, now)
    _record_attempt(session, a, "attempt.connected", now, actor=f"user:{interviewer_id}")
    return a


def mark_abandoned(session: Session, attempt: Attempt | str | int, *, now: dt.datetime) -> Attempt:
    """A live answer found no interviewer within 2 s: flagged, and the number rests until tomorrow.

    The call itself ends with ``record_call_result`` (before or after this), which schedules the
    case not before the next local day.
    """
    now = _check_now(now)
    a, c, campaign = _attempt_and_case(session, attempt)
    refuse_if_closed(*campaign)
    ctx = campaign_rules(session, a.campaign_id)
    a.abandoned = True
    if a.answered_at is None:
        a.answered_at = now
    if a.disposition is None:
        a.disposition = call_disposition(CallOutcome.ANSWERED)
    tomorrow = start_of_next_local_day(now, ctx.windows.tz)
    c.blocked_until = max(c.blocked_until, tomorrow) if c.blocked_until else tomorrow
    if c.status == CaseStatus.scheduled.value and c.next_call_at is not None and c.next_call_at < tomorrow:
        opening = ctx.windows.next_opening(c.stratum, tomorrow)
        c.next_call_at = opening or tomorrow
    _touch(c, now)
    _record_attempt(session, a, "attempt.abandoned", now)
    return a


def _attempt_codes(session: Session, case_id: int) -> list[str | None]:
    return list(
        session.execute(
            select(Attempt.disposition)
            .where(Attempt.case_id == case_id)
            .order_by(Attempt.started_at, Attempt.id)
        )
        .scalars()
        .all()
    )


def _apply(
    session: Session,
    ctx: CampaignRules,
    c: Case,
    code: str,
    now: dt.datetime,
    *,
    actor: str,
    abandoned: bool = False,
    appointment_at: dt.datetime | None = None,
    appointment_interviewer_id: int | None = None,
    note: str | None = None,
    retry_reason: RetryReason | None = None,
    final: bool = False,
) -> None:
    session.flush()
    codes = _attempt_codes(session, c.id)
    decision = decide_after_attempt(
        code=code,
        attempt_codes=codes,
        attempts=c.attempts_count,
        refusals=sum(1 for x in codes if x in REFUSAL_CODES),
        now=now,
        stratum=c.stratum,
        windows=ctx.windows,
        rules=ctx.rules,
        abandoned=abandoned,
        appointment_at=appointment_at,
        had_appointment=c.appointment_at is not None,
        retry_reason=retry_reason,
        final=final,
    )
    c.last_disposition = code
    _touch(c, now)
    if decision.final_code is not None:
        states.transition(c, CaseStatus.finalised, why=decision.reason)
        c.final_disposition = decision.final_code
        c.next_call_at = None
        c.appointment_at = None
        c.appointment_interviewer_id = None
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="case.finalised",
            object_type="case",
            object_id=c.id,
            details={
                "disposition": decision.final_code,
                "attempts": c.attempts_count,
                "why": decision.reason,
            },
            at=now,
        )
        return
    states.transition(c, CaseStatus.scheduled, why=decision.reason)
    c.next_call_at = decision.next_call_at
    if decision.blocked_until is not None:
        c.blocked_until = (
            max(c.blocked_until, decision.blocked_until) if c.blocked_until else decision.blocked_until
        )
    if c.blocked_until is not None and c.next_call_at is not None and c.next_call_at < c.blocked_until:
        c.next_call_at = ctx.windows.next_opening(c.stratum, c.blocked_until) or c.blocked_until
    if appointment_at is not None:
        c.appointment_at = decision.next_call_at
        c.appointment_interviewer_id = appointment_interviewer_id
        c.appointment_note = note
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="case.appointment",
            object_type="case",
            object_id=c.id,
            details={
                "at": decision.next_call_at.isoformat() if decision.next_call_at else None,
                "interviewer_id": appointment_interviewer_id,
                "disposition": code,
            },
            at=now,
        )
    elif decision.reason != RetryReason.appointment_missed:
        # A missed appointment keeps it (first in line, outside windows) until attempts run out.
        c.appointment_at = None
        c.appointment_interviewer_id = None
    session.flush()


def record_call_result(
    session: Session,
    attempt: Attempt | str | int,
    *,
    outcome: str,
    hangup_cause: int | None = None,
    disposition: str | None = None,
    now: dt.datetime,
    actor: str = SYSTEM,
) -> Attempt:
    """The call ended (OriginateResponse / Hangup): close the attempt and schedule or close the case.

    Idempotent: a second result for an ended attempt changes nothing. When the case is with an
    interviewer (``interviewing``) or the interviewer already recorded an outcome, only the attempt
    is closed: the interviewer's code decides. Otherwise the temporary code (``disposition`` or
    the default for ``outcome``/``hangup_cause``) schedules a retry or finalises the case
    (non-working number, attempts exhausted).
    """
    now = _check_now(now)
    a, c, campaign = _attempt_and_case(session, attempt)
    if a.ended_at is not None:
        return a
    refuse_if_closed(*campaign)
    try:
        code = a.disposition or disposition or call_disposition(outcome, cause=hangup_cause)
        _disposition_entry(code)
    except (UnknownDisposition, UnknownCallOutcome) as exc:
        raise Invalid(str(exc)) from None
    a.ended_at = now
    a.outcome = outcome
    a.hangup_cause = hangup_cause
    a.disposition = code
    _record_attempt(session, a, "attempt.ended", now, actor=actor)
    if c.status == CaseStatus.dialling.value:
        ctx = campaign_rules(session, a.campaign_id)
        retry: RetryReason | None = None
        if not counts_as_attempt(outcome) and a.answered_at is None:
            # never reached the network (refused, dial plan error): not an attempt against the case
            c.attempts_count = max(0, c.attempts_count - 1)
            retry = RetryReason.not_dialled
        _apply(session, ctx, c, code, now, actor=actor, abandoned=a.abandoned, retry_reason=retry)
    else:
        session.flush()
    return a


def record_interviewer_outcome(
    session: Session,
    case: Case,
    *,
    disposition_code: str,
    now: dt.datetime,
    appointment_at: dt.datetime | None = None,
    appointment_interviewer_id: int | None = None,
    note: str | None = None,
    final: bool = False,
    actor: str = SYSTEM,
) -> Case:
    """The interviewer's code for the current call: complete, refusal, appointment, machine, ...

    ``1.1`` finalises the case and adds one complete to its quota cell under a row lock.
    ``appointment_at`` (aware, in the future) schedules the agreed call, optionally kept for
    ``appointment_interviewer_id``; allowed with any code that keeps a case open and with 1.2
    (to finish a partial interview). ``final`` closes the case with this code (e.g. "never call
    again"). Refusals are retried once after the soft-refusal delay unless ``max_refusals`` says
    otherwise.
    """
    now = _check_now(now)
    try:
        entry = _disposition_entry(disposition_code)
    except UnknownDisposition as exc:
        raise Invalid(str(exc)) from None
    if appointment_at is not None:
        if appointment_at.tzinfo is None or appointment_at.utcoffset() is None:
            raise Invalid("appointment_at must carry a time zone", code="appointment.needs_zone")
        if appointment_at <= now:
            campaign = session.get(Campaign, case.campaign_id)
            tz = campaign.timezone if campaign is not None else "UTC"
            raise Invalid(
                "appointment_at must be in the future",
                code="appointment.in_past",
                params={
                    "at": appointment_at.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M"),
                    "timezone": tz,
                },
            )
        if final or (entry.next is Next.final and disposition_code != "1.2"):
            raise Invalid(
                f"disposition {disposition_code} closes the case; it cannot take an appointment",
                code="appointment.closes_case",
            )
    elif appointment_interviewer_id is not None:
        raise Invalid("appointment_interviewer_id given without appointment_at")
    ensure_open(session, case.campaign_id)
    c = _lock_case(session, case.id)
    if c.status not in {s.value for s in states.IN_CALL}:
        raise states.IllegalTransition(
            f"case {c.id} is {c.status}: an interviewer's outcome needs a case in a call",
            code="disposition.case_not_in_call",
        )
    a = session.execute(
        select(Attempt)
        .where(Attempt.case_id == c.id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one_or_none()
    if a is None:
        raise Conflict(f"case {c.id} has no attempt to record an outcome on")
    a.disposition = disposition_code
    _record_attempt(session, a, "attempt.coded", now, actor=actor)
    ctx = campaign_rules(session, c.campaign_id)
    if disposition_code == "1.1":
        cell = session.execute(
            select(QuotaCell)
            .where(QuotaCell.district_id == c.district_id, QuotaCell.stratum == c.stratum)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if cell is None:
            raise Conflict(f"case {c.id}: no quota cell for its district and stratum")
        cell.completes += 1
    _apply(
        session,
        ctx,
        c,
        disposition_code,
        now,
        actor=actor,
        appointment_at=appointment_at,
        appointment_interviewer_id=appointment_interviewer_id,
        note=note,
        final=final,
    )
    return c


# --------------------------------------------------------------------------------------------------
# Faults and close of fieldwork
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconcileResult:
    """What reconciliation did: attempts closed as lost, cases rescheduled, cases left with interviewers."""

    closed_attempts: list[int]
    rescheduled_cases: list[int]
    with_interviewer: list[int]


def _lock_seats_holding(
    session: Session, *, attempt_id: int | None = None, case_id: int | None = None
) -> list[int]:
    """Row-lock the seats holding this attempt (or case): the seat before the case, the order every
    writer uses (campaign share -> seat -> case -> attempt; docs/recovery.md). Returns their user ids."""
    query = select(InterviewerSeat.user_id).order_by(InterviewerSeat.user_id)
    if attempt_id is not None:
        query = query.where(InterviewerSeat.current_attempt_id == attempt_id)
    else:
        query = query.where(InterviewerSeat.current_case_id == case_id)
    return list(session.execute(query.with_for_update()).scalars())


def reconcile_open_attempts(
    session: Session,
    open_channel_ids: Iterable[str],
    now: dt.datetime,
    *,
    node: str | None = None,
    actor: str = SYSTEM,
) -> ReconcileResult:
    """After a PBX (re)connect: close every open attempt whose channel the PBX no longer has.

    ``open_channel_ids`` are the ChannelIds the PBX reports (CoreShowChannels); ``node`` limits the
    check to attempts this dialer started. A closed attempt gets outcome ``lost``; its case, if
    still ``dialling``, is scheduled again after the short ``lost`` delay. A case already with an
    interviewer stays ``interviewing``: the caller moves the seat (``console.line_gone``) and the
    interviewer (or the automatic coder) records its outcome. Nothing is dialled here, so no number
    can end up in two calls. Locks: campaign (share), the seat holding the attempt, case, attempt.
    """
    now = _check_now(now)
    alive = set(open_channel_ids)
    query = select(Attempt.id, Attempt.channel_id, Attempt.campaign_id).where(Attempt.ended_at.is_(None))
    query = query.order_by(Attempt.id)
    if node is not None:
        query = query.where(Attempt.dialer_node == node)
    closed: list[int] = []
    rescheduled: list[int] = []
    kept: list[int] = []
    for attempt_id, channel_id, campaign_id in session.execute(query).all():
        if channel_id in alive:
            continue
        share_lock(session, campaign_id)
        _lock_seats_holding(session, attempt_id=attempt_id)
        a, c, _ = _attempt_and_case(session, attempt_id)
        if a.ended_at is not None:  # its result arrived meanwhile
            continue
        a.ended_at = now
        if a.outcome is None:
            a.outcome = "lost"
        if a.disposition is None:
            a.disposition = call_disposition(CallOutcome.LOST, answered=a.answered_at is not None)
        closed.append(a.id)
        audit.record(
            session,
            actor=actor,
            action="attempt.lost",
            object_type="attempt",
            object_id=a.id,
            details={
                "case_id": c.id,
                "channel_id": a.channel_id,
                "case_status": c.status,
            },
            at=now,
            bind=[a],
        )
        if c.status == CaseStatus.dialling.value:
            ctx = campaign_rules(session, a.campaign_id)
            _apply(
                session,
                ctx,
                c,
                a.disposition,
                now,
                actor=actor,
                abandoned=a.abandoned,
                retry_reason=RetryReason.lost,
            )
            rescheduled.append(c.id)
        elif c.status == CaseStatus.interviewing.value:
            kept.append(c.id)
    session.flush()
    return ReconcileResult(closed, rescheduled, kept)


def stranded_cases(session: Session) -> list[int]:
    """Cases ``dialling``/``interviewing`` with no open attempt and no seat holding them (a crash
    between two writes, a seat cleared by hand): nobody would ever move them again."""
    held = select(InterviewerSeat.current_case_id).where(InterviewerSeat.current_case_id.is_not(None))
    open_attempt = select(Attempt.case_id).where(Attempt.ended_at.is_(None))
    return list(
        session.execute(
            select(Case.id)
            .where(
                Case.status.in_([s.value for s in states.IN_CALL]),
                Case.id.not_in(held),
                Case.id.not_in(open_attempt),
            )
            .order_by(Case.id)
        ).scalars()
    )


def settle_stranded_case(session: Session, case_id: int, now: dt.datetime, *, actor: str = SYSTEM) -> bool:
    """Give a stranded case (``stranded_cases``) back to the scheduler with its last call's code
    (a lost call: the short ``lost`` retry delay). Returns False when it is no longer stranded."""
    now = _check_now(now)
    campaign_id = session.execute(select(Case.campaign_id).where(Case.id == case_id)).scalar_one()
    share_lock(session, campaign_id)
    if _lock_seats_holding(session, case_id=case_id):
        return False  # a seat holds it: not stranded
    c = _lock_case(session, case_id)
    if c.status not in {s.value for s in states.IN_CALL} or _open_attempt(session, c.id) is not None:
        return False
    last = session.execute(
        select(Attempt.disposition)
        .where(Attempt.case_id == c.id)
        .order_by(Attempt.started_at.desc(), Attempt.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    was = c.status
    code: str | None = None
    if was == CaseStatus.dialling.value:
        # a hand-out whose call was never placed (an ended call would have moved the case)
        release_case(session, c, now=now)
    else:
        code = last or call_disposition(CallOutcome.LOST, answered=True)
        ctx = campaign_rules(session, campaign_id)
        _apply(session, ctx, c, code, now, actor=actor, retry_reason=RetryReason.lost)
    audit.record(
        session,
        actor=actor,
        action="case.recovered",
        object_type="case",
        object_id=c.id,
        details={"from": was, "to": c.status, "disposition": code},
        at=now,
    )
    session.flush()
    return True


def case_final_disposition(session: Session, case: Case) -> str:
    """The final code the case would get now from its attempts (its own, once finalised)."""
    if case.final_disposition:
        return case.final_disposition
    return final_disposition(_attempt_codes(session, case.id))


def finalise_open_cases(
    session: Session, campaign_id: int, *, now: dt.datetime, actor: str = SYSTEM
) -> dict[str, int]:
    """Close of fieldwork: give every pending or scheduled case its final code by precedence.

    Cases still in a call are left alone and counted under ``"in_call"``; the result counts cases
    per final code.
    """
    now = _check_now(now)
    counts: dict[str, int] = {}
    cases = (
        session.execute(
            select(Case)
            .where(Case.campaign_id == campaign_id, Case.status != CaseStatus.finalised.value)
            .order_by(Case.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    for c in cases:
        if c.status in {s.value for s in states.IN_CALL}:
            counts["in_call"] = counts.get("in_call", 0) + 1
            continue
        code = final_disposition(_attempt_codes(session, c.id))
        states.transition(c, CaseStatus.finalised, why="close of fieldwork")
        c.final_disposition = code
        c.next_call_at = None
        _touch(c, now)
        counts[code] = counts.get(code, 0) + 1
    session.flush()
    if cases:
        audit.record(
            session,
            actor=actor,
            action="cases.finalised_at_close",
            object_type="campaign",
            object_id=campaign_id,
            details={"counts": counts},
            at=now,
        )
    return counts
