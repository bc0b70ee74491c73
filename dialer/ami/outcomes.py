"""Call outcomes from AMI events, sans I/O: one owner of the per-attempt state machine.

Why this module: Asterisk reports the result of an ``Originate`` in two places that arrive in no fixed
order (see ``tests/fixtures/ami-captures``): the ``OriginateResponse`` event (``Reason``, an
``AST_CONTROL_*`` number: 4 answer, 5 busy, 8 congestion, 3 rang until the originate timeout, 0 nothing
usable, 1 hangup, 2 ring) and the ``Hangup`` event of every channel of the call (``Cause``, a Q.850
code). Reason alone is coarse (an unallocated number gives Reason 0, like a broken dialplan); Cause alone
says nothing about answer on the originated leg. So the tracker keeps both, per attempt, and only
decides when the call is physically over.

How an event finds its attempt: the client sets ``ChannelId`` (the originated channel, Local ``;1`` or
the single PJSIP channel) and ``OtherChannelId`` (Local ``;2``, the respondent side) on every originate.
Asterisk then uses them as ``Uniqueid`` of the two legs, and as ``Uniqueid`` of a *failed*
``OriginateResponse`` (without ChannelId that would be ``<unknown>``). The originate's ``ActionID`` is a
second key for the ``OriginateResponse``.

When an attempt ends (never earlier): every leg seen has hung up, and either the ``OriginateResponse`` has
arrived, or the call was answered (so Reason can only be 4), or the connection had a gap (reconciled, see
``reconcile``). An answered call therefore ends only at its last ``Hangup``.

Transition table (the one place the phases change)::

    DIALLING --Newstate Ringing / DialState RINGING--> RINGING
    DIALLING|RINGING --Newstate Up on the originated leg / OriginateResponse Reason 4--> ANSWERED
    any open phase --end condition above--> ENDED (outcome = classify(reason, cause))
    any open phase --refused() / lose() / reconcile() without live channel--> ENDED (failed / lost)
    adopt() (a call of an earlier run, found again by ChannelId) --> DIALLING or ANSWERED, as after a gap
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from dialer.ami.protocol import AmiMessage

__all__ = [
    "ATTEMPT_ID_PATTERN",
    "AttemptPhase",
    "AttemptTracker",
    "AttemptUpdate",
    "CallOutcome",
    "UnknownAttemptError",
    "classify",
]

#: What an attempt id may look like: it becomes part of the Asterisk ``Uniqueid`` (max 150 bytes).
ATTEMPT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CallOutcome(StrEnum):
    """What the telephone network told us about one call attempt."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"  # network/trunk congestion or failure (fast busy, Q.850 34/38/41/42...)
    NON_WORKING = "non_working"  # unallocated number, no route, invalid number format (Q.850 1/3/28)
    NUMBER_CHANGED = "number_changed"  # Q.850 22
    REJECTED = "rejected"  # the line refused the call (Q.850 21): call blocking
    UNAVAILABLE = "unavailable"  # destination out of order / subscriber absent (Q.850 27/20)
    FAILED = "failed"  # never reached the network: bad channel, bad context, originate refused
    CANCELLED = "cancelled"  # we hung up before the answer
    LOST = "lost"  # the AMI link dropped and the call was gone on reconnect: outcome unknown


class AttemptPhase(StrEnum):
    DIALLING = "dialling"
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


# Q.850 cause groups (Asterisk's AST_CAUSE_* numbers are the Q.850 values).
_CAUSE_NON_WORKING = frozenset({1, 3, 28})
_CAUSE_NUMBER_CHANGED = frozenset({22})
_CAUSE_REJECTED = frozenset({21})
_CAUSE_UNAVAILABLE = frozenset({20, 27})
_CAUSE_BUSY = frozenset({17})
_CAUSE_NO_ANSWER = frozenset({16, 18, 19, 31})
_CAUSE_CONGESTION = frozenset({2, 34, 38, 41, 42, 44, 47, 111, 127})

# OriginateResponse Reason (AST_CONTROL_* values).
REASON_FAILED = 0
REASON_HANGUP = 1
REASON_RING = 2
REASON_RINGING = 3
REASON_ANSWERED = 4
REASON_BUSY = 5
REASON_CONGESTION = 8


