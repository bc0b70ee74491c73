"""The PBX circuit breaker (issue 10, item 5): refused originates burn no sample, N refusals in a row
or one dial plan error pause the campaign's dialling, a probe call resumes it.

The pure state machine (``dialer.breaker``) is tested on its own; the rest runs the dialing rig:
DialerService, AMI over TCP, the simulated PBX refusing originates as Asterisk does during
``core restart gracefully`` ("Asterisk is shutting down"), or a dial template naming a context the
dialplan does not have (the ``bad-extension`` capture).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

import pytest
from dialing_rig import Rig, build, wait_for
from fastapi.testclient import TestClient
from support import Users

from cati.app import create_app
from cati.db import transaction
from cati.dialing.control import DialerUnavailable
from cati.dialing.service import DialerService
from cati.models import InterviewerSeat, Role
from cati.settings import Settings
from dialer.ami.outcomes import REASON_BUSY, AttemptPhase, AttemptUpdate, CallOutcome
from dialer.breaker import Breaker, BreakerConfig, BreakerState, Signal, signal_of
from dialer.dispositions import counts_as_attempt
from dialer.schedule import RetryReason
from dialer.simpbx import SimPbx, SimPbxConfig

pytestmark = pytest.mark.timeout(90)

# -- the pure state machine ---------------------------------------------------------------------


def test_consecutive_refusals_open_the_breaker_and_a_success_resets_the_count() -> None:
    br = Breaker(BreakerConfig(threshold=3, backoff=10, max_backoff=35))
    for _ in range(2):
        assert br.record(0, Signal.REFUSED) is False
    br.record(0, Signal.SUCCESS)  # a call got through: the count starts over
    assert br.refusals == 0
    for i in range(3):
        br.record(1, Signal.REFUSED, detail="Asterisk is shutting down")
        assert br.state is (BreakerState.OPEN if i == 2 else BreakerState.CLOSED)
    assert br.allow(1) == 0 and br.allow(10.9) == 0
    assert br.snapshot(1)["probe_in_s"] == 10 and br.snapshot(1)["detail"] == "Asterisk is shutting down"


def test_a_dialplan_error_opens_at_once() -> None:
    br = Breaker(BreakerConfig(threshold=5, backoff=10, max_backoff=100))
    assert br.record(0, Signal.DIALPLAN, key="a1", detail="no such context")
    assert br.state is BreakerState.OPEN and br.reason == "dialplan"


def test_probe_failure_doubles_the_backoff_up_to_the_cap_and_success_closes() -> None:
    br = Breaker(BreakerConfig(threshold=1, backoff=10, max_backoff=35))
    br.record(0, Signal.REFUSED)
    now, backoffs = 0.0, []
    for n in range(4):
        now = br.reopen_at or 0
        assert br.allow(now - 0.001) == 0
        assert br.allow(now) == 1 and br.state is BreakerState.PROBING
        br.probe_started(f"probe{n}")
        assert br.allow(now) == 0  # only one probe at a time
        # calls placed before the breaker opened say nothing about new originates
        assert br.record(now, Signal.SUCCESS, key="old-call") is False
        br.record(now, Signal.REFUSED, key=f"probe{n}")
        backoffs.append(br.backoff)
    assert backoffs == [20, 35, 35, 35]
    now = br.reopen_at or 0
    assert br.allow(now) == 1
    br.probe_started("last")
    assert br.record(now, Signal.SUCCESS, key="last") and br.state is BreakerState.CLOSED
    assert br.allow(now) is None and br.backoff == 0


def test_a_probe_not_placed_or_lost_waits_the_same_backoff() -> None:
    br = Breaker(BreakerConfig(threshold=1, backoff=10, max_backoff=80))
    br.record(0, Signal.REFUSED)
    assert br.allow(10) == 1
    br.probe_not_placed(10)  # no case or no seat: nothing learnt
    assert br.state is BreakerState.OPEN and br.backoff == 10 and br.reopen_at == 20
    assert br.allow(20) == 1
    br.probe_started("p")
    br.record(20, Signal.NEUTRAL, key="p")  # the link dropped under the probe
    assert br.state is BreakerState.OPEN and br.backoff == 10


def test_signals_from_attempt_updates() -> None:
    def ended(outcome: CallOutcome, reason: int | None = None, detail: str | None = None) -> AttemptUpdate:
        return AttemptUpdate("k", AttemptPhase.ENDED, outcome=outcome, reason=reason, detail=detail)

    assert signal_of(AttemptUpdate("k", AttemptPhase.DIALLING)) is None
    assert signal_of(AttemptUpdate("k", AttemptPhase.RINGING)) is Signal.SUCCESS
    assert signal_of(ended(CallOutcome.FAILED, detail="PBX refused the originate")) is Signal.REFUSED
    assert signal_of(ended(CallOutcome.FAILED, reason=0)) is Signal.DIALPLAN  # bad-extension
    assert signal_of(ended(CallOutcome.BUSY, reason=REASON_BUSY)) is Signal.SUCCESS
    assert signal_of(ended(CallOutcome.NON_WORKING, reason=0)) is Signal.SUCCESS  # unallocated-1
    assert signal_of(ended(CallOutcome.LOST, detail="gone")) is Signal.NEUTRAL
    assert not counts_as_attempt(CallOutcome.FAILED) and counts_as_attempt("busy")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        BreakerConfig(threshold=0)
    with pytest.raises(ValueError, match="CATI_BREAKER_MAX_BACKOFF_SECONDS"):
        Settings(breaker_backoff_seconds=60, breaker_max_backoff_seconds=30)


# -- the dialer against the simulated PBX ------------------------------------------------------------


async def _external_pbx(rig: Rig) -> SimPbx:
    """A simulated PBX the test holds (to make it refuse), with the rig's respondent model."""
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
    rig.cleanup.insert(0, pbx.stop)  # stopped after the service
    return pbx


