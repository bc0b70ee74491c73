"""The campaign file format (YAML, or the same shape as JSON through the API) and the read models.

Field-level rules live on the models (pydantic names the field); rules that span fields (a prefix
used by two districts, overlapping number ranges) are in :func:`cross_check`, which returns
problems with the same kind of location. docs/campaigns.md describes the format.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from cati.models import CampaignStatus, DiallingMode, Stratum
from dialer.rdd import MAX_SUFFIX_DIGITS, MIN_SUFFIX_DIGITS, Frame, FrameError

MAX_ABANDON_CAP = 0.03
STRATA: tuple[str, ...] = tuple(s.value for s in Stratum)


class Strict(BaseModel):
    """Unknown keys are errors, so a typo in a file is named instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _prefix(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("prefix must be a string of digits")
    if isinstance(value, int):
        # YAML and JSON give plain numbers for unquoted prefixes; they never had leading zeros.
        return str(value)
    if isinstance(value, str):
        value = value.strip()
        if not value.isascii() or not value.isdigit():
            raise ValueError(f"prefix {value!r} is not numeric (digits 0-9 only)")
        if not 1 <= len(value) <= 12:
            raise ValueError(f"prefix {value!r} must have 1 to 12 digits")
    return value


Prefix = Annotated[str, BeforeValidator(_prefix)]


def _clock(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"time {value!r} is not HH:MM") from None
    return value


Clock = Annotated[dt.time, BeforeValidator(_clock)]


class Names(Strict):
    """A name in Chinese (required) and English."""

    zh_cn: str = Field(alias="zh-CN", min_length=1, max_length=100)
    en: str = Field(default="", max_length=100)


class Quota(Strict):
    """Completed interviews wanted per stratum (a quota cell is district x stratum)."""

    staff: int = Field(default=150, ge=1, le=100_000)
    resident: int = Field(default=150, ge=1, le=100_000)


class District(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)
    name: Names
    prefixes: list[Prefix] = Field(min_length=1, max_length=10_000)
    suffix_digits: int = Field(default=4, ge=MIN_SUFFIX_DIGITS, le=MAX_SUFFIX_DIGITS)
    #: Overrides the campaign's default quota for this district.
    quota: Quota | None = None


DAY_WORDS: dict[str, list[int]] = {"working": [1, 2, 3, 4, 5], "rest": [6, 7], "all": [1, 2, 3, 4, 5, 6, 7]}


class Window(Strict):
    """A calling window: on which days (``working``, ``rest``, ``all`` or ISO weekdays 1-7) and when.

    ``working`` is Monday-Friday and ``rest`` Saturday-Sunday; the scheduler gives a holiday that
    falls on a weekday Sunday's windows and an extra working day (调休) Monday's windows, so
    ``working`` windows skip holidays and include extra working days.
    """

    days: Literal["working", "rest", "all"] | list[Annotated[int, Field(ge=1, le=7)]]
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ends_after_start(self) -> Window:
        if self.end <= self.start:
            raise ValueError(f"window ends at {self.end:%H:%M}, not after it starts at {self.start:%H:%M}")
        if isinstance(self.days, list) and not self.days:
            raise ValueError("days must name at least one weekday")
        return self

    def to_json(self) -> dict[str, Any]:
        """The stored form read by ``dialer.schedule``: ISO weekdays and ``HH:MM`` times."""
        days = DAY_WORDS[self.days] if isinstance(self.days, str) else sorted(set(self.days))
        return {"days": days, "start": f"{self.start:%H:%M}", "end": f"{self.end:%H:%M}"}


def _default_staff_windows() -> list[Window]:
    return [
        Window(days="working", start=dt.time(8, 30), end=dt.time(12, 0)),
        Window(days="working", start=dt.time(13, 30), end=dt.time(17, 30)),
    ]


def _default_resident_windows() -> list[Window]:
    return [
        Window(days="working", start=dt.time(18, 0), end=dt.time(21, 0)),
        Window(days="rest", start=dt.time(9, 0), end=dt.time(21, 0)),
    ]


class CallingWindows(Strict):
    """When each stratum may be called, in the campaign's time zone."""

    staff: list[Window] = Field(default_factory=_default_staff_windows, min_length=1)
    resident: list[Window] = Field(default_factory=_default_resident_windows, min_length=1)


class AgeRange(Strict):
    min: int = Field(default=18, ge=0, le=120)
    max: int = Field(default=69, ge=0, le=120)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.max < self.min:
            raise ValueError(f"age max {self.max} is below age min {self.min}")
        return self


class Dialling(Strict):
    mode: DiallingMode = DiallingMode.progressive
    #: Share of answered calls that may be abandoned (no interviewer within 2 s); never above 3%.
    abandon_cap: float = Field(default=0.01, ge=0.0, le=MAX_ABANDON_CAP)
    ring_timeout_s: int = Field(default=30, ge=5, le=120)


RetryReason = Literal[
    "busy",
    "no_answer",
    "answering_machine",
    "soft_refusal",
    "callback",
    "technical",
    "lost",
    "abandoned",
    "appointment_missed",
]


class Scheduling(Strict):
    """Scheduling rules; every key is optional and an omitted one keeps the scheduler's default
    (``dialer.schedule.SchedulingRules``, docs/scheduling.md). Only the keys given are stored."""

    max_attempts: int | None = Field(default=None, ge=1, le=50)
    max_refusals: int | None = Field(default=None, ge=1, le=10)
    appointment_extra_attempts: int | None = Field(default=None, ge=0, le=20)
    appointment_grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    #: Minutes before calling again, per reason (busy, no_answer, ... see docs/campaigns.md).
    retry_minutes: dict[RetryReason, Annotated[int, Field(ge=0, le=30 * 1440)]] | None = None
    topup_min_open: int | None = Field(default=None, ge=0)
    topup_batch: int | None = Field(default=None, ge=1)

    def to_json(self) -> dict[str, Any]:
        """Only the keys the file set, in the scheduler's JSON shape."""
        return self.model_dump(exclude_none=True)


class CampaignSpec(Strict):
    """A whole campaign as written in ``examples/zibo.yaml`` or posted to ``/api/v1/campaigns``."""

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    name: Names
    timezone: str = "Asia/Shanghai"
    age: AgeRange = Field(default_factory=AgeRange)
    instrument: str = Field(default="satisfaction.yaml", min_length=1, max_length=200)
    dialling: Dialling = Field(default_factory=Dialling)
    scheduling: Scheduling = Field(default_factory=Scheduling)
    calling_windows: CallingWindows = Field(default_factory=CallingWindows)
    #: Public holidays and extra working days (调休: weekend days worked instead), ISO dates.
    holidays: list[dt.date] = Field(default_factory=list)
    extra_workdays: list[dt.date] = Field(default_factory=list)
    #: The default quota of every district (a district's own ``quota`` overrides it).
    quota: Quota = Field(default_factory=Quota)
    districts: list[District] = Field(min_length=1, max_length=200)

    def calling_windows_json(self) -> dict[str, Any]:
        """``Campaign.calling_windows`` as stored: windows per stratum plus the holiday calendar."""
        return {
            "staff": [w.to_json() for w in self.calling_windows.staff],
            "resident": [w.to_json() for w in self.calling_windows.resident],
            "holidays": [d.isoformat() for d in sorted(set(self.holidays))],
            "extra_workdays": [d.isoformat() for d in sorted(set(self.extra_workdays))],
        }

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
            ) from None
        return value


