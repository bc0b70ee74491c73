"""The dialer tells the seats when it has nothing left to dial for good: quotas full, or every
number of the frame used up with no case left; a campaign with calls still to come says nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dialing_rig import build, wait_for
from sqlalchemy import update

from cati.db import transaction
from cati.models import Case, CaseStatus, District, QuotaCell


async def _next_dialling(sub):  # type: ignore[no-untyped-def]
    while True:
        ev = await sub.queue.get()
        if ev.type == "dialling":
            return ev


async def test_ready_seat_told_when_the_dialer_finds_every_quota_full(db_url: str, tmp_path: Path) -> None:
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=2, outcomes=["answer", "answer"])
    user_id = rig.seats[0]
    with transaction(rig.factory) as s:
        s.execute(update(QuotaCell).values(target=0))  # filled (say a supervisor closed the cell)
    try:
        with rig.bus.subscribe({f"seat:{user_id}"}) as sub:
            await rig.start()
            ev = await asyncio.wait_for(_next_dialling(sub), 10)
            assert ev.data == {"finished": True, "reason": "quotas_full", "campaign": "C1"}
            assert rig.attempts() == []  # nothing was dialled
    finally:
        await rig.close()


async def test_ready_seat_told_when_the_sample_is_used_up(db_url: str, tmp_path: Path) -> None:
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=1, outcomes=["unallocated"])
    user_id = rig.seats[0]
    with transaction(rig.factory) as s:  # the frame has nothing more to release
        s.execute(update(District).values(sample_position=10**6))
    try:
        with rig.bus.subscribe({f"seat:{user_id}"}) as sub:
            await rig.start()
            # the one number is non-working: finalised, and then there is nothing left at all
            await wait_for("the case finalised", lambda: _finalised(rig))
            ev = await asyncio.wait_for(_next_dialling(sub), 10)
            assert ev.data["reason"] == "exhausted"
    finally:
        await rig.close()


def _finalised(rig) -> bool:  # type: ignore[no-untyped-def]
    with rig.session() as s:
        return all(c.status == CaseStatus.finalised.value for c in s.query(Case).all())
