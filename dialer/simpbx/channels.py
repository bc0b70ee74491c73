"""Channels and the AMI events Asterisk 22 emits about them, as pure data.

Why a module of its own: every event a real Asterisk sends about a channel repeats the same
snapshot block (Channel, ChannelState, ChannelStateDesc, CallerIDNum, ..., Uniqueid, Linkedid) in
the same order, sometimes under a prefix (``Dest``, ``LocalOne``). The captures in
``tests/fixtures/ami-captures`` fix that order; this module is the one place that writes it, so a
call script only says *which* event happens to *which* channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = tuple[tuple[str, str], ...]

#: ChannelState numbers and their descriptions, as ``ast_state2str`` prints them.
STATE_DESC: dict[int, str] = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7

#: Q.850 cause texts as Asterisk's ``ast_cause2str`` prints them in ``Cause-txt``.
CAUSE_TEXT: dict[int, str] = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
}


def cause_text(cause: int) -> str:
    """``Cause-txt`` for a Q.850 cause code."""
    return CAUSE_TEXT.get(cause, "Unknown")


@dataclass
class Channel:
    """One channel's snapshot: what Asterisk prints in every event about it."""

    name: str
    uniqueid: str
    linkedid: str
    state: int
    context: str
    exten: str
    priority: int = 1
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    created: float = 0.0
    answered: float | None = None
    application: str = ""
    appdata: str = ""
    device: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    hung_up: bool = False

    @property
    def state_desc(self) -> str:
        return STATE_DESC.get(self.state, "Unknown")

    def snapshot(self, prefix: str = "") -> list[tuple[str, str]]:
        """The standard channel block, optionally with a key prefix (``Dest``, ``LocalOne``)."""
        p = prefix
        return [
            (f"{p}Channel", self.name),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", self.state_desc),
            (f"{p}CallerIDNum", self.caller_num),
            (f"{p}CallerIDName", self.caller_name),
            (f"{p}ConnectedLineNum", self.connected_num),
            (f"{p}ConnectedLineName", self.connected_name),
            (f"{p}Language", "en"),
            (f"{p}AccountCode", ""),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", str(self.priority)),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid),
        ]


