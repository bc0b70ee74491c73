"""One originated call as a state machine that turns triggers into AMI events (pure, no I/O).

Why a transition table: a call can be ended by the network (busy, timeout), by the respondent
(hangs up while held), by an AMI action (Hangup) or moved by one (Redirect), and each of those
must emit exactly the event sequence Asterisk 22 emits in that situation. The sequences below were
read off the captures in ``tests/fixtures/ami-captures`` (file named at each step); the table
``TRANSITIONS`` is the only place that says which trigger is legal in which phase.

Legs: for ``Local/<num>@<ctx>`` there are two channels as in Asterisk: ``;1`` (the originated
channel, which goes to the Originate Context/Exten on answer) and ``;2`` (runs the respondent's
dialplan, here the lab dialplan of extensions.conf). Any other technology (``PJSIP/<num>@trunk``)
is one channel that is both the respondent and the originated channel.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum

from dialer.simpbx.channels import BUSY, DOWN, RING, RINGING, UP, Channel, Emitter, Headers
from dialer.simpbx.model import CallPlan

#: Channel technologies the simulated PBX knows; anything else fails like ``Bogus/123``.
KNOWN_TECHS = ("Local", "PJSIP", "SIP", "IAX2", "DAHDI")

# OriginateResponse Reason values (Asterisk's AST_CONTROL_* numbers).
REASON_FAILED, REASON_HANGUP, REASON_NOANSWER, REASON_ANSWERED, REASON_BUSY, REASON_CONGESTION = (
    0,
    1,
    3,
    4,
    5,
    8,
)


@dataclass(frozen=True)
class Dialplan:
    """What the simulated PBX's contexts do (see docs/simpbx.md for the extensions.conf twin)."""

    respondent_contexts: tuple[str, ...] = ("respondents",)
    interviewer_context: str = "interviewer"
    abandon_context: str = "cati-abandon"
    abandon_message_seconds: float = 6.0
    #: None: the lab's interviewer context (NoOp, UserEvent CatiConnected, Echo) as captured;
    #: a template such as ``PJSIP/{exten}``: Dial that endpoint, which answers at once, and bridge.
    interviewer_dial: str | None = None
    hold_application: str = "MusicOnHold"


@dataclass(frozen=True)
class OriginateRequest:
    """The fields of one Originate action the simulator uses."""

    channel: str
    context: str
    exten: str
    priority: int = 1
    timeout_ms: int = 30000
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    variables: tuple[tuple[str, str], ...] = ()
    action_id: str | None = None
    channel_id: str | None = None
    other_channel_id: str | None = None
    is_async: bool = True


@dataclass(frozen=True)
class DialTarget:
    """A parsed dial string: technology, data, the number dialled and where."""

    tech: str
    data: str
    number: str
    peer: str  # Local: the context; other technologies: the endpoint (trunk)


def parse_dial(channel: str) -> DialTarget | None:
    """Split ``Tech/data``; None when there is no ``/`` (Asterisk: "Invalid channel")."""
    tech, sep, data = channel.partition("/")
    if not sep or not tech or not data:
        return None
    if tech.lower() == "local":
        base = data.split("/", 1)[0]  # Local/123@ctx/n: options after a second slash
        number, _, context = base.partition("@")
        return DialTarget("Local", base, number, context or "default")
    last = data.rsplit("/", 1)[-1]
    number, at, endpoint = last.partition("@")
    if not at:
        first = data.split("/", 1)[0]
        endpoint = first if "/" in data else number
    return DialTarget(tech, data, number, endpoint)


class IdAllocator:
    """Uniqueids (``<epoch>.<n>``) and per-technology channel sequence numbers, as Asterisk makes them."""

    def __init__(self) -> None:
        self._uid = 0
        self._seq: dict[str, int] = {}

    def uniqueid(self, now: float) -> str:
        self._uid += 1
        return f"{int(now)}.{self._uid}"

    def seq(self, tech: str) -> int:
        n = self._seq.get(tech, 0) + 1
        self._seq[tech] = n
        return n

    def bridge_id(self) -> str:
        n = self.seq("bridge")
        return f"{n:08x}-5ca7-4c4e-8a11-{n:012x}"


class Phase(Enum):
    DIALLING = "dialling"  # ringing (or about to fail); no answer yet
    HELD = "held"  # answered, waiting in a holding context
    CONNECTED = "connected"  # answered, in the interviewer context
    MESSAGE = "message"  # answered, hearing the abandonment message
    DONE = "done"


