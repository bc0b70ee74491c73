"""The case state machine: every status change of a case goes through ``transition``.

Why one table: a number must never be in two calls at once and never be dialled again except by a
scheduled retry. That holds only if every path that moves a case is listed here and nowhere else:
``dialling`` is entered only from ``pending``/``scheduled`` (by ``next_case`` under a row lock),
and a ``finalised`` case never leaves that state.

    pending      --hand out-->      dialling
    scheduled    --hand out-->      dialling
    dialling     --connected-->     interviewing
    dialling     --retry/appt-->    scheduled
    dialling     --handed back-->   pending      (no attempt was made: preview skipped, no line)
    dialling     --closed-->        finalised
    interviewing --retry/appt-->    scheduled
    interviewing --closed-->        finalised
    pending      --closed-->        finalised    (close of fieldwork, quota filled)
    scheduled    --closed-->        finalised
"""

from __future__ import annotations

from cati.errors import Conflict
from cati.models import Case, CaseStatus
from cati.transitions import illegal_move

S = CaseStatus

TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.pending: frozenset({S.dialling, S.finalised}),
    S.scheduled: frozenset({S.dialling, S.finalised}),
    S.dialling: frozenset({S.interviewing, S.scheduled, S.pending, S.finalised}),
    S.interviewing: frozenset({S.scheduled, S.finalised}),
    S.finalised: frozenset(),
}

#: Statuses from which a case may be handed out for dialling.
DIALLABLE: frozenset[CaseStatus] = frozenset({S.pending, S.scheduled})
#: Statuses in which the case's number is (or may be) in a call.
IN_CALL: frozenset[CaseStatus] = frozenset({S.dialling, S.interviewing})


class IllegalTransition(Conflict):
    """A status change the table does not allow (HTTP 409)."""


def can_transition(current: CaseStatus | str, target: CaseStatus | str) -> bool:
    """Whether the table allows ``current`` -> ``target``."""
    return CaseStatus(target) in TRANSITIONS[CaseStatus(current)]


def transition(case: Case, target: CaseStatus | str, *, why: str = "") -> None:
    """Move ``case`` to ``target`` or raise IllegalTransition naming the case and both states."""
    goal = CaseStatus(target)
    problem = illegal_move(
        TRANSITIONS, CaseStatus(case.status), goal, subject=f"case {case.id}", why=why, final="none (final)"
    )
    if problem:
        raise IllegalTransition(problem)
    case.status = goal.value
