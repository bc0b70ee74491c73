"""Small doors (issue 10, item 7), each tried the way a user reaches it, on SQLite and PostgreSQL:
unstorable characters, formula cells in the export, no caching of API answers.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from click.testing import CliRunner
from console_support import Fieldwork, browser_login, deliver_call, make_fieldwork
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from support import Users

from cati.cli import cli
from cati.models import District, Interview, Role, User

SCREENING = [1, 45, 1]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


def _view(client: TestClient, headers: dict[str, str]) -> Any:
    r = client.get("/api/v1/console/state", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["current"]["interview"]


def _raw_key(client: TestClient, headers: dict[str, str], value_json: str) -> Any:
    """One key press with ``value`` given as raw JSON text (httpx cannot encode a lone surrogate)."""
    iv = _view(client, headers)
    item, version = iv["item"]["id"], iv["version"]
    body = f'{{"action": "answer", "item_id": "{item}", "value": {value_json}, "version": {version}}}'
    return client.post(
        "/api/v1/console/interview",
        content=body.encode("ascii"),
        headers={**headers, "content-type": "application/json"},
    )


def _up_to_the_open_question(
    client: TestClient, fw: Fieldwork, users: Users, username: str
) -> dict[str, str]:
    user_id = users.create(username, Role.interviewer)
    headers = {"X-CSRF-Token": browser_login(client, username)}
    assert client.post("/api/v1/console/ready", json={}, headers=headers).status_code == 200
    deliver_call(fw, user_id)
    for value in [*SCREENING, *[2] * len(RATED)]:
        assert _raw_key(client, headers, str(value)).status_code == 200
    assert _view(client, headers)["item"]["id"] == "suggestions"
    return headers


@pytest.mark.parametrize("bad", [r'"road \u0000 lamp"', r'"\ud800"', r'"ok \udfff"'])
def test_an_open_answer_with_nul_or_a_lone_surrogate_is_a_clear_422(
    client: TestClient, fw: Fieldwork, users: Users, engine: Engine, bad: str
) -> None:
    headers = _up_to_the_open_question(client, fw, users, "iv01")
    r = _raw_key(client, headers, bad)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "value"] and error["type"] == "invalid_character"
    assert error["msg"].startswith("含有不允许的字符")
    # nothing was half-written: the question is still open and a proper answer completes the interview
    assert _view(client, headers)["item"]["id"] == "suggestions"
    done = _raw_key(client, headers, r'"\u8def\u706f \ud83d\ude00"')  # a real pair (emoji) is fine
    assert done.status_code == 200 and done.json()["state"] == "completed"
    with engine.connect() as c:
        state = c.execute(select(Interview.state)).scalar_one()
    assert "路灯 😀" in str(state)


def test_a_note_and_a_login_with_nul_are_refused_at_the_door(client: TestClient, users: Users) -> None:
    users.create("zhao", Role.interviewer)
    # form body (the token endpoint) and query string: PostgreSQL would refuse the NUL with a 500
    r = client.post("/api/v1/auth/token", data={"username": "zh\x00ao", "password": "correct horse"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "username"]
    r = client.get("/login", params={"next": "/\x00"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "next"]
    # a JSON key holding a surrogate is refused too (it would reach a dict stored as JSON)
    r = client.post(
        "/api/v1/console/ready",
        content=b'{"\\udc80": 1}',
        headers={**users.bearer("zhao"), "content-type": "application/json"},
    )
    assert r.status_code == 422


def test_the_interviewer_name_is_formula_escaped_in_the_export(
    client: TestClient, fw: Fieldwork, users: Users, engine: Engine
) -> None:
    headers = _up_to_the_open_question(client, fw, users, "=HYPERLINK")
    assert _raw_key(client, headers, '"+SUM(A1)"').status_code == 200
    coded = client.post("/api/v1/console/disposition", json={"code": "complete"}, headers=headers)
    assert coded.status_code == 200, coded.text
    with engine.begin() as c:  # a district named like a formula (names come from the campaign file)
        c.execute(update(District).values(name_zh="@SUM(1)"))
    users.create("assessor", Role.assessor)
    users.create("boss", Role.admin)
    opened = client.post(  # scores and answers are sealed before close: a pilot opens them early
        f"/api/v1/campaigns/{fw.campaign_id}/scores/open",
        json={"reason": "pilot"},
        headers=users.bearer("boss"),
    )
    assert opened.status_code == 200, opened.text
    url = f"/api/v1/campaigns/{fw.campaign_id}/exports/responses.csv"
    r = client.get(f"{url}?lang=en", headers=users.bearer("assessor"))
    assert r.status_code == 200
    (row,) = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert row["interviewer"] == "'=HYPERLINK" and row["suggestions"] == "'+SUM(A1)"
    assert row["district"] == "'@SUM(1)"
    zh = client.get(url, headers=users.bearer("assessor"))  # the labelled default download too
    (row,) = list(csv.DictReader(io.StringIO(zh.content.decode("utf-8-sig"))))
    assert row["访问员"] == "'=HYPERLINK" and row["意见建议"] == "'+SUM(A1)" and row["区县"] == "'@SUM(1)"


def test_api_answers_are_never_cached(client: TestClient, users: Users) -> None:
    users.create("iv01", Role.interviewer)
    csrf = browser_login(client, "iv01")
    me = client.get("/api/v1/auth/me")
    assert me.json()["csrf_token"] == csrf
    for r in (me, client.get("/api/v1/campaigns"), client.get("/"), client.get("/console")):
        assert r.headers["cache-control"] == "no-store", r.url
    refused = client.post("/api/v1/console/ready", json={})  # no CSRF header: 403
    assert refused.status_code == 403 and refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("bad", ["\udcff", "a\x00b"])
def test_the_cli_refuses_unstorable_arguments(db_url: str, engine: Engine, bad: str) -> None:
    """Bytes that are not UTF-8 reach argv as lone surrogates; a display name with one is refused."""
    args = ["user", "create", "--username", "li", "--role", "interviewer", "--display-name", bad]
    result = CliRunner().invoke(
        cli,
        [*args, "--password-stdin"],
        env={"CATI_DATABASE_URL": db_url, "CATI_ARGON2_TIME_COST": "1", "CATI_ARGON2_MEMORY_KIB": "1024"},
        input="correct horse\n",
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "不允许的字符" in result.stderr
    assert "Traceback" not in result.output
    with engine.connect() as c:
        assert c.execute(select(User)).first() is None