def classify(reason: int | None, cause: int | None, *, cancelled: bool = False) -> CallOutcome:
    """The outcome of a finished attempt from OriginateResponse ``Reason`` and the respondent's ``Cause``.

    Precedence: an answer wins; then a specific Q.850 cause (a trunk may signal an unallocated number
    as Reason 0 or 8, but the cause is exact); then Reason 5/8/3; then broad cause groups; a call we
    hung up ourselves before any of that is ``cancelled``; Reason 0 with no usable cause is ``failed``.
    """
    if reason == REASON_ANSWERED:
        return CallOutcome.ANSWERED
    if cause in _CAUSE_NON_WORKING:
        return CallOutcome.NON_WORKING
    if cause in _CAUSE_NUMBER_CHANGED:
        return CallOutcome.NUMBER_CHANGED
    if cause in _CAUSE_REJECTED:
        return CallOutcome.REJECTED
    if cause in _CAUSE_UNAVAILABLE:
        return CallOutcome.UNAVAILABLE
    if reason == REASON_BUSY or cause in _CAUSE_BUSY:
        return CallOutcome.BUSY
    if reason == REASON_CONGESTION or cause in _CAUSE_CONGESTION:
        return CallOutcome.CONGESTION
    if cancelled:
        return CallOutcome.CANCELLED
    if reason == REASON_RINGING or cause in _CAUSE_NO_ANSWER:
        return CallOutcome.NO_ANSWER
    if reason in (REASON_HANGUP, REASON_RING):
        # The far end went away before an answer without saying why: it was reached, nobody took it.
        return CallOutcome.NO_ANSWER
    return CallOutcome.FAILED


@dataclass(frozen=True, slots=True)
class AttemptUpdate:
    """One step of one attempt, as handed to the service."""

    attempt_id: str
    phase: AttemptPhase
    #: The originated channel's name (Local ``;1`` or the PJSIP channel): the one to Redirect or Hangup.
    channel: str | None = None
    outcome: CallOutcome | None = None  # set when phase is ENDED
    reason: int | None = None  # OriginateResponse Reason, if it arrived
    cause: int | None = None  # the respondent leg's Hangup Cause (Q.850)
    cause_text: str | None = None
    ring_seconds: float | None = None  # from the first event to the answer (or the end)
    talk_seconds: float | None = None  # from the answer to the end, answered calls only
    at: float | None = None  # AMI Timestamp (epoch seconds) of the event behind this update
    detail: str | None = None  # why, for failed/lost


class UnknownAttemptError(KeyError):
    """An attempt id the tracker does not hold (or no longer holds open)."""


@dataclass(slots=True)
class _Leg:
    uniqueid: str
    name: str | None = None
    live: bool = True
    cause: int | None = None
    cause_text: str | None = None


