"""Recovery: after a crash, a restart or a lost line, no seat, case or attempt is left stuck.

Why a job of its own: the dialer only knows the calls it placed in this run. After ``kill -9``
the database still says seats are ``on_call``, cases ``interviewing``/``dialling`` and attempts
open. ``reconcile`` runs when the PBX link comes up (start and every reconnect) with the PBX's
live channels; ``sweep`` runs at the same moment and then periodically from the dialer loop:

* an open attempt of this dialer node whose channel is gone is closed ``lost``
  (``cases.reconcile_open_attempts``) and the seat holding it is moved (``console.line_gone``):
  ``reserved`` back to ready, ``on_call`` to ``wrap_up`` with its interview kept to be coded;
* an ``on_call`` seat whose call ended as lost, or ended longer than the coding timeout ago, goes
  to ``wrap_up`` the same way;
* a ``wrap_up`` seat whose dropped call nobody coded within ``CATI_RECOVER_CODE_AFTER_SECONDS``
  (service time) is coded automatically (``console.auto_code``: the scoring rule's choice, or
  ``callback`` with the interview kept for the next call);
* a case ``dialling``/``interviewing`` with neither an open attempt nor a seat goes back to the
  scheduler (``cases.settle_stranded_case``).

Each item is its own transaction (the job is the edge that commits), locking in the one order the
code uses: campaign (share) -> seat -> case -> attempt (docs/recovery.md).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cati.cases import service as cases
from cati.console import service as console
from cati.db import transaction
from cati.errors import AppError
from cati.models import Attempt, InterviewerSeat, SeatStatus

log = logging.getLogger("cati.recovery")


@dataclass
class Recovered:
    """What one pass did (ids), for the log and ``/api/v1/dialer/status``."""

    closed_attempts: list[int] = field(default_factory=list)
    rescheduled_cases: list[int] = field(default_factory=list)
    to_code: list[int] = field(default_factory=list)  # seats moved to wrap_up with a call to code
    auto_coded: list[int] = field(default_factory=list)  # seats whose call was coded automatically
    stranded: list[int] = field(default_factory=list)  # cases given back to the scheduler

    def any(self) -> bool:
        return bool(
            self.closed_attempts or self.rescheduled_cases or self.to_code or self.auto_coded or self.stranded
        )

    def summary(self) -> dict[str, int]:
        return {
            "closed_attempts": len(self.closed_attempts),
            "rescheduled_cases": len(self.rescheduled_cases),
            "seats_to_code": len(self.to_code),
            "auto_coded": len(self.auto_coded),
            "stranded_cases": len(self.stranded),
        }


def reconcile(
    session: Session, alive: Iterable[str], now: dt.datetime, *, node: str | None, into: Recovered
) -> None:
    """Close this node's open attempts whose channel is gone and move the seats that held them."""
    result = cases.reconcile_open_attempts(session, alive, now, node=node)
    into.closed_attempts += result.closed_attempts
    into.rescheduled_cases += result.rescheduled_cases
    for attempt_id in result.closed_attempts:
        seat = console.line_gone(session, attempt_id=attempt_id, now=now, why="call lost")
        if seat is not None and seat.status == SeatStatus.wrap_up.value:
            into.to_code.append(seat.user_id)


def _age_s(now: dt.datetime, since: dt.datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return (now - since).total_seconds()


def _step(factory: sessionmaker[Session], what: str, unit: Callable[[Session], object]) -> object:
    """One item in its own transaction; a refusal (the interviewer moved first) is only logged."""
    try:
        with transaction(factory) as s:
            return unit(s)
    except AppError as exc:
        log.info("recovery: %s skipped: %s", what, exc.detail)
    return None


def sweep(
    factory: sessionmaker[Session], now: Callable[[], dt.datetime], *, code_after_s: float
) -> Recovered:
    """The periodic pass: dead calls to wrap_up, overdue ones coded, stranded cases rescheduled."""
    out = Recovered()
    t = now()
    with factory() as s:
        dead = s.execute(
            select(InterviewerSeat.user_id, Attempt.id, Attempt.outcome, Attempt.ended_at)
            .join(Attempt, Attempt.id == InterviewerSeat.current_attempt_id)
            .where(InterviewerSeat.status == SeatStatus.on_call.value, Attempt.ended_at.is_not(None))
            .order_by(InterviewerSeat.user_id)
        ).all()
        waiting = s.execute(
            select(InterviewerSeat.user_id, InterviewerSeat.status_since)
            .where(
                InterviewerSeat.status == SeatStatus.wrap_up.value,
                InterviewerSeat.current_case_id.is_not(None),
            )
            .order_by(InterviewerSeat.user_id)
        ).all()
    for user_id, attempt_id, outcome, ended_at in dead:
        if outcome != "lost" and _age_s(t, ended_at) < code_after_s:
            continue  # the respondent hung up: the interviewer is coding it

        def gone(s: Session, attempt_id: int = attempt_id, why: str = f"call {outcome or 'ended'}") -> object:
            seat = console.line_gone(s, attempt_id=attempt_id, now=now(), why=why)
            return None if seat is None else seat.status

        if _step(factory, f"seat {user_id}", gone) == SeatStatus.wrap_up.value:
            out.to_code.append(user_id)
    for user_id, since in waiting:
        if _age_s(t, since) < code_after_s:
            continue

        def code(s: Session, user_id: int = user_id) -> object:
            return console.auto_code(s, user_id, now=now())

        if _step(factory, f"auto-code seat {user_id}", code) is not None:
            out.auto_coded.append(user_id)
    with factory() as s:
        stranded = cases.stranded_cases(s)
    for case_id in stranded:

        def settle(s: Session, case_id: int = case_id) -> object:
            return cases.settle_stranded_case(s, case_id, now()) or None

        if _step(factory, f"case {case_id}", settle) is not None:
            out.stranded.append(case_id)
    if out.any():
        log.warning("recovery: %s", out.summary())
    return out
