"""The campaign's life: draft -> published -> fieldwork -> closed. The one table of legal moves.

Why so strict: publishing fixes the sampling frame and commits to the secret seed in public;
going back to draft would let someone re-draw the sample after seeing the commitment, and
re-opening a closed campaign would let interviews be added after the results are sealed.
"""

from __future__ import annotations

from collections.abc import Mapping

from cati.errors import Conflict
from cati.models import CampaignStatus
from cati.transitions import illegal_move

S = CampaignStatus

TRANSITIONS: Mapping[CampaignStatus, frozenset[CampaignStatus]] = {
    S.draft: frozenset({S.published}),
    S.published: frozenset({S.fieldwork}),
    S.fieldwork: frozenset({S.closed}),
    S.closed: frozenset(),
}


class IllegalTransition(Conflict):
    """The campaign cannot move from its status to the one asked for (HTTP 409)."""


def check_transition(current: CampaignStatus, target: CampaignStatus) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    problem = illegal_move(TRANSITIONS, current, target, subject="campaign", final="none (closed is final)")
    if problem:
        raise IllegalTransition(problem)
