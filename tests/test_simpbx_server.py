"""The simulated PBX's AMI behaviour over real TCP: login, actions, hold/redirect, load, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import pytest
from simpbx_helpers import CAPTURES

from dialer.ami.protocol import AmiMessage, parse_stream
from dialer.simpbx import Dialplan, SimPbx, SimPbxConfig, parse_model
from dialer.simpbx.rawclient import RawAmiClient

pytestmark = pytest.mark.timeout(60)

Factory = Callable[..., Awaitable[tuple[SimPbx, RawAmiClient]]]
PATIENT = parse_model({"defaults": {"patience_min": 5000, "patience_max": 5000}})


def _config(**kw: object) -> SimPbxConfig:
    base: dict[str, object] = {"username": "cati", "secret": "pw", "seed": 11, "speed": 50}
    base.update(kw)
    return SimPbxConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    """Start PBXs and clients; everything is stopped at the end."""
    pbxs: list[SimPbx] = []
    clients: list[RawAmiClient] = []

    async def factory(login: bool = True, **kw: object) -> tuple[SimPbx, RawAmiClient]:
        pbx = SimPbx(_config(**kw))
        host, port = await pbx.start()
        pbxs.append(pbx)
        client = RawAmiClient()
        await client.connect(host, port)
        clients.append(client)
        if login:
            assert (await client.login("cati", "pw")).response == "Success"
        return pbx, client

    yield factory
    for client in clients:
        await client.close()
    for pbx in pbxs:
        await pbx.stop()


def _originate(client: RawAmiClient, number: str, outcome: str | None = None, **kw: str) -> str:
    fields = {
        "Channel": f"Local/{number}@respondents",
        "Context": "interviewer",
        "Exten": "1000",
        "Priority": "1",
        "CallerID": "CATI <0200000000>",
        "Timeout": "15000",
        "Async": "true",
    }
    fields.update(kw)
    variables = [("Variable", "CASEID=c1")]
    if outcome:
        variables.append(("Variable", f"FORCE_OUTCOME={outcome}"))
    return client.send("Originate", *variables, **fields)


def _is(event: str, **headers: str) -> Callable[[AmiMessage], bool]:
    return lambda m: m.event == event and all(m.get(k) == v for k, v in headers.items())


async def test_login_matches_the_captures(make: Factory) -> None:
    _, client = await make(login=False)
    ok = await client.login("cati", "pw")
    expected = parse_stream((CAPTURES / "00-login-success.txt").read_bytes())
    assert client.banner == "Asterisk Call Manager/11.0.0"
    assert [k for k, _ in ok.headers] == [k for k, _ in expected[0].headers]
    assert ok["Message"] == "Authentication accepted"
    booted = await client.wait_for(lambda m: m.event == "FullyBooted")
    assert [k for k, _ in booted.headers] == [k for k, _ in expected[1].headers]


async def test_wrong_secret_is_refused_and_closed(make: Factory) -> None:
    pbx, client = await make(login=False)
    reply = await client.login("cati", "wrong")
    expected = parse_stream((CAPTURES / "00-login-failure.txt").read_bytes())[0]
    assert reply.response == "Error" and reply["Message"] == expected["Message"] == "Authentication failed"
    await asyncio.wait_for(client.closed.wait(), 5)
    assert pbx.stats.logins_failed == 1


async def test_actions_before_login_are_refused(make: Factory) -> None:
    _, client = await make(login=False)
    reply = await client.response(client.send("Originate", Channel="Local/5551001@respondents"))
    assert (reply.response, reply["Message"]) == ("Error", "Permission denied")
    reply = await client.response(client.send("Ping"))
    assert reply["Message"] == "Permission denied"


async def test_ping_unknown_action_and_logoff(make: Factory) -> None:
    _, client = await make()
    pong = await client.response(client.send("Ping"))
    assert pong["Ping"] == "Pong" and float(pong["Timestamp"]) > 0
    bad = await client.response(client.send("FlyToTheMoon"))
    assert bad.response == "Error" and bad["Message"].startswith("Invalid/unknown command: FlyToTheMoon.")
    bye = await client.response(client.send("Logoff"))
    assert bye.response == "Goodbye"
    await asyncio.wait_for(client.closed.wait(), 5)


async def test_timestamps_follow_the_simulated_clock(make: Factory) -> None:
    start = datetime.fromisoformat("2026-03-02T19:30:00+08:00")
    _, client = await make(start=start)
    _originate(client, "5551002")
    event = await client.wait_for(lambda m: m.event == "Newchannel")
    assert abs(float(event["Timestamp"]) - start.timestamp()) < 60
    assert event["Uniqueid"].startswith(str(int(start.timestamp()))[:6])


async def test_events_off_silences_the_session(make: Factory) -> None:
    _, client = await make()
    reply = await client.response(client.send("Events", EventMask="off"))
    assert reply["Events"] == "Off"
    action_id = _originate(client, "5551002")
    assert (await client.response(action_id))["Message"] == "Originate successfully queued"
    await asyncio.sleep(0.3)  # busy after 1 s simulated = 20 ms real
    assert not any(m.event for m in client.messages if m.event not in ("FullyBooted",))
    reply = await client.response(client.send("Events", EventMask="call"))
    assert reply["Events"] == "On"
    _originate(client, "5551002")
    await client.wait_for(_is("Hangup"))
    assert not any(m.event == "Newexten" for m in client.messages)  # dialplan class is filtered


async def test_core_show_channels_and_status_during_a_call(make: Factory) -> None:
    _, client = await make(model=PATIENT)
    _originate(client, "5550100", "answer", Context="cati-hold", ChannelId="case-1-a")
    await client.wait_for(_is("OriginateResponse", Response="Success"))
    action_id = client.send("CoreShowChannels")
    done = await client.wait_for(_is("CoreShowChannelsComplete", ActionID=action_id))
    listed = [m for m in client.messages if m.event == "CoreShowChannel" and m.action_id == action_id]
    assert done["ListItems"] == "2" == str(len(listed))
    assert {m["Uniqueid"] for m in listed} == {"case-1-a", "case-1-a;2"}
    assert all(m["ChannelStateDesc"] == "Up" for m in listed)
    action_id = client.send("Status", Channel="case-1-a")
    status = await client.wait_for(_is("Status", ActionID=action_id))
    assert status["Channel"].endswith(";1") and status["Context"] == "cati-hold"
    missing = await client.response(client.send("Status", Channel="nope"))
    assert missing["Message"] == "No such channel"


async def test_redirect_from_hold_to_interviewer_then_hangup(make: Factory) -> None:
    _, client = await make(model=PATIENT)
    _originate(client, "5550101", "answer", Context="cati-hold", ChannelId="r-a", OtherChannelId="r-b")
    answered = await client.wait_for(_is("OriginateResponse", Response="Success"))
    assert answered["Reason"] == "4" and answered["Uniqueid"] == "r-a"
    held = await client.wait_for(_is("Newexten", Uniqueid="r-a", Context="cati-hold"))
    assert held["Application"] == "MusicOnHold"
    reply = await client.response(
        client.send(
            "Redirect", Channel=answered["Channel"], Context="interviewer", Exten="1007", Priority="1"
        )
    )
    assert reply["Message"] == "Redirect successful"
    connected = await client.wait_for(_is("UserEvent", UserEvent="CatiConnected"))
    assert connected["Interviewer"] == "1007" and connected["Uniqueid"] == "r-a"
    reply = await client.response(client.send("Hangup", Channel="r-a"))
    assert reply["Message"] == "Channel Hungup"
    hangups = [await client.wait_for(_is("Hangup", Uniqueid=u)) for u in ("r-a", "r-b")]
    assert all(h["Cause"] == "16" and h["Cause-txt"] == "Normal Clearing" for h in hangups)
    missing = await client.response(client.send("Hangup", Channel="r-a"))
    assert missing["Message"] == "No such channel"


async def test_abandonment_context_plays_the_message_then_hangs_up(make: Factory) -> None:
    _, client = await make(model=PATIENT)
    _originate(client, "5550102", "answer", Context="cati-hold", ChannelId="ab-a")
    answered = await client.wait_for(_is("OriginateResponse", Response="Success"))
    client.send("Redirect", Channel=answered["Channel"], Context="cati-abandon", Exten="s", Priority="1")
    played = await client.wait_for(_is("Newexten", Uniqueid="ab-a", Application="Playback"))
    hangup = await client.wait_for(_is("Hangup", Uniqueid="ab-a"))
    assert float(hangup["Timestamp"]) - float(played["Timestamp"]) >= 5.0  # simulated seconds


async def test_impatient_respondent_hangs_up_in_hold(make: Factory) -> None:
    pbx, client = await make(model=parse_model({"defaults": {"patience_min": 3, "patience_max": 3}}))
    _originate(client, "5550103", "answer", Context="cati-hold", ChannelId="p-a")
    await client.wait_for(_is("OriginateResponse", Response="Success"))
    leave = await client.wait_for(_is("Newexten", Uniqueid="p-a;2", Application="Hangup"))
    assert leave["AppData"] == "16"
    await client.wait_for(_is("Hangup", Uniqueid="p-a"))
    assert pbx.stats.abandoned_in_hold == 1


async def test_interviewer_dial_template_bridges_an_endpoint(make: Factory) -> None:
    _, client = await make(dialplan=Dialplan(interviewer_dial="PJSIP/{exten}"))
    _originate(client, "5550104", "answer", Exten="1003", ChannelId="d-a")
    dial_end = await client.wait_for(
        lambda m: m.event == "DialEnd" and (m.get("DestChannel") or "").startswith("PJSIP/1003")
    )
    assert dial_end["DialStatus"] == "ANSWER"
    assert dial_end["Uniqueid"] == "d-a"  # the caller side is the respondent's ;1
    await client.wait_for(_is("BridgeEnter", BridgeNumChannels="2"))
    client.send("Hangup", Channel="d-a")
    await client.wait_for(_is("BridgeDestroy"))
    await client.wait_for(lambda m: m.event == "Hangup" and m["Channel"].startswith("PJSIP/1003"))


async def test_pjsip_dial_string_gives_one_channel_and_reasons(make: Factory) -> None:
    _, client = await make()
    for outcome, reason, cause in (("busy", "5", "17"), ("congestion", "8", "34"), ("unallocated", "0", "1")):
        cid = f"pj-{outcome}"
        client.send(
            "Originate",
            ("Variable", f"FORCE_OUTCOME={outcome}"),
            Channel="PJSIP/13800001111@trunk",
            Context="interviewer",
            Exten="1000",
            Priority="1",
            Async="true",
            ChannelId=cid,
        )
        response = await client.wait_for(_is("OriginateResponse", Uniqueid=cid))
        hangup = await client.wait_for(_is("Hangup", Uniqueid=cid))
        assert (response["Reason"], hangup["Cause"]) == (reason, cause)
        assert hangup["Channel"].startswith("PJSIP/trunk-")


async def test_ring_no_answer_times_out_with_reason_3(make: Factory) -> None:
    _, client = await make()
    _originate(client, "5550105", "noanswer", Timeout="20000", ChannelId="n-a")
    response = await client.wait_for(_is("OriginateResponse", Uniqueid="n-a"))
    hangup = await client.wait_for(_is("Hangup", Uniqueid="n-a;2"))
    assert (response["Reason"], hangup["Cause"]) == ("3", "19")
    ringing = await client.wait_for(_is("Newstate", Uniqueid="n-a", ChannelStateDesc="Ringing"))
    assert 19.9 <= float(response["Timestamp"]) - float(ringing["Timestamp"]) <= 30  # loop jitter x speed


async def test_bad_originates_get_asterisk_errors(make: Factory) -> None:
    _, client = await make()
    cases = {
        "Channel not specified": {},
        "Invalid channel": {"Channel": "nochannel"},
        "Invalid timeout": {"Channel": "Local/1@respondents", "Timeout": "soon"},
        "Invalid priority": {"Channel": "Local/1@respondents", "Priority": "x"},
    }
    for message, fields in cases.items():
        reply = await client.response(client.send("Originate", Async="true", **fields))
        assert (reply.response, reply["Message"]) == ("Error", message)
    bogus = _originate(client, "123", Channel="Bogus/123")
    assert (await client.response(bogus))["Message"] == "Originate successfully queued"
    failure = await client.wait_for(_is("OriginateResponse", ActionID=bogus))
    assert (failure["Response"], failure["Reason"], failure["Uniqueid"]) == ("Failure", "0", "<unknown>")


async def test_malformed_input_does_not_crash_the_server(make: Factory) -> None:
    pbx, client = await make()
    client.send_raw(b"this is not ami\r\n\r\n")
    err = await client.wait_for(lambda m: m.response == "Error")
    assert err["Message"] == "Missing action in request"
    client.send_raw(b"\xff\xfe: \x00\r\nAction:\r\n\r\n")
    pong = await client.response(client.send("Ping"))
    assert pong["Ping"] == "Pong"
    other = RawAmiClient()
    await other.connect(*(await _address(pbx)))
    other.send_raw(b"Action: Login\r\nUsername: " + b"x" * 300_000)  # an endless header
    await asyncio.wait_for(other.closed.wait(), 5)
    await other.close()
    assert (await client.response(client.send("Ping")))["Ping"] == "Pong"


async def _address(pbx: SimPbx) -> tuple[str, int]:
    assert pbx._server is not None
    host, port = pbx._server.sockets[0].getsockname()[:2]
    return str(host), int(port)


async def test_client_leaving_mid_call_does_not_crash(make: Factory) -> None:
    pbx, client = await make(model=PATIENT)
    for i in range(5):
        _originate(client, f"55502{i:02d}", "answer", Context="cati-hold", Timeout="61000")
    await client.wait_for(_is("OriginateResponse"))
    await client.close()
    await asyncio.sleep(0.3)
    watcher = RawAmiClient()
    await watcher.connect(*(await _address(pbx)))
    assert (await watcher.login("cati", "pw")).response == "Success"
    action_id = watcher.send("CoreShowChannels")
    done = await watcher.wait_for(_is("CoreShowChannelsComplete", ActionID=action_id))
    assert done["ListItems"] == "10"
    await watcher.close()


async def test_sync_originate_answers_after_the_outcome(make: Factory) -> None:
    _, client = await make()
    reply = await client.response(_originate(client, "5551002", Async="false"), timeout=10)
    assert (reply.response, reply["Message"]) == ("Error", "Originate failed")
    first_event = next(i for i, m in enumerate(client.messages) if m.event == "Newchannel")
    assert client.messages.index(reply) < first_event  # events were held back until the reply
    assert not any(m.event == "OriginateResponse" for m in client.messages)


async def test_300_concurrent_calls_all_get_final_events(make: Factory) -> None:
    slow = parse_model({"defaults": {"fail_delay": 40, "patience_min": 5000, "patience_max": 5000}})
    pbx, client = await make(speed=30, model=slow)  # every call lasts >= 1 s real: all overlap
    outcomes = ["answer", "busy", "congestion", "noanswer", "unallocated"]
    ids = [f"load-{i}" for i in range(300)]
    for i, cid in enumerate(ids):
        _originate(client, f"13{i:09d}", outcomes[i % 5], ChannelId=cid, Context="cati-hold", Timeout="61000")
    responses: dict[str, AmiMessage] = {}
    deadline = asyncio.get_running_loop().time() + 30
    while len(responses) < len(ids) and asyncio.get_running_loop().time() < deadline:
        for m in client.messages:
            if m.event == "OriginateResponse":
                responses[m["Uniqueid"]] = m
        await asyncio.sleep(0.05)
    assert set(responses) == set(ids)
    assert pbx.stats.max_active_calls >= 250
    assert pbx.stats.abandoned_in_hold == 0
    reasons = [responses[cid]["Reason"] for cid in ids]
    assert reasons == ["4", "5", "8", "3", "0"] * 60
    busy_hangups = {m["Uniqueid"] for m in client.messages if m.event == "Hangup" and m["Cause"] == "17"}
    assert busy_hangups == {f"{cid};2" for cid in ids[1::5]}
    for cid in ids[::5]:  # the answered ones wait in hold until hung up
        client.send("Hangup", Channel=cid)
    every_leg = set(ids) | {f"{cid};2" for cid in ids}

    def hung() -> set[str]:
        return {m["Uniqueid"] for m in client.messages if m.event == "Hangup"}

    # wait for the events to reach the client, not only for the PBX to count its calls down: the last
    # Hangups may still be on the wire when active_calls reaches 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (pbx.stats.active_calls or not every_leg <= hung()) and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert pbx.stats.active_calls == 0
    assert hung() == every_leg  # both legs of every call ended


async def test_same_seed_same_outcomes(make: Factory) -> None:
    async def run(seed: int) -> list[tuple[str, str]]:
        _, client = await make(seed=seed, speed=200, start=datetime(2026, 3, 3, 19, 0))
        for i in range(40):
            _originate(client, f"2100{i:04d}", ChannelId=f"s{i}", Context="cati-hold", Timeout="30000")
        seen: dict[str, str] = {}
        while len(seen) < 40:
            m = await client.wait_for(
                lambda m: m.event == "OriginateResponse" and m["Uniqueid"] not in seen, timeout=20
            )
            seen[m["Uniqueid"]] = m["Reason"]
        return sorted(seen.items())

    first, again, other = await run(5), await run(5), await run(6)
    assert first == again
    assert first != other
    assert len({r for _, r in first}) >= 3  # a mix of outcomes, not one answer for all
