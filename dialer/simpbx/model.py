"""The respondent model: what kind of line a number is, and what happens when it is dialled.

Why pure and hashed: a demo, a test and a benchmark must see the same number behave the same way
under the same seed, whatever order calls are made in and however many PBX processes run. So every
draw comes from SHA-256 of (seed, purpose, number[, attempt]) instead of one shared random stream;
the *nature* of a number (working, business, fax) never depends on the time or the attempt, while
each *attempt* draws afresh (busy now, answered in the evening).

Parameters cascade: built-in defaults < the model file's ``defaults`` < a district's block <
``overrides`` keyed by digit prefixes, shorter before longer (so a 100-bank, the prefix plus the
first two suffix digits, beats its exchange prefix).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml

LineKind = Literal["residential", "business", "fax", "nonworking"]
Outcome = Literal["answer", "busy", "congestion", "noanswer", "unallocated"]
OUTCOMES: tuple[str, ...] = ("answer", "busy", "congestion", "noanswer", "unallocated")

#: Answer probability by hour band: (from hour, to hour, probability), local time.
HourBands = tuple[tuple[int, int, float], ...]

_RESIDENTIAL_WORKDAY: HourBands = (
    (0, 8, 0.05),
    (8, 12, 0.18),
    (12, 14, 0.30),
    (14, 18, 0.18),
    (18, 21, 0.55),
    (21, 22, 0.35),
    (22, 24, 0.06),
)
_RESIDENTIAL_RESTDAY: HourBands = (
    (0, 8, 0.05),
    (8, 12, 0.40),
    (12, 18, 0.45),
    (18, 21, 0.55),
    (21, 24, 0.15),
)
_BUSINESS_WORKDAY: HourBands = ((0, 9, 0.02), (9, 12, 0.70), (12, 13, 0.30), (13, 17, 0.70), (17, 24, 0.03))
_BUSINESS_RESTDAY: HourBands = ((0, 24, 0.03),)


class ModelError(ValueError):
    """A model file or value that cannot be used; the message names the field."""


@dataclass(frozen=True)
class Params:
    """Respondent parameters for one district / prefix / bank (all shares in [0, 1])."""

    working_share: float = 0.60  # of all numbers in a non-empty bank... before empty banks
    empty_bank_share: float = 0.10  # 100-banks with no working number at all
    business_share: float = 0.20  # of working numbers
    fax_share: float = 0.02  # of working numbers
    busy: float = 0.06  # per attempt, of working numbers
    congestion: float = 0.02  # per attempt
    ring_median: float = 8.0  # seconds before a person answers (lognormal median)
    ring_sigma: float = 0.5  # lognormal shape
    ring_min: float = 2.0
    ring_max: float = 60.0
    fail_delay: float = 2.0  # seconds before busy/congestion/unallocated is signalled
    patience_min: float = 2.0  # seconds an answered respondent waits in silence before hanging up
    patience_max: float = 10.0
    talk_seconds: float = 0.0  # mean seconds before a connected respondent hangs up; 0 = never
    residential_workday: HourBands = _RESIDENTIAL_WORKDAY
    residential_restday: HourBands = _RESIDENTIAL_RESTDAY
    business_workday: HourBands = _BUSINESS_WORKDAY
    business_restday: HourBands = _BUSINESS_RESTDAY

    def validate(self, where: str) -> None:
        for name in (
            "working_share",
            "empty_bank_share",
            "business_share",
            "fax_share",
            "busy",
            "congestion",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ModelError(f"{where}: {name} must be between 0 and 1, got {value}")
        if self.business_share + self.fax_share > 1.0:
            raise ModelError(f"{where}: business_share + fax_share must not exceed 1")
        if self.busy + self.congestion > 1.0:
            raise ModelError(f"{where}: busy + congestion must not exceed 1")
        for name in ("ring_median", "ring_min", "ring_max", "fail_delay", "patience_min", "patience_max"):
            if getattr(self, name) < 0:
                raise ModelError(f"{where}: {name} must not be negative")
        if self.ring_min > self.ring_max or self.patience_min > self.patience_max:
            raise ModelError(f"{where}: a minimum is above its maximum")
        for name in ("residential_workday", "residential_restday", "business_workday", "business_restday"):
            for band in getattr(self, name):
                lo, hi, p = band
                if not (0 <= lo < hi <= 24 and 0.0 <= p <= 1.0):
                    raise ModelError(
                        f"{where}: {name} band {list(band)} must be [from, to, p], 0<=from<to<=24"
                    )


_PARAM_NAMES = {f.name for f in fields(Params)}
_BAND_NAMES = {"residential_workday", "residential_restday", "business_workday", "business_restday"}


def _apply(base: Params, block: dict[str, Any], where: str) -> Params:
    unknown = set(block) - _PARAM_NAMES
    if unknown:
        raise ModelError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    changes: dict[str, Any] = {}
    for key, value in block.items():
        try:
            if key in _BAND_NAMES:
                changes[key] = tuple((int(b[0]), int(b[1]), float(b[2])) for b in value)
            else:
                changes[key] = float(value)
        except (TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{where}: bad value for {key}: {value!r}") from exc
    params = replace(base, **changes)
    params.validate(where)
    return params


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model file: defaults, districts (name -> prefixes + params), prefix overrides."""

    defaults: dict[str, Any] = field(default_factory=dict)
    districts: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)
    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()


