"""The audit ledger: answers, interviews and attempts are bound to the audit chain.

An interview is driven through the console API as an interviewer would; then rows are edited,
deleted or added by raw SQL behind the service's back and ``cati audit verify`` (the CLI) must
fail naming the table, the row and the audit entry it contradicts.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from click.testing import CliRunner
from console_support import Fieldwork, browser_login, deliver_call, make_fieldwork
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text
from support import Users

from cati.cli import cli
from cati.db import alembic_config, transaction, upgrade
from cati.models import AnswerEvent, AuditEntry, Interview, Role

SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]
OPEN_TEXT = "路灯坏了很久没人修"


class Console:
    def __init__(self, client: TestClient, csrf: str) -> None:
        self.client = client
        self.headers = {"X-CSRF-Token": csrf}

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        r = self.client.post(f"/api/v1/console{path}", json=body or {}, headers=self.headers)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def key(self, action: str, value: Any = None) -> Any:
        r = self.client.get("/api/v1/console/state", headers=self.headers)
        iv = r.json()["current"]["interview"]
        body = {
            "action": action,
            "item_id": iv["item"]["id"] if iv["item"] else None,
            "value": value,
            "version": iv["version"],
        }
        return self.post("/interview", body)


def verify(db_url: str) -> tuple[int, str]:
    out = CliRunner().invoke(cli, ["audit", "verify"], env={"CATI_DATABASE_URL": db_url})
    return out.exit_code, out.output


def _drive_interview(client: TestClient, fw: Fieldwork, user_id: int) -> tuple[int, int, int]:
    """One complete interview through the console API, with one answer changed on the way."""
    c = Console(client, browser_login(client, "iv01"))
    c.post("/ready")
    case_id, attempt_id, interview_id = deliver_call(fw, user_id)
    for _, value in SCREENING:
        c.key("answer", value)
    c.key("answer", 3)  # overall
    c.key("back")
    c.key("answer", 2)  # overall again: a change
    for _ in RATED[1:]:
        c.key("answer", 2)
    view = c.key("answer", OPEN_TEXT)
    assert view["state"] == "completed" and view["valid_for_scoring"]
    c.post("/disposition", {"code": "complete"})
    c.post("/next")
    return case_id, attempt_id, interview_id


@pytest.fixture
def driven(client: TestClient, engine: Engine, users: Users) -> tuple[Fieldwork, int, int, int]:
    fw = make_fieldwork(engine)
    uid = users.create("iv01", Role.interviewer)
    case_id, attempt_id, interview_id = _drive_interview(client, fw, uid)
    return fw, case_id, attempt_id, interview_id


def _last_binding(fw: Fieldwork, table: str, row_id: int) -> int:
    """Seq of the last entry that bound this row (read from the log itself)."""
    with transaction(fw.factory) as s:
        last = 0
        for seq, details in s.execute(select(AuditEntry.seq, AuditEntry.details).order_by(AuditEntry.seq)):
            if any(t == table and i == row_id for t, i, _ in details.get("ledger", [])):
                last = seq
        return last


def test_a_driven_interview_is_in_the_ledger_and_verifies(
    db_url: str, driven: tuple[Fieldwork, int, int, int]
) -> None:
    fw, _, attempt_id, interview_id = driven
    with transaction(fw.factory) as s:
        entries = s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        events = (
            s.execute(select(AnswerEvent).where(AnswerEvent.interview_id == interview_id)).scalars().all()
        )
    actions = [e.action for e in entries]
    # one entry per key press: 3 screening + overall + back + change + 10 rated + the open question
    assert actions.count("interview.answer") == 3 + 1 + 10 + 1
    assert actions.count("interview.back") == 1 and actions.count("interview.change") == 1
    for action in (
        "attempt.started",
        "attempt.answered",
        "attempt.connected",
        "attempt.coded",
        "attempt.ended",
    ):
        assert action in actions, action
    bound = {(t, i) for e in entries for t, i, _ in e.details.get("ledger", [])}
    assert {("answer_events", ev.id) for ev in events} <= bound
    assert ("interviews", interview_id) in bound and ("attempts", attempt_id) in bound
    change = next(e for e in entries if e.action == "interview.change")
    assert change.details["events"] == [
        {"seq": change.details["events"][0]["seq"], "item_id": "overall", "kind": "change", "value": "2"}
    ]
    final = next(e for e in entries if e.action == "console.disposition")
    assert (
        final.details["valid_for_scoring"] is True and final.details["score_row"]["overall"] == "fairly_good"
    )
    assert final.details["interview_disposition"] == "1.1"
    # the open answer is in the log only as its SHA-256
    digest = hashlib.sha256(OPEN_TEXT.encode()).hexdigest()
    assert [e.action for e in entries if OPEN_TEXT in str(e.details)] == []
    assert any(ev.get("value_sha256") == digest for e in entries for ev in e.details.get("events", []))
    assert final.details["problems_sha256"] == digest

    code, out = verify(db_url)
    assert code == 0, out
    assert "audit chain ok" in out and "ledger ok" in out


def _answer_row(fw: Fieldwork, interview_id: int, item_id: str) -> int:
    with transaction(fw.factory) as s:
        return s.execute(
            select(AnswerEvent.id)
            .where(AnswerEvent.interview_id == interview_id, AnswerEvent.item_id == item_id)
            .order_by(AnswerEvent.seq.desc())
            .limit(1)
        ).scalar_one()


@pytest.mark.parametrize("what", ["answer", "score_row", "outcome"])
def test_an_edit_behind_the_services_back_is_named(
    db_url: str, engine: Engine, driven: tuple[Fieldwork, int, int, int], what: str
) -> None:
    fw, _, attempt_id, interview_id = driven
    if what == "answer":
        table, row_id = "answer_events", _answer_row(fw, interview_id, "q3")
        sql, params = "UPDATE answer_events SET value = '1' WHERE id = :id", {"id": row_id}
    elif what == "score_row":
        table, row_id = "interviews", interview_id
        with engine.connect() as conn:
            scored = dict(
                conn.execute(select(Interview.score_row).where(Interview.id == row_id)).scalar_one()
            )
        scored["q3"] = "good"  # one rating raised behind the service's back
        sql, params = (
            "UPDATE interviews SET score_row = :v WHERE id = :id",
            {"v": json.dumps(scored), "id": row_id},
        )
    else:
        table, row_id = "attempts", attempt_id
        sql, params = "UPDATE attempts SET outcome = 'busy' WHERE id = :id", {"id": row_id}
    seq = _last_binding(fw, table, row_id)
    assert seq > 0
    assert verify(db_url)[0] == 0
    with engine.begin() as conn:
        conn.execute(text(sql), params)
    code, out = verify(db_url)
    assert code == 1
    assert f"{table} row {row_id} differs" in out and f"audit entry {seq}" in out, out
    assert f"{table} 第 {row_id} 行" in out  # Chinese first


def test_a_deleted_answer_and_an_added_attempt_are_named(
    db_url: str, engine: Engine, driven: tuple[Fieldwork, int, int, int]
) -> None:
    fw, _, attempt_id, interview_id = driven
    row_id = _answer_row(fw, interview_id, "q5")
    seq = _last_binding(fw, "answer_events", row_id)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM answer_events WHERE id = :id"), {"id": row_id})
    code, out = verify(db_url)
    assert code == 1 and f"answer_events row {row_id} was deleted; audit entry {seq}" in out, out

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO attempts (case_id, campaign_id, channel_id, dialling_mode, started_at,"
                " ended_at, outcome, disposition, abandoned, dialer_node)"
                " SELECT case_id, campaign_id, 'forged', dialling_mode, started_at, ended_at, outcome,"
                " '1.1', abandoned, dialer_node FROM attempts WHERE id = :id"
            ),
            {"id": attempt_id},
        )
        forged = conn.execute(text("SELECT id FROM attempts WHERE channel_id = 'forged'")).scalar_one()
    code, out = verify(db_url)
    assert code == 1 and f"attempts row {forged} was written by no audit entry" in out, out


def test_rows_from_before_the_ledger_are_adopted_then_guarded(
    db_url: str, engine: Engine, driven: tuple[Fieldwork, int, int, int]
) -> None:
    """A database from before: its rows are bound by the migration, and later tampering still fails."""
    from alembic import command

    fw, _, attempt_id, _ = driven
    command.downgrade(alembic_config(db_url), "0005_ledger-1")
    with engine.begin() as conn:  # a log from before the ledger: no entry binds any row
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("UPDATE audit_head SET last_seq = 0, last_hash = :h"), {"h": "0" * 64})
    upgrade(db_url)
    with transaction(fw.factory) as s:
        adopted = s.execute(select(AuditEntry).where(AuditEntry.action == "ledger.adopted")).scalars().all()
    assert adopted and sum(e.details["rows"] for e in adopted) > 0
    code, out = verify(db_url)
    assert code == 0, out
    with engine.begin() as conn:
        conn.execute(text("UPDATE attempts SET hangup_cause = 17 WHERE id = :id"), {"id": attempt_id})
    code, out = verify(db_url)
    assert code == 1 and f"attempts row {attempt_id} differs" in out, out
