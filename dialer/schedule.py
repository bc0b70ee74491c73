"""Case scheduling rules, pure: calling windows, retry delays, attempt limits, AAPOR dispositions.

Why pure: which case may be dialled when, and what a case's final disposition is, are rules that
fieldwork managers and witnesses must be able to check. They are written here with no database and
no clock reads (every function takes ``now``), so the tests state them exactly and the database
service in ``cati.cases.service`` only applies them.

Time: every instant passed in or returned is timezone-aware UTC (or any aware datetime); calling
windows are wall-clock times in the campaign's time zone (IANA name, e.g. ``Asia/Shanghai``).

The calling-windows JSON (``Campaign.calling_windows``)::

    {
      "staff":    [{"days": [1, 2, 3, 4, 5], "start": "08:30", "end": "12:00"}, ...],
      "resident": [{"days": [1, 2, 3, 4, 5], "start": "18:30", "end": "21:30"},
                   {"days": [6, 7], "start": "09:30", "end": "21:00"}],
      "holidays": ["2026-10-01", ...],
      "extra_workdays": ["2026-10-10", ...]
    }

``days`` are ISO weekdays (1 = Monday ... 7 = Sunday). A window whose ``end`` is not after its
``start`` runs past midnight into the next day; it belongs to the day it starts on. ``end`` may be
``"24:00"``. Holidays and extra working days (China moves working days around public holidays, 调休)
change which weekday's windows a date gets: a holiday that falls Monday to Friday is treated as a
Sunday; an extra working day that falls on a Saturday or Sunday is treated as a Monday. A stratum
missing from the JSON gets the default windows; ``holidays``/``extra_workdays`` default to none.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ScheduleConfigError(ValueError):
    """The calling-windows or scheduling JSON is malformed; the message names the bad field."""


# --------------------------------------------------------------------------------------------------
# Calling windows
# --------------------------------------------------------------------------------------------------

#: Default windows. Staff (government offices, enterprises, institutions) in office hours with the
#: lunch break left out; residents on weekday evenings and at weekends (not during the noon rest).
DEFAULT_CALLING_WINDOWS: dict[str, Any] = {
    "staff": [
        {"days": [1, 2, 3, 4, 5], "start": "08:30", "end": "11:45"},
        {"days": [1, 2, 3, 4, 5], "start": "14:00", "end": "17:30"},
    ],
    "resident": [
        {"days": [1, 2, 3, 4, 5], "start": "18:30", "end": "21:30"},
        {"days": [6, 7], "start": "09:30", "end": "12:00"},
        {"days": [6, 7], "start": "14:00", "end": "21:00"},
    ],
    "holidays": [],
    "extra_workdays": [],
}

_TIME_RE = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_RESERVED_KEYS = frozenset({"holidays", "extra_workdays"})
#: How far ahead next_opening looks before giving up (a year and a bit covers any holiday list).
_HORIZON_DAYS = 400


@dataclass(frozen=True)
class Window:
    """One weekly window: on each of ``days`` from ``start`` to ``end`` (minutes after midnight)."""

    days: frozenset[int]
    start_min: int
    end_min: int  # may be <= start_min: the window crosses midnight

    @property
    def crosses_midnight(self) -> bool:
        return self.end_min <= self.start_min


def _parse_time(value: Any, where: str) -> int:
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise ScheduleConfigError(f'{where}: expected a time like "08:30", got {value!r}')
    hours, minutes = int(value[:2]), int(value[3:])
    if hours == 24 and minutes != 0:
        raise ScheduleConfigError(f'{where}: {value!r} is past midnight; use "24:00" at most')
    return hours * 60 + minutes


def _parse_date(value: Any, where: str) -> dt.date:
    try:
        if not isinstance(value, str):
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ScheduleConfigError(f'{where}: expected a date like "2026-10-01", got {value!r}') from None


def _parse_window(raw: Any, where: str) -> Window:
    if not isinstance(raw, Mapping):
        raise ScheduleConfigError(f"{where}: expected an object with days, start and end")
    unknown = set(raw) - {"days", "start", "end"}
    if unknown:
        raise ScheduleConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    days = raw.get("days")
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in days)
    ):
        raise ScheduleConfigError(f"{where}.days: expected a non-empty list of weekdays 1 (Mon) to 7 (Sun)")
    start = _parse_time(raw.get("start"), f"{where}.start")
    end = _parse_time(raw.get("end"), f"{where}.end")
    if start == 24 * 60:
        raise ScheduleConfigError(f"{where}.start: a window cannot start at 24:00")
    if start == end:
        raise ScheduleConfigError(f"{where}: start and end are equal; a window must have a length")
    return Window(frozenset(days), start, end % (24 * 60) if end != 24 * 60 else 24 * 60)


@dataclass(frozen=True)
class CallingWindows:
    """Calling windows per stratum plus the holiday calendar, in the campaign's time zone."""

    tz: ZoneInfo
    by_stratum: Mapping[str, tuple[Window, ...]]
    holidays: frozenset[dt.date] = frozenset()
    extra_workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, timezone: str) -> CallingWindows:
        """Parse ``Campaign.calling_windows``; missing strata fall back to the defaults."""
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleConfigError(f"unknown time zone {timezone!r}") from None
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ScheduleConfigError("calling_windows: expected a JSON object")
        merged: dict[str, Any] = {k: v for k, v in DEFAULT_CALLING_WINDOWS.items() if k not in _RESERVED_KEYS}
        for key, value in data.items():
            if key in _RESERVED_KEYS:
                continue
            merged[key] = value
        by_stratum: dict[str, tuple[Window, ...]] = {}
        for stratum, raw_windows in merged.items():
            if not isinstance(raw_windows, list):
                raise ScheduleConfigError(f"calling_windows.{stratum}: expected a list of windows")
            by_stratum[stratum] = tuple(
                _parse_window(w, f"calling_windows.{stratum}[{i}]") for i, w in enumerate(raw_windows)
            )
        dates: dict[str, frozenset[dt.date]] = {}
        for key in ("holidays", "extra_workdays"):
            raw = data.get(key, [])
            if not isinstance(raw, list):
                raise ScheduleConfigError(f"calling_windows.{key}: expected a list of dates")
            dates[key] = frozenset(_parse_date(v, f"calling_windows.{key}[{i}]") for i, v in enumerate(raw))
        both = dates["holidays"] & dates["extra_workdays"]
        if both:
            raise ScheduleConfigError(
                f"calling_windows: {min(both).isoformat()} is both a holiday and an extra working day"
            )
        return cls(tz, by_stratum, dates["holidays"], dates["extra_workdays"])

    def effective_weekday(self, day: dt.date) -> int:
        """The weekday whose windows ``day`` gets, after holidays and extra working days."""
        wd = day.isoweekday()
        if day in self.holidays and wd <= 5:
            return 7
        if day in self.extra_workdays and wd >= 6:
            return 1
        return wd

    def _windows(self, stratum: str) -> tuple[Window, ...]:
        try:
            return self.by_stratum[stratum]
        except KeyError:
            raise ScheduleConfigError(f"no calling windows for stratum {stratum!r}") from None

    def intervals_starting_on(self, stratum: str, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The [start, end) intervals (aware, in the campaign zone) of windows that start on ``day``."""
        wd = self.effective_weekday(day)
        out: list[tuple[dt.datetime, dt.datetime]] = []
        midnight = dt.datetime.combine(day, dt.time(0))
        for w in self._windows(stratum):
            if wd not in w.days:
                continue
            end_min = w.end_min + (24 * 60 if w.crosses_midnight else 0)
            start = (midnight + dt.timedelta(minutes=w.start_min)).replace(tzinfo=self.tz)
            end = (midnight + dt.timedelta(minutes=end_min)).replace(tzinfo=self.tz)
            out.append((start, end))
        out.sort()
        return out

    def is_open(self, stratum: str, now: dt.datetime) -> bool:
        """Whether ``stratum`` may be called at ``now``."""
        _require_aware(now, "now")
        local = now.astimezone(self.tz)
        for day in (local.date() - dt.timedelta(days=1), local.date()):
            for start, end in self.intervals_starting_on(stratum, day):
                if start <= now < end:
                    return True
        return False

    def next_opening(self, stratum: str, after: dt.datetime) -> dt.datetime | None:
        """The first instant at or after ``after`` when ``stratum`` may be called (UTC).

        ``after`` itself when a window is open then; None when no window opens within ~13 months.
        """
        _require_aware(after, "after")
        local_day = after.astimezone(self.tz).date()
        for offset in range(-1, _HORIZON_DAYS):
            for start, end in self.intervals_starting_on(stratum, local_day + dt.timedelta(days=offset)):
                if end <= after:
                    continue
                return max(start, after).astimezone(dt.UTC)
        return None

    def open_strata(self, now: dt.datetime) -> list[str]:
        """The strata whose window is open at ``now``, in a stable order."""
        return sorted(s for s in self.by_stratum if self.is_open(s, now))


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


def start_of_next_local_day(now: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """Midnight after ``now`` in ``tz``, as UTC: the earliest time for "not again today"."""
    _require_aware(now, "now")
    tomorrow = now.astimezone(tz).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(0), tzinfo=tz).astimezone(dt.UTC)


# --------------------------------------------------------------------------------------------------
# AAPOR dispositions (Standard Definitions, Table 1: RDD telephone surveys)
# --------------------------------------------------------------------------------------------------


class Next(StrEnum):
    """What a temporary disposition means for the case's next step."""

    final = "final"  # the case is closed with this code
    retry = "retry"  # call again after the retry delay named by ``RetryReason``


class RetryReason(StrEnum):
    """Keys of the retry delays (``scheduling.retry_minutes``)."""

    busy = "busy"
    no_answer = "no_answer"
    answering_machine = "answering_machine"
    soft_refusal = "soft_refusal"
    callback = "callback"  # someone answered; call again later (no appointment time given)
    technical = "technical"  # congestion, failure, temporarily out of service
    lost = "lost"  # the call's channel vanished (PBX connection lost); nothing known
    #: the call never reached the network (Originate refused, dial plan error, link down when
    #: sending): not an attempt against the case (``dialer.dispositions.counts_as_attempt``)
    not_dialled = "not_dialled"
    abandoned = "abandoned"  # live answer, no interviewer in 2 s: not again today
    appointment_missed = "appointment_missed"


@dataclass(frozen=True)
class Disposition:
    """One AAPOR code with its labels, its group for precedence and what it means next."""

    code: str
    en: str
    zh: str
    next: Next
    retry: RetryReason | None = None


def _d(code: str, en: str, zh: str, retry: RetryReason | None = None) -> Disposition:
    return Disposition(code, en, zh, Next.retry if retry else Next.final, retry)


#: The codes this project uses. A temporary code with ``retry`` keeps the case open; the others
#: close it at once.
DISPOSITIONS: dict[str, Disposition] = {
    d.code: d
    for d in (
        _d("1.1", "Complete", "完成访问"),
        _d("1.2", "Partial", "部分完成"),
        _d("2.111", "Household-level refusal", "住户拒访", RetryReason.soft_refusal),
        _d("2.112", "Known-respondent refusal", "受访者拒访", RetryReason.soft_refusal),
        _d("2.12", "Break-off", "中途退出", RetryReason.soft_refusal),
        _d("2.21", "Respondent not available", "受访者不在/不便", RetryReason.callback),
        _d(
            "2.221",
            "Answering machine, household, message left",
            "答录机(住户)已留言",
            RetryReason.answering_machine,
        ),
        _d(
            "2.222",
            "Answering machine, household, no message",
            "答录机(住户)未留言",
            RetryReason.answering_machine,
        ),
        _d("2.32", "Physically or mentally unable", "身体或精神原因无法受访"),
        _d("2.33", "Language", "语言障碍"),
        _d("2.35", "Location or activity not allowing interview", "所处场合不便受访", RetryReason.callback),
        _d("2.36", "Miscellaneous (eligible)", "其他(合格)", RetryReason.callback),
        # As an attempt's code: the call was not worked to a result (our side failed, or we hung up
        # first; ``dialer.dispositions``), so the number is tried again. As a case's final code: no
        # attempt ever gave a result (``final_disposition``).
        _d("3.11", "Not attempted or worked", "未拨打或未拨通", RetryReason.technical),
        _d("3.12", "Always busy", "始终占线", RetryReason.busy),
        _d("3.13", "No answer", "无人接听", RetryReason.no_answer),
        _d(
            "3.14",
            "Answering machine, unknown if household",
            "答录机(未知是否住户)",
            RetryReason.answering_machine,
        ),
        _d("3.15", "Call blocking", "呼叫拦截", RetryReason.no_answer),
        _d("3.16", "Technical phone problems", "线路技术问题", RetryReason.technical),
        _d("3.21", "Answered, no screener completed", "接通但未完成甄别", RetryReason.callback),
        _d("3.90", "Other, unknown eligibility", "其他(合格性未知)", RetryReason.callback),
        _d("4.10", "Out of sample", "样本外(不在本区工作或居住)"),
        _d("4.20", "Fax or data line", "传真/数据线路"),
        _d("4.31", "Non-working number", "空号"),
        _d("4.32", "Disconnected number", "停机"),
        _d("4.33", "Temporarily out of service", "暂时停止服务", RetryReason.technical),
        _d("4.41", "Number changed", "号码已更改"),
        _d("4.51", "Business or organisation", "单位/企业电话"),
        _d("4.70", "No eligible respondent", "无合格受访者"),
        _d("4.80", "Quota filled", "配额已满"),
    )
}


class UnknownDisposition(ValueError):
    """A disposition code that is not in ``DISPOSITIONS``."""


def disposition(code: str) -> Disposition:
    """The entry for ``code`` or a clear error naming it."""
    try:
        return DISPOSITIONS[code]
    except KeyError:
        raise UnknownDisposition(f"unknown AAPOR disposition code {code!r}") from None


def _rank(code: str) -> tuple[int, int]:
    """Precedence of one temporary code: higher wins (see ``final_disposition``)."""
    if code == "1.1":
        return (90, 0)
    if code == "1.2":
        return (80, 0)
    if code.startswith(("2.11", "2.12")):
        return (70, 0)
    if code.startswith("4."):
        return (60, 0)
    if code.startswith("2.3"):
        return (50, 0)
    if code.startswith("2.2"):
        return (40, 0)
    if code.startswith("3.2") or code == "3.90":
        return (30, 0)
    # Unknown if household: a machine proves a working line, a ring or busy tone less so.
    order = {"3.14": 5, "3.15": 4, "3.13": 3, "3.12": 2, "3.16": 1, "3.11": 0}
    return (20, order.get(code, 0))


def final_disposition(codes: Iterable[str | None]) -> str:
    """Final AAPOR code of a case from its attempts' temporary codes, oldest first.

    Precedence (highest wins; within one level the latest attempt's code wins):

    1. 1.1 complete; 2. 1.2 partial; 3. 2.11x refusal / 2.12 break-off;
    4. 4.x not eligible (established by a call); 5. 2.3x other eligible non-interview;
    6. 2.2x eligible non-contact; 7. 3.2x / 3.90 answered, eligibility unknown;
    8. unknown if household: 3.14 machine > 3.15 blocking > 3.13 no answer > 3.12 busy >
       3.16 technical > 3.11 not worked (a call that gave no result proves nothing). 3.12 "always
       busy" only when every attempt was busy: busy mixed with no answer is 3.13. No attempts at
       all: 3.11. A call outcome's code comes from ``dialer.dispositions`` (the one table).
    """
    seen = [c for c in codes if c]
    for c in seen:
        disposition(c)
    if not seen:
        return "3.11"
    best = seen[0]
    for c in seen[1:]:
        if _rank(c) >= _rank(best):
            best = c
    if best == "3.12" and any(c != "3.12" for c in seen):
        # A busy line that at other times rang out is not "always busy".
        return "3.13" if "3.13" in seen else "3.12"
    return best


# --------------------------------------------------------------------------------------------------
# Retry delays and attempt limits
# --------------------------------------------------------------------------------------------------

DEFAULT_RETRY_MINUTES: dict[str, int] = {
    RetryReason.busy: 15,
    RetryReason.no_answer: 120,
    RetryReason.answering_machine: 180,
    RetryReason.soft_refusal: 3 * 24 * 60,
    RetryReason.callback: 60,
    RetryReason.technical: 30,
    RetryReason.lost: 5,
    RetryReason.not_dialled: 1,
    RetryReason.abandoned: 0,  # plus: not before the next local day
    RetryReason.appointment_missed: 30,
}


@dataclass(frozen=True)
class SchedulingRules:
    """Per-campaign rules (``Campaign.scheduling`` JSON); every key optional::

    {"max_attempts": 6, "max_refusals": 2, "appointment_extra_attempts": 2,
     "appointment_grace_minutes": 15, "retry_minutes": {"busy": 15, ...},
     "topup_min_open": 30, "topup_batch": 100}
    """

    #: Attempts per number before the case is closed with its final disposition.
    max_attempts: int = 6
    #: Refusals or break-offs before a case is closed (2: one conversion attempt).
    max_refusals: int = 2
    #: An appointment the respondent asked for may be kept past max_attempts by this many calls.
    appointment_extra_attempts: int = 2
    #: How long an appointment kept for one interviewer waits for them before anyone may take it.
    appointment_grace_minutes: int = 15
    retry_minutes: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_RETRY_MINUTES))
    #: Automatic top-up: when a cell not yet full has fewer open cases than this, release more.
    topup_min_open: int = 30
    topup_batch: int = 100

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SchedulingRules:
        """Parse ``Campaign.scheduling``; a bad value raises ScheduleConfigError naming the key."""
        data = data or {}
        if not isinstance(data, Mapping):
            raise ScheduleConfigError("scheduling: expected a JSON object")
        ints = {
            "max_attempts": 1,
            "max_refusals": 1,
            "appointment_extra_attempts": 0,
            "appointment_grace_minutes": 0,
            "topup_min_open": 0,
            "topup_batch": 1,
        }
        unknown = set(data) - set(ints) - {"retry_minutes"}
        if unknown:
            raise ScheduleConfigError(f"scheduling: unknown key(s) {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for key, minimum in ints.items():
            if key in data:
                value = data[key]
                if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                    raise ScheduleConfigError(f"scheduling.{key}: expected a whole number >= {minimum}")
                kwargs[key] = value
        retry = dict(DEFAULT_RETRY_MINUTES)
        raw_retry = data.get("retry_minutes", {})
        if not isinstance(raw_retry, Mapping):
            raise ScheduleConfigError("scheduling.retry_minutes: expected an object of minutes")
        for key, value in raw_retry.items():
            if key not in retry:
                raise ScheduleConfigError(
                    f"scheduling.retry_minutes: unknown reason {key!r} (known: {sorted(retry)})"
                )
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ScheduleConfigError(f"scheduling.retry_minutes.{key}: expected minutes >= 0")
            retry[key] = value
        kwargs["retry_minutes"] = retry
        return cls(**kwargs)

    def attempt_limit(self, *, has_appointment: bool) -> int:
        """How many attempts a case may have in all."""
        return self.max_attempts + (self.appointment_extra_attempts if has_appointment else 0)

    def may_dial(self, attempts: int, *, has_appointment: bool) -> bool:
        """Whether one more attempt is allowed."""
        return attempts < self.attempt_limit(has_appointment=has_appointment)

    def retry_delay(self, reason: RetryReason | str) -> dt.timedelta:
        """The delay before the next attempt after ``reason``."""
        return dt.timedelta(minutes=self.retry_minutes[RetryReason(reason)])

    def appointment_grace(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.appointment_grace_minutes)


@dataclass(frozen=True)
class Decision:
    """What to do with a case after an attempt: close it with ``final_code`` or call at ``next_call_at``."""

    final_code: str | None
    next_call_at: dt.datetime | None
    blocked_until: dt.datetime | None = None
    reason: str = ""


def decide_after_attempt(
    *,
    code: str,
    attempt_codes: Sequence[str | None],
    attempts: int,
    refusals: int,
    now: dt.datetime,
    stratum: str,
    windows: CallingWindows,
    rules: SchedulingRules,
    abandoned: bool = False,
    appointment_at: dt.datetime | None = None,
    had_appointment: bool = False,
    retry_reason: RetryReason | None = None,
    final: bool = False,
) -> Decision:
    """The next step for a case whose latest attempt got temporary code ``code``.

    ``attempt_codes`` are all its attempts' codes oldest first (this one included), ``attempts``
    their number, ``refusals`` how many of them were refusals or break-offs. ``final`` closes the
    case with ``code`` whatever it is (e.g. "never call again"). An appointment sets the next call
    at the agreed time (windows do not apply: the respondent chose it). Otherwise the retry delay of
    the code's reason applies, moved to the next opening of the stratum's window. ``retry_reason``
    overrides the code's own reason (e.g. ``lost``). When the call was for an appointment
    (``had_appointment``) and did not reach anyone, the short ``appointment_missed`` delay applies
    without the stratum window: the respondent chose this time of day.
    """
    _require_aware(now, "now")
    entry = disposition(code)
    if final:
        return Decision(code, None, reason="closed by the interviewer")
    # A partial interview with an agreed time to finish is kept open; other final codes close.
    keeps_open = entry.next is Next.retry or (code == "1.2" and appointment_at is not None)
    if not keeps_open:
        return Decision(final_disposition(attempt_codes), None, reason="final code")
    if entry.retry is RetryReason.soft_refusal and refusals >= rules.max_refusals:
        return Decision(final_disposition(attempt_codes), None, reason="refusals exhausted")
    if not rules.may_dial(attempts, has_appointment=appointment_at is not None or had_appointment):
        return Decision(final_disposition(attempt_codes), None, reason="attempts exhausted")
    if appointment_at is not None:
        _require_aware(appointment_at, "appointment_at")
        return Decision(None, appointment_at.astimezone(dt.UTC), reason="appointment")
    assert entry.retry is not None
    reason = retry_reason or (RetryReason.abandoned if abandoned else entry.retry)
    if had_appointment and not abandoned and (reason in _NOT_REACHED or reason is RetryReason.not_dialled):
        # the appointment is kept (first in line, outside windows); a call that never left the
        # building waits only the short not_dialled delay
        missed = RetryReason.appointment_missed
        if reason is RetryReason.not_dialled:
            missed = RetryReason.not_dialled
        return Decision(None, now + rules.retry_delay(missed), reason=str(RetryReason.appointment_missed))
    earliest = now + rules.retry_delay(reason)
    blocked: dt.datetime | None = None
    if abandoned:
        blocked = start_of_next_local_day(now, windows.tz)
        earliest = max(earliest, blocked)
    opening = windows.next_opening(stratum, earliest)
    return Decision(None, (opening or earliest).astimezone(dt.UTC), blocked, reason=str(reason))


_NOT_REACHED = frozenset(
    {
        RetryReason.busy,
        RetryReason.no_answer,
        RetryReason.answering_machine,
        RetryReason.technical,
        RetryReason.lost,
    }
)

#: Codes that count as a refusal for ``max_refusals``.
REFUSAL_CODES = frozenset({"2.111", "2.112", "2.12"})
