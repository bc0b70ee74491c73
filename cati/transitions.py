"""The one check every transition table in the service shares (campaign, case, seat).

Each state machine keeps its own table in its own file; this only turns "is this move in the table"
into one clear message naming the object, both states and what is allowed instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TypeVar

S = TypeVar("S", bound=StrEnum)


def illegal_move(
    table: Mapping[S, frozenset[S]], current: S, goal: S, *, subject: str, why: str = "", final: str = "none"
) -> str | None:
    """None when ``table`` allows ``current`` -> ``goal``; else the message for the 409."""
    allowed = table[current]
    if goal in allowed:
        return None
    options = ", ".join(sorted(s.value for s in allowed)) or final
    return (
        f"{subject}: cannot go from {current.value} to {goal.value}"
        + (f" ({why})" if why else "")
        + f"; allowed from {current.value}: {options}"
    )
