"""The interview engine, driven the way the console will drive it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from questionnaire.engine import (
    TRANSITIONS,
    Action,
    AnswerStatus,
    BadSavedState,
    Event,
    Interview,
    InterviewError,
    InvalidAction,
    InvalidAnswer,
    State,
)
from questionnaire.loader import default_instrument, parse_instrument
from questionnaire.model import Instrument, ItemKind

INST = default_instrument()
RATED = INST.scored_items
BEIJING = timezone(timedelta(hours=8))
T0 = datetime(2024, 11, 5, 19, 30, tzinfo=BEIJING)


class Clock:
    """Time passed in by the test, a few seconds per action."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


def screened_in(stratum: str = "resident", clock: Clock | None = None) -> tuple[Interview, Clock]:
    clock = clock or Clock()
    iv = Interview.start(INST, stratum, clock())
    if stratum == "resident":
        assert iv.current is not None and iv.current.id == "s_line"
        iv.answer("s_line", 1, clock())
    iv.answer("s_age", 45, clock())
    iv.answer("s_tie", 1 if stratum == "resident" else 2, clock())
    assert iv.current is not None and iv.current.id == "overall"
    return iv, clock


def test_a_complete_interview() -> None:
    iv, clock = screened_in("resident")
    assert iv.eligible is True and iv.disposition is None and not iv.valid_for_scoring
    for n, item_id in enumerate(RATED):
        assert iv.current is not None and iv.current.id == item_id
        iv.answer(item_id, ["good", "fairly_good", "average", "poor"][n % 4], clock())
    assert iv.current is not None and iv.current.kind is ItemKind.TEXT
    iv.answer("suggestions", "  希望多修几条路  ", clock())
    assert iv.state is State.COMPLETED and iv.current is None and iv.is_final
    assert iv.disposition == "1.1" and iv.valid_for_scoring
    assert iv.ended_at == clock.now
    row = iv.score_row()
    assert row["stratum"] == "resident"
    assert [row[i] for i in RATED[:5]] == ["good", "fairly_good", "average", "poor", "good"]
    assert row["suggestions"] == "希望多修几条路"
    assert set(row) == {"stratum", *RATED, "suggestions"}


def test_staff_stratum_skips_the_line_question() -> None:
    iv = Interview.start(INST, "staff", T0)
    assert iv.current is not None and iv.current.id == "s_age"
    assert iv.current.text.get("en").startswith("To make sure")


@pytest.mark.parametrize(
    ("stratum", "answers", "disposition"),
    [
        ("resident", [("s_line", 2)], "4.51"),  # business line at night
        ("resident", [("s_line", 1), ("s_age", 17)], "4.70"),
        ("resident", [("s_line", 1), ("s_age", "70")], "4.70"),
        ("staff", [("s_age", 30), ("s_tie", 1)], "4.70"),  # lives there, works elsewhere
        ("staff", [("s_age", 30), ("s_tie", "neither")], "4.70"),
        ("resident", [("s_line", 1), ("s_age", 30), ("s_tie", 2)], "4.70"),
    ],
)
def test_screening_out(stratum: str, answers: list[tuple[str, int | str]], disposition: str) -> None:
    clock = Clock()
    iv = Interview.start(INST, stratum, clock())
    for item_id, value in answers:
        iv.answer(item_id, value, clock())
    assert iv.state is State.SCREENED_OUT and iv.current is None
    assert iv.disposition == disposition
    assert iv.eligible is False and not iv.valid_for_scoring
    with pytest.raises(InvalidAction):
        iv.answer("s_tie", 1, clock())


@pytest.mark.parametrize(
    ("age", "stratum", "tie"), [(18, "resident", 1), (69, "staff", 3), (40, "resident", 3)]
)
def test_eligible_edges(age: int, stratum: str, tie: int) -> None:
    clock = Clock()
    iv = Interview.start(INST, stratum, clock())
    if stratum == "resident":
        iv.answer("s_line", "home", clock())
    iv.answer("s_age", age, clock())
    iv.answer("s_tie", tie, clock())
    assert iv.state is State.ASKING and iv.eligible is True


