"""Shared helpers for the simulated-PBX tests: capture parsing and event-shape comparison."""

from __future__ import annotations

import re
from pathlib import Path

from dialer.ami.protocol import AmiMessage, parse_stream

CAPTURES = Path(__file__).parent / "fixtures" / "ami-captures"

#: Headers whose values must match the capture exactly (after the renaming below).
KEY_FIELDS = (
    "Response",
    "Message",
    "Reason",
    "Application",
    "AppData",
    "ChannelState",
    "ChannelStateDesc",
    "DestChannelStateDesc",
    "Cause",
    "Cause-txt",
    "DialStatus",
    "Variable",
    "Value",
    "UserEvent",
    "Outcome",
    "State",
    "Disposition",
    "Context",
    "Exten",
    "Priority",
    "DestContext",
    "DestExten",
    "CallerIDNum",
    "ConnectedLineNum",
    "Device",
    "DialString",
    "LastApplication",
    "Destination",
)


def sent_originate(name: str) -> list[tuple[str, str]]:
    """The Originate headers a capture's summary says were sent (first action only)."""
    lines = (CAPTURES / f"{name}.summary.txt").read_text().splitlines()
    headers: list[tuple[str, str]] = []
    inside = False
    for line in lines:
        if line.startswith("# sent:"):
            inside = True
            continue
        if inside:
            if not line.startswith("#   "):
                break
            key, _, value = line[4:].partition(": ")
            if key == "Action" and headers:
                break
            headers.append((key, value))
    return headers


def capture_messages(name: str) -> list[AmiMessage]:
    return parse_stream((CAPTURES / f"{name}.txt").read_bytes())


class Renamer:
    """Replaces per-run values (channel names, Uniqueids, numbers, ids) by their roles."""

    def __init__(self) -> None:
        self.roles: dict[str, str] = {}

    def learn(self, messages: list[AmiMessage], number: str, dial: str, sent: dict[str, str]) -> None:
        count = 0
        for m in messages:
            if m.event == "Newchannel":
                count += 1
                self.roles.setdefault(m["Channel"], f"CHAN{count}")
                self.roles.setdefault(m["Uniqueid"], f"UID{count}")
        self.roles[dial] = "DIALSTRING"
        self.roles[number] = "NUM"
        for key in ("ActionID", "ChannelId", "OtherChannelId"):
            if key in sent:
                self.roles.setdefault(sent[key], key.upper())
        for var in [v for k, v in sent.items() if k == "Variable"]:
            name, _, value = var.partition("=")
            if name == "CASEID":
                self.roles[value] = "CASEID"

    def __call__(self, value: str) -> str:
        if value in self.roles:
            return self.roles[value]
        for raw, role in sorted(self.roles.items(), key=lambda kv: -len(kv[0])):
            if len(raw) >= 3 and raw in value:
                value = value.replace(raw, role)
        return value


def shape(m: AmiMessage, rename: Renamer, forced: bool = False, loose: bool = False) -> tuple[object, ...]:
    """What must agree between the simulator and Asterisk for one message.

    ``forced``: the call set FORCE_OUTCOME, so the OUTCOME drawn before ExecIf is random noise.
    ``loose``: DeviceStateChange's State is racy in Asterisk (INUSE or NOT_INUSE while a Local
    pair tears down, compare busy-1 with congestion-1), so only its presence counts.
    """
    preforce = forced and m.get("Exten") not in ("sim", None) and m.get("Exten") != m.get("Application")
    kind = m.event or f"Response:{m.response}"
    keys = tuple(k for k, _ in m.headers if k != "Timestamp")
    values: list[tuple[str, str]] = []
    for key in KEY_FIELDS:
        value = m.get(key)
        if value is None:
            continue
        if key == "AppData" and m.get("Application") in ("Wait",):
            continue  # ring and talk times are random in the lab dialplan too
        if key == "Value" and m.get("Variable") == "R":
            continue
        if (
            preforce
            and m.get("Exten") not in ("busy", "answer", "congestion", "noanswer")
            and (
                (key == "Value" and m.get("Variable") == "OUTCOME")
                or (key == "AppData" and value.startswith("OUTCOME="))
            )
        ):
            continue
        if key == "State" and loose and kind == "DeviceStateChange":
            continue
        if key == "AppData":
            value = re.sub(r"^R=\d+$", "R=", value)
            value = re.sub(r" R=\d*$", " R=", value)
            value = re.sub(r"Rand: \d*$", "Rand: ", value)
        values.append((key, rename(value)))
    for key in (
        "Channel",
        "DestChannel",
        "Uniqueid",
        "Linkedid",
        "DestUniqueid",
        "LocalOneUniqueid",
        "LocalTwoUniqueid",
    ):
        value = m.get(key)
        if value is not None:
            values.append((key, rename(value)))
    return (kind, keys, tuple(values))


def call_slice(messages: list[AmiMessage], action_id: str) -> list[AmiMessage]:
    """From the Originate's response on (drops banner, login and FullyBooted)."""
    for i, m in enumerate(messages):
        if m.response is not None and m.action_id == action_id:
            return messages[i:]
    raise AssertionError(f"no response for {action_id}")
