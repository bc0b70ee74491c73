"""One validity rule (the instrument's scoring policy, all-rated/1) everywhere.

The console records the rule's code, the stored row, the results' scores and counts, the
``valid`` and ``rule`` columns of responses.csv and ``cati score`` on that export must agree.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from console_support import INSTRUMENT_TEXT, Fieldwork, deliver_call, make_fieldwork, now
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from support import Users

from cati.cli import cli
from cati.console import service as console
from cati.db import transaction
from cati.models import Case, Interview, Role, User
from cati.results import service as results
from questionnaire.loader import parse_instrument
from questionnaire.validity import judge

SCREENING = [1, 45, 1]  # home line, age 45, lives in the district
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]
HEADER = "district,stratum," + ",".join(RATED)


class Console:
    """One interviewer's console over HTTP (bearer token)."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = self.client.post(f"/api/v1/console{path}", json=body or {}, headers=self.headers)
        assert r.status_code == status, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def interview(self) -> Any:
        r = self.client.get("/api/v1/console/state", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()["current"]["interview"]

    def key(self, action: str, value: Any = None) -> Any:
        iv = self.interview()
        body = {"action": action, "item_id": iv["item"]["id"], "value": value, "version": iv["version"]}
        return self.post("/interview", body)


def _row(fw: Fieldwork, interview_id: int, case_id: int) -> tuple[Interview, Case]:
    with transaction(fw.factory) as s:
        row, case = s.get(Interview, interview_id), s.get(Case, case_id)
        assert row is not None and case is not None
        s.expunge_all()
        return row, case


@pytest.mark.parametrize("key", ["break_off", "partial", "refusal"])
def test_all_rated_then_hung_up_at_the_open_question_is_complete_whatever_key(
    engine: Engine, client: TestClient, users: Users, key: str
) -> None:
    fw = make_fieldwork(engine)
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    case_id, _, interview_id = deliver_call(fw, uid)
    for value in SCREENING:
        c.key("answer", value)
    for _ in RATED:
        view = c.key("answer", 2)
    assert view["item"]["id"] == "suggestions"
    view = c.key("break_off")  # the respondent hangs up at the open question
    assert view["rule"] == {"name": "all-rated/1", "disposition": "1.1", "valid": True, "choice": "complete"}
    r = c.post("/disposition", {"code": "appointment", "appointment_at": "2099-05-06T19:30"}, 409)
    assert "不能预约" in r["detail"]
    st = c.post("/disposition", {"code": key})
    assert st["shift"]["completes"] == 1
    row, case = _row(fw, interview_id, case_id)
    assert (row.disposition, row.valid_for_scoring, row.scoring_rule) == ("1.1", True, "all-rated/1")
    assert case.final_disposition == "1.1"


def test_complete_and_partial_are_refused_when_the_rule_says_otherwise(
    engine: Engine, client: TestClient, users: Users
) -> None:
    fw = make_fieldwork(engine)
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    case_id, _, interview_id = deliver_call(fw, uid)
    for value in SCREENING:
        c.key("answer", value)
    for _ in RATED[:3]:
        c.key("answer", 1)
    r = c.post("/disposition", {"code": "complete"}, 409)
    assert "不是完成访问" in r["detail"] and "all-rated/1" in r["detail"]
    r = c.post("/disposition", {"code": "partial"}, 409)
    assert "不算部分完成" in r["detail"]
    c.key("dont_know")  # q3
    for _ in RATED[4:]:
        c.key("answer", 1)
    view = c.key("answer", "")  # no suggestions: completed with ten of eleven rated
    assert view["state"] == "completed" and view["rule"]["disposition"] == "1.2"
    assert view["rule"]["choice"] == "partial" and not view["valid_for_scoring"]
    c.post("/disposition", {"code": "complete"}, 409)
    c.post("/disposition", {"code": "break_off"})  # the rule's code is recorded: a partial
    row, case = _row(fw, interview_id, case_id)
    assert (row.disposition, row.valid_for_scoring, case.final_disposition) == ("1.2", False, "1.2")


def test_an_older_instrument_with_only_completeness_maps_to_all_rated() -> None:
    old = INSTRUMENT_TEXT.split("scoring_policy:")[0] + "completeness: {complete: 0.8, partial: 0.3}\n"
    rest = INSTRUMENT_TEXT.split("scoring_policy:")[1]
    old += rest[rest.index("\nitems:") + 1 :]
    inst = parse_instrument(old, "old.yaml")
    assert inst.scoring_policy is None and inst.policy.label == "all-rated/1"
    assert inst.policy.partial == 4  # ceil(0.3 * 11)
    # 0.8 used to make nine rated a complete; the one rule needs all eleven
    verdict = judge(inst, rated=9, eligible=True, substantive=True, completed=True)
    assert (verdict.disposition, verdict.valid) == ("1.2", False)


def _score(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "responses.csv"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["score", str(path)])
    return result.exit_code, result.stdout + result.stderr


ALL = ",好" * 11
TEN = ",好" * 10 + ","


def test_cati_score_checks_the_rule_and_valid_columns(tmp_path: Path) -> None:
    code, out = _score(
        tmp_path, f"{HEADER},valid,rule\n张店区,staff{ALL},1,all-rated/1\n张店区,staff{TEN},0,all-rated/1\n"
    )
    assert code == 0, out
    district = json.loads(out)["districts"][0]
    assert (district["valid"], district["invalid"]) == (1, 1)
    code, out = _score(
        tmp_path, f"{HEADER},valid,rule\n张店区,staff{ALL},1,all-rated/1\n张店区,staff{ALL},1,most-rated/1\n"
    )
    assert code == 2 and "line 3, column rule" in out and "most-rated/1" in out and "未知评分规则" in out
    code, out = _score(
        tmp_path, f"{HEADER},valid,rule\n张店区,staff{ALL},1,all-rated/1\n张店区,staff{TEN},1,all-rated/1\n"
    )
    assert code == 2 and "line 3, column valid" in out and "contradicts" in out
    code, out = _score(tmp_path, f"{HEADER},valid\n张店区,staff{ALL},yes\n")
    assert code == 2 and "line 2, column valid" in out
    code, out = _score(
        tmp_path, f"{HEADER}\n张店区,staff{ALL}\n张店区,staff{TEN}\n"
    )  # hand-made: the default rule
    assert code == 0 and json.loads(out)["districts"][0]["valid"] == 1


# ---- property: every door agrees --------------------------------------------------------------

#: One interview as a script: screening ("in", "out" at age 90, "hang" before it ends), then per
#: rated item an answer code 1..4, "dk", "ref" or "stop" (hang up there), the open question, the key.
Step = st.sampled_from([1, 2, 3, 4, 1, 2, "dk", "ref", "stop"])
Script = st.tuples(
    st.sampled_from(["in", "in", "in", "out", "hang"]),
    st.lists(Step, min_size=11, max_size=11),
    st.booleans(),
    st.sampled_from(["complete", "partial", "break_off", "refusal"]),
)


def _play(fw: Fieldwork, uid: int, script: tuple[str, list[Any], bool, str]) -> None:
    screening, steps, suggestion, key = script
    deliver_call(fw, uid)

    def act(action: str, value: Any = None) -> None:
        with transaction(fw.factory) as s:
            user = s.get(User, uid)
            assert user is not None
            seat = console.lock_seat(s, uid)
            row = s.get(Interview, seat.current_interview_id)
            assert row is not None
            item = console.load_interview(s, row.id).engine.current
            console.interview_action(
                s,
                user,
                action=action,
                version=row.version,
                now=now(),
                item_id=None if item is None else item.id,
                value=value,
            )

    if screening == "hang":
        act("answer", 1)
        act("break_off")
    elif screening == "out":
        act("answer", 1)
        act("answer", 90)  # outside 18-69: screened out
    else:
        for value in SCREENING:
            act("answer", value)
        for step in steps:
            if step == "stop":
                act("break_off")
                break
            act(
                {"dk": "dont_know", "ref": "refuse"}.get(str(step), "answer"),
                step if isinstance(step, int) else None,
            )
        else:
            act("answer", "多修路" if suggestion else "")
    with transaction(fw.factory) as s:
        user = s.get(User, uid)
        assert user is not None
        seat = console.lock_seat(s, uid)
        row = s.get(Interview, seat.current_interview_id)
        assert row is not None
        verdict = console.load_interview(s, row.id).engine.verdict
        assert verdict is not None
        code = key  # the interviewer's key; a 1.1/1.2 verdict is recorded whatever it is
        if screening == "out":
            code = "screened_out"
        elif key == "complete" and verdict.disposition != "1.1":
            code = "break_off"  # "complete" is refused (tested above)
        elif key == "partial" and verdict.disposition not in ("1.1", "1.2"):
            code = "break_off"
        console.record_disposition(s, user, code=code, now=now())
        console.finish_wrap_up(s, user, now=now())


def test_results_counts_csv_and_cati_score_agree(engine: Engine, users: Users, tmp_path: Path) -> None:
    fw = make_fieldwork(engine, count=200)  # enough for 12 examples of up to 6 (no shrinking)
    uid = users.create("iv01", Role.interviewer)
    with transaction(fw.factory) as s:
        user = s.get(User, uid)
        assert user is not None
        console.go_ready(s, user, campaign_id=fw.campaign_id, now=now())

    @settings(
        max_examples=12,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking would use up the sample
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(Script, min_size=1, max_size=6))
    def check(scripts: list[tuple[str, list[Any], bool, str]]) -> None:
        for script in scripts:
            _play(fw, uid, script)
        with transaction(fw.factory) as s:
            report = results.campaign_results(s, fw.campaign_id)
            export = results.export_rows(s, fw.campaign_id)
            body = results.export_csv(export)
            stored = s.query(Interview).filter(Interview.finished.is_(True)).all()
            for row in stored:  # the stored row: 1.1 exactly when valid, under the named rule
                assert row.valid_for_scoring is (row.disposition == "1.1")
                assert row.scoring_rule == "all-rated/1"
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
        assert {r["rule"] for r in rows} <= {"all-rated/1"}
        for r in rows:
            assert r["valid"] == ("1" if r["disposition"] == "1.1" else "0")
            assert r["valid"] == ("1" if all(r[item] for item in RATED) else "0")
        valid = sum(r["valid"] == "1" for r in rows)
        counts = report["counts"]["questionnaires"]
        assert (counts["valid"], counts["invalid"]) == (valid, len(rows) - valid)
        scored = report["scores"]["districts"]
        assert sum(d["valid"] for d in scored) == valid
        assert sum(d["invalid"] for d in scored) == len(rows) - valid
        path = tmp_path / "responses.csv"
        path.write_bytes(body)
        result = CliRunner().invoke(cli, ["score", str(path)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == report["scores"]

    check()