def test_back_and_change_keeps_every_change_with_its_time() -> None:
    iv, clock = screened_in()
    first = clock()
    iv.answer("overall", 1, first)
    iv.answer("q1", 2, clock())
    iv.back(clock())
    assert iv.current is not None and iv.current.id == "q1"
    back_time = clock.now
    iv.back(clock())
    assert iv.current is not None and iv.current.id == "overall"
    answer = iv.current_answer
    assert answer is not None and answer.value == 1 and answer.at == first  # shown pre-selected
    changed = clock()
    iv.answer("overall", "poor", changed)
    assert iv.answers["overall"].value == 4 and iv.answers["overall"].at == changed
    assert iv.current is not None and iv.current.id == "q1"
    assert iv.current_answer is not None and iv.current_answer.value == 2  # later answers are kept
    overall_events = [e for e in iv.events if e.item == "overall" and e.action is Action.ANSWER]
    assert [(e.value, e.at) for e in overall_events] == [(1, first), (4, changed)]
    assert overall_events[1].previous is not None and overall_events[1].previous.value == 1
    assert any(e.action is Action.BACK and e.at == back_time for e in iv.events)
    times = [e.at for e in iv.events]
    assert times == sorted(times)


def test_back_at_the_first_question_is_refused() -> None:
    iv = Interview.start(INST, "resident", T0)
    assert not iv.can_back
    with pytest.raises(InvalidAction, match="first question"):
        iv.back(T0)


def test_back_reopens_a_screen_out_typed_by_mistake() -> None:
    clock = Clock()
    iv = Interview.start(INST, "staff", clock())
    iv.answer("s_age", 8, clock())  # meant 38
    assert iv.disposition == "4.70" and iv.can_back
    iv.back(clock())
    assert iv.state is State.ASKING and iv.current is not None and iv.current.id == "s_age"
    assert iv.eligible is None and iv.disposition is None and iv.ended_at is None
    iv.answer("s_age", 38, clock())
    assert iv.current is not None and iv.current.id == "s_tie"


def test_back_reopens_a_completed_interview() -> None:
    iv, clock = screened_in()
    for item_id in RATED:
        iv.answer(item_id, 1, clock())
    iv.answer("suggestions", "无", clock())
    iv.back(clock())
    assert iv.current is not None and iv.current.id == "suggestions" and iv.disposition is None
    iv.answer("suggestions", "路灯不亮", clock())
    assert iv.disposition == "1.1" and iv.score_row()["suggestions"] == "路灯不亮"


def test_refuse_and_dont_know() -> None:
    iv, clock = screened_in()
    iv.refuse(clock(), item_id="overall")
    iv.dont_know(clock())
    for item_id in RATED[2:]:
        iv.answer(item_id, 2, clock())
    iv.refuse(clock())  # no suggestions given
    assert iv.answers["overall"].status is AnswerStatus.REFUSED
    assert iv.answers["q1"].status is AnswerStatus.DONT_KNOW
    # 9 of 11 rated: the all-rated rule makes it a partial (1.2), not valid for scoring
    assert iv.disposition == "1.2" and not iv.valid_for_scoring
    row = iv.score_row()
    assert (
        row["overall"] == "" and row["q1"] == "" and row["q2"] == "fairly_good" and row["suggestions"] == ""
    )


def test_screening_items_cannot_be_refused() -> None:
    iv = Interview.start(INST, "resident", T0)
    assert iv.current is not None and not iv.current.allows_refusal
    with pytest.raises(InvalidAction, match="screening"):
        iv.refuse(T0)
    with pytest.raises(InvalidAction, match="screening"):
        iv.dont_know(T0)


