"""The interview engine: one interview over an instrument, as a state machine that can be saved anywhere.

Why a state machine with its table in this one file: the console, the scheduler and the results sheet
all act on interviews, and an interview that moves in a way nobody planned (answering after a
break-off, screening out and still being scored) would corrupt a district's score or its AAPOR
disposition. ``TRANSITIONS`` below is the whole list of moves; every method checks it.

Why pure and serialisable: the web console saves ``to_dict()`` after every answer, so a crashed
browser or server resumes exactly where it stopped. Nothing here reads a clock: every action takes
``now`` (a timezone-aware datetime) from the caller, and every change is kept with its time.

States::

    asking        a question is on screen (``current``)
    completed     the last question was answered; ``back`` reopens it while the respondent is on the line
    screened_out  a screening answer made the respondent not eligible (AAPOR 4.x); ``back`` reopens
    broken_off    the interview was ended early (refusal or break-off); final

Dispositions (AAPOR codes):

* screened out: the rule's code, 4.70 no eligible respondent (4.51 for a business line at night);
* completed or broken off by an eligible respondent: the instrument's scoring policy decides
  (``questionnaire.validity.judge``): all scored items rated 1.1 (valid), at least ``partial``
  rated 1.2, else 2.12 break-off, or 2.11 refusal when not one substantive question was answered;
* broken off before eligibility was established: 2.11 (refusal at the household/office level; nearly
  every household or office reached has someone aged 18-69, so AAPOR counts these as eligible).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from questionnaire.model import Instrument, Item, ItemKind, ScreenOut
from questionnaire.validity import Verdict, judge

FORMAT = 1


class State(StrEnum):
    ASKING = "asking"
    COMPLETED = "completed"
    SCREENED_OUT = "screened_out"
    BROKEN_OFF = "broken_off"


class Action(StrEnum):
    START = "start"
    ANSWER = "answer"
    REFUSE = "refuse"
    DONT_KNOW = "dont_know"
    BACK = "back"
    BREAK_OFF = "break_off"


#: Every legal move: (state before, action) -> states the action may lead to. None = not started.
TRANSITIONS: Mapping[tuple[State | None, Action], frozenset[State]] = {
    (None, Action.START): frozenset({State.ASKING}),
    (State.ASKING, Action.ANSWER): frozenset({State.ASKING, State.COMPLETED, State.SCREENED_OUT}),
    (State.ASKING, Action.REFUSE): frozenset({State.ASKING, State.COMPLETED}),
    (State.ASKING, Action.DONT_KNOW): frozenset({State.ASKING, State.COMPLETED}),
    (State.ASKING, Action.BACK): frozenset({State.ASKING}),
    (State.ASKING, Action.BREAK_OFF): frozenset({State.BROKEN_OFF}),
    (State.COMPLETED, Action.BACK): frozenset({State.ASKING}),
    (State.SCREENED_OUT, Action.BACK): frozenset({State.ASKING}),
}


class AnswerStatus(StrEnum):
    ANSWERED = "answered"
    REFUSED = "refused"
    DONT_KNOW = "dont_know"


class InterviewError(ValueError):
    """Base of the engine's errors.

    ``code`` is a stable name of the problem and ``params`` its values (``item`` is an item id):
    the engine knows no language, so a caller that shows the error to a person words it from the
    code (the web console: ``cati.messages``); the message text is for logs and developers.
    """

    def __init__(self, message: str, code: str = "interview.error", **params: Any) -> None:
        super().__init__(message)
        self.code = code
        self.params: dict[str, Any] = params


class InvalidAction(InterviewError):
    """The action is not allowed now (wrong state, not the current item): a conflict, HTTP 409."""


class InvalidAnswer(InterviewError):
    """The value does not fit the item (unknown option, out of range): HTTP 422."""


class BadSavedState(InterviewError):
    """A saved interview that does not match its instrument or is damaged."""


Value = int | float | str


@dataclass(frozen=True, slots=True)
class Answer:
    """The current answer to one item."""

    status: AnswerStatus
    value: Value | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """One action, kept forever: what happened, to which item, the value, the answer it replaced."""

    at: datetime
    action: Action
    state: State
    item: str | None = None
    status: AnswerStatus | None = None
    value: Value | None = None
    previous: Answer | None = None
    cleared: tuple[str, ...] = ()


class Interview:
    """One interview. Create with ``start``; restore with ``from_dict``."""

    def __init__(self, instrument: Instrument, stratum: str) -> None:
        if stratum not in instrument.stratum_ids:
            raise InvalidAction(
                f"unknown stratum {stratum!r}: expected one of {instrument.stratum_ids}",
                "interview.unknown_stratum",
                stratum=stratum,
            )
        self.instrument = instrument
        self.stratum = stratum
        self.state: State | None = None
        self._position = 0
        self._path: list[int] = []
        self._answers: dict[str, Answer] = {}
        self._events: list[Event] = []
        self.started_at: datetime | None = None
        self.ended_at: datetime | None = None

    # ---- creation ------------------------------------------------------------------------------

    @classmethod
    def start(cls, instrument: Instrument, stratum: str, now: datetime) -> Interview:
        """Begin an interview in a stratum; the first applicable item becomes ``current``."""
        interview = cls(instrument, stratum)
        _check_time(now)
        first = interview._next_applicable(-1)
        if first is None:
            raise InvalidAction(
                f"no item of {instrument.id} applies to stratum {stratum}",
                "interview.no_item",
                stratum=stratum,
            )
        interview._position = first
        interview.started_at = now
        interview._move(Action.START, State.ASKING, now)
        return interview

    # ---- what the console shows ----------------------------------------------------------------

    @property
    def current(self) -> Item | None:
        """The item to ask now, or None when the interview is not asking."""
        if self.state is not State.ASKING:
            return None
        return self.instrument.items[self._position]

    @property
    def current_answer(self) -> Answer | None:
        """The answer already given to the current item (after going back), to show pre-selected."""
        item = self.current
        return None if item is None else self._answers.get(item.id)

    @property
    def answers(self) -> Mapping[str, Answer]:
        """Current answers by item id."""
        return dict(self._answers)

    @property
    def events(self) -> Sequence[Event]:
        """Every action with its time, oldest first."""
        return tuple(self._events)

    @property
    def can_back(self) -> bool:
        """Whether ``back`` is possible now."""
        if self.state is State.ASKING:
            return bool(self._path)
        return self.state in (State.COMPLETED, State.SCREENED_OUT)

    @property
    def is_final(self) -> bool:
        """True once the interview is no longer asking (its disposition is known)."""
        return self.state is not State.ASKING

    @property
    def progress(self) -> tuple[int, int]:
        """(position among the items this respondent is asked so far, number of items)."""
        return len(self._path) + 1, len(self.instrument.items)

    # ---- actions -------------------------------------------------------------------------------

    def answer(self, item_id: str, value: Value, now: datetime) -> None:
        """Record an answer to the current item (by option code or value name, number, or text)."""
        item = self._expect_current(Action.ANSWER, item_id, now)
        self._record(item, Action.ANSWER, AnswerStatus.ANSWERED, _coerce(item, value), now)

    def refuse(self, now: datetime, item_id: str | None = None) -> None:
        """The respondent will not answer the current item."""
        item = self._expect_current(Action.REFUSE, item_id, now)
        self._record(item, Action.REFUSE, AnswerStatus.REFUSED, None, now)

    def dont_know(self, now: datetime, item_id: str | None = None) -> None:
        """The respondent cannot say (don't know) for the current item."""
        item = self._expect_current(Action.DONT_KNOW, item_id, now)
        self._record(item, Action.DONT_KNOW, AnswerStatus.DONT_KNOW, None, now)

    def back(self, now: datetime) -> None:
        """Go back one question (its answer stays until changed); reopen a completed/screened-out one."""
        self._allowed(Action.BACK)
        _check_time(now)
        if self.state is State.ASKING:
            if not self._path:
                raise InvalidAction("already at the first question", "interview.at_first_question")
            self._position = self._path.pop()
        self.ended_at = None
        self._move(Action.BACK, State.ASKING, now, item=self.instrument.items[self._position].id)

    def break_off(self, now: datetime) -> None:
        """End the interview early: the respondent refused or hung up."""
        self._allowed(Action.BREAK_OFF)
        _check_time(now)
        self.ended_at = now
        self._move(Action.BREAK_OFF, State.BROKEN_OFF, now, item=self.instrument.items[self._position].id)

    # ---- results -------------------------------------------------------------------------------

    @property
    def eligible(self) -> bool | None:
        """True once screening passed, False if screened out, None while not yet known."""
        if self.state is State.SCREENED_OUT:
            return False
        if self.state is None:
            return None
        # The engine only moves past the screening items when none screened out.
        first_main = next(
            (i for i, item in enumerate(self.instrument.items) if not item.screening),
            len(self.instrument.items),
        )
        return True if self._position >= first_main or self.state is State.COMPLETED else None

    @property
    def scored_answered(self) -> int:
        """How many scored items are answered with an option that carries points."""
        count = 0
        for item_id in self.instrument.scored_items:
            answer = self._answers.get(item_id)
            if answer is not None and answer.status is AnswerStatus.ANSWERED:
                option = self.instrument.item(item_id).option(int(answer.value or 0))
                count += option is not None and option.points is not None
        return count

    @property
    def verdict(self) -> Verdict | None:
        """The scoring policy's verdict (``questionnaire.validity.judge``), or None while asking."""
        if self.state is None or self.state is State.ASKING:
            return None
        screened = None
        if self.state is State.SCREENED_OUT:
            item = self.instrument.items[self._position]
            rule = self._screen_out_rule(item, self._answers[item.id])
            screened = rule.disposition if rule is not None else "4.70"
        substantive = any(not item.screening and item.id in self._answers for item in self.instrument.items)
        return judge(
            self.instrument,
            rated=self.scored_answered,
            eligible=self.eligible,
            substantive=substantive,
            completed=self.state is State.COMPLETED,
            screened_out=screened,
        )

    @property
    def valid_for_scoring(self) -> bool:
        """Whether the scoring policy counts this finished interview (always 1.1)."""
        verdict = self.verdict
        return verdict is not None and verdict.valid

    @property
    def disposition(self) -> str | None:
        """The AAPOR final disposition code under the scoring policy, or None while asking."""
        verdict = self.verdict
        return None if verdict is None else verdict.disposition

    def score_row(self) -> dict[str, str]:
        """The answers in the ``cati score`` CSV vocabulary: stratum, overall, q1..q10, open text.

        A choice item gives its option's value (``good`` ...), a number its digits, a text item its
        text; a refused, don't-know or missing answer gives an empty cell. The caller adds ``district``.
        """
        row = {"stratum": self.stratum}
        for item in self.instrument.items:
            if item.screening:
                continue
            answer = self._answers.get(item.id)
            cell = ""
            if answer is not None and answer.status is AnswerStatus.ANSWERED and answer.value is not None:
                if item.kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
                    option = item.option(int(answer.value))
                    cell = option.value if option is not None else ""
                else:
                    cell = str(answer.value)
            row[item.id] = cell
        return row

    # ---- saving and resuming -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-ready data."""
        return {
            "format": FORMAT,
            "instrument": {
                "id": self.instrument.id,
                "version": self.instrument.version,
                "digest": self.instrument.digest,
            },
            "stratum": self.stratum,
            "state": None if self.state is None else self.state.value,
            "position": self.instrument.items[self._position].id,
            "path": [self.instrument.items[i].id for i in self._path],
            "answers": {key: _answer_dict(a) for key, a in self._answers.items()},
            "events": [_event_dict(e) for e in self._events],
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }

    def to_json(self) -> str:
        """``to_dict`` as a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, instrument: Instrument, data: Mapping[str, Any]) -> Interview:
        """Restore an interview saved by ``to_dict``; raise BadSavedState if it does not fit."""
        try:
            return cls._restore(instrument, data)
        except BadSavedState:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BadSavedState(f"damaged saved interview: {exc!r}") from exc

    @classmethod
    def from_json(cls, instrument: Instrument, text: str) -> Interview:
        """Restore from ``to_json`` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadSavedState(f"saved interview is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadSavedState("saved interview is not a JSON object")
        return cls.from_dict(instrument, data)

    @classmethod
    def _restore(cls, instrument: Instrument, data: Mapping[str, Any]) -> Interview:
        if data.get("format") != FORMAT:
            raise BadSavedState(f"unknown saved format {data.get('format')!r}")
        meta = data["instrument"]
        if meta["id"] != instrument.id or meta["version"] != instrument.version:
            raise BadSavedState(
                f"saved with instrument {meta['id']} v{meta['version']}, "
                f"not {instrument.id} v{instrument.version}"
            )
        interview = cls(instrument, str(data["stratum"]))
        interview.state = None if data["state"] is None else State(data["state"])
        interview._position = instrument.index(data["position"])
        interview._path = [instrument.index(item_id) for item_id in data["path"]]
        for item_id, raw in data["answers"].items():
            answer = _answer_from(raw)
            if answer.status is AnswerStatus.ANSWERED:
                try:
                    fits = (
                        answer.value is not None
                        and _coerce(instrument.item(item_id), answer.value) == answer.value
                    )
                except InvalidAnswer as exc:
                    raise BadSavedState(f"answer to {item_id} does not fit the item: {exc}") from exc
                if not fits:
                    raise BadSavedState(f"answer to {item_id} does not fit the item: {answer.value!r}")
            elif answer.value is not None:
                raise BadSavedState(f"a {answer.status.value} answer to {item_id} carries a value")
            interview._answers[item_id] = answer
        interview._events = [_event_from(raw) for raw in data["events"]]
        interview.started_at = _time_from(data["started_at"])
        interview.ended_at = _time_from(data["ended_at"])
        if any(i >= interview._position for i in interview._path):
            raise BadSavedState("path runs past the current position")
        if interview.state is State.SCREENED_OUT:
            item = instrument.items[interview._position]
            final = interview._answers.get(item.id)
            if final is None or interview._screen_out_rule(item, final) is None:
                raise BadSavedState("screened out without a screening answer that screens out")
        return interview

    # ---- internals -----------------------------------------------------------------------------

    def _allowed(self, action: Action) -> frozenset[State]:
        targets = TRANSITIONS.get((self.state, action))
        if targets is None:
            state = "not started" if self.state is None else self.state.value
            raise InvalidAction(
                f"cannot {action.value.replace('_', ' ')}: the interview is {state}",
                "interview.action_not_allowed",
                action=action.value,
                state=state.replace(" ", "_"),
            )
        return targets

    def _move(self, action: Action, target: State, now: datetime, **event: Any) -> None:
        if target not in self._allowed(action):  # a bug in this file, never a user's mistake
            raise AssertionError(f"{self.state} --{action}--> {target} is not in TRANSITIONS")
        self.state = target
        self._events.append(Event(at=now, action=action, state=target, **event))

    def _expect_current(self, action: Action, item_id: str | None, now: datetime) -> Item:
        self._allowed(action)
        _check_time(now)
        item = self.instrument.items[self._position]
        if item_id is not None and item_id != item.id:
            raise InvalidAction(
                f"the current question is {item.id}, not {item_id}",
                "interview.not_current_item",
                item=item.id,
                sent=item_id,
            )
        if action in (Action.REFUSE, Action.DONT_KNOW) and not item.allows_refusal:
            raise InvalidAction(
                f"{item.id} is a screening question and needs an answer; "
                "break off if the respondent will not say",
                "interview.screening_needs_answer",
                item=item.id,
            )
        return item

    def _record(
        self, item: Item, action: Action, status: AnswerStatus, value: Value | None, now: datetime
    ) -> None:
        previous = self._answers.get(item.id)
        answer = Answer(status=status, value=value, at=now)
        self._answers[item.id] = answer
        if item.screening and self._screen_out_rule(item, answer) is not None:
            self.ended_at = now
            self._move(
                action, State.SCREENED_OUT, now, item=item.id, status=status, value=value, previous=previous
            )
            return
        following = self._next_applicable(self._position)
        stop = len(self.instrument.items) if following is None else following
        cleared = tuple(
            skipped.id
            for skipped in self.instrument.items[self._position + 1 : stop]
            if self._answers.pop(skipped.id, None) is not None
        )
        if following is None:
            target = State.COMPLETED
            self.ended_at = now
        else:
            target = State.ASKING
            self._path.append(self._position)
            self._position = following
        self._move(
            action, target, now, item=item.id, status=status, value=value, previous=previous, cleared=cleared
        )

    def _next_applicable(self, after: int) -> int | None:
        for j in range(after + 1, len(self.instrument.items)):
            if self._applies(self.instrument.items[j]):
                return j
        return None

    def _applies(self, item: Item) -> bool:
        cond = item.ask_if
        if cond is None:
            return True
        if cond.strata is not None and self.stratum not in cond.strata:
            return False
        if cond.item is not None:
            answer = self._answers.get(cond.item)
            if answer is None or answer.status is not AnswerStatus.ANSWERED:
                return False
            return answer.value in (cond.codes or [])
        return True

    def _screen_out_rule(self, item: Item, answer: Answer) -> ScreenOut | None:
        if answer.status is not AnswerStatus.ANSWERED or answer.value is None:
            return None
        for rule in item.screen_out:
            if rule.strata is not None and self.stratum not in rule.strata:
                continue
            if rule.codes is not None and answer.value in rule.codes:
                return rule
            if rule.outside is not None and isinstance(answer.value, int | float):
                low, high = rule.outside
                if not low <= answer.value <= high:
                    return rule
        return None


def _coerce(item: Item, value: Value) -> Value:
    """Check and normalise an answer: a choice by code (1, "1") or value name; a number; a text."""
    if isinstance(value, bool):
        raise InvalidAnswer(f"{item.id}: not an answer: {value!r}", "answer.not_an_answer", item=item.id)
    if item.kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
        if isinstance(value, str):
            text = value.strip()
            by_name = next((o for o in item.options if o.value == text), None)
            if by_name is not None:
                return by_name.code
            if not text.isdigit():
                raise _unknown_option(item, value)
            value = int(text)
        if isinstance(value, float):
            if not value.is_integer():
                raise _unknown_option(item, value)
            value = int(value)
        if item.option(value) is None:
            raise _unknown_option(item, value)
        return value
    if item.kind is ItemKind.NUMBER:
        number: float
        if isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise InvalidAnswer(
                    f"{item.id}: not a number: {value!r}",
                    "answer.not_a_number",
                    item=item.id,
                    value=str(value),
                ) from None
        else:
            number = float(value)
        if not math.isfinite(number):
            raise InvalidAnswer(
                f"{item.id}: not a number: {value!r}", "answer.not_a_number", item=item.id, value=str(value)
            )
        if item.integer and not number.is_integer():
            raise InvalidAnswer(
                f"{item.id}: needs a whole number, not {value!r}",
                "answer.not_whole",
                item=item.id,
                value=f"{number:g}",
            )
        if (item.min is not None and number < item.min) or (item.max is not None and number > item.max):
            low = "" if item.min is None else f"{item.min:g}"
            high = "" if item.max is None else f"{item.max:g}"
            raise InvalidAnswer(
                f"{item.id}: {number:g} is outside {low}..{high}",
                "answer.out_of_range",
                item=item.id,
                value=f"{number:g}",
                min=low,
                max=high,
            )
        return int(number) if item.integer else number
    if not isinstance(value, str):
        raise InvalidAnswer(f"{item.id}: needs text, not {value!r}", "answer.needs_text", item=item.id)
    text = value.strip()
    if len(text) > item.max_length:
        raise InvalidAnswer(
            f"{item.id}: text longer than {item.max_length} characters",
            "answer.too_long",
            item=item.id,
            max_length=item.max_length,
        )
    return text


def _unknown_option(item: Item, value: Value) -> InvalidAnswer:
    codes = ", ".join(str(o.code) for o in item.options)
    return InvalidAnswer(
        f"{item.id}: unknown option {value!r} (options: {codes})",
        "answer.unknown_option",
        item=item.id,
        value=str(value),
        options=codes,
    )


def _check_time(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise InterviewError(f"now must be a timezone-aware datetime, not {now!r}")


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _time_from(raw: Any) -> datetime | None:
    if raw is None:
        return None
    at = datetime.fromisoformat(raw)
    _check_time(at)
    return at


def _answer_dict(answer: Answer) -> dict[str, Any]:
    return {"status": answer.status.value, "value": answer.value, "at": answer.at.isoformat()}


def _answer_from(raw: Mapping[str, Any]) -> Answer:
    value = raw["value"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float | str)):
        raise BadSavedState(f"bad answer value {value!r}")
    at = _time_from(raw["at"])
    assert at is not None
    return Answer(status=AnswerStatus(raw["status"]), value=value, at=at)


def _event_dict(event: Event) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "action": event.action.value,
        "state": event.state.value,
        "item": event.item,
        "status": None if event.status is None else event.status.value,
        "value": event.value,
        "previous": None if event.previous is None else _answer_dict(event.previous),
        "cleared": list(event.cleared),
    }


def _event_from(raw: Mapping[str, Any]) -> Event:
    at = _time_from(raw["at"])
    assert at is not None
    return Event(
        at=at,
        action=Action(raw["action"]),
        state=State(raw["state"]),
        item=raw["item"],
        status=None if raw["status"] is None else AnswerStatus(raw["status"]),
        value=raw["value"],
        previous=None if raw["previous"] is None else _answer_from(raw["previous"]),
        cleared=tuple(raw["cleared"]),
    )