def _set_ready(rig: Rig) -> None:
    with transaction(rig.factory) as s:
        for user_id in rig.seats:
            seat = s.get(InterviewerSeat, user_id)
            assert seat is not None
            seat.status = "ready"
            seat.status_since = rig.clock.now()


def _breaker(service: DialerService, campaign_id: int) -> dict[str, Any]:
    per = service.status()["campaigns"].get(str(campaign_id)) or {}
    breaker: dict[str, Any] = per.get("breaker") or {}
    return breaker


async def test_a_refusing_pbx_burns_no_attempt_and_opens_the_breaker_then_a_probe_closes_it(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cati.dialing.service")
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=1,
        cases_count=12,
        outcomes=["busy"],
        ready=False,
        breaker_threshold=3,
        breaker_backoff_seconds=0.4,
        breaker_max_backoff_seconds=1.0,
    )
    try:
        pbx = await _external_pbx(rig)
        service = await rig.start()
        await wait_for("link up", lambda: service.status()["link"] == "up")
        pbx.shutting_down = True  # core restart gracefully: every action refused
        _set_ready(rig)
        service.wake(rig.campaign_id)
        await wait_for("the breaker to open", lambda: service.status()["breaker_open"] == [rig.campaign_id])
        # exactly the threshold's refusals, each a 3.11 "not dialled" attempt that is not counted (the
        # breaker opens as the third refusal arrives; its row is written just after)
        await wait_for("the refusals recorded", lambda: all(a.ended_at is not None for a in rig.attempts()))
        attempts = rig.attempts()
        assert len(attempts) == 3
        assert {(a.outcome, a.disposition) for a in attempts} == {("failed", "3.11")}
        assert all(a.ended_at is not None for a in attempts)
        cases = {c.id: c for c in rig.cases().values()}
        now = rig.clock.now()
        for a in attempts:
            case = cases[a.case_id]
            assert case.attempts_count == 0 and case.status == "scheduled"
            assert case.final_disposition is None
            next_call = (
                case.next_call_at.replace(tzinfo=dt.UTC)
                if case.next_call_at.tzinfo is None
                else (case.next_call_at)
            )
            assert next_call - now <= dt.timedelta(minutes=2)  # the short delay, not 30 minutes
        assert rig.seat(rig.seats[0]).status == "ready"  # the seat is given back
        assert any(
            r.levelno == logging.WARNING
            and "refused 3 originates in a row" in r.getMessage()
            and "Asterisk is shutting down" in r.getMessage()
            and "暂停拨号" in r.getMessage()
            for r in caplog.records
        )
        br = _breaker(service, rig.campaign_id)
        assert br["open"] is True and br["reason"] == "refused"
        # the probe, still refused, doubles the back-off (capped) and places one call only
        await wait_for("a failed probe", lambda: _breaker(service, rig.campaign_id)["probes"] >= 1)
        await wait_for("the doubled back-off", lambda: _breaker(service, rig.campaign_id)["backoff_s"] == 0.8)
        probes = _breaker(service, rig.campaign_id)["probes"]
        # one attempt per probe (the next probe's row may be committed a moment before it is counted)
        assert 3 + probes <= len(rig.attempts()) <= 3 + probes + 1
        await wait_for(
            "every refused call given back to its case",
            lambda: (
                all(a.ended_at is not None for a in rig.attempts())
                and all(c.attempts_count == 0 for c in rig.cases().values())
            ),
        )
        # a preview call is refused too while the breaker is open
        with pytest.raises(DialerUnavailable, match="试拨"):
            await service.dial_preview(user_id=rig.seats[0], case_id=attempts[0].case_id)
        # the PBX is back: the next probe gets through, the breaker closes, dialling goes on by itself
        pbx.shutting_down = False
        await wait_for("the breaker to close", lambda: service.status()["breaker_open"] == [], timeout=15)
        await wait_for(
            "busy calls after the probe", lambda: sum(a.outcome == "busy" for a in rig.attempts()) >= 3
        )
        assert _breaker(service, rig.campaign_id)["state"] == "closed"
        assert any(
            "dialling resumes" in r.getMessage() and "恢复拨号" in r.getMessage() for r in caplog.records
        )
        await service.stop()  # no call in flight: the books can be compared
        # only calls that reached the network count toward the cap; the refused ones are 3.11 rows
        counted = sum(c.attempts_count for c in rig.cases().values())
        assert counted == sum(a.outcome != "failed" for a in rig.attempts()) >= 3
    finally:
        await rig.close()


