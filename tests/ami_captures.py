"""Shared helpers for tests that replay the real Asterisk 22 captures (not a test module)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialer.ami.outcomes import CallOutcome
from dialer.ami.protocol import AmiMessage, parse_stream

CAPTURES = Path(__file__).parent / "fixtures" / "ami-captures"

#: What each call capture's respondent did, per originate in the order they were sent (README + runs.json).
EXPECTED: dict[str, list[CallOutcome]] = {
    **{
        n: [CallOutcome.ANSWERED]
        for n in (
            "answered-1",
            "answered-2",
            "answered-3",
            "answered-with-channelid",
            "random-2",
            "random-4",
            "sync-answered",
        )
    },
    **{n: [CallOutcome.BUSY] for n in ("busy-1", "busy-2", "busy-3", "forced-busy-via-variable", "random-6")},
    **{n: [CallOutcome.CONGESTION] for n in ("congestion-1", "congestion-2", "congestion-3")},
    **{n: [CallOutcome.NO_ANSWER] for n in ("noanswer-1", "noanswer-2", "random-1", "random-3", "random-5")},
    "unallocated-1": [CallOutcome.NON_WORKING],
    "bad-extension": [CallOutcome.FAILED],
    "bad-channel-tech": [CallOutcome.FAILED],
    # Async false (which the client never sends): Response Error "Originate failed" and no OriginateResponse.
    "sync-busy": [CallOutcome.FAILED],
    "concurrent-6-random": [
        CallOutcome.BUSY,
        CallOutcome.ANSWERED,
        CallOutcome.NO_ANSWER,
        CallOutcome.NO_ANSWER,
        CallOutcome.ANSWERED,
        CallOutcome.BUSY,
    ],
}

CALL_CAPTURES = sorted(EXPECTED)


@dataclass(frozen=True)
class CapturedCall:
    """One originate of a capture and the ids its events carry."""

    action_id: str
    channel_id: str  # Uniqueid of the originated leg (;1) in the capture
    other_channel_id: str | None  # Uniqueid of ;2, if the capture has one
    sent: dict[str, str]


def messages(name: str) -> list[AmiMessage]:
    return parse_stream((CAPTURES / f"{name}.txt").read_bytes())


def sent_actions(name: str) -> list[dict[str, str]]:
    """The actions the recording session sent, from the summary's ``# sent:`` block."""
    actions: list[dict[str, str]] = []
    in_sent = False
    for line in (CAPTURES / f"{name}.summary.txt").read_text().splitlines():
        if line.startswith("# sent:"):
            in_sent = True
            continue
        if line.startswith("# received"):
            break
        if in_sent and line.startswith("#   "):
            key, _, value = line[4:].partition(": ")
            if key == "Action":
                actions.append({})
            actions[-1][key] = value
    return actions


def calls(name: str) -> list[CapturedCall]:
    """The originates of a capture with the Uniqueids of their legs (ChannelId, or learnt from events)."""
    msgs = messages(name)
    out: list[CapturedCall] = []
    for sent in sent_actions(name):
        if "ChannelId" in sent:
            out.append(CapturedCall(sent["ActionID"], sent["ChannelId"], sent.get("OtherChannelId"), sent))
            continue
        # One call per capture: the Local ;1 and ;2 Newchannel events give the two Uniqueids.
        leg1 = leg2 = None
        for m in msgs:
            if m.event == "Newchannel":
                chan = m.get("Channel") or ""
                if chan.endswith(";1"):
                    leg1 = m["Uniqueid"]
                elif chan.endswith(";2"):
                    leg2 = m["Uniqueid"]
        out.append(CapturedCall(sent["ActionID"], leg1 or f"{sent['ActionID']}-a", leg2, sent))
    return out