#: The lab numbers of the captures' dialplan keep their fixed behaviour (extensions.conf).
LAB_NUMBERS: dict[str, str] = {
    "5551001": "answer",
    "5551002": "busy",
    "5551003": "congestion",
    "5551004": "noanswer",
    "5551005": "unallocated",
}


def load_model(path: str | Path) -> ModelSpec:
    """Read and check a YAML model file (see docs/simpbx.md); ModelError names what is wrong."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ModelError(f"model file {path} is not valid YAML: {exc}") from exc
    return parse_model(data or {}, str(path))


def parse_model(data: Any, where: str = "model") -> ModelSpec:
    """Check a model given as plain data (the YAML document)."""
    if not isinstance(data, dict):
        raise ModelError(f"{where}: the model must be a mapping")
    unknown = set(data) - {"defaults", "districts", "overrides", "fixed", "holidays", "workdays"}
    if unknown:
        raise ModelError(f"{where}: unknown section(s) {', '.join(sorted(unknown))}")
    defaults = data.get("defaults") or {}
    districts = data.get("districts") or {}
    overrides = {str(k): v for k, v in (data.get("overrides") or {}).items()}
    fixed = {str(k): str(v) for k, v in (data.get("fixed") or {}).items()}
    if not isinstance(defaults, dict) or not isinstance(districts, dict):
        raise ModelError(f"{where}: defaults and districts must be mappings")
    for digits, block in overrides.items():
        if not digits.isdigit() or not isinstance(block, dict):
            raise ModelError(f"{where}: overrides key {digits!r} must be digits mapping to fields")
    for name, block in districts.items():
        if not isinstance(block, dict) or not block.get("prefixes"):
            raise ModelError(f"{where}: district {name!r} needs a 'prefixes' list")
        if not all(str(p).isdigit() for p in block["prefixes"]):
            raise ModelError(f"{where}: district {name!r} prefixes must be digit strings")
    for number, outcome in fixed.items():
        if outcome not in OUTCOMES:
            raise ModelError(f"{where}: fixed outcome for {number} must be one of {', '.join(OUTCOMES)}")

    def dates(key: str) -> tuple[date, ...]:
        out: list[date] = []
        for item in data.get(key) or []:
            try:
                out.append(item if isinstance(item, date) else date.fromisoformat(str(item)))
            except ValueError as exc:
                raise ModelError(f"{where}: {key} entry {item!r} is not a date (YYYY-MM-DD)") from exc
        return tuple(out)

    spec = ModelSpec(
        defaults=defaults,
        districts={str(k): v for k, v in districts.items()},
        overrides=overrides,
        fixed=fixed,
        holidays=dates("holidays"),
        workdays=dates("workdays"),
    )
    RespondentModel(spec)  # validates every block once
    return spec


@dataclass(frozen=True)
class CallPlan:
    """What one dial attempt will do, decided when it is originated."""

    outcome: Outcome
    kind: LineKind
    delay: float  # seconds of ringing before answer, or before busy/congestion/unallocated
    patience: float  # seconds an answered respondent waits for an interviewer
    talk: float | None  # seconds before a connected respondent hangs up, None = stays
    rand: int  # the 1..100 draw shown as R in the lab dialplan's events


def _unit(*parts: object) -> float:
    """A reproducible uniform draw in [0, 1) from the given parts."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


