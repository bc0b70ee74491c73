"""Calls alive across a service restart (issue 10, item 5): the dialer of the next run finds them
again by ChannelId and records their real outcome, instead of leaving the attempt open (or lost)
while the PBX ends the call.

The first run is "killed": from that moment nothing of it reaches the database (its AMI client's
updates are cut off before it closes its socket), as with SIGKILL; the simulated PBX, like
Asterisk, keeps an async Originate's call going when the AMI session that placed it goes away.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from dialing_rig import FAST_CLIENT, Rig, build, wait_for

from cati.dialing.service import DialerService
from dialer.simpbx import SimPbx, SimPbxConfig

pytestmark = pytest.mark.timeout(90)


async def _external_pbx(rig: Rig) -> SimPbx:
    s = rig.settings
    pbx = SimPbx(
        SimPbxConfig(
            username=s.ami_username,
            secret=s.ami_secret,
            seed=s.sim_seed,
            speed=rig.clock.speed,
            start=rig.clock.now(),
            model_path=s.sim_model,
        )
    )
    host, port = await pbx.start("127.0.0.1", 0)
    rig.settings = s.model_copy(update={"ami_host": host, "ami_port": port})
    rig.cleanup.insert(0, pbx.stop)
    return pbx


async def _kill(service: DialerService) -> None:
    """As SIGKILL: the run stops at once and nothing more of it reaches the database."""
    client = service.client
    assert client is not None and service._task is not None
    client.on_update = None
    client.on_state = None
    service._running = False  # its stop() is now a no-op: no closing reconciliation either
    service._task.cancel()
    await client.stop()


async def test_a_call_ringing_across_a_restart_ends_with_its_real_outcome(
    db_url: str, tmp_path: Path
) -> None:
    # speed 3: the 15 s ring timeout of an unanswered call lasts 5 s of real time
    rig = build(
        db_url, tmp_path, mode="progressive", seats=1, cases_count=1, outcomes=["noanswer"], speed=3.0
    )
    try:
        pbx = await _external_pbx(rig)
        first = DialerService(rig.settings, rig.factory, rig.bus, rig.clock, client_options=FAST_CLIENT)
        await first.start()
        await wait_for("a call ringing", lambda: len(pbx.channels()) >= 1 and rig.attempts())
        [attempt] = rig.attempts()
        await _kill(first)
        assert len(pbx.channels()) >= 1  # the PBX still has the call
        second = await rig.start()
        await wait_for("the call to be adopted", lambda: second.status()["calls"]["ringing"] == 1)
        assert rig.attempts()[0].ended_at is None
        # the PBX ends the call at its ring timeout: the second run records what really happened
        await wait_for("the attempt to end", lambda: rig.attempts()[0].ended_at is not None, timeout=20)
        [ended] = rig.attempts()
        assert ended.id == attempt.id
        assert (ended.outcome, ended.disposition, ended.hangup_cause) == ("no_answer", "3.13", 19)
        case = next(iter(rig.cases().values()))
        assert case.status == "scheduled" and case.attempts_count == 1
        await wait_for("the seat back to ready", lambda: rig.seat(rig.seats[0]).status == "ready")
        assert second.counters["reconciled_attempts"] == 0  # nothing was closed as lost
    finally:
        await asyncio.sleep(0)
        await rig.close()


async def test_a_call_gone_during_the_restart_is_closed_as_lost(db_url: str, tmp_path: Path) -> None:
    rig = build(
        db_url, tmp_path, mode="progressive", seats=1, cases_count=1, outcomes=["noanswer"], speed=3.0
    )
    try:
        pbx = await _external_pbx(rig)
        first = DialerService(rig.settings, rig.factory, rig.bus, rig.clock, client_options=FAST_CLIENT)
        await first.start()
        await wait_for("a call ringing", lambda: len(pbx.channels()) >= 1 and rig.attempts())
        await _kill(first)
        await wait_for("the PBX to end the call", lambda: not pbx.channels(), timeout=20)
        second = await rig.start()
        await wait_for("reconciliation", lambda: rig.attempts()[0].ended_at is not None)
        [ended] = rig.attempts()
        assert (ended.outcome, ended.disposition) == ("lost", "3.16")  # its outcome cannot be known
        assert second.counters["reconciled_attempts"] == 1
    finally:
        await rig.close()