@dataclass
class Step:
    """What one trigger produced: events to send, when to wake next, and the originate result."""

    events: list[Headers] = field(default_factory=list)
    wake: float | None = None  # simulated seconds until the next "timer" trigger
    result: bool | None = None  # set once: True answered, False failed (drives a sync Originate)
    reason: int | None = None


class Call:
    """One originated call. The server feeds triggers; each returns a Step."""

    def __init__(
        self,
        request: OriginateRequest,
        target: DialTarget,
        plan: CallPlan,
        dialplan: Dialplan,
        ids: IdAllocator,
        now: float,
        format_time: Callable[[float], str],
        forced: str | None = None,
        shown_outcome: str | None = None,
        fixed_numbers: frozenset[str] = frozenset(),
    ) -> None:
        self.fixed_numbers = fixed_numbers
        self.request = request
        self.target = target
        self.plan = plan
        self.dialplan = dialplan
        self.ids = ids
        self.format_time = format_time
        self.forced = forced
        self.shown_outcome = shown_outcome or plan.outcome
        self.phase = Phase.DIALLING
        self.started = now
        self.local = target.tech == "Local"
        self.timed_out = plan.outcome == "noanswer" or plan.delay * 1000 >= request.timeout_ms
        self.final_reason: int | None = None
        self.final_cause: int | None = None
        self.left_in_hold = False
        self.orig: Channel
        self.far: Channel | None = None
        self.ichan: Channel | None = None
        self.bridge_id: str | None = None

    # -- public triggers ------------------------------------------------------------------------
    def channels(self) -> list[Channel]:
        """The call's live channels (for CoreShowChannels, Status, Hangup lookup)."""
        return [
            c for c in (getattr(self, "orig", None), self.far, self.ichan) if c is not None and not c.hung_up
        ]

    def start(self, now: float) -> Step:
        """The Originate has been acknowledged: create the channels and start dialling."""
        return self._start(now)

    def fire(self, trigger: str, now: float, **kw: object) -> Step | None:
        """Apply ``timer``, ``hangup`` or ``redirect``; None if the phase does not accept it."""
        handler = TRANSITIONS.get((self.phase, trigger))
        if handler is None:
            return None
        step: Step = getattr(self, handler)(now, **kw)
        return step

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    # -- building blocks ------------------------------------------------------------------------
    def _var(self, name: str) -> str:
        for key, value in self.request.variables:
            if key == name:
                return value
        return ""

    def _resolve(self, e: Emitter, step: Step, ok: bool, reason: int) -> None:
        """OriginateResponse (async) or the result a sync Originate waits for."""
        self.final_reason = reason
        step.result, step.reason = ok, reason
        if not self.request.is_async:
            return
        r = self.request
        if ok:
            channel, uid = self.orig.name, self.orig.uniqueid
        else:
            channel, uid = r.channel, r.channel_id or "<unknown>"
        e.originate_response(
            r.action_id,
            "Success" if ok else "Failure",
            channel,
            r.context,
            r.exten,
            reason,
            uid,
            r.caller_num,
            r.caller_name,
        )

    def _start(self, now: float) -> Step:
        r, t = self.request, self.target
        e = Emitter(now)
        step = Step()
        uid1 = r.channel_id or self.ids.uniqueid(now)
        seq = self.ids.seq(t.tech)
        if self.local:
            uid2 = r.other_channel_id or (f"{r.channel_id};2" if r.channel_id else self.ids.uniqueid(now))
            base = f"Local/{t.data}-{seq:08x}"
            device = f"Local/{t.data}"
            one = Channel(f"{base};1", uid1, uid1, DOWN, t.peer, t.number, created=now, device=device)
            two = Channel(f"{base};2", uid2, uid1, RING, t.peer, t.number, created=now, device=device)
            self.orig, self.far = one, two
            e.newchannel(one)
            e.newchannel(two)
            e.newexten(one, t.peer, t.number, 1, "AppDial2", "(Outgoing Line)")
            for key, value in reversed(r.variables):  # ;1 gets them as a stack (forced-busy capture)
                e.varset(one, key, value)
            e.newcallerid(one, r.caller_num, r.caller_name)
            e.newconnectedline(one, r.caller_num, r.caller_name)
            for key, value in r.variables:
                e.varset(two, key, value)
            two.connected_num, two.connected_name = r.caller_num, r.caller_name
            e.newcallerid(two, r.caller_num, r.caller_name)
            e.newconnectedline(two, r.caller_num, r.caller_name)
            if t.peer not in self.dialplan.respondent_contexts:  # bad-extension capture
                e.hangup(two, 0)
                e.devicestate(device, "INVALID")
                self._resolve(e, step, False, REASON_FAILED)
                e.hangup(one, 0)
                e.devicestate(device, "INVALID")
                self.final_cause = 0
                self.phase = Phase.DONE
                step.events = e.events
                return step
            e.localbridge(one, two, t.peer, t.number)
            e.dialbegin(one, t.data)
            self._respondent_dialplan(e, two)
        else:
            name = f"{t.tech}/{t.peer}-{seq:08x}"
            ch = Channel(name, uid1, uid1, DOWN, r.context, "s", created=now, device=f"{t.tech}/{t.peer}")
            self.orig = ch
            e.newchannel(ch)
            for key, value in reversed(r.variables):
                e.varset(ch, key, value)
            e.newcallerid(ch, r.caller_num, r.caller_name)
            e.newconnectedline(ch, r.caller_num, r.caller_name)
            e.dialbegin(ch, t.data)
            if self.plan.outcome in ("answer", "noanswer"):
                e.newstate(ch, RINGING)
                e.dialstate(ch, "RINGING")
                e.devicestate(ch.device, "RINGING")
        step.events = e.events
        timeout = r.timeout_ms / 1000.0
        step.wake = timeout if self.timed_out else self.plan.delay
        return step

    def _respondent_dialplan(self, e: Emitter, two: Channel) -> None:
        """The ;2 leg runs the lab dialplan ([respondents] in extensions.conf) up to its wait."""
        num, ctx, outcome = self.target.number, self.target.peer, self.plan.outcome
        one = self.orig
        if outcome == "unallocated" and self.forced is None:  # exten 5551005: NoOp, Hangup(1)
            e.newexten(two, ctx, num, 1, "NoOp", "unallocated number")
            return
        e.newexten(two, ctx, num, 1, "Set", f"NUMBER={num}")
        e.varset(two, "NUMBER", num)
        prio = 2
        random_exten = num not in self.fixed_numbers
        if random_exten:
            e.newexten(two, ctx, num, prio, "Set", f"R={self.plan.rand}")
            e.varset(two, "R", str(self.plan.rand))
            prio += 1
        e.newexten(two, ctx, num, prio, "Set", f"OUTCOME={self.shown_outcome}")
        e.varset(two, "OUTCOME", self.shown_outcome)
        e.newexten(two, ctx, num, prio + 1, "Goto", "sim,1")
        forced = self.forced or ""
        e.newexten(two, ctx, "sim", 1, "ExecIf", f"{1 if forced else 0}?Set(OUTCOME={forced})")
        if forced:
            e.varset(two, "OUTCOME", forced)
        rand = str(self.plan.rand) if random_exten else ""
        e.newexten(
            two, ctx, "sim", 2, "Verbose", f"1,RESPONDENT {num} chan={two.name} outcome={outcome} R={rand}"
        )
        e.newexten(
            two, ctx, "sim", 3, "UserEvent", f"RespondentSim,Number: {num},Outcome: {outcome},Rand: {rand}"
        )
        e.userevent(two, "RespondentSim", ("Number", num), ("Outcome", outcome), ("Rand", rand))
        e.newexten(two, ctx, "sim", 4, "Goto", f"{outcome},1")
        if outcome in ("answer", "noanswer"):
            e.newexten(two, ctx, outcome, 1, "Ringing", "")
            e.newstate(one, RINGING)
            wait = str(int(self.plan.delay)) if outcome == "answer" else "600"
            e.newexten(two, ctx, outcome, 2, "Wait", wait)
            e.dialstate(one, "RINGING")
            e.devicestate(one.device, "INUSE")
        elif outcome in ("busy", "congestion"):
            e.newexten(two, ctx, outcome, 1, "Wait", "1")

    # -- DIALLING -------------------------------------------------------------------------------
    def _dial_result(self, now: float) -> Step:
        e, step = Emitter(now), Step()
        if self.timed_out:
            self._fail_noanswer(e, step)
        elif self.plan.outcome == "answer":
            self._answer(e, step, now)
        elif self.plan.outcome in ("busy", "congestion"):
            self._fail_busy(e, step, self.plan.outcome)
        else:
            self._fail_unallocated(e, step)
        step.events = e.events
        return step

    def _answer(self, e: Emitter, step: Step, now: float) -> None:
        one, two = self.orig, self.far
        one.answered = now
        if two is not None:  # answered-1
            ctx = self.target.peer
            e.newexten(two, ctx, "answer", 3, "Answer", "")
            two.answered = now
            e.newstate(two, UP)
            e.devicestate(one.device, "INUSE")
            e.newstate(one, UP)
            e.devicestate(one.device, "INUSE")
        else:
            e.newstate(one, UP)
            e.devicestate(one.device, "INUSE")
        e.dialend(one, "ANSWER")
        r = self.request
        self._enter(e, step, r.context, r.exten, r.priority, first=True)
        if two is not None:
            talk = self.plan.talk
            e.newexten(two, self.target.peer, "answer", 4, "Wait", str(int(talk)) if talk else "3600")

    def _fail_busy(self, e: Emitter, step: Step, outcome: str) -> None:
        one, two = self.orig, self.far
        cause, reason = (17, REASON_BUSY) if outcome == "busy" else (34, REASON_CONGESTION)
        status = outcome.upper()
        self.final_cause = cause
        if two is not None:
            app = "Busy" if outcome == "busy" else "Congestion"
            e.newexten(two, self.target.peer, outcome, 2, app, "5")
            e.newstate(two, BUSY)
            e.dialend(one, status)
            e.hangup_request(two, 0)
            if outcome == "busy":  # busy-1
                self._resolve(e, step, False, reason)
                e.hangup_request(two, 16, soft=True)
                e.hangup(two, cause)
                e.devicestate(one.device, "NOT_INUSE")
                e.hangup(one, 0)
            else:  # congestion-1
                e.hangup_request(two, 16, soft=True)
                e.hangup(two, cause)
                e.devicestate(one.device, "INUSE")
                e.hangup(one, 0)
                self._resolve(e, step, False, reason)
            e.devicestate(one.device, "NOT_INUSE")
            e.devicestate(one.device, "NOT_INUSE")
        else:
            e.newstate(one, BUSY)
            e.dialend(one, status)
            e.hangup(one, cause)
            self._resolve(e, step, False, reason)
            e.devicestate(one.device, "NOT_INUSE")
        self.phase = Phase.DONE

    def _fail_noanswer(self, e: Emitter, step: Step) -> None:
        one, two = self.orig, self.far
        self.final_cause = 19
        if two is not None:  # noanswer-1
            e.hangup_request(two, 19)
            e.hangup(one, 19)
            e.hangup_request(two, 16, soft=True)
            self._resolve(e, step, False, REASON_NOANSWER)
            e.hangup(two, 19)
            e.devicestate(one.device, "NOT_INUSE")
            e.devicestate(one.device, "NOT_INUSE")
        else:
            e.dialend(one, "NOANSWER")
            e.hangup(one, 19)
            self._resolve(e, step, False, REASON_NOANSWER)
            e.devicestate(one.device, "NOT_INUSE")
        self.phase = Phase.DONE

    def _fail_unallocated(self, e: Emitter, step: Step) -> None:
        one, two = self.orig, self.far
        self.final_cause = 1
        if two is not None:  # unallocated-1
            if two.application == "NoOp":  # exten 5551005: NoOp, Hangup(1)
                e.newexten(two, self.target.peer, two.exten, 2, "Hangup", "1")
            else:  # forced: Goto(unallocated,1)
                e.newexten(two, self.target.peer, "unallocated", 1, "Hangup", "1")
            e.hangup_request(two, 16, soft=True)
            e.hangup_request(one, 1)
            e.hangup(two, 1)
            e.devicestate(one.device, "NOT_INUSE")
            e.dialend(one, "NOANSWER")
            self._resolve(e, step, False, REASON_FAILED)
            e.hangup(one, 1)
            e.devicestate(one.device, "NOT_INUSE")
        else:
            e.dialend(one, "NOANSWER")
            e.hangup(one, 1)
            self._resolve(e, step, False, REASON_FAILED)
            e.devicestate(one.device, "NOT_INUSE")
        self.phase = Phase.DONE

    def _cancel(self, now: float, channel: Channel, cause: int) -> Step:
        """Hangup action before answer: the originate fails with Reason 1 (hung up)."""
        e, step = Emitter(now), Step()
        one, two = self.orig, self.far
        self.final_cause = cause
        e.hangup_request(channel, cause, soft=True)
        e.dialend(one, "CANCEL")
        if two is not None:
            other = two if channel is one else one
            e.hangup_request(other, cause)
            e.hangup(one, cause)
            self._resolve(e, step, False, REASON_HANGUP)
            e.hangup_request(two, 16, soft=True)
            e.hangup(two, cause)
            e.devicestate(one.device, "NOT_INUSE")
            e.devicestate(one.device, "NOT_INUSE")
        else:
            e.hangup(one, cause)
            self._resolve(e, step, False, REASON_HANGUP)
            e.devicestate(one.device, "NOT_INUSE")
        self.phase = Phase.DONE
        step.events = e.events
        return step

    def _retarget(self, now: float, context: str, exten: str, priority: int) -> Step:
        """Redirect before answer: the originated channel will go there when answered."""
        self.request = replace(self.request, context=context, exten=exten, priority=priority)
        return Step(wake=None)

    # -- after answer ---------------------------------------------------------------------------
    def _enter(self, e: Emitter, step: Step, context: str, exten: str, priority: int, first: bool) -> None:
        """The originated channel runs ``context,exten,priority``; sets the phase and next wake."""
        one, d = self.orig, self.dialplan
        if context == d.interviewer_context:
            if d.interviewer_dial is None:  # answered-1: the lab's interviewer context
                e.newexten(
                    one,
                    context,
                    exten,
                    priority,
                    "NoOp",
                    f"Interviewer {exten} connected, case {self._var('CASEID')}",
                )
                if first:
                    self._resolve(e, step, True, REASON_ANSWERED)
                e.newexten(
                    one,
                    context,
                    exten,
                    priority + 1,
                    "UserEvent",
                    f"CatiConnected,Interviewer: {exten},CaseID: {self._var('CASEID')}",
                )
                e.userevent(one, "CatiConnected", ("Interviewer", exten), ("CaseID", self._var("CASEID")))
                e.newexten(one, context, exten, priority + 2, "Echo", "")
            else:
                endpoint = d.interviewer_dial.format(exten=exten)
                e.newexten(one, context, exten, priority, "Dial", endpoint)
                if first:
                    self._resolve(e, step, True, REASON_ANSWERED)
                self._dial_interviewer(e, endpoint, context, exten)
            self.phase = Phase.CONNECTED
            step.wake = self.plan.talk
        elif context == d.abandon_context:
            e.newexten(one, context, exten, priority, "Playback", "cati-identification")
            if first:
                self._resolve(e, step, True, REASON_ANSWERED)
            self.phase = Phase.MESSAGE
            step.wake = d.abandon_message_seconds
        else:
            e.newexten(one, context, exten, priority, d.hold_application, "default")
            if first:
                self._resolve(e, step, True, REASON_ANSWERED)
            self.phase = Phase.HELD
            step.wake = self.plan.patience

    def _dial_interviewer(self, e: Emitter, endpoint: str, context: str, exten: str) -> None:
        one = self.orig
        now_uid = self.ids.uniqueid(one.answered or one.created)
        tech, _, rest = endpoint.partition("/")
        seq = self.ids.seq(tech)
        ich = Channel(
            f"{tech}/{rest}-{seq:08x}",
            now_uid,
            one.linkedid,
            DOWN,
            context,
            exten,
            caller_num=one.caller_num,
            caller_name=one.caller_name,
            device=endpoint,
        )
        self.ichan = ich
        e.newchannel(ich)
        e.dialbegin(ich, rest, caller=one)
        e.newstate(ich, UP)
        e.devicestate(endpoint, "INUSE")
        e.dialend(ich, "ANSWER", caller=one)
        self.bridge_id = self.ids.bridge_id()
        e.bridge("BridgeCreate", self.bridge_id, 0)
        e.bridge("BridgeEnter", self.bridge_id, 1, *one.snapshot())
        e.bridge("BridgeEnter", self.bridge_id, 2, *ich.snapshot())

    def _drop_interviewer(self, e: Emitter) -> None:
        ich = self.ichan
        if ich is None or ich.hung_up or self.bridge_id is None:
            return
        e.bridge("BridgeLeave", self.bridge_id, 1, *self.orig.snapshot())
        e.bridge("BridgeLeave", self.bridge_id, 0, *ich.snapshot())
        e.hangup_request(ich, 16)
        e.hangup(ich, 16)
        e.devicestate(ich.device, "NOT_INUSE")
        e.bridge("BridgeDestroy", self.bridge_id, 0)
        self.bridge_id = None

    def _goto(self, now: float, context: str, exten: str, priority: int) -> Step:
        """Redirect of an answered call (hold -> interviewer, or -> abandonment message)."""
        e, step = Emitter(now), Step()
        self._drop_interviewer(e)
        self.ichan = None
        self._enter(e, step, context, exten, priority, first=False)
        step.events = e.events
        return step

    def _respondent_leaves(self, now: float) -> Step:
        """The respondent hangs up: patience ran out in hold, or the talk time is over."""
        self.left_in_hold = self.phase is Phase.HELD
        e, step = Emitter(now), Step()
        if self.far is not None:  # answered-1: ;2 runs Hangup(16)
            e.newexten(self.far, self.target.peer, "answer", 5, "Hangup", "16")
            self._hangup_up_legs(e, self.far, 16, now)
        else:
            self._hangup_up_legs(e, self.orig, 16, now)
        step.events = e.events
        return step

    def _message_done(self, now: float) -> Step:
        """The abandonment message has played; the abandon context hangs up."""
        e, step = Emitter(now), Step()
        one = self.orig
        e.newexten(one, one.context, one.exten, one.priority + 1, "Hangup", "")
        self._hangup_up_legs(e, one, 16, now)
        step.events = e.events
        return step

    def _hangup_up(self, now: float, channel: Channel, cause: int) -> Step:
        """Hangup action on an answered call."""
        e, step = Emitter(now), Step()
        if channel is self.ichan:
            self._drop_interviewer(e)
            self.ichan = None
            channel = self.orig
        self._hangup_up_legs(e, channel, cause, now)
        step.events = e.events
        return step

    def _hangup_up_legs(self, e: Emitter, init: Channel, cause: int, now: float) -> None:
        """An answered call ends from one leg; answered-1 gives the order (mirrored for ;1)."""
        self.final_cause = cause
        self._drop_interviewer(e)
        one, two = self.orig, self.far
        if two is None:
            e.hangup_request(one, cause, soft=init is one)
            e.hangup(one, cause)
            self._cdr(e, one, now)
            e.devicestate(one.device, "NOT_INUSE")
        else:
            other = one if init is two else two
            self._cdr(e, init, now)
            e.hangup_request(init, 16, soft=True)
            e.hangup_request(other, cause)
            e.hangup_request(other, cause, soft=True)
            e.hangup(one, cause)
            e.hangup(two, cause)
            self._cdr(e, other, now)
            e.devicestate(one.device, "NOT_INUSE")
            e.devicestate(one.device, "NOT_INUSE")
        self.phase = Phase.DONE

    def _cdr(self, e: Emitter, ch: Channel, now: float) -> None:
        answered = ch.answered or self.orig.answered or now
        e.cdr(
            ch,
            self.format_time(ch.created),
            self.format_time(answered),
            self.format_time(now),
            int(now - ch.created),
            int(now - answered),
        )


#: (phase, trigger) -> handler. Everything not listed is refused (the server answers with an error
#: or ignores a stale timer).
TRANSITIONS: dict[tuple[Phase, str], str] = {
    (Phase.DIALLING, "timer"): "_dial_result",
    (Phase.DIALLING, "hangup"): "_cancel",
    (Phase.DIALLING, "redirect"): "_retarget",
    (Phase.HELD, "timer"): "_respondent_leaves",
    (Phase.HELD, "hangup"): "_hangup_up",
    (Phase.HELD, "redirect"): "_goto",
    (Phase.CONNECTED, "timer"): "_respondent_leaves",
    (Phase.CONNECTED, "hangup"): "_hangup_up",
    (Phase.CONNECTED, "redirect"): "_goto",
    (Phase.MESSAGE, "timer"): "_message_done",
    (Phase.MESSAGE, "hangup"): "_hangup_up",
    (Phase.MESSAGE, "redirect"): "_goto",
}