class RespondentModel:
    """Answers "what kind of line is this" and "what happens on this attempt", reproducibly."""

    def __init__(
        self, spec: ModelSpec | None = None, seed: int | str = 0, *, lab_numbers: bool = True
    ) -> None:
        self.spec = spec or ModelSpec()
        self.seed = str(seed)
        self.fixed = {**(LAB_NUMBERS if lab_numbers else {}), **self.spec.fixed}
        #: Numbers that also keep the lab dialplan's timings (ring 1-3 s, talk 4-8 s). A model file's
        #: ``fixed`` table fixes the outcome only: its timings come from the model's parameters, so a
        #: fixed answered call stays up until hung up unless ``talk_seconds`` says otherwise.
        self.lab_timed = frozenset(LAB_NUMBERS if lab_numbers else ()) - set(self.spec.fixed)
        self._base = _apply(Params(), self.spec.defaults, "defaults")
        self._layers: list[tuple[str, Params]] = []
        for name, block in self.spec.districts.items():
            body = {k: v for k, v in block.items() if k != "prefixes"}
            params = _apply(self._base, body, f"district {name}")
            for prefix in block["prefixes"]:
                self._layers.append((str(prefix), params))
        self._overrides = sorted(self.spec.overrides.items(), key=lambda kv: len(kv[0]))
        self._cache: dict[str, Params] = {}

    def params(self, number: str) -> Params:
        """The parameters that apply to a number (district, then prefix/bank overrides)."""
        hit = self._cache.get(number)
        if hit is not None:
            return hit
        params = self._base
        best = -1
        for prefix, layer in self._layers:
            if number.startswith(prefix) and len(prefix) > best:
                params, best = layer, len(prefix)
        for digits, block in self._overrides:
            if number.startswith(digits):
                params = _apply(params, block, f"overrides {digits}")
        self._cache[number] = params
        return params

    def district(self, number: str) -> str | None:
        """The model file's district whose prefix matches the number, if any."""
        best: tuple[int, str] | None = None
        for name, block in self.spec.districts.items():
            for prefix in block["prefixes"]:
                if number.startswith(str(prefix)) and (best is None or len(str(prefix)) > best[0]):
                    best = (len(str(prefix)), name)
        return best[1] if best else None

    def line_kind(self, number: str) -> LineKind:
        """The nature of a number under this seed: never changes between attempts."""
        if number in self.fixed:
            return "nonworking" if self.fixed[number] == "unallocated" else "residential"
        p = self.params(number)
        bank = number[:-2] if len(number) > 2 else number
        if _unit(self.seed, "bank", bank) < p.empty_bank_share:
            return "nonworking"
        share = min(1.0, p.working_share / max(1e-9, 1.0 - p.empty_bank_share))
        if _unit(self.seed, "working", number) >= share:
            return "nonworking"
        u = _unit(self.seed, "kind", number)
        if u < p.business_share:
            return "business"
        if u < p.business_share + p.fax_share:
            return "fax"
        return "residential"

    def is_workday(self, day: date) -> bool:
        """Mon-Fri unless a listed holiday; a listed make-up working day counts as a workday."""
        if day in self.spec.workdays:
            return True
        return day.weekday() < 5 and day not in self.spec.holidays

    def answer_probability(self, number: str, when: datetime) -> float:
        """Chance a person answers this number at this local time (0 for non-working lines)."""
        kind = self.line_kind(number)
        if kind == "nonworking":
            return 0.0
        if kind == "fax":
            return 0.95
        p = self.params(number)
        workday = self.is_workday(when.date())
        bands = {
            ("residential", True): p.residential_workday,
            ("residential", False): p.residential_restday,
            ("business", True): p.business_workday,
            ("business", False): p.business_restday,
        }[(kind, workday)]
        hour = when.hour + when.minute / 60.0
        for lo, hi, prob in bands:
            if lo <= hour < hi:
                return prob
        return 0.0

    def plan(self, number: str, when: datetime, attempt: int, forced: str | None = None) -> CallPlan:
        """Decide one attempt: ``attempt`` counts this number's dials (0 first) in this PBX run."""
        p = self.params(number)
        kind = self.line_kind(number)

        def draw(purpose: str) -> float:
            return _unit(self.seed, purpose, number, attempt)

        rand = 1 + int(draw("rand") * 100)
        patience = p.patience_min + draw("patience") * (p.patience_max - p.patience_min)
        talk = None
        if p.talk_seconds > 0:
            talk = -p.talk_seconds * math.log(1.0 - draw("talk"))
        if kind == "fax":
            talk = 20.0
        ring = math.exp(
            math.log(max(p.ring_median, 0.1)) + p.ring_sigma * _normal(draw("ring1"), draw("ring2"))
        )
        ring = min(max(ring, p.ring_min), p.ring_max)
        fail_delay = p.fail_delay * (0.5 + draw("delay"))
        outcome: str
        if forced in OUTCOMES:
            outcome = str(forced)
        elif number in self.fixed:
            outcome = self.fixed[number]
        elif kind == "nonworking":
            outcome = "unallocated"
        else:
            u = draw("outcome")
            if u < p.busy:
                outcome = "busy"
            elif u < p.busy + p.congestion:
                outcome = "congestion"
            elif draw("answer") < self.answer_probability(number, when):
                outcome = "answer"
            else:
                outcome = "noanswer"
        if number in self.lab_timed and forced is None:
            ring = 1.0 + int(draw("labring") * 3)  # extensions.conf: Wait(${RAND(1,3)})
            fail_delay = 1.0  # extensions.conf: Wait(1) before Busy()/Congestion()
            talk = 4.0 + int(draw("labtalk") * 5)  # extensions.conf: Wait(${RAND(4,8)}), Hangup(16)
        delay = {"answer": ring, "noanswer": 0.0, "unallocated": fail_delay / 2}.get(outcome, fail_delay)
        return CallPlan(outcome, kind, delay, patience, talk, rand)  # type: ignore[arg-type]


def _normal(u1: float, u2: float) -> float:
    """Box-Muller: a standard normal draw from two uniforms."""
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


_DEFAULT = RespondentModel()


def line_kind(number: str, model: RespondentModel | None = None) -> LineKind:
    """What kind of line a number is: 'residential', 'business', 'fax' or 'nonworking'."""
    return (model or _DEFAULT).line_kind(number)
