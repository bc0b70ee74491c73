"""The instrument format: the default instrument, and the errors a hand-edited file gets."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from questionnaire.loader import InstrumentError, default_instrument, load_instrument, parse_instrument
from questionnaire.model import ItemKind

SOURCE = (resources.files("questionnaire") / "instruments" / "satisfaction.yaml").read_text(encoding="utf-8")


def base() -> dict[str, Any]:
    data = yaml.safe_load(SOURCE)
    assert isinstance(data, dict)
    # YAML anchors share one object between items: unshare them so a mutation stays local.
    unshared: dict[str, Any] = json.loads(json.dumps(data))
    return unshared


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(yaml.safe_dump(data, allow_unicode=True), "satisfaction.yaml")
    return caught.value.problems


def test_default_instrument_follows_the_source_document() -> None:
    inst = default_instrument()
    assert inst.stratum_ids == ["staff", "resident"]
    assert inst.scored_items == ["overall", *(f"q{i}" for i in range(1, 11))]
    assert inst.scoring.overall.weight == 20
    assert [(d.weight, d.items) for d in inst.scoring.dimensions] == [
        (16, ["q1", "q2"]),
        (24, ["q3", "q4", "q5"]),
        (16, ["q6", "q7"]),
        (16, ["q8", "q9"]),
        (8, ["q10"]),
    ]
    for item_id in inst.scored_items:
        item = inst.item(item_id)
        assert item.kind is ItemKind.RATING
        assert [(o.code, o.value, o.label.zh_CN, o.points) for o in item.options] == [
            (1, "good", "好", 100),
            (2, "fairly_good", "较好", 80),
            (3, "average", "一般", 60),
            (4, "poor", "差", 40),
        ]
        assert item.text.get("zh-CN") and item.text.get("en")
    assert [i.id for i in inst.items if i.screening] == ["s_line", "s_age", "s_tie"]
    age = inst.item("s_age")
    assert age.screen_out[0].outside == (18, 69) and age.screen_out[0].disposition == "4.70"
    line = inst.item("s_line")
    assert line.ask_if is not None and line.ask_if.strata == ["resident"]
    assert inst.items[-1].kind is ItemKind.TEXT
    assert "匿名" in inst.introduction.zh_CN and "anonymous" in inst.introduction.en
    assert inst.closing.zh_CN and inst.screened_out.zh_CN


def test_load_instrument_from_a_file_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + SOURCE.encode("utf-8"))
    assert load_instrument(path).digest == default_instrument().digest


def test_the_issues_example_error() -> None:
    data = base()
    data["items"][3]["options"][2]["code"] = 2
    assert problems_of(data) == ["satisfaction.yaml: items[3].options: duplicate code 2"]


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        keys = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return mutate


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set("items.4.options.1.value", "good"), "items[4].options: duplicate value good"),
        (_set("items.4.id", "q2"), "items[5].id: duplicate id q2 (also items[4])"),
        (_delete("items.4.options.1.points"), "items[4].options[1].points: a rating option needs points"),
        (_set("items.4.options", []), "items[4].options: a rating item needs at least two options"),
        (_set("items.4.kind", "scale"), "items[4].kind: input should be 'rating', 'single_choice'"),
        (_delete("items.4.text.zh-CN"), "items[4].text.zh-CN: missing"),
        (_set("items.4.colour", "red"), "items[4].colour: unknown field"),
        (
            _set("items.1.screen_out.0.disposition", 4.7),
            "items[1].screen_out[0].disposition: input should be",
        ),
        (
            _set("items.1.screen_out.0.disposition", "2.11"),
            "items[1].screen_out[0].disposition: string should",
        ),
        (
            _set("items.1.screen_out.0.outside", [69, 18]),
            "items[1].screen_out[0].outside: the low end is above",
        ),
        (_set("items.2.screen_out.0.codes", [1, 7]), "items[2].screen_out[0].codes: code 7 is not an option"),
        (
            _set("items.2.screen_out.0.strata", ["night"]),
            "items[2].screen_out[0].strata: unknown stratum night",
        ),
        (
            _set("items.0.ask_if", {"item": "s_tie", "codes": [1]}),
            "items[0].ask_if.item: s_tie is not an item",
        ),
        (_set("items.0.ask_if", {"item": "s_age"}), "items[0].ask_if: item and codes go together"),
        (_set("items.5.screening", True), "items[5].screening: screening items must come before"),
        (_set("items.14.screen_out", [{"codes": [1]}]), "items[14].screen_out[0]: only screening items"),
        (_set("scoring.dimensions.0.weight", 15), "scoring: weights add up to 99, not 100"),
        (_set("scoring.dimensions.4.items", ["q9"]), "scoring.dimensions[4].items[0]: q9 is scored twice"),
        (_set("scoring.dimensions.4.items", ["q11"]), "scoring.dimensions[4].items[0]: unknown item q11"),
        (_set("scoring.overall.item", "suggestions"), "scoring.overall.item: suggestions is a text item"),
        (_set("strata.1.id", "staff"), "strata[1].id: duplicate stratum staff"),
        (_set("completeness", {"complete": 0.5, "partial": 0.8}), "completeness.partial: partial is above"),
        (_set("version", 0), "version: input should be greater than or equal to 1"),
    ],
)
def test_validation_errors_name_file_path_and_problem(mutate: Mutation, expected: str) -> None:
    data = copy.deepcopy(base())
    mutate(data)
    problems = problems_of(data)
    assert any(p.startswith(f"satisfaction.yaml: {expected}") for p in problems), problems


def test_yaml_syntax_errors_give_line_and_column() -> None:
    with pytest.raises(InstrumentError, match=r"^x.yaml: line 2 column 9: mapping values are not allowed"):
        parse_instrument("id: a\ntitle: b: c\n", "x.yaml")


def test_a_key_given_twice_is_refused() -> None:
    text = SOURCE.replace("version: 2\n", "version: 2\nversion: 3\n", 1)
    with pytest.raises(InstrumentError, match=r"line \d+ column 1: key 'version' given twice"):
        parse_instrument(text, "satisfaction.yaml")


def test_not_a_mapping_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="must hold a mapping"):
        parse_instrument("- 1\n- 2\n", "list.yaml")
    with pytest.raises(InstrumentError, match=r"missing\.yaml: cannot read"):
        load_instrument(tmp_path / "missing.yaml")
    bad = tmp_path / "gbk.yaml"
    bad.write_bytes("标题: 满意度".encode("gbk"))
    with pytest.raises(InstrumentError, match=r"gbk\.yaml: not UTF-8"):
        load_instrument(bad)


def test_all_problems_are_listed() -> None:
    data = base()
    data["scoring"]["dimensions"][0]["weight"] = 15
    data["strata"][1]["id"] = "staff"
    problems = problems_of(data)
    assert len(problems) >= 2
    with pytest.raises(InstrumentError, match=r"\(and \d+ more\)"):
        parse_instrument(yaml.safe_dump(data, allow_unicode=True), "satisfaction.yaml")
