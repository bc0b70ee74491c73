"""Each captured outcome, originated against the simulated PBX over TCP, gives the capture's events.

The comparison is message by message: event name, header names in order, and the values that matter
to a client (Response/Reason, Cause/Cause-txt, DialStatus, ChannelStateDesc, Application...), with
channel names, Uniqueids, the number and the case id replaced by their roles so that ``Uniqueid``
relationships (;1 vs ;2, Linkedid, ChannelId) are compared too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from simpbx_helpers import Renamer, call_slice, capture_messages, sent_originate, shape

from dialer.simpbx import SimPbx, SimPbxConfig
from dialer.simpbx.rawclient import RawAmiClient

pytestmark = pytest.mark.timeout(30)

# capture -> whether the simulator's order must equal it exactly (the others of the same outcome
# differ only by thread scheduling, so they are compared as multisets)
EXACT = [
    "answered-1",
    "busy-1",
    "congestion-1",
    "noanswer-1",
    "unallocated-1",
    "bad-extension",
    "bad-channel-tech",
]
SAME_OUTCOME = [
    "answered-with-channelid",
    "answered-2",
    "answered-3",
    "busy-2",
    "busy-3",
    "congestion-2",
    "congestion-3",
    "noanswer-2",
    "forced-busy-via-variable",
    "sync-busy",
    "sync-answered",
]


@pytest.fixture
async def pbx() -> AsyncIterator[tuple[SimPbx, str, int]]:
    sim = SimPbx(SimPbxConfig(username="cati", secret="cati-lab-secret", seed=3, speed=50))
    host, port = await sim.start()
    yield sim, host, port
    await sim.stop()


async def _run_capture(
    name: str, host: str, port: int, loose: bool = False
) -> tuple[list[object], list[object]]:
    sent = sent_originate(name)
    expected = capture_messages(name)
    client = RawAmiClient()
    await client.connect(host, port)
    try:
        assert (await client.login("cati", "cati-lab-secret"))["Message"] == "Authentication accepted"
        fields = [(k, v) for k, v in sent if k not in ("Action", "ActionID", "Variable")]
        variables = [("Variable", v) for k, v in sent if k == "Variable"]
        action_id = client.send("Originate", *fields, *variables, ActionID=dict(sent)["ActionID"])
        start = len(client.messages)

        def enough() -> bool:
            return len(client.messages) - start + 1 >= len(expected)

        async def wait_all() -> None:
            while not enough():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(wait_all(), 10)
        await asyncio.sleep(0.15)  # anything extra would show up now
        got = call_slice(client.messages, action_id)
    finally:
        await client.close()
    sent_map = dict(sent)
    number = sent_map["Channel"].split("/", 1)[1].split("@", 1)[0]
    rename_exp, rename_got = Renamer(), Renamer()
    rename_exp.learn(expected, number, sent_map["Channel"], dict(sent))
    rename_got.learn(got, number, sent_map["Channel"], dict(sent))
    for key, value in sent:
        if key == "Variable" and value.startswith("CASEID="):
            rename_exp.roles[value[7:]] = rename_got.roles[value[7:]] = "CASEID"
    forced = any(k == "Variable" and v.startswith("FORCE_OUTCOME=") for k, v in sent)
    return (
        [shape(m, rename_exp, forced, loose) for m in expected],
        [shape(m, rename_got, forced, loose) for m in got],
    )


@pytest.mark.parametrize("name", EXACT)
async def test_outcome_gives_the_captured_event_sequence(name: str, pbx: tuple[SimPbx, str, int]) -> None:
    _, host, port = pbx
    expected, got = await _run_capture(name, host, port)
    for i, (want, have) in enumerate(zip(expected, got, strict=False)):
        assert have == want, f"{name}: message {i} differs"
    assert len(got) == len(expected)


@pytest.mark.parametrize("name", SAME_OUTCOME)
async def test_same_outcome_captures_hold_the_same_messages(name: str, pbx: tuple[SimPbx, str, int]) -> None:
    _, host, port = pbx
    expected, got = await _run_capture(name, host, port, loose=True)
    assert got[0] == expected[0]  # the action's response comes first (sync: only after the outcome)
    assert Counter(map(repr, got)) == Counter(map(repr, expected))