class Emitter:
    """Collects events for one step of a call, stamping each with the simulated time.

    Asterisk stamps events a few microseconds apart; so does this, so Timestamps stay strictly
    increasing within a step as they are in the captures.
    """

    def __init__(self, now: float) -> None:
        self._t = now
        self.events: list[Headers] = []

    def _stamp(self) -> str:
        stamp = f"{self._t:.6f}"
        self._t += 0.000006
        return stamp

    def raw(self, name: str, privilege: str, headers: list[tuple[str, str]]) -> None:
        self.events.append(
            (("Event", name), ("Privilege", f"{privilege},all"), ("Timestamp", self._stamp()), *headers)
        )

    def chan(self, name: str, ch: Channel, *extra: tuple[str, str], privilege: str = "call") -> None:
        self.raw(name, privilege, [*ch.snapshot(), *extra])

    # -- the events of the captures, one method each -------------------------------------------
    def newchannel(self, ch: Channel) -> None:
        self.chan("Newchannel", ch)

    def newexten(self, ch: Channel, context: str, exten: str, priority: int, app: str, data: str) -> None:
        ch.context, ch.exten, ch.priority = context, exten, priority
        ch.application, ch.appdata = app, data
        self.chan(
            "Newexten",
            ch,
            ("Extension", exten),
            ("Application", app),
            ("AppData", data),
            privilege="dialplan",
        )

    def varset(self, ch: Channel, variable: str, value: str) -> None:
        ch.variables[variable] = value
        self.chan("VarSet", ch, ("Variable", variable), ("Value", value), privilege="dialplan")

    def newcallerid(self, ch: Channel, num: str, name: str) -> None:
        ch.caller_num, ch.caller_name = num, name
        self.chan("NewCallerid", ch, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))

    def newconnectedline(self, ch: Channel, num: str, name: str) -> None:
        ch.connected_num, ch.connected_name = num, name
        self.chan("NewConnectedLine", ch)

    def newstate(self, ch: Channel, state: int) -> None:
        ch.state = state
        self.chan("Newstate", ch)

    def localbridge(self, one: Channel, two: Channel, context: str, exten: str) -> None:
        self.raw(
            "LocalBridge",
            "call",
            [
                *one.snapshot("LocalOne"),
                *two.snapshot("LocalTwo"),
                ("Context", context),
                ("Exten", exten),
                ("LocalOptimization", "Yes"),
            ],
        )

    def dialbegin(self, dest: Channel, dialstring: str, caller: Channel | None = None) -> None:
        head = caller.snapshot() if caller else []
        self.raw("DialBegin", "call", [*head, *dest.snapshot("Dest"), ("DialString", dialstring)])

    def dialstate(self, dest: Channel, status: str, caller: Channel | None = None) -> None:
        head = caller.snapshot() if caller else []
        self.raw("DialState", "call", [*head, *dest.snapshot("Dest"), ("DialStatus", status)])

    def dialend(self, dest: Channel, status: str, caller: Channel | None = None) -> None:
        head = caller.snapshot() if caller else []
        self.raw("DialEnd", "call", [*head, *dest.snapshot("Dest"), ("DialStatus", status)])

    def devicestate(self, device: str, state: str) -> None:
        self.raw("DeviceStateChange", "call", [("Device", device), ("State", state)])

    def userevent(self, ch: Channel, name: str, *fields: tuple[str, str]) -> None:
        self.chan("UserEvent", ch, ("UserEvent", name), *fields, privilege="user")

    def hangup_request(self, ch: Channel, cause: int, soft: bool = False) -> None:
        self.chan("SoftHangupRequest" if soft else "HangupRequest", ch, ("Cause", str(cause)))

    def hangup(self, ch: Channel, cause: int) -> None:
        ch.hung_up = True
        self.chan("Hangup", ch, ("Cause", str(cause)), ("Cause-txt", cause_text(cause)))

    def bridge(self, name: str, bridge_id: str, count: int, *extra: tuple[str, str]) -> None:
        self.raw(
            name,
            "call",
            [
                ("BridgeUniqueid", bridge_id),
                ("BridgeType", "basic"),
                ("BridgeTechnology", "simple_bridge"),
                ("BridgeCreator", "<unknown>"),
                ("BridgeName", "<unknown>"),
                ("BridgeNumChannels", str(count)),
                ("BridgeVideoSourceMode", "none"),
                *extra,
            ],
        )

    def originate_response(
        self,
        action_id: str | None,
        response: str,
        channel: str,
        context: str,
        exten: str,
        reason: int,
        uniqueid: str,
        caller_num: str,
        caller_name: str,
    ) -> None:
        headers = [("ActionID", action_id)] if action_id is not None else []
        headers += [
            ("Response", response),
            ("Channel", channel),
            ("Context", context),
            ("Exten", exten),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid),
            ("CallerIDNum", caller_num),
            ("CallerIDName", caller_name),
        ]
        self.raw("OriginateResponse", "call", headers)

    def cdr(self, ch: Channel, start: str, answer: str, end: str, duration: int, billsec: int) -> None:
        self.raw(
            "Cdr",
            "cdr",
            [
                ("AccountCode", ""),
                ("Source", ch.caller_num),
                ("Destination", ch.exten),
                ("DestinationContext", ch.context),
                ("CallerID", f'"{ch.caller_name}" <{ch.caller_num}>'),
                ("Channel", ch.name),
                ("DestinationChannel", ""),
                ("LastApplication", ch.application),
                ("LastData", ch.appdata),
                ("StartTime", start),
                ("AnswerTime", answer),
                ("EndTime", end),
                ("Duration", str(duration)),
                ("BillableSeconds", str(billsec)),
                ("Disposition", "ANSWERED"),
                ("AMAFlags", "DOCUMENTATION"),
                ("UniqueID", ch.uniqueid),
                ("UserField", ""),
            ],
        )
