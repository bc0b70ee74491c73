"""The assessment office's exports, through HTTP as the office downloads them, on both databases.

Scores and answers are sealed before close (409, CLI exit 2, a sealed marker in the results JSON);
after close (or an admin's early opening) scores.csv/xlsx, responses.csv/xlsx/sav and the
final-score JSON carry exactly the results JSON's figures, in the campaign's official order, with
Chinese headers and labels by default and English on ``?lang=en``; none holds a phone number.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pyreadstat
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users
from test_results import World, populate

from cati.campaigns.close import close_campaign
from cati.cli import cli
from cati.db import transaction
from cati.models import Case, District, utcnow
from cati.results.exports import FINAL_SCORES_SCHEMA
from scoring.aapor import RATE_NAMES

EXPORTS = ("scores.csv", "scores.xlsx", "responses.csv", "responses.xlsx", "responses.sav")
ROLES = {"admin": 200, "supervisor": 200, "assessor": 200, "witness": 403, "interviewer": 403}


def _close(w: World) -> None:
    with transaction(w.factory) as s:
        close_campaign(s, w.campaign_id, reason="测试：调查结束", force=True, actor="test", now=utcnow())


@pytest.fixture
def sealed(engine: Engine, users: Users) -> World:
    """The campaign in fieldwork with questionnaires, scores sealed."""
    return populate(engine, users)


@pytest.fixture
def closed(engine: Engine, users: Users) -> World:
    """The same campaign after close: sealed results with their digest."""
    w = populate(engine, users)
    _close(w)
    return w


def _get(client: TestClient, users: Users, w: World, path: str, role: str = "assessor") -> Any:
    return client.get(f"/api/v1/campaigns/{w.campaign_id}/{path}", headers=users.bearer(role))


def _results(client: TestClient, users: Users, w: World) -> dict[str, Any]:
    r = _get(client, users, w, "results")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _official_order(w: World) -> list[str]:
    with w.factory() as s:
        return list(
            s.execute(
                select(District.name_zh).where(District.campaign_id == w.campaign_id).order_by(District.id)
            ).scalars()
        )


# ---- sealed before close --------------------------------------------------------------------------


def test_everything_revealing_scores_is_sealed_before_close(
    client: TestClient, users: Users, sealed: World, tmp_path: Path, db_url: str
) -> None:
    results = _results(client, users, sealed)
    assert results["scores"]["sealed"] is True and "封存" in results["scores"]["message"]
    assert "districts" not in results["scores"]
    assert results["counts"]["questionnaires"] == {"valid": 4, "invalid": 1}  # counts stay
    assert results["rates"]["overall"]["provisional"]["total"] == 9  # provisional rates stay
    en = _get(client, users, sealed, "results?lang=en").json()
    assert "sealed until the campaign closes" in en["scores"]["message"]
    for name in (*EXPORTS, "final-scores.json"):
        for role in ("assessor", "supervisor", "admin"):
            r = _get(client, users, sealed, f"exports/{name}", role)
            assert r.status_code == 409, (name, role, r.status_code)
            assert re.search(r"[\u4e00-\u9fff]", r.json()["detail"]), r.json()
        english = _get(client, users, sealed, f"exports/{name}?lang=en")
        assert english.status_code == 409
        said = english.json()["detail"]
        assert ("after the campaign has closed" if name == "final-scores.json" else "sealed") in said
    # the CLI: show withholds the scores, export refuses with exit 2 and a Chinese message
    env = {"CATI_DATABASE_URL": db_url}
    shown = CliRunner().invoke(cli, ["results", "show", str(sealed.campaign_id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["scores"]["sealed"] is True
    exported = CliRunner().invoke(
        cli, ["results", "export", str(sealed.campaign_id), "-o", str(tmp_path / "r.csv")], env=env
    )
    assert exported.exit_code == 2 and "封存" in exported.stderr
    assert not (tmp_path / "r.csv").exists()


def test_an_early_opening_opens_the_exports_but_not_the_final_json(
    client: TestClient, users: Users, sealed: World
) -> None:
    opened = client.post(
        f"/api/v1/campaigns/{sealed.campaign_id}/scores/open",
        json={"reason": "试点"},
        headers=users.bearer("admin"),
    )
    assert opened.status_code == 200, opened.text
    assert "districts" in _results(client, users, sealed)["scores"]
    for name in EXPORTS:
        assert _get(client, users, sealed, f"exports/{name}").status_code == 200, name
    final = _get(client, users, sealed, "exports/final-scores.json")
    assert final.status_code == 409 and "调查结束" in final.json()["detail"]
    # an opening before close: the notes say the results are not sealed yet, the rates provisional
    wb = openpyxl.load_workbook(io.BytesIO(_get(client, users, sealed, "exports/scores.xlsx").content))
    notes = {row[0]: row[1] for row in wb["说明"].iter_rows(min_row=2, values_only=True)}
    assert "尚未封存" in notes["结果摘要 SHA-256"] and "临时" in notes["应答率口径"]


# ---- after close -----------------------------------------------------------------------------------


def test_roles_and_unknown_campaign(client: TestClient, users: Users, closed: World) -> None:
    for name in (*EXPORTS, "final-scores.json"):
        for role, status in ROLES.items():
            assert _get(client, users, closed, f"exports/{name}", role).status_code == status, (name, role)
        assert client.get(f"/api/v1/campaigns/{closed.campaign_id}/exports/{name}").status_code == 401
        missing = client.get(f"/api/v1/campaigns/999/exports/{name}", headers=users.bearer("assessor"))
        assert missing.status_code == 404 and "999" in missing.json()["detail"]


def test_scores_csv_in_official_order_equals_the_results(
    client: TestClient, users: Users, closed: World
) -> None:
    results = _results(client, users, closed)
    by_name = {d["district"]: d for d in results["scores"]["districts"]}
    r = _get(client, users, closed, "exports/scores.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row["区县"] for row in rows] == _official_order(closed)  # every district, official order
    assert [row["序号"] for row in rows] == [str(i) for i in range(1, 9)]
    zhangdian = rows[0]
    expected = by_name["张店区"]
    assert float(zhangdian["得分"]) == expected["score"]
    assert float(zhangdian["60分制得分"]) == expected["component"]
    assert [float(zhangdian["95%置信区间下限"]), float(zhangdian["95%置信区间上限"])] == expected["ci95"]
    assert (zhangdian["名次"], zhangdian["有效问卷"], zhangdian["无效问卷"]) == (
        str(expected["rank"]),
        "3",
        "1",
    )
    assert float(zhangdian["机关作风效能建设"]) == expected["dimensions"]["work_style"]
    rates = next(d for d in results["rates"]["districts"] if d["code"] == "zhangdian")["final"]
    assert float(zhangdian["应答率RR1"]) == rates["RR1"]
    empty = next(row for row in rows if row["区县代码"] == "boshan")  # no questionnaires: blank score
    assert empty["得分"] == "" and empty["有效问卷"] == "0"
    en = list(
        csv.DictReader(
            io.StringIO(_get(client, users, closed, "exports/scores.csv?lang=en").content.decode("utf-8-sig"))
        )
    )
    assert {"order", "district", "district_code", "rank", "score", "component_60", *RATE_NAMES} <= set(en[0])
    assert en[0]["district"] == "Zhangdian District"  # English district names


def test_scores_xlsx_formatted_with_the_results_values(
    client: TestClient, users: Users, closed: World
) -> None:
    results = _results(client, users, closed)
    by_name = {d["district"]: d for d in results["scores"]["districts"]}
    r = _get(client, users, closed, "exports/scores.xlsx")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["成绩", "分项", "应答率", "说明"]
    ws = wb["成绩"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header[:5] == ["序号", "区县", "区县代码", "名次", "得分"] and all(c.font.b for c in ws[1])
    assert ws.column_dimensions["B"].width >= 8
    got = {row[1]: row for row in ws.iter_rows(min_row=2, values_only=True)}
    assert [row[1] for row in ws.iter_rows(min_row=2, values_only=True)] == _official_order(closed)
    for name, d in by_name.items():
        row = got[name]
        assert (row[3], row[4], row[5], row[6], row[7], row[8], row[9]) == (
            d["rank"],
            d["score"],
            d["component"],
            (d["ci95"] or [None, None])[0],  # one questionnaire: no interval
            (d["ci95"] or [None, None])[1],
            d["valid"],
            d["invalid"],
        )
    assert ws.cell(row=2, column=5).number_format == "0.00"  # two decimals shown, full value kept
    dims = wb["分项"]
    assert [c.value for c in dims[1]][3] == "机关作风效能建设" and dims.freeze_panes == "A2"
    assert dims.cell(row=2, column=4).value == by_name["张店区"]["dimensions"]["work_style"]
    rates = wb["应答率"]
    assert [c.value for c in rates[1]][3] == "应答率RR1" and rates.cell(
        row=2, column=4
    ).number_format == "0.00%"
    notes = {row[0]: row[1] for row in wb["说明"].iter_rows(min_row=2, values_only=True)}
    assert notes["评分规则"] == "all-rated/1"
    assert notes["结果摘要 SHA-256"] == results["sealed"]["sha256"]
    assert notes["生成时间"].endswith("+08:00 (Asia/Shanghai)")  # the campaign's time zone
    en = openpyxl.load_workbook(
        io.BytesIO(_get(client, users, closed, "exports/scores.xlsx?lang=en").content)
    )
    assert en.sheetnames == ["scores", "dimensions", "rates", "notes"]
    assert [c.value for c in en["scores"][1]][:5] == ["order", "district", "district_code", "rank", "score"]


def _download_csv(client: TestClient, users: Users, w: World, query: str = "") -> bytes:
    r = _get(client, users, w, f"exports/responses.csv{query}")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf")
    body: bytes = r.content
    return body


def test_responses_csv_chinese_by_default_and_cati_score_reads_it(
    client: TestClient, users: Users, closed: World, tmp_path: Path
) -> None:
    body = _download_csv(client, users, closed)
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    header = list(rows[0])
    assert header[:5] == ["访问编号", "样本编号", "区县", "区县代码", "访问对象"]
    assert {"总体评价", "第1题", "第10题", "意见建议", "问卷有效性", "访问员"} <= set(header)
    assert not any(re.fullmatch(r"q\d+|overall|stratum|valid", h) for h in header)
    first = rows[0]
    assert (
        first["总体评价"] == "好" and first["访问对象"].startswith("机关") and first["问卷有效性"] == "有效"
    )
    assert first["意见建议"] == "'=SUM(A1) 路灯坏了"  # free text stays formula-safe
    refused = rows[3]  # the questionnaire with a refused rating
    assert refused["第1题"] == "拒答" and refused["问卷有效性"] == "无效"
    path = tmp_path / "responses.csv"
    path.write_bytes(body)
    scored = CliRunner().invoke(cli, ["score", str(path)])
    assert scored.exit_code == 0, scored.stderr
    assert json.loads(scored.stdout) == _results(client, users, closed)["scores"]
    machine = _download_csv(client, users, closed, "?lang=en").decode("utf-8-sig")
    assert machine.splitlines()[0].startswith("interview_id,case_id,district,district_code,stratum,overall")
    assert ",good," in machine and "好" not in machine.split("\n", 1)[1].replace("区", "")


def test_cati_score_names_what_is_wrong_in_a_chinese_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("区县,访问对象,总体评价\n张店区,居民（晚上访问）,好\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["score", str(bad)])
    assert r.exit_code == 2
    assert "column q1: missing" in r.stderr and "第1题" in r.stderr  # names the Chinese header too
    header = "区县,访问对象,总体评价," + ",".join(f"第{i}题" for i in range(1, 11))
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(header + "\n张店区,居民（晚上访问）,很好" + ",好" * 10 + "\n", encoding="utf-8")
    r = CliRunner().invoke(cli, ["score", str(wrong)])
    assert r.exit_code == 2 and "line 2, column overall: unknown value '很好'" in r.stderr


def test_responses_xlsx_formatted_and_labelled(client: TestClient, users: Users, closed: World) -> None:
    csv_rows = list(csv.DictReader(io.StringIO(_download_csv(client, users, closed).decode("utf-8-sig"))))
    r = _get(client, users, closed, "exports/responses.xlsx")
    assert r.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["答卷", "题目", "说明"]
    ws = wb["答卷"]
    assert ws.freeze_panes == "A2" and all(c.font.b for c in ws[1])
    header = [c.value for c in ws[1]]
    assert header == list(csv_rows[0])
    values = [list(row) for row in ws.iter_rows(min_row=2, values_only=True)]
    assert len(values) == len(csv_rows) == 5
    for got, expected in zip(values, csv_rows, strict=True):
        assert [("" if v is None else str(v)) for v in got] == list(expected.values())
    assert isinstance(values[0][0], int)  # ids are numbers
    assert values[0][header.index("意见建议")] == "'=SUM(A1) 路灯坏了"  # never a formula
    items = {row[1]: row[2] for row in wb["题目"].iter_rows(min_row=2, values_only=True)}
    assert items["q1"].startswith("下面请您根据自己的直接感受")
    en = openpyxl.load_workbook(
        io.BytesIO(_get(client, users, closed, "exports/responses.xlsx?lang=en").content)
    )
    row = next(en["responses"].iter_rows(min_row=2, values_only=True))
    assert [c.value for c in en["responses"][1]][5] == "overall" and row[5] == "Good"


def test_responses_sav_reads_back_with_its_labels(
    client: TestClient, users: Users, closed: World, tmp_path: Path
) -> None:
    r = _get(client, users, closed, "exports/responses.sav")
    assert r.status_code == 200
    path = tmp_path / "responses.sav"
    path.write_bytes(r.content)
    frame, meta = pyreadstat.read_sav(str(path), user_missing=True)
    assert len(frame) == 5
    labels = meta.column_names_to_labels
    assert labels["q1"].startswith("下面请您根据自己的直接感受") and labels["district"] == "区县"
    assert meta.variable_value_labels["overall"] == {
        1: "好",
        2: "较好",
        3: "一般",
        4: "差",
        98: "不知道",
        99: "拒答",
    }
    assert meta.variable_value_labels["valid"] == {0: "无效", 1: "有效"}
    assert {(m["lo"], m["hi"]) for m in meta.missing_ranges["q1"]} == {(98, 98), (99, 99)}
    assert list(frame["overall"]) == [1, 2, 3, 1, 4]
    assert frame["q1"][3] == 99  # refused: its user-missing code
    assert frame["district"][0] == "张店区" and frame["suggestions"][0] == "'=SUM(A1) 路灯坏了"
    # read as SPSS users do by default: the user-missing codes become missing
    plain, _ = pyreadstat.read_sav(str(path))
    assert plain["q1"].isna().tolist() == [False, False, False, True, False]
    en = tmp_path / "en.sav"
    en.write_bytes(_get(client, users, closed, "exports/responses.sav?lang=en").content)
    _, meta_en = pyreadstat.read_sav(str(en))
    assert meta_en.variable_value_labels["overall"][2] == "Fairly good"
    assert meta_en.column_names_to_labels["q1"].startswith("Now, going by your own experience")


def test_final_scores_json_shape_and_figures(client: TestClient, users: Users, closed: World) -> None:
    results = _results(client, users, closed)
    r = _get(client, users, closed, "exports/final-scores.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    # the shape is a contract with the office's own system: these keys, no more, no fewer
    assert set(body) == {
        "schema",
        "campaign",
        "closed_at",
        "results_sha256",
        "rule",
        "instrument",
        "dimensions",
        "rates",
        "districts",
    }
    assert body["schema"] == FINAL_SCORES_SCHEMA == "cati.final-scores/1"
    assert set(body["campaign"]) == {"id", "code", "name_zh", "name_en", "timezone"}
    assert set(body["instrument"]) == {"id", "version", "sha256"}
    assert body["results_sha256"] == results["sealed"]["sha256"]
    assert body["closed_at"] == results["sealed"]["closed_at"]
    assert body["rule"] == "all-rated/1" and body["rates"] == "final"
    assert [d["id"] for d in body["dimensions"]] == [
        "work_style",
        "economy_environment",
        "hardship_employment",
        "social_undertakings",
        "grassroots",
    ]
    assert set(body["dimensions"][0]) == {"id", "label_zh", "label_en", "weight"}
    district_keys = {
        "order",
        "code",
        "name_zh",
        "name_en",
        "rank",
        "rank_range",
        "score",
        "component_60",
        "ci95",
        "component_ci95",
        "valid",
        "invalid",
        "dimensions",
        "rates",
    }
    assert [d["name_zh"] for d in body["districts"]] == _official_order(closed)
    by_name = {d["district"]: d for d in results["scores"]["districts"]}
    for d in body["districts"]:
        assert set(d) == district_keys
        assert set(d["rates"]) == set(RATE_NAMES)
        s = by_name.get(d["name_zh"])
        if s is None:
            assert d["score"] is None and d["valid"] == 0
            continue
        assert (d["score"], d["component_60"], d["ci95"], d["rank"], d["valid"], d["invalid"]) == (
            s["score"],
            s["component"],
            s["ci95"],
            s["rank"],
            s["valid"],
            s["invalid"],
        )
        assert d["dimensions"] == s["dimensions"]


def test_no_export_holds_a_phone_number(
    client: TestClient, users: Users, closed: World, tmp_path: Path
) -> None:
    with closed.factory() as s:
        phones = list(
            s.execute(select(Case.phone_number).where(Case.campaign_id == closed.campaign_id)).scalars()
        )
    assert len(phones) == 10 and sorted(phones) == sorted(closed.phones)
    for name in (*EXPORTS, "final-scores.json"):
        for query in ("", "?lang=en", "?all=true"):
            body = _get(client, users, closed, f"exports/{name}{query}").content
            texts = [body.decode("utf-8", "replace")]
            if name.endswith(".xlsx"):
                wb = openpyxl.load_workbook(io.BytesIO(body))
                texts += [str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row]
            if name.endswith(".sav"):
                path = tmp_path / "x.sav"
                path.write_bytes(body)
                frame, meta = pyreadstat.read_sav(str(path))
                texts += [frame.to_csv(), json.dumps(meta.column_names_to_labels, ensure_ascii=False)]
            for phone in phones:
                assert not any(phone in text for text in texts), (name, query, phone)


def test_the_cli_exports_after_close(closed: World, tmp_path: Path, db_url: str) -> None:
    env = {"CATI_DATABASE_URL": db_url}
    out = tmp_path / "r.csv"
    r = CliRunner().invoke(cli, ["results", "export", str(closed.campaign_id), "-o", str(out)], env=env)
    assert r.exit_code == 0, r.output
    assert out.read_bytes().decode("utf-8-sig").startswith("interview_id,")
    shown = CliRunner().invoke(cli, ["results", "show", str(closed.campaign_id)], env=env)
    assert shown.exit_code == 0 and json.loads(shown.stdout)["scores"]["districts"]
