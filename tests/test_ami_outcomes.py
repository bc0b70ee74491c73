"""AttemptTracker and classify, sans I/O, against every real capture and against reordered streams."""

from __future__ import annotations

import itertools

import pytest
from ami_captures import CALL_CAPTURES, EXPECTED, calls, messages
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ami.outcomes import AttemptPhase, AttemptTracker, AttemptUpdate, CallOutcome, classify
from dialer.ami.protocol import AmiMessage
from dialer.dispositions import AAPOR_LABELS, TEMPORARY_DISPOSITIONS, temporary_disposition


def _run(name: str, stream: list[AmiMessage]) -> tuple[AttemptTracker, list[AttemptUpdate]]:
    tracker = AttemptTracker()
    for i, call in enumerate(calls(name)):
        tracker.register(
            f"a{i}",
            channel_id=call.channel_id,
            other_channel_id=call.other_channel_id,
            action_id=call.action_id,
        )
    updates = [u for m in stream for u in tracker.feed(m)]
    return tracker, updates


def _ended(updates: list[AttemptUpdate]) -> dict[str, AttemptUpdate]:
    return {u.attempt_id: u for u in updates if u.phase is AttemptPhase.ENDED}


@pytest.mark.parametrize("name", [n for n in CALL_CAPTURES if n != "sync-busy"])
def test_every_capture_gives_its_outcome(name: str) -> None:
    tracker, updates = _run(name, messages(name))
    ended = _ended(updates)
    assert [ended[f"a{i}"].outcome for i in range(len(EXPECTED[name]))] == EXPECTED[name]
    assert tracker.open_attempts() == []
    for attempt_id in ended:
        phases = [u.phase for u in updates if u.attempt_id == attempt_id]
        assert phases[-1] is AttemptPhase.ENDED and phases.count(AttemptPhase.ENDED) == 1
        if ended[attempt_id].outcome is CallOutcome.ANSWERED:
            answered = next(
                u for u in updates if u.attempt_id == attempt_id and u.phase is AttemptPhase.ANSWERED
            )
            assert answered.channel is not None and answered.channel.endswith(";1")
            assert ended[attempt_id].talk_seconds is not None and ended[attempt_id].talk_seconds > 1
        else:
            assert AttemptPhase.ANSWERED not in phases


def test_sync_busy_without_originate_response_stays_open() -> None:
    """Async false: no OriginateResponse. The tracker must not guess; the client ends it on the Error."""
    tracker, updates = _run("sync-busy", messages("sync-busy"))
    assert _ended(updates) == {}
    assert tracker.open_attempts() == ["a0"]
    assert tracker.refused("a0", "Originate failed").outcome is CallOutcome.FAILED


def _is_hangup_or_response(m: AmiMessage) -> bool:
    return m.event in ("Hangup", "OriginateResponse")


@pytest.mark.parametrize("name", [n for n in CALL_CAPTURES if n not in ("sync-busy", "concurrent-6-random")])
def test_hangup_and_originate_response_in_every_order(name: str) -> None:
    stream = messages(name)
    finals = [m for m in stream if _is_hangup_or_response(m)]
    rest = [m for m in stream if not _is_hangup_or_response(m)]
    for order in itertools.permutations(finals):
        _, updates = _run(name, rest + list(order))
        assert _ended(updates)["a0"].outcome is EXPECTED[name][0], [m.event for m in order]


def test_answered_call_ends_only_at_its_last_hangup() -> None:
    stream = messages("answered-with-channelid")
    last_hangup = max(i for i, m in enumerate(stream) if m.event == "Hangup")
    tracker, updates = _run("answered-with-channelid", stream[:last_hangup])
    assert _ended(updates) == {}
    assert tracker.phase("a0") is AttemptPhase.ANSWERED
    assert [u.phase for u in tracker.feed(stream[last_hangup])] == [AttemptPhase.ENDED]


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_concurrent_capture_survives_shuffled_interleaving(rnd: object) -> None:
    """Six calls: shuffle how their streams interleave (each call's own order kept)."""
    import random

    assert isinstance(rnd, random.Random)
    name = "concurrent-6-random"
    per_call: dict[str, list[AmiMessage]] = {}
    cs = calls(name)
    owner = {}
    for c in cs:
        owner[c.channel_id] = owner[c.other_channel_id or ""] = owner[c.action_id] = c.action_id
    for m in messages(name):
        key = (
            owner.get(m.get("Uniqueid") or "")
            or owner.get(m.get("DestUniqueid") or "")
            or owner.get(m.action_id or "")
        )
        if key is not None:
            per_call.setdefault(key, []).append(m)
    queues = [list(v) for v in per_call.values()]
    stream: list[AmiMessage] = []
    while any(queues):
        q = rnd.choice([q for q in queues if q])
        stream.append(q.pop(0))
    _, updates = _run(name, stream)
    ended = _ended(updates)
    assert [ended[f"a{i}"].outcome for i in range(6)] == EXPECTED[name]