@dataclass(slots=True)
class _Attempt:
    attempt_id: str
    channel_id: str
    other_channel_id: str | None
    action_id: str | None
    phase: AttemptPhase = AttemptPhase.DIALLING
    legs: dict[str, _Leg] = field(default_factory=dict)
    reason: int | None = None
    response_seen: bool = False
    gap: bool = False  # events may have been missed (link dropped); reconciled as still alive
    cancelled: bool = False
    started_at: float | None = None
    answered_at: float | None = None
    last_at: float | None = None
    or_channel: str | None = None

    def channel_name(self) -> str | None:
        leg = self.legs.get(self.channel_id)
        if leg is not None and leg.name is not None:
            return leg.name
        return self.or_channel

    def respondent_cause(self) -> tuple[int | None, str | None]:
        """The respondent leg's cause: Local ``;2`` if it said something, else the originated leg."""
        order = [self.other_channel_id, self.channel_id]
        for uid in order:
            leg = self.legs.get(uid) if uid else None
            if leg is not None and leg.cause:
                return leg.cause, leg.cause_text
        for uid in order:
            leg = self.legs.get(uid) if uid else None
            if leg is not None and leg.cause is not None:
                return leg.cause, leg.cause_text
        return None, None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class AttemptTracker:
    """Per-attempt state fed with AMI messages; returns :class:`AttemptUpdate` s. No I/O, no clock.

    ``register`` an attempt before its Originate goes on the wire, then ``feed`` every message read.
    Finished attempts are forgotten (late events for them are ignored).
    """

    def __init__(self) -> None:
        self._open: dict[str, _Attempt] = {}
        self._by_uniqueid: dict[str, _Attempt] = {}
        self._by_action_id: dict[str, _Attempt] = {}

    # -- registration and queries -------------------------------------------------------------
    def register(
        self,
        attempt_id: str,
        *,
        channel_id: str,
        other_channel_id: str | None = None,
        action_id: str | None = None,
        now: float | None = None,
    ) -> AttemptUpdate:
        """Start tracking an attempt (before its Originate is sent); returns the DIALLING update."""
        if attempt_id in self._open:
            raise ValueError(f"attempt {attempt_id!r} is already open")
        for key in (channel_id, other_channel_id):
            if key is not None and key in self._by_uniqueid:
                raise ValueError(f"channel id {key!r} is already used by an open attempt")
        attempt = _Attempt(attempt_id, channel_id, other_channel_id, action_id)
        self._open[attempt_id] = attempt
        self._by_uniqueid[channel_id] = attempt
        if other_channel_id is not None:
            self._by_uniqueid[other_channel_id] = attempt
        if action_id is not None:
            self._by_action_id[action_id] = attempt
        return AttemptUpdate(attempt_id, AttemptPhase.DIALLING, at=now)

    def adopt(
        self,
        attempt_id: str,
        *,
        channel_id: str,
        other_channel_id: str | None = None,
        answered: bool = False,
        now: float | None = None,
    ) -> None:
        """Track again a call placed before a restart (found by its ChannelId), with no update.

        Its OriginateResponse went to the dead session, so it ends at its last Hangup (as after a
        link gap: ``reconcile`` then learns its live legs); ``answered`` when the PBX or the books
        say it was answered, so an answered call is not classified from its cause alone.
        """
        self.register(attempt_id, channel_id=channel_id, other_channel_id=other_channel_id, now=now)
        attempt = self._open[attempt_id]
        attempt.gap = True
        if answered:
            attempt.phase = AttemptPhase.ANSWERED
            attempt.answered_at = now

    def adopt_answered(self, attempt_id: str, *, now: float | None = None) -> None:
        """An adopted attempt is answered (the PBX shows its originated leg Up): no update."""
        attempt = self._get(attempt_id)
        if attempt.phase is not AttemptPhase.ENDED:
            attempt.phase = AttemptPhase.ANSWERED
            attempt.answered_at = attempt.answered_at or now

    def is_open(self, attempt_id: str) -> bool:
        return attempt_id in self._open

    def open_attempts(self) -> list[str]:
        """Ids of the attempts not yet ended, oldest first."""
        return list(self._open)

    def channel_of(self, attempt_id: str) -> str:
        """The channel to act on (Redirect, Hangup): its name if known, else its ChannelId.

        Asterisk's channel lookup accepts a uniqueid as well as a name, so the ChannelId works
        before the first event has told us the name.
        """
        attempt = self._get(attempt_id)
        return attempt.channel_name() or attempt.channel_id

    def channel_ids(self, attempt_id: str) -> tuple[str, str | None]:
        attempt = self._get(attempt_id)
        return attempt.channel_id, attempt.other_channel_id

    def phase(self, attempt_id: str) -> AttemptPhase:
        return self._get(attempt_id).phase

    def mark_cancelled(self, attempt_id: str) -> None:
        """We asked the PBX to hang up: if it was not answered, it ends as ``cancelled``."""
        self._get(attempt_id).cancelled = True

    def _get(self, attempt_id: str) -> _Attempt:
        try:
            return self._open[attempt_id]
        except KeyError:
            raise UnknownAttemptError(attempt_id) from None

    # -- endings decided outside the event stream ------------------------------------------------
    def refused(self, attempt_id: str, detail: str, *, now: float | None = None) -> AttemptUpdate:
        """The PBX refused the Originate (Response: Error): the attempt ends as ``failed``."""
        attempt = self._get(attempt_id)
        return self._end(attempt, CallOutcome.FAILED, at=now, detail=detail)

    def lose(self, attempt_id: str, detail: str, *, now: float | None = None) -> AttemptUpdate:
        """End an attempt whose outcome cannot be known any more."""
        attempt = self._get(attempt_id)
        return self._end(attempt, CallOutcome.LOST, at=now, detail=detail)

    def reconcile(
        self,
        live_channels: Iterable[tuple[str, str | None, str | None]],
        *,
        candidates: Iterable[str] | None = None,
        now: float | None = None,
    ) -> list[AttemptUpdate]:
        """After a reconnect: compare open attempts with the channels the PBX still has.

        ``live_channels`` holds ``(uniqueid, linkedid, name)`` per channel (CoreShowChannels). An open
        attempt (among ``candidates``, default all) with no live channel of its own ends as ``lost``; one
        that is still alive keeps going, ends at its last Hangup even if its OriginateResponse was lost in
        the gap, and learns channels it has not seen.
        """
        by_uid: dict[str, tuple[str, str | None]] = {}
        linked: set[str] = set()
        for uid, linkedid, name in live_channels:
            by_uid[uid] = (uid, name)
            if linkedid:
                linked.add(linkedid)
        updates: list[AttemptUpdate] = []
        ids = list(self._open) if candidates is None else [a for a in candidates if a in self._open]
        for attempt_id in ids:
            attempt = self._open[attempt_id]
            own = [u for u in (attempt.channel_id, attempt.other_channel_id) if u and u in by_uid]
            if not own:
                detail = "AMI link dropped; the call's channels were gone on reconnect"
                updates.append(self._end(attempt, CallOutcome.LOST, at=now, detail=detail))
                continue
            attempt.gap = True
            # Legs hung up during the gap are gone; live ones are (re)learnt.
            for uid, leg in attempt.legs.items():
                if uid not in by_uid:
                    leg.live = False
            for uid in own:
                name = by_uid[uid][1]
                leg = attempt.legs.setdefault(uid, _Leg(uid))
                leg.live = True
                if name:
                    leg.name = name
        return updates

    # -- the event stream ---------------------------------------------------------------------
    def feed(self, message: AmiMessage, *, now: float | None = None) -> list[AttemptUpdate]:
        """Account one AMI message; return the updates it causes (often none)."""
        event = message.event
        if event is None:
            return []
        attempt = self._find(message)
        if attempt is None:
            return []
        at = _float(message.get("Timestamp"))
        if at is None:
            at = now
        if at is not None:
            # Durations use the PBX clock only: the first event of the attempt starts it.
            if attempt.started_at is None:
                attempt.started_at = at
            attempt.last_at = at
        handler = _HANDLERS.get(event)
        if handler is None:
            return []
        return handler(self, attempt, message, at)

    def _find(self, message: AmiMessage) -> _Attempt | None:
        for key in ("Uniqueid", "DestUniqueid"):
            uid = message.get(key)
            if uid is not None and uid in self._by_uniqueid:
                return self._by_uniqueid[uid]
        if message.event == "OriginateResponse":
            action_id = message.action_id
            if action_id is not None:
                return self._by_action_id.get(action_id)
        return None

    def _leg(self, attempt: _Attempt, message: AmiMessage) -> _Leg | None:
        uid = message.get("Uniqueid")
        if uid is None or uid not in (attempt.channel_id, attempt.other_channel_id):
            return None
        leg = attempt.legs.get(uid)
        if leg is None:
            leg = attempt.legs[uid] = _Leg(uid)
        name = message.get("Channel")
        if name:
            leg.name = name
        return leg

    def _on_newchannel(self, attempt: _Attempt, message: AmiMessage, at: float | None) -> list[AttemptUpdate]:
        self._leg(attempt, message)
        return []

    def _on_rename(self, attempt: _Attempt, message: AmiMessage, at: float | None) -> list[AttemptUpdate]:
        leg = self._leg(attempt, message)
        newname = message.get("Newname")
        if leg is not None and newname:
            leg.name = newname
        return []

    def _on_newstate(self, attempt: _Attempt, message: AmiMessage, at: float | None) -> list[AttemptUpdate]:
        leg = self._leg(attempt, message)
        if leg is None:
            return []
        state = _int(message.get("ChannelState"))
        desc = message.get("ChannelStateDesc")
        if (state == 6 or desc == "Up") and leg.uniqueid == attempt.channel_id:
            return self._answer(attempt, at)
        if state == 5 or desc == "Ringing":
            return self._ring(attempt, at)
        return []

    def _on_dialstate(self, attempt: _Attempt, message: AmiMessage, at: float | None) -> list[AttemptUpdate]:
        if message.get("DialStatus") == "RINGING":
            return self._ring(attempt, at)
        return []

    def _on_originate_response(
        self, attempt: _Attempt, message: AmiMessage, at: float | None
    ) -> list[AttemptUpdate]:
        attempt.response_seen = True
        attempt.reason = _int(message.get("Reason"))
        channel = message.get("Channel")
        updates: list[AttemptUpdate] = []
        if message.response == "Success":
            attempt.reason = REASON_ANSWERED if attempt.reason is None else attempt.reason
            if channel:
                attempt.or_channel = channel
            updates.extend(self._answer(attempt, at))
        updates.extend(self._maybe_end(attempt, at))
        return updates

    def _on_hangup(self, attempt: _Attempt, message: AmiMessage, at: float | None) -> list[AttemptUpdate]:
        leg = self._leg(attempt, message)
        if leg is None:
            return []
        leg.live = False
        leg.cause = _int(message.get("Cause"))
        leg.cause_text = message.get("Cause-txt")
        return self._maybe_end(attempt, at)

    # -- transitions (the only writers of attempt.phase) -------------------------------------------
    def _ring(self, attempt: _Attempt, at: float | None) -> list[AttemptUpdate]:
        if attempt.phase is not AttemptPhase.DIALLING:
            return []
        attempt.phase = AttemptPhase.RINGING
        channel = attempt.channel_name()
        return [AttemptUpdate(attempt.attempt_id, AttemptPhase.RINGING, channel=channel, at=at)]

    def _answer(self, attempt: _Attempt, at: float | None) -> list[AttemptUpdate]:
        if attempt.phase in (AttemptPhase.ANSWERED, AttemptPhase.ENDED):
            return []
        attempt.phase = AttemptPhase.ANSWERED
        attempt.answered_at = at
        return [
            AttemptUpdate(
                attempt.attempt_id,
                AttemptPhase.ANSWERED,
                channel=attempt.channel_name() or attempt.channel_id,
                ring_seconds=_span(attempt.started_at, at),
                at=at,
            )
        ]

    def _maybe_end(self, attempt: _Attempt, at: float | None) -> list[AttemptUpdate]:
        if any(leg.live for leg in attempt.legs.values()):
            return []
        answered = attempt.phase is AttemptPhase.ANSWERED
        if not (attempt.response_seen or answered or attempt.gap):
            return []  # every leg is gone but the OriginateResponse (with Reason) is still to come
        reason = attempt.reason
        if answered:
            reason = REASON_ANSWERED
        cause, _ = attempt.respondent_cause()
        outcome = classify(reason, cause, cancelled=attempt.cancelled)
        return [self._end(attempt, outcome, at=at)]

    def _end(
        self, attempt: _Attempt, outcome: CallOutcome, *, at: float | None, detail: str | None = None
    ) -> AttemptUpdate:
        attempt.phase = AttemptPhase.ENDED
        self._open.pop(attempt.attempt_id, None)
        for key in (attempt.channel_id, attempt.other_channel_id):
            if key is not None and self._by_uniqueid.get(key) is attempt:
                del self._by_uniqueid[key]
        if attempt.action_id is not None and self._by_action_id.get(attempt.action_id) is attempt:
            del self._by_action_id[attempt.action_id]
        end = at if at is not None else attempt.last_at
        cause, cause_text = attempt.respondent_cause()
        if detail is not None:
            # Ended from outside the event stream (refused, lost): no PBX timestamps to measure with.
            ring, talk, end = None, None, at
        elif attempt.answered_at is not None:
            ring = _span(attempt.started_at, attempt.answered_at)
            talk = _span(attempt.answered_at, end)
        else:
            ring, talk = _span(attempt.started_at, end), None
        return AttemptUpdate(
            attempt.attempt_id,
            AttemptPhase.ENDED,
            channel=attempt.channel_name(),
            outcome=outcome,
            reason=attempt.reason,
            cause=cause,
            cause_text=cause_text,
            ring_seconds=ring,
            talk_seconds=talk,
            at=end,
            detail=detail,
        )


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, round(end - start, 6))


_Handler = Callable[[AttemptTracker, _Attempt, AmiMessage, float | None], list[AttemptUpdate]]
_HANDLERS: dict[str, _Handler] = {
    "Newchannel": AttemptTracker._on_newchannel,
    "Rename": AttemptTracker._on_rename,
    "Newstate": AttemptTracker._on_newstate,
    "DialState": AttemptTracker._on_dialstate,
    "OriginateResponse": AttemptTracker._on_originate_response,
    "Hangup": AttemptTracker._on_hangup,
}