@pytest.mark.parametrize(
    ("answered", "refused", "disposition", "valid"),
    [
        (11, 0, "1.1", True),  # all rated, hung up at the open question
        (9, 0, "1.2", False),  # one rule: 1.1 only when all eleven are rated
        (6, 0, "1.2", False),
        (3, 3, "2.12", False),
        (0, 1, "2.12", False),
        (0, 0, "2.11", False),  # eligible, declined before the first question
    ],
)
def test_break_off_dispositions(answered: int, refused: int, disposition: str, valid: bool) -> None:
    iv, clock = screened_in()
    for item_id in RATED[:answered]:
        iv.answer(item_id, 3, clock())
    for _ in range(refused):
        iv.refuse(clock())
    iv.break_off(clock())
    assert iv.state is State.BROKEN_OFF and iv.is_final and not iv.can_back
    assert iv.disposition == disposition and iv.valid_for_scoring is valid
    with pytest.raises(InvalidAction, match="broken_off"):
        iv.back(clock())


def test_break_off_before_screening_is_a_refusal() -> None:
    iv = Interview.start(INST, "resident", T0)
    iv.break_off(T0 + timedelta(seconds=20))
    assert iv.disposition == "2.11" and iv.eligible is None
    iv = Interview.start(INST, "resident", T0)
    iv.answer("s_line", 1, T0)
    iv.break_off(T0)
    assert iv.disposition == "2.11"


def test_completed_with_most_items_refused_is_not_complete() -> None:
    iv, clock = screened_in()
    iv.answer("overall", 1, clock())
    for _ in RATED[1:]:
        iv.dont_know(clock())
    iv.answer("suggestions", "", clock())
    assert iv.state is State.COMPLETED and iv.disposition == "2.12"


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        ("s_line", 3, "unknown option 3"),
        ("s_line", "maybe", "unknown option 'maybe'"),
        ("s_line", True, "not an answer"),
        ("s_line", 1.5, "unknown option"),
    ],
)
def test_bad_choice_values(item: str, value: int | str | float, message: str) -> None:
    iv = Interview.start(INST, "resident", T0)
    with pytest.raises(InvalidAnswer, match=message):
        iv.answer(item, value, T0)
    assert iv.current is not None and iv.current.id == "s_line" and iv.answers == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (121, "outside"),
        (-1, "outside"),
        ("abc", "not a number"),
        (30.5, "whole number"),
        (float("nan"), "not a number"),
    ],
)
def test_bad_numbers(value: int | str | float, message: str) -> None:
    iv = Interview.start(INST, "staff", T0)
    with pytest.raises(InvalidAnswer, match=message):
        iv.answer("s_age", value, T0)


def test_text_too_long_and_wrong_item_and_naive_time() -> None:
    iv, clock = screened_in()
    with pytest.raises(InvalidAction, match="current question is overall, not q3"):
        iv.answer("q3", 1, clock())
    with pytest.raises(InterviewError, match="timezone-aware"):
        iv.answer("overall", 1, datetime(2024, 1, 1, 12, 0))  # naive: the point of the test
    for item_id in RATED:
        iv.answer(item_id, 1, clock())
    with pytest.raises(InvalidAnswer, match="longer than 2000"):
        iv.answer("suggestions", "字" * 2001, clock())
    with pytest.raises(InvalidAction, match="unknown stratum"):
        Interview.start(INST, "night", T0)


@pytest.mark.parametrize("state", [*State, None])
@pytest.mark.parametrize("action", [a for a in Action if a is not Action.START])
def test_methods_obey_the_transition_table(state: State | None, action: Action) -> None:
    iv, clock = screened_in()
    iv.answer("overall", 1, clock())
    if state is State.COMPLETED:
        for item_id in RATED[1:]:
            iv.answer(item_id, 1, clock())
        iv.answer("suggestions", "", clock())
    elif state is State.BROKEN_OFF:
        iv.break_off(clock())
    elif state is State.SCREENED_OUT:
        iv = Interview.start(INST, "staff", clock())
        iv.answer("s_age", 90, clock())
    elif state is None:
        iv = Interview(INST, "staff")
    assert iv.state is state
    calls = {
        Action.ANSWER: lambda: iv.answer(iv.current.id if iv.current else "q1", 1, clock()),
        Action.REFUSE: lambda: iv.refuse(clock()),
        Action.DONT_KNOW: lambda: iv.dont_know(clock()),
        Action.BACK: lambda: iv.back(clock()),
        Action.BREAK_OFF: lambda: iv.break_off(clock()),
    }
    if (state, action) in TRANSITIONS:
        calls[action]()
        assert iv.state in TRANSITIONS[(state, action)]
    else:
        with pytest.raises(InvalidAction):
            calls[action]()
        assert iv.state is state


