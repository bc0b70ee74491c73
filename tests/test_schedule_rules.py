"""Pure scheduling rules: calling windows, holidays, time zones, retry delays, limits, precedence."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.ami.outcomes import CallOutcome
from dialer.dispositions import TEMPORARY_DISPOSITIONS, UnknownCallOutcome, call_disposition
from dialer.schedule import (
    DEFAULT_CALLING_WINDOWS,
    DISPOSITIONS,
    CallingWindows,
    Next,
    RetryReason,
    ScheduleConfigError,
    SchedulingRules,
    UnknownDisposition,
    decide_after_attempt,
    disposition,
    final_disposition,
    start_of_next_local_day,
)

SH = ZoneInfo("Asia/Shanghai")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, tz: ZoneInfo = SH) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz)


def default_windows(**extra: object) -> CallingWindows:
    return CallingWindows.from_json(dict(extra), "Asia/Shanghai")


# 2026-11-23 is a Monday; 2026-11-28 a Saturday.


@pytest.mark.parametrize(
    ("when", "staff", "resident"),
    [
        (at(2026, 11, 23, 9, 0), True, False),  # Monday morning: offices
        (at(2026, 11, 23, 12, 30), False, False),  # Monday lunch: nobody
        (at(2026, 11, 23, 17, 30), False, False),  # end is exclusive
        (at(2026, 11, 23, 19, 0), False, True),  # Monday evening: residents
        (at(2026, 11, 23, 22, 0), False, False),  # too late
        (at(2026, 11, 28, 10, 0), False, True),  # Saturday: residents, not offices
        (at(2026, 11, 29, 20, 59), False, True),  # Sunday evening
    ],
)
def test_default_windows_by_stratum(when: dt.datetime, staff: bool, resident: bool) -> None:
    w = default_windows()
    assert w.is_open("staff", when) is staff
    assert w.is_open("resident", when) is resident
    # The same instant given in UTC gives the same answer.
    assert w.is_open("staff", when.astimezone(dt.UTC)) is staff


def test_holiday_closes_offices_and_opens_resident_weekend_hours() -> None:
    # 2026-10-01 (National Day) is a Thursday.
    w = default_windows(holidays=["2026-10-01"])
    assert not w.is_open("staff", at(2026, 10, 1, 9, 0))
    assert w.is_open("resident", at(2026, 10, 1, 10, 0))  # Sunday hours on a holiday
    assert default_windows().is_open("staff", at(2026, 10, 1, 9, 0))  # without the holiday list


def test_extra_working_day_is_an_office_day() -> None:
    # 2026-10-10 is a Saturday made a working day (调休).
    w = default_windows(extra_workdays=["2026-10-10"])
    assert w.is_open("staff", at(2026, 10, 10, 9, 0))
    assert not w.is_open("resident", at(2026, 10, 10, 10, 0))  # Monday hours: not in the morning
    assert w.is_open("resident", at(2026, 10, 10, 19, 0))
    assert not default_windows().is_open("staff", at(2026, 10, 10, 9, 0))


def test_next_opening_skips_holidays_to_the_next_office_day() -> None:
    w = default_windows(holidays=[f"2026-10-0{d}" for d in range(1, 8)])
    # Wednesday 30 September 18:00: next office opening is Thursday 8 October 08:30.
    nxt = w.next_opening("staff", at(2026, 9, 30, 18, 0))
    assert nxt == at(2026, 10, 8, 8, 30).astimezone(dt.UTC)
    assert nxt is not None and nxt.tzinfo == dt.UTC


def test_next_opening_is_now_when_open_and_the_afternoon_after_lunch() -> None:
    w = default_windows()
    now = at(2026, 11, 23, 9, 0)
    assert w.next_opening("staff", now) == now
    assert w.next_opening("staff", at(2026, 11, 23, 12, 0)) == at(2026, 11, 23, 14, 0)


def test_window_across_midnight_belongs_to_the_day_it_starts() -> None:
    w = CallingWindows.from_json(
        {"night": [{"days": [5], "start": "22:00", "end": "02:00"}]}, "Asia/Shanghai"
    )
    assert not w.is_open("night", at(2026, 11, 27, 21, 59))  # Friday
    assert w.is_open("night", at(2026, 11, 27, 23, 0))
    assert w.is_open("night", at(2026, 11, 28, 1, 59))  # Saturday small hours
    assert not w.is_open("night", at(2026, 11, 28, 2, 0))
    assert not w.is_open("night", at(2026, 11, 29, 1, 0))  # Sunday small hours: Saturday not listed
    assert w.next_opening("night", at(2026, 11, 28, 3, 0)) == at(2026, 12, 4, 22, 0)
    assert w.next_opening("night", at(2026, 11, 28, 1, 0)) == at(2026, 11, 28, 1, 0)


def test_window_until_midnight() -> None:
    w = CallingWindows.from_json({"late": [{"days": [1], "start": "20:00", "end": "24:00"}]}, "UTC")
    assert w.is_open("late", dt.datetime(2026, 11, 23, 23, 59, tzinfo=dt.UTC))
    assert not w.is_open("late", dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.UTC))


def test_windows_follow_the_campaign_time_zone_across_daylight_saving() -> None:
    ny = ZoneInfo("America/New_York")
    w = CallingWindows.from_json(
        {"staff": [{"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}]}, "America/New_York"
    )
    # Friday 6 March 2026 (EST, UTC-5) and Monday 9 March 2026 (EDT, UTC-4).
    assert w.is_open("staff", dt.datetime(2026, 3, 6, 14, 0, tzinfo=dt.UTC))
    assert not w.is_open("staff", dt.datetime(2026, 3, 6, 13, 59, tzinfo=dt.UTC))
    assert w.is_open("staff", dt.datetime(2026, 3, 9, 13, 0, tzinfo=dt.UTC))
    assert not w.is_open("staff", dt.datetime(2026, 3, 9, 12, 59, tzinfo=dt.UTC))
    assert w.next_opening("staff", dt.datetime(2026, 3, 7, 0, 0, tzinfo=ny)) == dt.datetime(
        2026, 3, 9, 13, 0, tzinfo=dt.UTC
    )


def test_missing_stratum_gets_defaults_and_empty_list_never_opens() -> None:
    w = CallingWindows.from_json({"staff": []}, "Asia/Shanghai")
    assert w.next_opening("staff", at(2026, 11, 23, 9, 0)) is None
    assert w.is_open("resident", at(2026, 11, 23, 19, 0))
    assert w.open_strata(at(2026, 11, 23, 19, 0)) == ["resident"]
    with pytest.raises(ScheduleConfigError, match="no calling windows for stratum 'other'"):
        w.is_open("other", at(2026, 11, 23, 19, 0))


@pytest.mark.parametrize(
    ("data", "tz", "message"),
    [
        ({"staff": [{"days": [1], "start": "25:00", "end": "26:00"}]}, "Asia/Shanghai", r"staff\[0\]\.start"),
        ({"staff": [{"days": [0], "start": "08:00", "end": "09:00"}]}, "Asia/Shanghai", r"staff\[0\]\.days"),
        ({"staff": [{"days": [1], "start": "08:00", "end": "08:00"}]}, "Asia/Shanghai", "equal"),
        (
            {"staff": [{"days": [1], "start": "08:00", "end": "09:00", "x": 1}]},
            "Asia/Shanghai",
            "unknown key",
        ),
        ({"staff": {"days": [1]}}, "Asia/Shanghai", "expected a list of windows"),
        ({"holidays": ["2026-13-01"]}, "Asia/Shanghai", r"holidays\[0\]"),
        ({"holidays": ["2026-10-10"], "extra_workdays": ["2026-10-10"]}, "Asia/Shanghai", "both a holiday"),
        ({}, "Mars/Olympus", "unknown time zone"),
    ],
)
def test_malformed_windows_name_what_is_wrong(data: dict[str, object], tz: str, message: str) -> None:
    with pytest.raises(ScheduleConfigError, match=message):
        CallingWindows.from_json(data, tz)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        default_windows().is_open("staff", dt.datetime(2026, 11, 23, 9, 0))


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 30),
    stratum=st.sampled_from(["staff", "resident"]),
)
def test_next_opening_is_the_first_open_minute(minutes: int, stratum: str) -> None:
    w = default_windows(holidays=["2026-10-01", "2026-10-02"], extra_workdays=["2026-10-10"])
    t = dt.datetime(2026, 9, 28, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
    nxt = w.next_opening(stratum, t)
    assert nxt is not None and nxt >= t
    assert w.is_open(stratum, nxt)
    # Closed on every minute boundary before it (windows start and end on whole minutes).
    probe = t
    while probe < nxt:
        assert not w.is_open(stratum, probe)
        probe = (probe + dt.timedelta(minutes=7)).replace(second=0, microsecond=0)


def test_start_of_next_local_day() -> None:
    # 23:30 in Shanghai on 23 November is 15:30 UTC; the next local day starts at 16:00 UTC.
    now = at(2026, 11, 23, 23, 30)
    assert start_of_next_local_day(now, SH) == dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------
# Scheduling rules JSON
# ---------------------------------------------------------------------------------------------


def test_rules_defaults_and_overrides() -> None:
    r = SchedulingRules.from_json({"max_attempts": 3, "retry_minutes": {"busy": 5}})
    assert r.max_attempts == 3
    assert r.retry_delay("busy") == dt.timedelta(minutes=5)
    assert r.retry_delay(RetryReason.no_answer) == dt.timedelta(minutes=120)
    assert SchedulingRules.from_json(None) == SchedulingRules()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": "6"}, "max_attempts"),
        ({"retry_minutes": {"fax": 5}}, "unknown reason 'fax'"),
        ({"retry_minutes": {"busy": -1}}, "retry_minutes.busy"),
        ({"max_tries": 3}, "unknown key"),
    ],
)
def test_malformed_rules_name_what_is_wrong(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleConfigError, match=message):
        SchedulingRules.from_json(data)


# ---------------------------------------------------------------------------------------------
# Decisions after an attempt
# ---------------------------------------------------------------------------------------------

MON_9 = at(2026, 11, 23, 9, 0)


def decide(
    code: str,
    codes: list[str] | None = None,
    *,
    now: dt.datetime = MON_9,
    stratum: str = "staff",
    rules: SchedulingRules | None = None,
    **kw: object,
):  # type: ignore[no-untyped-def]
    codes = codes if codes is not None else [code]
    return decide_after_attempt(
        code=code,
        attempt_codes=codes,
        attempts=len(codes),
        refusals=sum(c in {"2.111", "2.112", "2.12"} for c in codes),
        now=now,
        stratum=stratum,
        windows=default_windows(),
        rules=rules or SchedulingRules(),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("code", "minutes"),
    [("3.12", 15), ("3.13", 120), ("3.14", 180), ("3.16", 30), ("3.21", 60), ("2.21", 60)],
)
def test_retry_delay_per_outcome_inside_the_window(code: str, minutes: int) -> None:
    now = at(2026, 11, 23, 8, 30)
    d = decide(code, now=now)
    assert d.final_code is None
    assert d.next_call_at == (now + dt.timedelta(minutes=minutes)).astimezone(dt.UTC)


def test_retry_falling_in_lunch_moves_to_the_afternoon_window() -> None:
    d = decide("3.13", now=at(2026, 11, 23, 11, 0))  # +2 h = 13:00, offices closed until 14:00
    assert d.next_call_at == at(2026, 11, 23, 14, 0)


def test_soft_refusal_waits_days_and_a_second_refusal_closes() -> None:
    first = decide("2.111")
    assert first.final_code is None and first.next_call_at is not None
    assert first.next_call_at >= MON_9 + dt.timedelta(days=3)
    second = decide("2.112", ["2.111", "3.13", "2.112"])
    assert second.final_code == "2.112"
    assert decide("2.111", rules=SchedulingRules(max_refusals=1)).final_code == "2.111"


def test_abandoned_call_is_not_repeated_the_same_day() -> None:
    now = at(2026, 11, 23, 19, 0)
    d = decide("3.21", now=now, stratum="resident", abandoned=True)
    assert d.blocked_until == at(2026, 11, 24, 0, 0)
    assert d.next_call_at == at(2026, 11, 24, 18, 30)  # Tuesday's evening window


def test_max_attempts_closes_with_precedence() -> None:
    rules = SchedulingRules(max_attempts=3)
    assert decide("3.13", ["3.13", "3.13", "3.13"], rules=rules).final_code == "3.13"
    assert decide("3.12", ["3.12", "3.12", "3.12"], rules=rules).final_code == "3.12"
    assert decide("3.12", ["3.13", "3.12", "3.12"], rules=rules).final_code == "3.13"
    assert decide("3.13", ["3.13", "3.13"], rules=rules).final_code is None


def test_appointment_is_kept_at_the_agreed_time_even_outside_windows_and_past_max() -> None:
    rules = SchedulingRules(max_attempts=2, appointment_extra_attempts=1)
    when = at(2026, 11, 23, 13, 0)  # lunch: outside the staff windows, but the respondent chose it
    d = decide("2.21", ["3.13", "2.21"], rules=rules, appointment_at=when)
    assert d.final_code is None and d.next_call_at == when
    # The appointment call reached nobody: a short retry, not the no-answer delay.
    missed = decide(
        "3.13", ["3.13", "2.21", "3.13"], rules=rules, had_appointment=True, now=at(2026, 11, 23, 13, 0)
    )
    assert missed.final_code == "2.21"  # 3 attempts = 2 + 1 extra: closed, respondent never available
    r2 = SchedulingRules(max_attempts=5)
    missed2 = decide("3.13", ["2.21", "3.13"], rules=r2, had_appointment=True, now=when)
    assert missed2.next_call_at == when + dt.timedelta(minutes=30)


def test_partial_with_appointment_stays_open_otherwise_closes() -> None:
    assert decide("1.2", appointment_at=MON_9 + dt.timedelta(hours=1)).final_code is None
    assert decide("1.2").final_code == "1.2"


@pytest.mark.parametrize("code", ["1.1", "2.32", "2.33", "4.10", "4.20", "4.31", "4.32", "4.51", "4.70"])
def test_final_codes_close_at_once(code: str) -> None:
    assert decide(code, ["3.13", code]).final_code == code


def test_interviewer_can_close_any_code() -> None:
    assert decide("2.111", final=True).final_code == "2.111"


def test_unknown_code_is_named() -> None:
    with pytest.raises(UnknownDisposition, match=r"'9\.9'"):
        decide("9.9")


# ---------------------------------------------------------------------------------------------
# Call outcomes and final disposition precedence
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "cause", "code"),
    [
        ("busy", 17, "3.12"),
        ("no_answer", 19, "3.13"),
        ("congestion", 34, "3.16"),
        ("failed", None, "3.11"),  # our side failed: not worked, retried (was 3.16)
        ("cancelled", None, "3.11"),  # we hung up first: not worked, retried (was 3.13)
        ("failed", 1, "4.31"),  # unallocated number
        ("busy", 22, "4.41"),  # number changed (was 4.31)
        ("answered", 16, "3.21"),
        ("lost", None, "3.16"),
    ],
)
def test_call_outcome_to_temporary_code(outcome: str, cause: int | None, code: str) -> None:
    assert call_disposition(outcome, cause=cause) == code


def test_an_answered_call_is_3_21_however_it_ended() -> None:
    assert call_disposition("lost", answered=True) == "3.21"
    assert call_disposition(CallOutcome.ANSWERED, cause=1) == "3.21"


def test_unknown_call_outcome_is_named() -> None:
    with pytest.raises(UnknownCallOutcome, match="'ringing'"):
        call_disposition("ringing")


@pytest.mark.parametrize("outcome", list(CallOutcome), ids=str)
def test_the_scheduler_knows_every_code_a_call_can_get(outcome: CallOutcome) -> None:
    code = TEMPORARY_DISPOSITIONS[outcome].code
    entry = disposition(code)  # raises UnknownDisposition for a code the scheduler would refuse
    # only a call that says something final about the number closes the case at once
    closes = outcome in (CallOutcome.NON_WORKING, CallOutcome.NUMBER_CHANGED)
    assert (entry.next is Next.final) == closes, (outcome, code)


def test_a_call_not_worked_is_retried_after_the_technical_delay_and_ranks_lowest() -> None:
    now = at(2026, 11, 23, 8, 30)
    d = decide("3.11", ["3.11"], now=now)
    assert d.final_code is None and d.next_call_at == (now + dt.timedelta(minutes=30)).astimezone(dt.UTC)
    rules = SchedulingRules(max_attempts=2)
    assert decide("3.11", ["3.13", "3.11"], rules=rules).final_code == "3.13"
    assert decide("3.11", ["3.11", "3.11"], rules=rules).final_code == "3.11"


def test_a_changed_number_closes_the_case_as_not_eligible() -> None:
    d = decide("4.41", ["3.13", "4.41"])
    assert d.final_code == "4.41" and d.next_call_at is None


@pytest.mark.parametrize(
    ("codes", "final"),
    [
        ([], "3.11"),
        ([None], "3.11"),
        (["3.13", "2.111", "1.1"], "1.1"),
        (["1.1", "3.13"], "1.1"),
        (["1.2", "2.111"], "1.2"),
        (["2.111", "3.13", "3.13"], "2.111"),  # a refusal is not undone by later no answers
        (["3.13", "4.31"], "4.31"),
        (["2.111", "4.51"], "2.111"),
        (["2.33", "3.13"], "2.33"),
        (["2.21", "3.13", "3.12"], "2.21"),
        (["3.21", "3.13"], "3.21"),
        (["3.13", "3.14", "3.13"], "3.14"),
        (["3.12", "3.12", "3.12"], "3.12"),  # always busy
        (["3.12", "3.13", "3.12"], "3.13"),  # busy mixed with ring-no-answer
        (["3.12", "3.16"], "3.12"),
        (["3.16", "3.16"], "3.16"),
        (["3.16", "3.11"], "3.16"),  # a call not worked proves nothing
        (["3.11", "3.12", "3.11"], "3.12"),
        (["3.13", "4.41"], "4.41"),  # number changed: not eligible
        (["4.41", "3.21"], "4.41"),
        (["2.221", "2.21"], "2.21"),  # latest within one level
        (["2.111", "2.12"], "2.12"),
    ],
)
def test_final_disposition_precedence(codes: list[str | None], final: str) -> None:
    assert final_disposition(codes) == final


def test_every_code_has_labels_and_a_next_step() -> None:
    for code, entry in DISPOSITIONS.items():
        assert entry.code == code and entry.en and entry.zh
        assert (entry.next is Next.retry) == (entry.retry is not None)
    assert set(DEFAULT_CALLING_WINDOWS) >= {"staff", "resident", "holidays", "extra_workdays"}