def test_late_events_after_the_end_are_ignored() -> None:
    stream = messages("busy-1")
    _, updates = _run("busy-1", stream + stream[1:])  # a replay of the same events
    assert [u.phase for u in updates].count(AttemptPhase.ENDED) == 1


def test_reconcile_loses_gone_attempts_and_keeps_live_ones() -> None:
    stream = messages("answered-with-channelid")
    answer = next(i for i, m in enumerate(stream) if m.event == "OriginateResponse")
    tracker = AttemptTracker()
    tracker.register("live", channel_id="cati-case-42-a", other_channel_id="cati-case-42-b")
    tracker.register("gone", channel_id="x-a", other_channel_id="x-b")
    for m in stream[: answer + 1]:
        tracker.feed(m)
    # The OriginateResponse and the hangups of ;2 are "missed" in a gap; ;1 is still up.
    updates = tracker.reconcile(
        [("cati-case-42-a", "cati-case-42-a", "Local/5551001@respondents-0000000f;1")]
    )
    assert [(u.attempt_id, u.outcome) for u in updates] == [("gone", CallOutcome.LOST)]
    last = [m for m in stream if m.event == "Hangup" and m.get("Uniqueid") == "cati-case-42-a"]
    ended = tracker.feed(last[0])
    assert [(u.phase, u.outcome) for u in ended] == [(AttemptPhase.ENDED, CallOutcome.ANSWERED)]


@pytest.mark.parametrize(
    ("reason", "cause", "outcome"),
    [
        (4, 16, CallOutcome.ANSWERED),
        (5, 17, CallOutcome.BUSY),
        (0, 17, CallOutcome.BUSY),
        (8, 34, CallOutcome.CONGESTION),
        (3, 19, CallOutcome.NO_ANSWER),
        (0, 1, CallOutcome.NON_WORKING),
        (8, 1, CallOutcome.NON_WORKING),  # a trunk that signals an unallocated number as congestion
        (0, 28, CallOutcome.NON_WORKING),
        (0, 22, CallOutcome.NUMBER_CHANGED),
        (0, 21, CallOutcome.REJECTED),
        (0, 27, CallOutcome.UNAVAILABLE),
        (0, 38, CallOutcome.CONGESTION),
        (1, 16, CallOutcome.NO_ANSWER),
        (0, 0, CallOutcome.FAILED),
        (None, None, CallOutcome.FAILED),
    ],
)
def test_classify(reason: int | None, cause: int | None, outcome: CallOutcome) -> None:
    assert classify(reason, cause) is outcome


def test_cancelled_before_answer_but_not_after() -> None:
    assert classify(3, 16, cancelled=True) is CallOutcome.CANCELLED
    assert classify(4, 16, cancelled=True) is CallOutcome.ANSWERED
    assert classify(5, 17, cancelled=True) is CallOutcome.BUSY


def test_every_outcome_has_an_aapor_code() -> None:
    assert set(TEMPORARY_DISPOSITIONS) == set(CallOutcome)
    for outcome in CallOutcome:
        d = temporary_disposition(outcome)
        assert d.code in AAPOR_LABELS and d.why
    codes = {outcome.value: temporary_disposition(outcome).code for outcome in CallOutcome}
    assert codes == {
        "answered": "3.21",  # no interviewer coded it: contact, no screener completed (was 3.90 here)
        "busy": "3.12",
        "no_answer": "3.13",
        "congestion": "3.16",
        "non_working": "4.31",
        "number_changed": "4.41",  # the service recorded 4.31
        "rejected": "3.15",
        "unavailable": "4.33",
        "failed": "3.11",  # the service recorded 3.16
        "cancelled": "3.11",  # the service recorded 3.13
        "lost": "3.16",  # was 3.90 here
    }


def test_register_refuses_duplicates() -> None:
    tracker = AttemptTracker()
    tracker.register("a", channel_id="c-a")
    with pytest.raises(ValueError):
        tracker.register("a", channel_id="c-z")
    with pytest.raises(ValueError):
        tracker.register("b", channel_id="c-a")