# ---- resuming after a crash -------------------------------------------------------------------


def _restore(iv: Interview) -> Interview:
    return Interview.from_json(INST, json.dumps(iv.to_dict()))


def _same(a: Interview, b: Interview) -> None:
    assert a.to_dict() == b.to_dict()
    assert (a.current.id if a.current else None) == (b.current.id if b.current else None)
    assert a.current_answer == b.current_answer
    assert (a.state, a.disposition, a.eligible, a.valid_for_scoring) == (
        b.state,
        b.disposition,
        b.eligible,
        b.valid_for_scoring,
    )
    assert a.score_row() == b.score_row() and a.events == b.events and a.can_back == b.can_back


def _random_step(data: st.DataObject, iv: Interview, now: datetime) -> None:
    item = iv.current
    choices = []
    if item is not None:
        choices += ["answer", "answer", "answer", "answer", "break_off"]
        if item.allows_refusal:
            choices += ["refuse", "dont_know"]
    if iv.can_back:
        choices.append("back")
    step = data.draw(st.sampled_from(choices))
    if step == "answer":
        assert item is not None
        if item.options:
            value: int | str = data.draw(
                st.sampled_from([o.code for o in item.options] + [item.options[0].value])
            )
        elif item.kind is ItemKind.NUMBER:
            value = data.draw(st.sampled_from([15, 18, 35, 69, 70]))
        else:
            value = data.draw(st.text(max_size=20))
        iv.answer(item.id, value, now)
    elif step == "refuse":
        iv.refuse(now)
    elif step == "dont_know":
        iv.dont_know(now)
    elif step == "back":
        iv.back(now)
    else:
        iv.break_off(now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(["staff", "resident"]))
def test_resume_after_serialisation_at_every_step(data: st.DataObject, stratum: str) -> None:
    clock = Clock()
    start = clock()
    kept = Interview.start(INST, stratum, start)
    resumed = _restore(Interview.start(INST, stratum, start))
    _same(kept, resumed)
    for _ in range(40):
        if kept.current is None and not kept.can_back:
            break
        # The same action on both copies; one of them went through JSON after every step.
        _random_step(data, kept, clock())
        _apply_event(resumed, kept.events[-1])
        resumed = _restore(resumed)
        _same(kept, resumed)
    assert kept.state is not None


def _apply_event(iv: Interview, event: Event) -> None:
    if event.action is Action.ANSWER:
        assert event.item is not None and event.value is not None
        iv.answer(event.item, event.value, event.at)
    elif event.action is Action.REFUSE:
        iv.refuse(event.at)
    elif event.action is Action.DONT_KNOW:
        iv.dont_know(event.at)
    elif event.action is Action.BACK:
        iv.back(event.at)
    elif event.action is Action.BREAK_OFF:
        iv.break_off(event.at)


def test_saved_state_is_plain_json_with_times_and_versions() -> None:
    iv, clock = screened_in()
    iv.answer("overall", 2, clock())
    saved = json.loads(iv.to_json())
    assert saved["instrument"] == {"id": "satisfaction", "version": 2, "digest": INST.digest}
    assert saved["state"] == "asking" and saved["position"] == "q1" and saved["stratum"] == "resident"
    assert saved["answers"]["overall"] == {"status": "answered", "value": 2, "at": clock.now.isoformat()}
    assert saved["started_at"] == (T0 + timedelta(seconds=7)).isoformat()
    assert Interview.from_dict(INST, saved).to_dict() == iv.to_dict()
    utc = Interview.start(INST, "staff", datetime(2024, 1, 1, tzinfo=UTC))
    assert _restore(utc).started_at == datetime(2024, 1, 1, tzinfo=UTC)


