"""Reading an instrument from YAML, with every mistake reported as ``file: path: problem``.

The only I/O in this package: reading the instrument file. ``parse_instrument`` takes the text, so
callers that hold an instrument elsewhere (a database row, an upload) use the same checks.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from questionnaire.model import Instrument, ItemKind

DEFAULT_INSTRUMENT = "satisfaction.yaml"


class InstrumentError(ValueError):
    """An instrument that cannot be used; ``problems`` lists every ``file: path: problem`` line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


def load_instrument(path: str | Path) -> Instrument:
    """Read and check an instrument file; raise InstrumentError naming the file and the place."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InstrumentError([f"{path.name}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InstrumentError([f"{path.name}: not UTF-8 text (byte {exc.start})"]) from exc
    return parse_instrument(text, path.name)


def default_instrument() -> Instrument:
    """The packaged 1+10 satisfaction instrument."""
    ref = resources.files("questionnaire") / "instruments" / DEFAULT_INSTRUMENT
    return parse_instrument(ref.read_text(encoding="utf-8"), DEFAULT_INSTRUMENT)


def parse_instrument(text: str, source: str = "instrument") -> Instrument:
    """Parse YAML text into a checked Instrument; ``source`` names it in messages."""
    try:
        data = yaml.load(text, Loader=StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        raise InstrumentError([f"{source}: {where}{exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise InstrumentError([f"{source}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise InstrumentError([f"{source}: the file must hold a mapping of instrument fields"])
    try:
        instrument = Instrument.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError([f"{source}: {_path(e['loc'])}: {_message(e)}" for e in exc.errors()]) from exc
    problems = [f"{source}: {path}: {message}" for path, message in check_instrument(instrument)]
    if problems:
        raise InstrumentError(problems)
    return instrument


def check_instrument(instrument: Instrument) -> Iterator[tuple[str, str]]:
    """Yield (path, problem) for every cross-reference an instrument gets wrong."""
    strata = set(instrument.stratum_ids)
    seen: dict[str, int] = {}
    for s, stratum in enumerate(instrument.strata):
        if stratum.id in {x.id for x in instrument.strata[:s]}:
            yield f"strata[{s}].id", f"duplicate stratum {stratum.id}"

    screening_done = False
    for i, item in enumerate(instrument.items):
        where = f"items[{i}]"
        if item.id in seen:
            yield f"{where}.id", f"duplicate id {item.id} (also items[{seen[item.id]}])"
        seen.setdefault(item.id, i)
        if item.screening and screening_done:
            yield f"{where}.screening", "screening items must come before all other items"
        screening_done = screening_done or not item.screening

        if item.kind in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
            if len(item.options) < 2:
                yield f"{where}.options", f"a {item.kind} item needs at least two options"
            if item.kind is ItemKind.RATING:
                for j, option in enumerate(item.options):
                    if option.points is None or not math.isfinite(option.points):
                        yield f"{where}.options[{j}].points", "a rating option needs points"
        elif item.options:
            yield f"{where}.options", f"a {item.kind} item has no options"
        if item.kind is ItemKind.NUMBER:
            if item.min is not None and item.max is not None and item.min > item.max:
                yield f"{where}.min", f"min {item.min} is above max {item.max}"
        elif item.min is not None or item.max is not None:
            yield f"{where}.min", f"only a number item has min and max, not a {item.kind} item"

        if item.ask_if is not None:
            yield from _check_condition(instrument, i, strata)
        for r, rule in enumerate(item.screen_out):
            rwhere = f"{where}.screen_out[{r}]"
            if not item.screening:
                yield rwhere, "only screening items can screen out"
            if (rule.codes is None) == (rule.outside is None):
                yield rwhere, "give either codes or outside"
            if rule.codes is not None:
                if item.kind not in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
                    yield f"{rwhere}.codes", f"codes need a choice item, not a {item.kind} item"
                for code in rule.codes:
                    if item.option(code) is None:
                        yield f"{rwhere}.codes", f"code {code} is not an option of {item.id}"
            if rule.outside is not None:
                if item.kind is not ItemKind.NUMBER:
                    yield f"{rwhere}.outside", f"outside needs a number item, not a {item.kind} item"
                if rule.outside[0] > rule.outside[1]:
                    yield f"{rwhere}.outside", "the low end is above the high end"
            for name in rule.strata or []:
                if name not in strata:
                    yield f"{rwhere}.strata", f"unknown stratum {name}"

    yield from _check_scoring(instrument)
    if instrument.completeness.partial > instrument.completeness.complete:
        yield "completeness.partial", "partial is above complete"
    policy = instrument.scoring_policy
    if policy is not None:
        if policy.partial > len(instrument.scored_items):
            yield "scoring_policy.partial", f"above the {len(instrument.scored_items)} scored items"
        if "1.1" not in policy.dispositions:
            yield "scoring_policy.dispositions", "a complete (1.1) questionnaire must count"


def _check_condition(instrument: Instrument, i: int, strata: set[str]) -> Iterator[tuple[str, str]]:
    item = instrument.items[i]
    cond = item.ask_if
    assert cond is not None
    where = f"items[{i}].ask_if"
    for stratum in cond.strata or []:
        if stratum not in strata:
            yield f"{where}.strata", f"unknown stratum {stratum}"
    if (cond.item is None) != (cond.codes is None):
        yield where, "item and codes go together"
    if cond.item is None:
        if cond.strata is None:
            yield where, "give strata, or item and codes"
        return
    earlier = {x.id: x for x in instrument.items[:i]}
    target = earlier.get(cond.item)
    if target is None:
        yield f"{where}.item", f"{cond.item} is not an item asked before {item.id}"
        return
    if target.kind not in (ItemKind.RATING, ItemKind.SINGLE_CHOICE):
        yield f"{where}.item", f"{cond.item} is a {target.kind} item; a condition needs a choice item"
        return
    for code in cond.codes or []:
        if target.option(code) is None:
            yield f"{where}.codes", f"code {code} is not an option of {target.id}"


def _check_scoring(instrument: Instrument) -> Iterator[tuple[str, str]]:
    spec = instrument.scoring
    ids = {item.id: item for item in instrument.items}
    places = [("scoring.overall.item", spec.overall.item)]
    for d, dim in enumerate(spec.dimensions):
        if dim.id in {x.id for x in spec.dimensions[:d]}:
            yield f"scoring.dimensions[{d}].id", f"duplicate dimension {dim.id}"
        places.extend((f"scoring.dimensions[{d}].items[{j}]", item_id) for j, item_id in enumerate(dim.items))
    used: set[str] = set()
    for where, item_id in places:
        item = ids.get(item_id)
        if item is None:
            yield where, f"unknown item {item_id}"
            continue
        if item_id in used:
            yield where, f"{item_id} is scored twice"
        used.add(item_id)
        if item.kind is not ItemKind.RATING:
            yield where, f"{item_id} is a {item.kind} item; only rating items are scored"
        if item.screening:
            yield where, f"{item_id} is a screening item"
        if item.ask_if is not None:
            yield where, f"{item_id} has ask_if; scored items are asked of everyone"
    total = spec.overall.weight + sum(dim.weight for dim in spec.dimensions)
    if not math.isclose(total, 100.0):
        yield "scoring", f"weights add up to {total:g}, not 100"


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top)"


def _message(error: Any) -> str:
    kind = error.get("type")
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        return "unknown field"
    message = str(error.get("msg", "invalid"))
    return message[:1].lower() + message[1:]


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        keys: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in keys:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"key {key!r} given twice",
                    key_node.start_mark,
                )
            keys.add(key)
        return super().construct_mapping(node, deep=deep)