async def test_a_dialplan_error_opens_the_breaker_at_once(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cati.dialing.service")
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=2,
        cases_count=10,
        outcomes=["busy"],
        dial_template="Local/{number}@no-such-context",
        breaker_backoff_seconds=60,
        breaker_max_backoff_seconds=600,
    )
    try:
        service = await rig.start()
        await wait_for("the breaker to open", lambda: service.status()["breaker_open"] == [rig.campaign_id])
        await asyncio.sleep(0.3)  # a few more ticks: nothing else is dialled
        await wait_for("the failures recorded", lambda: all(a.ended_at is not None for a in rig.attempts()))
        attempts = rig.attempts()
        assert 1 <= len(attempts) <= 2  # the two seats' first calls may both be out already
        assert {(a.outcome, a.disposition) for a in attempts} == {("failed", "3.11")}
        assert all(c.attempts_count == 0 for c in rig.cases().values())
        assert service.pbx is not None and service.pbx.stats.originates == len(attempts)
        br = _breaker(service, rig.campaign_id)
        assert br["reason"] == "dialplan" and br["probe_in_s"] > 50
        assert any(
            r.levelno == logging.WARNING
            and "dial plan error" in r.getMessage()
            and "拨号计划错误" in r.getMessage()
            for r in caplog.records
        )
    finally:
        await rig.close()


async def test_status_endpoint_and_supervisor_alert_show_the_open_breaker(
    db_url: str, tmp_path: Path, settings: Settings, users: Users
) -> None:
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=1,
        cases_count=4,
        outcomes=["busy"],
        dial_template="Local/{number}@no-such-context",
        breaker_backoff_seconds=60,
        breaker_max_backoff_seconds=600,
    )
    users.create("sup", Role.supervisor)
    users.create("wit", Role.witness)
    try:
        service = await rig.start()
        await wait_for("the breaker to open", lambda: service.status()["breaker_open"] == [rig.campaign_id])
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            client.app.state.dialer = service  # type: ignore[attr-defined]  # the rig's dialer
            sup = users.bearer("sup")
            body = client.get("/api/v1/dialer/status", headers=sup).json()
            assert body["breaker_open"] == [rig.campaign_id]
            br = body["campaigns"][str(rig.campaign_id)]["breaker"]
            assert br["open"] is True and br["reason"] == "dialplan" and "Reason 0" in br["detail"]
            live = client.get(f"/api/v1/campaigns/{rig.campaign_id}/live?view=supervisor", headers=sup).json()
            [alert] = [a for a in live["alerts"] if a["code"] == "pbx_breaker_open"]
            assert alert["level"] == "critical" and "拨号计划错误" in alert["text"]["zh-CN"]
            assert "dial plan error" in alert["text"]["en"]
            witness = client.get(
                f"/api/v1/campaigns/{rig.campaign_id}/live", headers=users.bearer("wit")
            ).json()
            assert "alerts" not in witness
    finally:
        await rig.close()


