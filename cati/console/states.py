"""The interviewer seat state machine: every status change of a seat goes through ``transition``.

Why one table: the dialer paces calls on the number of ``ready`` seats and hands an answered call to
exactly one seat, and an interviewer must never get a second call while one is in hand. That holds
only if every path that moves a seat is listed here and nowhere else.

    offline  --ready-->          ready         (shift starts on the first ready)
    offline  --pause-->          paused
    ready    --pause-->          paused
    ready    --reserve-->        reserved      (preview: a case shown; progressive: a call placed for them)
    ready    --connect-->        on_call       (predictive: an answered call bridged to them)
    reserved --connect-->        on_call       (the respondent answered)
    reserved --release-->        ready         (not answered, or preview skipped)
    reserved --release-->        paused        (preview skipped to take a break)
    on_call  --disposition-->    wrap_up       (the interviewer coded the call; the line may still be up)
    wrap_up  --next-->           ready
    wrap_up  --pause-->          paused
    paused   --ready-->          ready
    paused   --pause-->          paused        (another reason)
    ready, paused, wrap_up --offline--> offline  (end of shift, or a supervisor logs the seat out)
    reserved --logout-->         offline       (a supervisor logs out a seat showing a preview case
                                                not dialled: the case goes back to the queue; a seat
                                                with a call being placed or on a call is refused)

A dropped line while ``on_call`` does not move the seat at once: the interviewer still codes the
case. Recovery (``cati.console.recovery``) moves an ``on_call`` seat whose call is gone (lost at a
restart, or ended longer than ``CATI_RECOVER_CODE_AFTER_SECONDS`` ago) ``on_call -> wrap_up`` with the
case and interview kept: a ``wrap_up`` seat whose case is still in a call (``console.needs_code``)
must code it (or it is coded automatically) before it may go ready, pause, offline or be logged out.
"""

from __future__ import annotations

from cati.errors import Conflict
from cati.messages import seat_word
from cati.models import InterviewerSeat, SeatStatus
from cati.transitions import illegal_move

S = SeatStatus

TRANSITIONS: dict[SeatStatus, frozenset[SeatStatus]] = {
    S.offline: frozenset({S.ready, S.paused}),
    S.ready: frozenset({S.paused, S.offline, S.reserved, S.on_call}),
    S.paused: frozenset({S.ready, S.paused, S.offline}),
    S.reserved: frozenset({S.on_call, S.ready, S.paused, S.offline}),
    S.on_call: frozenset({S.wrap_up}),
    S.wrap_up: frozenset({S.ready, S.paused, S.offline}),
}

#: Seats that may be given a call.
TAKES_CALLS: frozenset[SeatStatus] = frozenset({S.ready})
#: Seats with a case in hand (the interviewer sees it).
HOLDS_CASE: frozenset[SeatStatus] = frozenset({S.reserved, S.on_call, S.wrap_up})

#: Seats a supervisor may log out at once (a reserved seat only while no call is placed for it).
LOG_OUT_FROM: frozenset[SeatStatus] = frozenset({S.ready, S.paused, S.wrap_up, S.reserved})

PAUSE_REASONS: tuple[str, ...] = ("break", "meal", "training", "technical", "other")


class IllegalSeatTransition(Conflict):
    """A seat change the table does not allow (HTTP 409)."""


def can_transition(current: SeatStatus | str, target: SeatStatus | str) -> bool:
    """Whether the table allows ``current`` -> ``target``."""
    return SeatStatus(target) in TRANSITIONS[SeatStatus(current)]


def transition(seat: InterviewerSeat, target: SeatStatus | str, *, why: str = "") -> None:
    """Move ``seat`` to ``target`` or raise IllegalSeatTransition naming both states."""
    goal = SeatStatus(target)
    problem = illegal_move(
        TRANSITIONS, SeatStatus(seat.status), goal, subject=f"seat of user {seat.user_id}", why=why
    )
    if problem:
        raise IllegalSeatTransition(
            problem,
            code="seat.move_not_allowed",
            params={"status": seat_word(seat.status), "target": seat_word(goal.value)},
        )
    seat.status = goal.value