def _other_version(inst: Instrument) -> Instrument:
    return inst.model_copy(update={"version": inst.version + 1})


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(format=99), "unknown saved format"),
        (lambda d: d.update(stratum="night"), "unknown stratum"),
        (lambda d: d.update(position="q99"), "q99"),
        (lambda d: d.update(state="flying"), "flying"),
        (lambda d: d["answers"]["overall"].update(value=9), "does not fit"),
        (lambda d: d["answers"]["overall"].update(status="refused"), "carries a value"),
        (lambda d: d["answers"]["overall"].update(at="yesterday"), "yesterday"),
        (lambda d: d["answers"]["overall"].update(at="2024-01-01T12:00:00"), "timezone-aware"),
        (lambda d: d.update(path=["q5"]), "path runs past"),
        (lambda d: d.pop("events"), "events"),
    ],
)
def test_damaged_saved_state_is_refused(damage: object, message: str) -> None:
    iv, clock = screened_in()
    iv.answer("overall", 2, clock())
    saved = iv.to_dict()
    damage(saved)  # type: ignore[operator]
    with pytest.raises(BadSavedState, match=message):
        Interview.from_dict(INST, saved)


def test_resuming_with_another_instrument_version_is_refused() -> None:
    iv, _ = screened_in()
    with pytest.raises(BadSavedState, match="v2, not satisfaction v3"):
        Interview.from_dict(_other_version(INST), iv.to_dict())
    with pytest.raises(BadSavedState, match="not JSON"):
        Interview.from_json(INST, "{")


def _with_follow_up() -> Instrument:
    """The default instrument with a yes/no question that decides whether suggestions are asked."""
    text = SOURCE_YAML.replace(
        "  - id: suggestions\n    kind: text\n",
        "  - id: has_suggestions\n    kind: single_choice\n"
        "    text: {zh-CN: 您有意见或建议吗？, en: 'Any suggestions?'}\n"
        "    options:\n"
        "      - {code: 1, value: 'yes', label: {zh-CN: 有, en: 'Yes'}}\n"
        "      - {code: 2, value: 'no', label: {zh-CN: 没有, en: 'No'}}\n"
        "  - id: suggestions\n    kind: text\n    ask_if: {item: has_suggestions, codes: [1]}\n",
    )
    return parse_instrument(text, "follow-up.yaml")


SOURCE_YAML = (resources.files("questionnaire") / "instruments" / "satisfaction.yaml").read_text(
    encoding="utf-8"
)


def test_routing_skips_and_clears_answers_that_no_longer_apply() -> None:
    inst = _with_follow_up()
    clock = Clock()
    iv = Interview.start(inst, "staff", clock())
    iv.answer("s_age", 30, clock())
    iv.answer("s_tie", 2, clock())
    for item_id in RATED:
        iv.answer(item_id, 2, clock())
    iv.answer("has_suggestions", "yes", clock())
    assert iv.current is not None and iv.current.id == "suggestions"
    iv.answer("suggestions", "多建公园", clock())
    iv.back(clock())
    iv.back(clock())
    assert iv.current is not None and iv.current.id == "has_suggestions"
    iv.answer("has_suggestions", "no", clock())
    assert iv.state is State.COMPLETED and "suggestions" not in iv.answers
    assert iv.events[-1].cleared == ("suggestions",)
    assert iv.score_row()["suggestions"] == "" and iv.score_row()["has_suggestions"] == "no"
    restored = Interview.from_json(inst, iv.to_json())
    assert restored.events[-1].cleared == ("suggestions",)
    with pytest.raises(BadSavedState, match="saved with instrument satisfaction v2, not other v2"):
        Interview.from_dict(inst.model_copy(update={"id": "other"}), iv.to_dict())
