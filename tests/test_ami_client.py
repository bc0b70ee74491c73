"""The asyncio AMI client over real TCP on 127.0.0.1: every capture replayed; the faults of item 7."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from ami_captures import CALL_CAPTURES, EXPECTED, calls
from fake_ami import FakeAmi

from dialer.ami.client import (
    AmiClient,
    AmiNotConnectedError,
    LinkState,
    OriginateRefusedError,
    OriginateUnconfirmedError,
)
from dialer.ami.outcomes import AttemptPhase, AttemptUpdate, CallOutcome
from dialer.ami.protocol import AmiMessage

pytestmark = pytest.mark.timeout(30)


class Recorder:
    def __init__(self) -> None:
        self.updates: list[AttemptUpdate] = []
        self.states: list[tuple[LinkState, str | None]] = []
        self._changed = asyncio.Event()

    def update(self, u: AttemptUpdate) -> None:
        self.updates.append(u)
        self._changed.set()

    def state(self, s: LinkState, detail: str | None) -> None:
        self.states.append((s, detail))
        self._changed.set()

    def ended(self) -> dict[str, AttemptUpdate]:
        return {u.attempt_id: u for u in self.updates if u.phase is AttemptPhase.ENDED}

    def phases(self, attempt_id: str) -> list[AttemptPhase]:
        return [u.phase for u in self.updates if u.attempt_id == attempt_id]

    async def until(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        async def wait() -> None:
            while not check():  # polls: some conditions are on the server's side, not ours
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)

        await asyncio.wait_for(wait(), timeout)


@asynccontextmanager
async def connected(server: FakeAmi, **kw: Any) -> AsyncIterator[tuple[AmiClient, Recorder]]:
    rec = Recorder()
    options: dict[str, Any] = {"reconnect_delay": 0.05, "ping_interval": 5.0, "ping_timeout": 2.0}
    options.update(kw)
    client = AmiClient(
        "127.0.0.1", server.port, "cati", "cati-lab-secret", on_update=rec.update, on_state=rec.state,
        **options,
    )
    await client.start()
    try:
        yield client, rec
    finally:
        await client.stop()


async def _originate(client: AmiClient, attempt_id: str, number: str) -> None:
    await client.originate(
        attempt_id,
        f"Local/{number}@respondents",
        context="interviewer",
        exten="1000",
        timeout_ms=15000,
        caller_id="CATI <0200000000>",
        variables={"CASEID": attempt_id},
    )


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    srv = FakeAmi()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.mark.parametrize("name", CALL_CAPTURES)
async def test_every_capture_replayed_through_the_client(server: FakeAmi, name: str) -> None:
    server.queue(name)
    n = len(calls(name))
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        ids = [f"case{i}-att1" for i in range(n)]
        results = await asyncio.gather(
            *(_originate(client, a, f"55510{i:02d}") for i, a in enumerate(ids)), return_exceptions=True
        )
        await rec.until(lambda: len(rec.ended()) == n)
        ended = rec.ended()
        assert [ended[a].outcome for a in ids] == EXPECTED[name]
        assert client.open_attempts() == []
        for a, result in zip(ids, results, strict=True):
            if name == "sync-busy":
                assert isinstance(result, OriginateRefusedError)
            else:
                assert result is None
            phases = rec.phases(a)
            assert phases[0] is AttemptPhase.DIALLING and phases[-1] is AttemptPhase.ENDED
            assert phases.count(AttemptPhase.ENDED) == 1
            if ended[a].outcome is CallOutcome.ANSWERED:
                answered = next(
                    u for u in rec.updates if u.attempt_id == a and u.phase is AttemptPhase.ANSWERED
                )
                assert answered.channel and answered.channel.endswith(";1")
    # What went on the wire: always Async true, ChannelId/OtherChannelId per attempt, never a second dial.
    originates = server.actions("Originate")
    assert len(originates) == n
    for o in originates:
        assert o.get("Async") == "true"
        assert o.get("ChannelId", "").endswith("-a") and o.get("OtherChannelId", "").endswith("-b")
        assert o.get_all("Variable") and o.get("Timeout") == "15000"


async def test_pbx_down_at_start_then_up(unused_port: int) -> None:
    server = FakeAmi()
    server.port = unused_port
    async with connected(server) as (client, rec):
        await rec.until(lambda: sum(s is LinkState.DOWN for s, _ in rec.states) >= 2)
        assert client.state in (LinkState.DOWN, LinkState.CONNECTING)
        assert rec.states[0][0] is LinkState.CONNECTING
        assert any("refused" in (d or "") for s, d in rec.states if s is LinkState.DOWN)
        with pytest.raises(AmiNotConnectedError):
            await _originate(client, "early", "5551001")
        await server.start(unused_port)
        try:
            await client.wait_up(5)
            server.queue("busy-1")
            await _originate(client, "after", "5551002")
            await rec.until(lambda: "after" in rec.ended())
            assert rec.ended()["after"].outcome is CallOutcome.BUSY
            assert "early" not in {u.attempt_id for u in rec.updates}
        finally:
            await server.stop()


async def test_connection_lost_mid_call_is_reconciled_as_lost_and_never_redialled(server: FakeAmi) -> None:
    server.queue("answered-with-channelid")
    server.hold_after = "OriginateResponse"  # the respondent has answered; hangups are still to come
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        await _originate(client, "mid", "5551001")
        await rec.until(lambda: AttemptPhase.ANSWERED in rec.phases("mid"))
        # The PBX restarts: the call and its channels are gone, and so is our connection.
        server.channels.clear()
        server.held = []
        server.drop()
        await rec.until(lambda: "mid" in rec.ended())
        ended = rec.ended()["mid"]
        assert ended.outcome is CallOutcome.LOST and ended.detail
        await client.wait_up(5)
        assert client.connects == 2 and client.open_attempts() == []
        assert [s for s, _ in rec.states][-3:] == [LinkState.DOWN, LinkState.CONNECTING, LinkState.UP]
    assert len(server.actions("Originate")) == 1
    assert len(server.actions("CoreShowChannels")) == 1


async def test_connection_lost_while_the_call_survives_keeps_tracking_it(server: FakeAmi) -> None:
    server.queue("answered-with-channelid")
    server.hold_after = "OriginateResponse"
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        await _originate(client, "survivor", "5551001")
        await rec.until(lambda: AttemptPhase.ANSWERED in rec.phases("survivor"))
        server.drop()  # only the AMI link breaks; the call goes on in the PBX
        await rec.until(lambda: client.connects == 2 and client.state is LinkState.UP)
        assert client.open_attempts() == ["survivor"]
        await server.release()  # the rest of the call, hangups included, on the new connection
        await rec.until(lambda: "survivor" in rec.ended())
        assert rec.ended()["survivor"].outcome is CallOutcome.ANSWERED
    assert len(server.actions("Originate")) == 1


async def test_link_lost_before_the_acknowledgement(server: FakeAmi) -> None:
    server.drop_on_originate = True
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        with pytest.raises(OriginateUnconfirmedError):
            await _originate(client, "unacked", "5551001")
        server.drop_on_originate = False
        await rec.until(lambda: "unacked" in rec.ended())
        assert rec.ended()["unacked"].outcome is CallOutcome.LOST
    assert len(server.actions("Originate")) == 1


async def test_login_refused_is_terminal_and_does_not_loop() -> None:
    server = FakeAmi(secret="another-secret")
    await server.start()
    try:
        async with connected(server) as (client, rec):
            await rec.until(lambda: client.state is LinkState.LOGIN_REFUSED)
            await asyncio.sleep(0.3)  # six reconnect delays: a retrying client would log in again
            assert server.logins == 1
            assert client.state is LinkState.LOGIN_REFUSED
            assert client.last_error and "refused" in client.last_error and "cati" in client.last_error
            with pytest.raises(AmiNotConnectedError, match="login_refused"):
                await _originate(client, "nope", "5551001")
    finally:
        await server.stop()


async def test_slow_pbx_still_resolves(server: FakeAmi) -> None:
    server.reply_delay = 0.3
    server.queue("busy-2")
    async with connected(server, action_timeout=2.0) as (client, rec):
        await client.wait_up(5)
        await _originate(client, "slow", "5551002")
        await rec.until(lambda: "slow" in rec.ended())
        assert rec.ended()["slow"].outcome is CallOutcome.BUSY


async def test_too_slow_pbx_times_out_cleanly_and_the_outcome_still_arrives(server: FakeAmi) -> None:
    server.reply_delay = 0.6
    server.queue("congestion-1")
    async with connected(server, action_timeout=0.2) as (client, rec):
        await client.wait_up(5)
        with pytest.raises(OriginateUnconfirmedError):
            await _originate(client, "tooslow", "5551003")
        assert client.open_attempts() == ["tooslow"]  # tracked, not forgotten, not redialled
        await rec.until(lambda: "tooslow" in rec.ended())
        assert rec.ended()["tooslow"].outcome is CallOutcome.CONGESTION
        assert client.state is LinkState.UP
    assert len(server.actions("Originate")) == 1


async def test_half_open_link_is_detected_by_the_ping_watchdog(server: FakeAmi) -> None:
    async with connected(server, ping_interval=0.1, ping_timeout=0.2) as (client, rec):
        await client.wait_up(5)
        await rec.until(lambda: len(server.actions("Ping")) >= 2)
        server.mute()  # the socket stays open; nothing comes back any more
        await rec.until(lambda: any("half-open" in (d or "") for s, d in rec.states if s is LinkState.DOWN))
        await rec.until(lambda: client.connects == 2 and client.state is LinkState.UP)


async def test_hangup_before_answer_is_cancelled_and_redirect_reaches_the_pbx(server: FakeAmi) -> None:
    server.queue("noanswer-1", "answered-1")
    server.hold_after = "DialState"  # ringing
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        await _originate(client, "ringing", "5551004")
        await rec.until(lambda: AttemptPhase.RINGING in rec.phases("ringing"))
        await client.hangup("ringing")
        # the fake PBX hangs up the ;1 channel it was asked for; ;2 follows in the held rest
        await server.release()
        await rec.until(lambda: "ringing" in rec.ended())
        assert rec.ended()["ringing"].outcome is CallOutcome.CANCELLED
        server.hold_after = "OriginateResponse"
        await _originate(client, "answer", "5551001")
        await rec.until(lambda: AttemptPhase.ANSWERED in rec.phases("answer"))
        await client.redirect("answer", "interviewer", "1001")
        redirect = server.actions("Redirect")[-1]
        assert redirect.get("Channel", "").endswith(";1") and redirect.get("Exten") == "1001"
        channels = await client.core_show_channels()
        assert {c["Uniqueid"] for c in channels} == {"cati-answer-a", "cati-answer-b"}
    hangup = server.actions("Hangup")[0]
    assert hangup.get("Channel", "").endswith(";1")


async def test_bad_input_is_refused_before_anything_is_sent(server: FakeAmi) -> None:
    async with connected(server) as (client, _):
        await client.wait_up(5)
        with pytest.raises(ValueError, match="attempt id"):
            await _originate(client, "bad id;1", "5551001")
        with pytest.raises(ValueError, match="header"):
            await client.originate("x1", "Local/1@r\r\nAction: Hangup", context="c", exten="1")
        with pytest.raises(ValueError, match="variable"):
            await client.originate("x2", "Local/1@r", context="c", exten="1", variables={"A B": "1"})
    assert server.actions("Originate") == []


async def test_an_exception_in_on_update_does_not_break_the_link(server: FakeAmi) -> None:
    server.queue("busy-1", "busy-2")
    seen: list[AttemptUpdate] = []

    def boom(u: AttemptUpdate) -> None:
        seen.append(u)
        raise RuntimeError("service bug")

    async with connected(server) as (client, rec):
        client.on_update = boom
        await client.wait_up(5)
        await _originate(client, "b1", "5551002")
        await _originate(client, "b2", "5551002")
        await rec.until(lambda: sum(u.phase is AttemptPhase.ENDED for u in seen) == 2)
        assert client.connects == 1 and client.state is LinkState.UP


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_a_call_that_turns_up_after_being_lost_is_hung_up(server: FakeAmi) -> None:
    server.drop_on_originate = True
    async with connected(server) as (client, rec):
        await client.wait_up(5)
        with pytest.raises(OriginateUnconfirmedError):
            await _originate(client, "late", "5551001")
        server.drop_on_originate = False
        await rec.until(lambda: "late" in rec.ended() and client.state is LinkState.UP)
        # The PBX had the Originate after all: its channel appears on the new connection.
        server.channels["cati-late-a"] = ("Local/5551001@respondents-00000099;1", "cati-late-a")
        await server.release_events(
            AmiMessage.of(Event="Newchannel", Channel="Local/5551001@respondents-00000099;1",
                          Uniqueid="cati-late-a", Linkedid="cati-late-a", ChannelState="0")
        )
        await rec.until(lambda: [h.get("Channel") for h in server.actions("Hangup")] == ["cati-late-a"])
        assert "cati-late-a" not in server.channels
        assert [u.outcome for u in rec.updates if u.phase is AttemptPhase.ENDED] == [CallOutcome.LOST]
