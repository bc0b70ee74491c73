"""The supervisor's controls as the dialing loop sees them (the dialing rig: DialerService, AMI over
TCP, the simulated PBX): a paused district gets no new call, a resumed one does, a pacing switch is
picked up without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dialing_rig import Rig, build, wait_for

from cati.controls import service as controls
from cati.db import transaction
from cati.dialing.control import DialerUnavailable
from cati.models import District

pytestmark = pytest.mark.timeout(60)


def _district_code(rig: Rig) -> str:
    with rig.session() as s:
        district = s.get(District, rig.district_id)
        assert district is not None
        return district.code


def _pause(rig: Rig, paused: bool) -> None:
    with transaction(rig.factory) as s:
        controls.set_district_paused(
            s, rig.campaign_id, _district_code(rig), paused, actor="sup", reason="test", now=rig.clock.now()
        )


async def test_a_paused_district_gets_no_new_call_until_resumed(db_url: str, tmp_path: Path) -> None:
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=2, outcomes=["busy"])
    try:
        _pause(rig, True)
        service = await rig.start()
        # the loop runs and wants a line for the ready seat, but the paused district hands out nothing
        await wait_for(
            "a pacing decision",
            lambda: service.status()["campaigns"].get(str(rig.campaign_id), {}).get("last_decision", 0) >= 1,
        )
        await asyncio.sleep(0.5)  # ten more ticks
        assert rig.attempts() == []
        assert service.pbx is not None and service.pbx.stats.originates == 0
        assert rig.seat(rig.seats[0]).status == "ready"
        _pause(rig, False)
        service.wake(rig.campaign_id)
        await wait_for("a call after the resume", lambda: rig.attempts())
        assert rig.attempts()[0].dialling_mode == "progressive"
    finally:
        await rig.close()


async def test_a_preview_call_is_refused_in_a_paused_district(db_url: str, tmp_path: Path) -> None:
    from cati.console import service as console
    from cati.models import User

    rig = build(db_url, tmp_path, mode="preview", seats=1, cases_count=2, outcomes=["answer"])
    user_id = rig.seats[0]
    try:
        service = await rig.start()
        await wait_for("link up", lambda: service.status()["link"] == "up")
        with transaction(rig.factory) as s:  # the case was on screen before the pause
            user = s.get(User, user_id)
            assert user is not None
            case = console.preview_next(s, user, now=rig.clock.now())
            assert case is not None
            case_id = case.id
        _pause(rig, True)
        with pytest.raises(DialerUnavailable, match="暂停"):
            await service.dial_preview(user_id=user_id, case_id=case_id)
        assert rig.attempts() == []
    finally:
        await rig.close()


async def test_the_pacing_switch_is_picked_up_without_restart(db_url: str, tmp_path: Path) -> None:
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=6, outcomes=["busy"])
    try:
        service = await rig.start()
        await wait_for("a progressive call", lambda: rig.attempts())
        with transaction(rig.factory) as s:
            controls.set_pacing(
                s, rig.campaign_id, "predictive", actor="sup", reason="t", now=rig.clock.now()
            )
        before = {a.id for a in rig.attempts()}
        assert {a.dialling_mode for a in rig.attempts()} == {"progressive"}
        service.wake(rig.campaign_id)
        await wait_for(
            "a predictive call", lambda: [a for a in rig.attempts() if a.dialling_mode == "predictive"]
        )
        # the same running service: every call placed after the switch is predictive (the in-flight
        # hand-out at the switch may still be progressive)
        later = [a for a in rig.attempts() if a.id not in before]
        assert later[-1].dialling_mode == "predictive"
        assert service.status()["campaigns"][str(rig.campaign_id)]["mode"] == "predictive"
    finally:
        await rig.close()