def test_not_dialled_keeps_an_appointment_and_waits_the_short_delay() -> None:
    from dialer.schedule import CallingWindows, SchedulingRules, decide_after_attempt

    now = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)
    windows = CallingWindows.from_json(None, "Asia/Shanghai")
    rules = SchedulingRules()
    kw: dict[str, Any] = dict(
        code="3.11",
        attempt_codes=["3.11"],
        attempts=0,
        refusals=0,
        now=now,
        stratum="resident",
        windows=windows,
        rules=rules,
    )
    kept = decide_after_attempt(**kw, had_appointment=True, retry_reason=RetryReason.not_dialled)
    assert kept.reason == "appointment_missed" and kept.next_call_at == now + dt.timedelta(minutes=1)
    plain = decide_after_attempt(**kw, retry_reason=RetryReason.not_dialled)
    assert plain.reason == "not_dialled" and plain.final_code is None


async def test_a_pbx_shutting_down_refuses_the_login_and_the_client_waits_for_it() -> None:
    """Not "wrong credentials" (a terminal state): a graceful restart refuses Login too."""
    from dialer.ami.client import AmiClient, LinkState

    pbx = SimPbx(SimPbxConfig(username="cati", secret="s"))
    pbx.shutting_down = True
    host, port = await pbx.start("127.0.0.1", 0)
    states: list[tuple[LinkState, str | None]] = []
    client = AmiClient(
        host,
        port,
        "cati",
        "s",
        on_state=lambda state, detail: states.append((state, detail)),
        reconnect_delay=0.05,
        max_reconnect_delay=0.1,
    )
    try:
        await client.start()
        await wait_for("a refused login", lambda: any("shutting down" in (d or "") for _, d in states))
        assert client.state is not LinkState.LOGIN_REFUSED
        pbx.shutting_down = False  # the PBX is back
        await client.wait_up(5)
    finally:
        await client.stop()
        await pbx.stop()


async def test_in_preview_the_interviewers_call_is_the_probe(db_url: str, tmp_path: Path) -> None:
    """A preview campaign has no pacing to send a probe: the next preview call after the back-off is it."""
    from cati.console import service as console
    from cati.models import User

    rig = build(
        db_url,
        tmp_path,
        mode="preview",
        seats=1,
        cases_count=6,
        outcomes=["busy"],
        dial_template="Local/{number}@no-such-context",
        breaker_backoff_seconds=0.3,
        breaker_max_backoff_seconds=5,
    )
    user_id = rig.seats[0]

    def preview() -> int:
        with transaction(rig.factory) as s:
            user = s.get(User, user_id)
            assert user is not None
            case = console.preview_next(s, user, now=rig.clock.now())
            assert case is not None
            return case.id

    async def dial() -> int:
        case_id = await asyncio.to_thread(preview)
        return await service.dial_preview(user_id=user_id, case_id=case_id)

    async def seat_ready() -> None:
        await wait_for("the seat ready", lambda: rig.seat(user_id).status == "ready")

    try:
        service = await rig.start()
        await wait_for("the campaign paced", lambda: str(rig.campaign_id) in service.status()["campaigns"])
        await dial()
        await wait_for("the breaker to open", lambda: service.status()["breaker_open"] == [rig.campaign_id])
        await seat_ready()
        case_id = await asyncio.to_thread(preview)
        with pytest.raises(DialerUnavailable, match="拨号计划"):
            await service.dial_preview(user_id=user_id, case_id=case_id)
        await asyncio.sleep(0.35)  # the back-off has passed: the same case's call is now the probe
        await service.dial_preview(user_id=user_id, case_id=case_id)
        await wait_for("the failed probe", lambda: _breaker(service, rig.campaign_id)["backoff_s"] == 0.6)
        assert _breaker(service, rig.campaign_id)["probes"] == 1
        await seat_ready()
        service.settings = service.settings.model_copy(update={"dial_template": "Local/{number}@respondents"})
        await asyncio.sleep(0.65)
        await dial()  # the dial plan is fixed: this probe gets through and closes the breaker
        await wait_for("the breaker to close", lambda: service.status()["breaker_open"] == [])
        await wait_for("a busy call", lambda: any(a.outcome == "busy" for a in rig.attempts()))
        assert len(rig.attempts()) == 3  # the refused preview placed nothing
    finally:
        await rig.close()
