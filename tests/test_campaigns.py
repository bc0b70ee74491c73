"""Campaigns: the file format, its validation (every bad input named, nothing written), the CLI
import of the shipped example, the API, and the status machine with its seed commitment."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from support import Users

from cati.campaigns.instruments import BUILTIN_DIR
from cati.campaigns.loader import CampaignSpecError, parse_yaml
from cati.campaigns.states import TRANSITIONS
from cati.cli import cli
from cati.models import AuditEntry, Campaign, CampaignStatus, District, ExchangePrefix, QuotaCell
from dialer.rdd import Frame, verify_campaign

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "zibo.yaml"

SMALL = """\
code: test-2026
name: {zh-CN: 测试调查, en: Test survey}
districts:
  - code: zhangdian
    name: {zh-CN: 张店区, en: Zhangdian}
    prefixes: ["218", "219"]
  - code: boshan
    name: {zh-CN: 博山区}
    prefixes: ["418"]
    suffix_digits: 5
    quota: {staff: 100, resident: 120}
"""


def small() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SMALL)
    return data


def _problems(text: str) -> list[str]:
    with pytest.raises(CampaignSpecError) as info:
        parse_yaml(text, source="c.yaml")
    return info.value.lines()


def test_defaults_fill_a_small_file() -> None:
    spec = parse_yaml(SMALL)
    assert spec.timezone == "Asia/Shanghai" and (spec.age.min, spec.age.max) == (18, 69)
    assert spec.instrument == "satisfaction.yaml" and spec.dialling.abandon_cap == 0.01
    assert spec.quota.staff == spec.quota.resident == 150
    assert spec.districts[0].suffix_digits == 4
    assert [(w.days, f"{w.start:%H:%M}", f"{w.end:%H:%M}") for w in spec.calling_windows.resident] == [
        ("working", "18:00", "21:00"),
        ("rest", "09:00", "21:00"),
    ]


def test_unquoted_times_survive_and_leading_zeros_are_not_mangled() -> None:
    text = SMALL + "calling_windows:\n  staff:\n    - {days: working, start: 13:30, end: 17:30}\n"
    assert f"{parse_yaml(text).calling_windows.staff[0].start:%H:%M}" == "13:30"  # not 810 (base 60)
    # 0418 stays "0418" (not octal 272), and the RDD frame's rule names it.
    (problem,) = _problems(SMALL.replace('["418"]', "[0418]"))
    assert "districts[1].prefixes[0]: malformed prefix '0418'" in problem and "never starts with 0" in problem


BAD_CASES = [
    # (what, mutation of the small file, field named, words of the reason, line)
    (
        "prefix not numeric",
        ('["218", "219"]', '["218", "2x9"]'),
        "districts[0].prefixes[1]",
        "not numeric",
        6,
    ),
    (
        "same prefix twice",
        ('["418"]', '["219"]'),
        "districts[1].prefixes[0]",
        "already used by district zhangdian",
        9,
    ),
    (
        "overlapping prefixes",
        ('["418"]\n    suffix_digits: 5', '["2180"]\n    suffix_digits: 3'),
        "districts[0].prefixes[0]",
        "overlaps",
        6,
    ),
    (
        "duplicate key",
        ("suffix_digits: 5", "suffix_digits: 5\n    suffix_digits: 3"),
        "",
        "given twice",
        11,
    ),
    ("quota of 0", ("staff: 100", "staff: 0"), "districts[1].quota.staff", "greater than or equal to 1", 11),
    (
        "unknown time zone",
        ("code: test-2026", "code: test-2026\ntimezone: Asia/Zibo"),
        "timezone",
        "unknown time zone",
        2,
    ),
    ("duplicate district code", ("code: boshan", "code: zhangdian"), "districts[1].code", "already used", 7),
    (
        "unknown field",
        ("suffix_digits: 5", "suffix_digits: 5\n    sufix: 4"),
        "districts[1].sufix",
        "unknown field",
        11,
    ),
    (
        "abandonment cap above 3%",
        ("code: test-2026", "code: test-2026\ndialling: {abandon_cap: 0.05}"),
        "dialling.abandon_cap",
        "0.03",
        2,
    ),
    (
        "unknown dialling mode",
        ("code: test-2026", "code: test-2026\ndialling: {mode: robocall}"),
        "dialling.mode",
        "preview",
        2,
    ),
    (
        "ages reversed",
        ("code: test-2026", "code: test-2026\nage: {min: 70, max: 18}"),
        "age",
        "below age min",
        2,
    ),
    ("no prefixes", ('["418"]', "[]"), "districts[1].prefixes", "at least 1", 9),
    ("missing name", ("name: {zh-CN: 测试调查, en: Test survey}\n", ""), "name", "required", None),
]


@pytest.mark.parametrize(
    ("what", "change", "field", "reason", "line"), BAD_CASES, ids=[c[0] for c in BAD_CASES]
)
def test_bad_input_names_field_reason_and_line(
    what: str, change: tuple[str, str], field: str, reason: str, line: int | None
) -> None:
    old, new = change
    assert old in SMALL
    problems = _problems(SMALL.replace(old, new, 1))
    hit = [p for p in problems if (f": {field}: " in p or not field) and reason in p]
    assert hit, problems
    if line is not None:
        assert hit[0].startswith(f"c.yaml:{line}: "), hit


def test_window_that_ends_before_it_starts() -> None:
    text = SMALL + 'calling_windows:\n  resident:\n    - {days: rest, start: "21:00", end: "09:00"}\n'
    (problem,) = _problems(text)
    assert (
        problem
        == "c.yaml:14: calling_windows.resident[0]: window ends at 09:00, not after it starts at 21:00"
    )


def test_extra_working_day_must_be_a_weekend_day() -> None:
    text = SMALL + "extra_workdays: [2026-09-21]\nholidays: [2026-10-01]\n"
    (problem,) = _problems(text)
    assert "extra_workdays[0]" in problem and "weekday already" in problem


def test_bad_yaml_names_its_line() -> None:
    (problem,) = _problems(SMALL.replace("name: {zh-CN: 博山区}", "name: {zh-CN: 博山区"))
    # PyYAML notices on the next line; the message also names where the mapping began.
    assert problem.startswith("c.yaml:9: bad YAML") and "started on line 8" in problem


def _import(path: Path, data_dir: Path, env: dict[str, str]) -> Any:
    return CliRunner().invoke(cli, ["campaign", "import", str(path), "--data-dir", str(data_dir)], env=env)


def _counts(engine: Engine) -> tuple[int, ...]:
    with engine.connect() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Campaign, District, ExchangePrefix, QuotaCell, AuditEntry)
        )


def test_cli_imports_the_zibo_example(
    db_url: str, engine: Engine, instruments_dir: Path, tmp_path: Path
) -> None:
    env = {"CATI_DATABASE_URL": db_url, "CATI_INSTRUMENTS_DIR": str(instruments_dir)}
    result = _import(EXAMPLE, tmp_path, env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "已导入调查项目（草稿），8 个区县，16 个配额单元 / campaign 1 zibo-2026: draft"
    )
    with engine.connect() as c:
        names = c.execute(select(District.name_zh).order_by(District.id)).scalars().all()
        targets = set(c.execute(select(QuotaCell.target)).scalars())
    assert names == ["张店区", "淄川区", "博山区", "周村区", "临淄区", "桓台县", "高青县", "沂源县"]
    assert targets == {150}
    with engine.connect() as c:
        windows, scheduling = c.execute(select(Campaign.calling_windows, Campaign.scheduling)).one()
    assert windows["holidays"][0] == "2026-10-01" and windows["extra_workdays"] == [
        "2026-09-20",
        "2026-10-10",
    ]
    assert scheduling["max_attempts"] == 6 and scheduling["retry_minutes"]["soft_refusal"] == 4320
    assert "ILLUSTRATIVE" in EXAMPLE.read_text(encoding="utf-8")
    # The same code again is refused, and nothing more is written.
    before = _counts(engine)
    again = _import(EXAMPLE, tmp_path, env)
    assert again.exit_code == 2 and "already exists" in again.output
    assert _counts(engine) == before


def test_cli_bad_file_writes_nothing(
    db_url: str, engine: Engine, instruments_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace('["418"]', '["219"]'), encoding="utf-8")
    result = _import(
        bad, tmp_path, {"CATI_DATABASE_URL": db_url, "CATI_INSTRUMENTS_DIR": str(instruments_dir)}
    )
    assert result.exit_code == 2
    assert (
        "bad.yaml:9: districts[1].prefixes[0]: prefix 219 is already used by district zhangdian"
        in result.output
    )
    assert "Traceback" not in result.output
    assert _counts(engine) == (0, 0, 0, 0, 0)


def test_cli_names_a_missing_instrument(db_url: str, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SMALL + "instrument: nowhere.yaml\n", encoding="utf-8")
    result = _import(path, tmp_path, {"CATI_DATABASE_URL": db_url})
    assert result.exit_code == 2 and "instrument" in result.output and "nowhere.yaml" in result.output
    assert _counts(engine)[0] == 0


def test_api_create_list_read(client: TestClient, users: Users, engine: Engine) -> None:
    users.create("admin", "admin")
    users.create("wit", "witness")
    admin = users.bearer("admin")
    r = client.post("/api/v1/campaigns", json=small(), headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"] == "draft" and created["seed"] is None and created["seed_commitment"] is None
    boshan = created["districts"][1]
    assert boshan["prefixes"] == ["418"] and boshan["suffix_digits"] == 5
    assert {q["stratum"]: q["target"] for q in boshan["quota_cells"]} == {"staff": 100, "resident": 120}
    # Stored in the scheduler's shape (dialer.schedule.CallingWindows.from_json, docs/scheduling.md).
    assert created["calling_windows"] == {
        "staff": [
            {"days": [1, 2, 3, 4, 5], "start": "08:30", "end": "12:00"},
            {"days": [1, 2, 3, 4, 5], "start": "13:30", "end": "17:30"},
        ],
        "resident": [
            {"days": [1, 2, 3, 4, 5], "start": "18:00", "end": "21:00"},
            {"days": [6, 7], "start": "09:00", "end": "21:00"},
        ],
        "holidays": [],
        "extra_workdays": [],
    }
    assert created["scheduling"] == {}  # nothing given: the scheduler's defaults apply
    builtin = (BUILTIN_DIR / "satisfaction.yaml").read_bytes()
    assert created["instrument"] == {
        "name": "satisfaction.yaml",
        "sha256": hashlib.sha256(builtin).hexdigest(),
    }
    witness = users.bearer("wit")
    listed = client.get("/api/v1/campaigns", headers=witness).json()
    assert [c["code"] for c in listed] == ["test-2026"]
    assert client.get(f"/api/v1/campaigns/{created['id']}", headers=witness).json() == created
    with engine.connect() as c:
        actor, details = c.execute(
            select(AuditEntry.actor, AuditEntry.details).where(AuditEntry.action == "campaign.created")
        ).one()
    assert actor == "admin" and details["districts"] == 2


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda d: d["districts"][0]["prefixes"].append("218"), ["body", "districts", 0, "prefixes", 2]),
        (lambda d: d["districts"][1].update(quota={"staff": 0}), ["body", "districts", 1, "quota", "staff"]),
        (lambda d: d.update(timezone="Nowhere/City"), ["body", "timezone"]),
        (lambda d: d.update(instrument="../../etc/passwd"), ["body", "instrument"]),
        (lambda d: d.update(instrument="missing.yaml"), ["body", "instrument"]),
    ],
    ids=["same-prefix", "quota-0", "time-zone", "path-instrument", "missing-instrument"],
)
def test_api_bad_campaign_is_422_with_its_field(
    client: TestClient, users: Users, engine: Engine, mutate: Any, loc: list[Any]
) -> None:
    users.create("admin", "admin")
    data = copy.deepcopy(small())
    mutate(data)
    r = client.post("/api/v1/campaigns", json=data, headers=users.bearer("admin"))
    assert r.status_code == 422, r.text
    assert loc in [p["loc"] for p in r.json()["detail"]]
    assert _counts(engine)[:4] == (0, 0, 0, 0)


def test_status_machine_commitment_and_seed(client: TestClient, users: Users, engine: Engine) -> None:
    users.create("admin", "admin")
    users.create("sup", "supervisor")
    cid = client.post("/api/v1/campaigns", json=small(), headers=users.bearer("admin")).json()["id"]

    def move(to: str, who: str = "admin") -> Any:
        return client.post(f"/api/v1/campaigns/{cid}/status", json={"to": to}, headers=users.bearer(who))

    assert move("fieldwork").status_code == 409
    assert move("published", "sup").status_code == 403
    published = move("published")
    assert published.status_code == 200
    body = published.json()
    assert body["status"] == "published" and len(body["seed_commitment"]) == 64 and body["seed"] is None
    assert move("draft").status_code == 409  # no going back once the commitment is out
    assert move("fieldwork").json()["seed"] is None
    closed = move("closed").json()
    assert closed["status"] == "closed" and len(closed["seed"]) == 64
    assert move("fieldwork").status_code == 409
    with engine.connect() as c:
        moves = (
            c.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == "campaign.status_changed")
                .order_by(AuditEntry.seq)
            )
            .scalars()
            .all()
        )
    assert [(m["from"], m["to"]) for m in moves] == [
        ("draft", "published"),
        ("published", "fieldwork"),
        ("fieldwork", "closed"),
    ]
    assert moves[0]["seed_commitment"] == closed["seed_commitment"] and "seed_revealed" not in moves[0]
    assert moves[2]["seed_revealed"] == closed["seed"]
    # Anyone can check the published commitment once the seed is out, with the RDD module's verifier.
    frames = {d["code"]: Frame(tuple(d["prefixes"]), d["suffix_digits"]) for d in closed["districts"]}
    assert verify_campaign(closed["seed"], frames, closed["seed_commitment"])
    frames["zhangdian"] = Frame(("218",), 4)
    assert not verify_campaign(closed["seed"], frames, closed["seed_commitment"])


def test_instruments_from_the_configured_directory_and_broken_ones(
    client: TestClient, users: Users, instruments_dir: Path, engine: Engine
) -> None:
    users.create("admin", "admin")
    admin = users.bearer("admin")
    r = client.post("/api/v1/campaigns", json={**small(), "instrument": "local-copy.yaml"}, headers=admin)
    assert r.status_code == 201 and r.json()["instrument"]["name"] == "local-copy.yaml"
    (instruments_dir / "broken.yaml").write_text("id: x\nitems: 3\n", encoding="utf-8")
    r = client.post(
        "/api/v1/campaigns", json={**small(), "code": "c2", "instrument": "broken.yaml"}, headers=admin
    )
    assert r.status_code == 422
    (problem,) = r.json()["detail"]
    assert problem["loc"] == ["body", "instrument"] and problem["msg"].startswith("broken.yaml: ")
    assert _counts(engine)[0] == 1


def test_the_transition_table_is_a_line() -> None:
    s = CampaignStatus
    assert {a: set(b) for a, b in TRANSITIONS.items()} == {
        s.draft: {s.published},
        s.published: {s.fieldwork},
        s.fieldwork: {s.closed},
        s.closed: set(),
    }