#: A problem found in a spec: where (a path of keys and indexes) and what.
Problem = tuple[tuple[str | int, ...], str]


def cross_check(spec: CampaignSpec) -> list[Problem]:
    """Rules spanning several fields; an empty list when the spec is consistent."""
    problems: list[Problem] = []
    seen_codes: dict[str, int] = {}
    owner: dict[str, tuple[int, int, str]] = {}  # prefix -> (district index, prefix index, code)
    for di, district in enumerate(spec.districts):
        if district.code in seen_codes:
            first = seen_codes[district.code]
            msg = f"district code {district.code!r} is already used by districts[{first}]"
            problems.append((("districts", di, "code"), msg))
        seen_codes.setdefault(district.code, di)
        for pi, prefix in enumerate(district.prefixes):
            if prefix in owner:
                odi, _opi, ocode = owner[prefix]
                where = "this district" if odi == di else f"district {ocode} (districts[{odi}])"
                problems.append(
                    (("districts", di, "prefixes", pi), f"prefix {prefix} is already used by {where}")
                )
                continue
            owner[prefix] = (di, pi, district.code)
    # The RDD generator's own rules (no leading 0, number length, frame size) apply to each prefix
    # and to each district's frame as a whole.
    for di, district in enumerate(spec.districts):
        bad = False
        for pi, prefix in enumerate(district.prefixes):
            try:
                Frame((prefix,), district.suffix_digits)
            except FrameError as exc:
                problems.append((("districts", di, "prefixes", pi), str(exc)))
                bad = True
        if not bad and len(set(district.prefixes)) == len(district.prefixes):
            try:
                Frame(tuple(district.prefixes), district.suffix_digits)
            except FrameError as exc:
                problems.append((("districts", di, "prefixes"), str(exc)))
    # Two prefixes overlap when one starts the other and both make numbers of the same length.
    full: list[tuple[str, int, int, int, str]] = []
    for di, district in enumerate(spec.districts):
        for pi, prefix in enumerate(district.prefixes):
            full.append((prefix, len(prefix) + district.suffix_digits, di, pi, district.code))
    full.sort()
    for i, (prefix, length, di, pi, _code) in enumerate(full):
        for other, olength, odi, _opi, ocode in full[i + 1 :]:
            if not other.startswith(prefix):
                break
            if other != prefix and olength == length:
                problems.append(
                    (
                        ("districts", di, "prefixes", pi),
                        f"prefix {prefix} overlaps prefix {other} of district {ocode} (districts[{odi}]): "
                        "the same numbers would be drawn twice",
                    )
                )
    holidays = set(spec.holidays)
    for i, day in enumerate(spec.extra_workdays):
        if day in holidays:
            problems.append((("extra_workdays", i), f"{day} is also listed as a holiday"))
        elif day.isoweekday() <= 5:
            problems.append((("extra_workdays", i), f"{day} is a weekday already, not an extra working day"))
    return problems


