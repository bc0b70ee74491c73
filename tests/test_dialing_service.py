"""The dialing loop end to end: DialerService -> AMI over TCP -> in-process simulated PBX -> database
and the console's seat service; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path

import pytest
from dialing_rig import SPEED, START, HandClock, Rig, build, free_port, scripted, wait_for
from sqlalchemy import select
from tcp_proxy import TcpProxy

from cati.dialing.service import DialerService
from cati.models import Attempt, InterviewerSeat
from dialer.simpbx import SimPbx, SimPbxConfig
from dialer.simpbx.rawclient import RawAmiClient

pytestmark = pytest.mark.timeout(60)


def _seat_topic(user_id: int) -> str:
    return f"seat:{user_id}"


async def test_progressive_answered_call_reaches_the_reserved_seat(db_url: str, tmp_path: Path) -> None:
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=1, outcomes=["answer"])
    user_id = rig.seats[0]
    try:
        with rig.bus.subscribe({_seat_topic(user_id)}) as sub:
            service = await rig.start()
            seat = await wait_for("the seat on a call", lambda: _on_call(rig, user_id))
            attempts = rig.attempts()
            assert len(attempts) == 1
            attempt = attempts[0]
            assert seat.current_attempt_id == attempt.id and seat.current_case_id == attempt.case_id
            assert seat.current_interview_id is not None  # connect_call started the interview
            assert attempt.dialling_mode == "progressive"
            assert attempt.interviewer_id == user_id
            assert attempt.answered_at is not None and attempt.connected_at is not None
            assert attempt.ended_at is None
            # the console's state event arrived on the bus, for that seat
            event = await asyncio.wait_for(_next_of(sub, "state"), 5)
            assert event.topic == _seat_topic(user_id)
            # the answer -> console latency was measured
            await wait_for("the latency figure", lambda: service.latencies_ms)
            assert len(service.latencies_ms) == 1 and service.latencies_ms[0] >= 0
            assert service.status()["latency_ms"]["count"] == 1
            assert service.status()["calls"]["connected"] == 1
            # the interviewer hangs up: the attempt closes, the case stays with the interviewer
            await service.hangup(attempt.id)
            ended = await wait_for("the attempt to end", lambda: _ended(rig, attempt.id))
            assert ended.outcome == "answered"
            case = rig.cases()[rig.numbers[0]]
            assert case.status == "interviewing"
            assert rig.seat(user_id).current_case_id == case.id  # kept for coding
    finally:
        await rig.close()


async def test_unanswered_outcomes_are_recorded_and_the_seat_released(db_url: str, tmp_path: Path) -> None:
    outcomes = ["busy", "congestion", "noanswer", "unallocated"]
    expected = {
        "busy": ("busy", "3.12"),
        "congestion": ("congestion", "3.16"),
        "noanswer": ("no_answer", "3.13"),
        "unallocated": ("non_working", "4.31"),
    }
    rig = build(db_url, tmp_path, mode="progressive", seats=1, cases_count=4, outcomes=outcomes)
    user_id = rig.seats[0]
    try:
        service = await rig.start()
        await wait_for("four ended attempts", lambda: len([a for a in rig.attempts() if a.ended_at]) >= 4, 20)
        by_number = rig.cases()
        for number, fixed in zip(rig.numbers, outcomes, strict=True):
            case = by_number[number]
            with rig.session() as s:
                (attempt,) = s.execute(select(Attempt).where(Attempt.case_id == case.id)).scalars().all()
            assert (attempt.outcome, attempt.disposition) == expected[fixed], number
            assert attempt.interviewer_id == user_id
            assert case.status == ("finalised" if fixed == "unallocated" else "scheduled")
        seat = rig.seat(user_id)
        assert seat.status == "ready" and seat.current_case_id is None  # released after every call
        assert service.counters["placed"] == 4 and service.counters["answered"] == 0
        assert service.pbx is not None and service.pbx.stats.originates == 4
    finally:
        await rig.close()


async def test_predictive_more_lines_than_seats_abandons_through_the_abandon_context(
    db_url: str, tmp_path: Path
) -> None:
    # one ready interviewer, three lines that all answer: one call reaches the seat, the other two
    # find nobody within 2 s and hear the identification message (the abandonment context)
    rig = build(
        db_url,
        tmp_path,
        mode="predictive",
        seats=1,
        cases_count=3,
        outcomes=["answer"],
        model_defaults={"patience_min": 60, "patience_max": 60},
    )
    user_id = rig.seats[0]
    try:
        service = await rig.start(pacer_factory=scripted(3))
        watcher = RawAmiClient()
        await wait_for("the PBX", lambda: service.pbx_address is not None)
        assert service.pbx_address is not None
        await watcher.connect(*service.pbx_address)
        await watcher.login(rig.settings.ami_username, rig.settings.ami_secret)
        await wait_for("three attempts ended or connected", lambda: _settled(rig, 3), 20)
        attempts = rig.attempts()
        assert len(attempts) == 3
        connected = [a for a in attempts if a.connected_at is not None]
        abandoned = [a for a in attempts if a.abandoned]
        assert len(connected) == 1 and connected[0].interviewer_id == user_id
        assert len(abandoned) == 2
        for a in abandoned:
            assert a.disposition == "3.21" and a.outcome == "answered" and a.ended_at is not None
            with rig.session() as s:
                from cati.models import Case

                case = s.get(Case, a.case_id)
                assert case is not None and case.blocked_until is not None
                assert case.blocked_until > rig.clock.now()  # not called again today
        assert all(a.dialling_mode == "predictive" for a in attempts)
        assert service.pbx.stats.max_active_calls >= 3  # more lines than ready interviewers
        assert service.counters["abandoned"] == 2
        # the abandoned calls were sent to the identification message
        playbacks = [
            m
            for m in watcher.messages
            if m.get("Application") == "Playback" or m.get("Context") == rig.settings.abandon_context
        ]
        assert playbacks, "no call reached the abandonment context"
        seat = rig.seat(user_id)
        assert seat.status == "on_call" and seat.current_attempt_id == connected[0].id
        await watcher.close()
    finally:
        await rig.close()


def _on_hold(db_url: str, tmp_path: Path, clock: HandClock) -> Rig:
    """One predictive line, answered by a patient respondent, and no interviewer ready."""
    return build(
        db_url,
        tmp_path,
        mode="predictive",
        seats=1,
        cases_count=1,
        outcomes=["answer"],
        ready=False,
        model_defaults={"patience_min": 600, "patience_max": 600},
        clock=clock,
    )


async def _answered_and_waiting(rig: Rig, service: DialerService) -> Attempt:
    def on_hold() -> Attempt | None:
        attempts = rig.attempts()  # the answer is committed with the first look for a seat
        if service.status()["calls"]["waiting"] == 1 and len(attempts) == 1 and attempts[0].answered_at:
            return attempts[0]
        return None

    attempt: Attempt = await wait_for("the answered call on hold", on_hold)
    assert attempt.connected_at is None
    return attempt


async def test_two_second_rule_abandons_at_2_s_not_at_1_9(db_url: str, tmp_path: Path) -> None:
    # the service clock stands still unless moved: the rule is decided on it alone, whatever the
    # real time the database or the event loop take
    clock = HandClock(speed=SPEED, start=START)
    rig = _on_hold(db_url, tmp_path, clock)
    try:
        service = await rig.start(pacer_factory=scripted(1))
        attempt = await _answered_and_waiting(rig, service)
        answered = clock.now()  # the clock has not moved since the answer
        clock.advance_to(answered + dt.timedelta(seconds=1.9))
        await asyncio.sleep(0.5)  # real time: plenty for a wrong timer to fire
        assert service.status()["calls"]["waiting"] == 1 and service.counters["abandoned"] == 0
        assert not _attempt(rig, attempt.id).abandoned
        clock.advance_to(answered + dt.timedelta(seconds=2.0))
        await wait_for("the abandonment", lambda: _attempt(rig, attempt.id).abandoned)
        assert service.counters["abandoned"] == 1
        # the hold before abandonment, in service seconds, as the status reports it
        assert service.status()["abandon_hold_s"] == {"count": 1, "min": 2.0, "max": 2.0}
        case = rig.cases()[rig.numbers[0]]
        assert case.blocked_until is not None  # not called again today
    finally:
        await rig.close()


async def test_two_second_rule_a_seat_freed_at_1_9_s_connects(db_url: str, tmp_path: Path) -> None:
    from cati.console import service as console
    from cati.db import transaction
    from cati.models import User

    clock = HandClock(speed=SPEED, start=START)
    rig = _on_hold(db_url, tmp_path, clock)
    user_id = rig.seats[0]
    try:
        service = await rig.start(pacer_factory=scripted(1))
        attempt = await _answered_and_waiting(rig, service)
        answered = clock.now()
        clock.advance_to(answered + dt.timedelta(seconds=1.9))
        await asyncio.sleep(0.2)
        with transaction(rig.factory) as s:  # the interviewer turns ready, as the console does it
            user = s.get(User, user_id)
            assert user is not None
            console.go_ready(s, user, campaign_id=rig.campaign_id, now=clock.now())
        service.wake(rig.campaign_id)
        seat = await wait_for("the seat on a call", lambda: _on_call(rig, user_id))
        assert seat.current_attempt_id == attempt.id
        clock.advance_to(answered + dt.timedelta(seconds=5))
        await asyncio.sleep(0.3)
        connected = _attempt(rig, attempt.id)
        assert connected.connected_at is not None and not connected.abandoned
        assert service.counters["abandoned"] == 0 and service.counters["connected"] == 1
    finally:
        await rig.close()


async def test_no_number_is_in_two_calls_at_once(db_url: str, tmp_path: Path) -> None:
    # busy numbers are retried after one minute of service time (2 s real): each number is dialled
    # again and again by two interviewers' progressive calls; no attempt of a case overlaps another
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=2,
        cases_count=3,
        outcomes=["busy"],
        scheduling={"retry_minutes": {"busy": 1}, "max_attempts": 10},
        speed=60.0,
    )
    try:
        service = await rig.start()
        await wait_for("retries", lambda: len([a for a in rig.attempts() if a.ended_at]) >= 6, 25)
        await service.stop()
        attempts = rig.attempts()
        by_case: dict[int, list[Attempt]] = {}
        for a in attempts:
            by_case.setdefault(a.case_id, []).append(a)
        assert any(len(v) >= 2 for v in by_case.values())
        for case_attempts in by_case.values():
            case_attempts.sort(key=lambda a: a.started_at)
            for before, after in itertools.pairwise(case_attempts):
                assert before.ended_at is not None and before.ended_at <= after.started_at
        assert all(a.ended_at is not None for a in attempts)  # none left open
    finally:
        await rig.close()


async def test_pbx_down_at_start_then_up(db_url: str, tmp_path: Path) -> None:
    port = free_port()
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=1,
        cases_count=1,
        outcomes=["busy"],
        ami_host="127.0.0.1",
        ami_port=port,
    )
    pbx: SimPbx | None = None
    try:
        service = await rig.start()
        await wait_for("link down", lambda: "refused" in (service.status()["detail"] or ""))
        status = service.status()
        assert status["link"] in ("down", "connecting") and status["placing_calls"] is False
        await asyncio.sleep(0.3)
        assert rig.attempts() == []  # paused: nothing handed out while the PBX is down
        pbx = SimPbx(
            SimPbxConfig(
                username=rig.settings.ami_username,
                secret=rig.settings.ami_secret,
                speed=rig.clock.speed,
                start=rig.clock.now(),
                model_path=rig.settings.sim_model,
            )
        )
        await pbx.start("127.0.0.1", port)
        await wait_for("link up", lambda: service.status()["link"] == "up", 10)
        await wait_for("the call placed and ended", lambda: [a for a in rig.attempts() if a.ended_at], 10)
        assert pbx.stats.originates == 1
    finally:
        await rig.close()
        if pbx is not None:
            await pbx.stop()


async def test_connection_lost_mid_call_is_reconciled_never_redialled(db_url: str, tmp_path: Path) -> None:
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=1,
        cases_count=2,
        outcomes=["answer"],
        ami_host="127.0.0.1",
        ami_port=1,
    )
    pbx = SimPbx(
        SimPbxConfig(
            username=rig.settings.ami_username,
            secret=rig.settings.ami_secret,
            speed=rig.clock.speed,
            start=rig.clock.now(),
            model_path=rig.settings.sim_model,
        )
    )
    host, pbx_port = await pbx.start("127.0.0.1", 0)
    proxy = TcpProxy(host, pbx_port)
    rig.settings.ami_port = await proxy.start()
    user_id = rig.seats[0]
    events: list[str] = []
    try:
        with rig.bus.subscribe({"dialer"}) as sub:
            service = await rig.start()
            seat = await wait_for("the seat on a call", lambda: _on_call(rig, user_id))
            attempt_id = seat.current_attempt_id
            assert attempt_id is not None
            assert _channel_of(rig, attempt_id) in {c.uniqueid for c in pbx.channels()}  # still talking
            proxy.cut()  # the link drops mid-call
            await wait_for("link down", lambda: service.status()["link"] != "up")
            # while we are away the respondent hangs up
            raw = RawAmiClient()
            await raw.connect(host, pbx_port)
            await raw.login(rig.settings.ami_username, rig.settings.ami_secret)
            channel_id = _channel_of(rig, attempt_id)
            raw.send("Hangup", Channel=channel_id)
            await wait_for("the call gone at the PBX", lambda: not pbx.channels(), 5)
            await raw.close()
            proxy.restore()
            ended = await wait_for("the attempt reconciled", lambda: _ended(rig, attempt_id), 10)
            assert ended.outcome == "lost" and ended.disposition == "3.21"
            assert service.status()["link"] == "up"
            while not sub.queue.empty():
                events.append(sub.queue.get_nowait().data["link"])
        assert "down" in events and events[-1] == "up"
        # never dialled twice: one attempt per case, every originate has its attempt
        attempts = rig.attempts()
        assert len({a.case_id for a in attempts}) == len(attempts)
        assert pbx.stats.originates == len(attempts)
        assert all(a.ended_at is not None for a in attempts if a.id == attempt_id)
        assert rig.seat(user_id).current_case_id == ended.case_id  # the interviewer still codes it
    finally:
        await rig.close()
        await proxy.stop()
        await pbx.stop()


async def test_login_refused_is_reported_without_a_busy_loop(db_url: str, tmp_path: Path) -> None:
    rig = build(
        db_url, tmp_path, mode="progressive", seats=1, cases_count=1, ami_host="127.0.0.1", ami_port=1
    )
    pbx = SimPbx(SimPbxConfig(username=rig.settings.ami_username, secret="another-secret"))
    _, port = await pbx.start("127.0.0.1", 0)
    rig.settings.ami_port = port
    try:
        service = await rig.start()
        await wait_for("login refused", lambda: service.status()["link"] == "login_refused")
        await asyncio.sleep(1.0)
        status = service.status()
        assert status["link"] == "login_refused" and status["placing_calls"] is False
        assert rig.settings.ami_username in (status["detail"] or "")
        assert pbx.stats.logins_failed == 1  # refused once, not retried in a loop
        assert rig.attempts() == []
    finally:
        await rig.close()
        await pbx.stop()


async def test_slow_pbx_still_records_every_call_once(db_url: str, tmp_path: Path) -> None:
    """Every reply of the PBX arrives 0.25 s late each way (under the Ping watchdog's limit): the dialer keeps
    the link, places each call once and records each outcome."""
    rig = build(
        db_url,
        tmp_path,
        mode="progressive",
        seats=1,
        cases_count=3,
        outcomes=["busy"],
        ami_host="127.0.0.1",
        ami_port=1,
        scheduling={"max_attempts": 1},
    )
    pbx = SimPbx(
        SimPbxConfig(
            username=rig.settings.ami_username,
            secret=rig.settings.ami_secret,
            speed=rig.clock.speed,
            start=rig.clock.now(),
            model_path=rig.settings.sim_model,
        )
    )
    host, pbx_port = await pbx.start("127.0.0.1", 0)
    proxy = TcpProxy(host, pbx_port)
    proxy.delay = 0.25  # each way: half the watchdog's 1-s limit per round trip, room for a loaded CI box
    rig.settings.ami_port = await proxy.start()
    try:
        service = await rig.start()
        await wait_for("link up through the slow PBX", lambda: service.status()["link"] == "up", 10)
        await wait_for("three calls ended", lambda: _settled(rig, 3), 30)
        attempts = rig.attempts()
        assert [a.disposition for a in attempts] == ["3.12"] * 3
        assert len({a.case_id for a in attempts}) == 3  # each number dialled once
        assert pbx.stats.originates == 3
        assert service.status()["link"] == "up"
        assert proxy.accepted == 1  # never had to reconnect
    finally:
        await rig.close()
        await proxy.stop()
        await pbx.stop()


# -- helpers -------------------------------------------------------------------------------------


def _on_call(rig, user_id: int) -> InterviewerSeat | None:  # type: ignore[no-untyped-def]
    seat = rig.seat(user_id)
    return seat if seat.status == "on_call" else None


def _attempt(rig: Rig, attempt_id: int) -> Attempt:
    with rig.session() as s:
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None
        return attempt


def _ended(rig, attempt_id: int) -> Attempt | None:  # type: ignore[no-untyped-def]
    with rig.session() as s:
        a = s.get(Attempt, attempt_id)
        return a if a is not None and a.ended_at is not None else None


def _channel_of(rig, attempt_id: int) -> str:  # type: ignore[no-untyped-def]
    with rig.session() as s:
        a = s.get(Attempt, attempt_id)
        assert a is not None
        return a.channel_id


def _settled(rig, n: int) -> bool:  # type: ignore[no-untyped-def]
    attempts = rig.attempts()
    done = [a for a in attempts if a.ended_at is not None or a.connected_at is not None]
    return len(attempts) >= n and len(done) >= n


async def _next_of(sub, type_: str):  # type: ignore[no-untyped-def]
    while True:
        ev = await sub.queue.get()
        if ev.type == type_:
            return ev


async def test_preview_call_is_placed_when_the_interviewer_asks(db_url: str, tmp_path: Path) -> None:
    from cati.console import service as console
    from cati.dialing.control import DialerUnavailable
    from cati.models import User

    rig = build(db_url, tmp_path, mode="preview", seats=1, cases_count=2, outcomes=["answer"])
    user_id = rig.seats[0]
    try:
        service = await rig.start()
        await wait_for("link up", lambda: service.status()["link"] == "up")
        await asyncio.sleep(0.3)
        assert rig.attempts() == []  # preview: the pacer never dials by itself
        with rig.session() as s:
            user = s.get(User, user_id)
            assert user is not None
            case = console.preview_next(s, user, now=rig.clock.now())
            assert case is not None
            case_id = case.id
            s.commit()
        attempt_id = await service.dial_preview(user_id=user_id, case_id=case_id)
        seat = await wait_for("the seat on a call", lambda: _on_call(rig, user_id))
        assert seat.current_attempt_id == attempt_id and seat.current_case_id == case_id
        (attempt,) = rig.attempts()
        assert attempt.dialling_mode == "preview" and attempt.connected_at is not None
        with pytest.raises(DialerUnavailable):  # the case is in a call already: never dialled twice
            await service.dial_preview(user_id=user_id, case_id=case_id)
        assert len(rig.attempts()) == 1
    finally:
        await rig.close()