# ---- read models ---------------------------------------------------------------------------


class QuotaCellRead(BaseModel):
    stratum: Stratum
    target: int
    completes: int


class DistrictRead(BaseModel):
    code: str
    name: dict[str, str]
    prefixes: list[str]
    suffix_digits: int
    quota_cells: list[QuotaCellRead]


class CampaignSummary(BaseModel):
    id: int
    code: str
    name: dict[str, str]
    status: CampaignStatus
    created_at: dt.datetime


class CampaignRead(CampaignSummary):
    """A campaign as the API shows it. ``seed`` stays null until the campaign is closed."""

    timezone: str
    age: dict[str, int]
    instrument: dict[str, str]
    dialling: dict[str, Any]
    scheduling: dict[str, Any]
    #: As stored and read by the scheduler: windows per stratum, ``holidays``, ``extra_workdays``.
    calling_windows: dict[str, Any]
    districts: list[DistrictRead]
    seed_commitment: str | None
    seed: str | None


class TransitionRequest(Strict):
    to: CampaignStatus


class CloseRequest(Strict):
    """Close fieldwork: why (kept in the audit log), and whether to break off live calls."""

    reason: str = Field(min_length=1, max_length=2000)
    force: bool = False


class CloseRead(BaseModel):
    """The closed campaign, what the close did, and the digest of the sealed final results."""

    campaign: CampaignRead
    summary: dict[str, Any]
    results_sha256: str
