"""The close of fieldwork, driven as the admin does it (HTTP and the CLI) with calls still in hand.

After close: no case open in the results, final rates equal the provisional ones, the stored
digest is the SHA-256 of the canonical results JSON, nothing stuck on a call, and every later
write to the campaign is refused.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from console_support import Fieldwork, browser_login, deliver_call, make_fieldwork, now
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update
from support import Users

from cati.cases import service as cases
from cati.cli import cli
from cati.db import transaction
from cati.errors import Conflict
from cati.models import (
    Attempt,
    AuditCheckpoint,
    AuditEntry,
    CampaignClosure,
    Case,
    CaseStatus,
    Interview,
    InterviewerSeat,
    Role,
)

SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]


def cli_run(args: list[str], db_url: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, env={"CATI_DATABASE_URL": db_url})
    return result.exit_code, result.stdout, result.stderr


class Console:
    def __init__(self, client: TestClient, username: str) -> None:
        self.client = client
        self.headers = {"X-CSRF-Token": browser_login(client, username)}

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/v1/console{path}", json=body or {}, headers=self.headers)

    def answer(self, value: Any) -> Any:
        iv = self.client.get("/api/v1/console/state", headers=self.headers).json()["current"]["interview"]
        return self.post(
            "/interview",
            {"action": "answer", "item_id": iv["item"]["id"], "value": value, "version": iv["version"]},
        )


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


def _live_interview_and_ringing_call(client: TestClient, fw: Fieldwork, users: Users) -> Console:
    """iv01 is on the line mid-interview (screening passed); one more call rings with no seat."""
    iv01 = users.create("iv01", Role.interviewer)
    c = Console(client, "iv01")
    assert c.post("/ready").status_code == 200
    deliver_call(fw, iv01)
    for _, value in SCREENING:
        assert c.answer(value).status_code == 200
    assert c.answer(2).status_code == 200  # "overall": one substantive answer, far from partial
    with transaction(fw.factory) as s:
        case = cases.next_case(s, fw.campaign_id, now=now())
        assert case is not None
        cases.start_attempt(
            s, case, channel_id=uuid.uuid4().hex, dialling_mode="predictive", now=now(), node="test"
        )
    return c


class FakeDialer:
    """Records the hang-ups the close asks for."""

    def __init__(self) -> None:
        self.hung_up: list[int] = []

    async def hangup(self, attempt_id: int) -> None:
        self.hung_up.append(attempt_id)

    def wake(self, campaign_id: int | None = None) -> None:
        return None


def _without_seal(results: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in results.items() if k != "sealed"}


def _canonical_sha(results: dict[str, Any]) -> str:
    text = json.dumps(_without_seal(results), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _assert_nothing_in_hand(fw: Fieldwork) -> None:
    with transaction(fw.factory) as s:
        assert (
            s.execute(
                select(func.count()).select_from(Attempt).where(Attempt.ended_at.is_(None))
            ).scalar_one()
            == 0
        )
        statuses = set(s.execute(select(Case.status).where(Case.campaign_id == fw.campaign_id)).scalars())
        assert statuses == {CaseStatus.finalised.value}
        seats = list(s.execute(select(InterviewerSeat.status)).scalars())
        assert "on_call" not in seats and "reserved" not in seats


def test_close_over_http_refuses_live_calls_then_forces(
    client: TestClient, fw: Fieldwork, users: Users, db_url: str, tmp_path: Path
) -> None:
    c = _live_interview_and_ringing_call(client, fw, users)
    users.create("admin", Role.admin)
    users.create("sup", Role.supervisor)
    admin, sup = users.bearer("admin"), users.bearer("sup")
    url = f"/api/v1/campaigns/{fw.campaign_id}/close"

    r = client.post(url, json={"reason": "样本用完", "force": False}, headers=sup)
    assert r.status_code == 403, r.text
    r = client.post(url, json={"reason": "  "}, headers=admin)
    assert r.status_code == 422, r.text
    r = client.post(url, json={"reason": "样本用完"}, headers=admin)
    assert r.status_code == 409, r.text
    assert "1 个访问正在进行" in r.json()["detail"] and "2 个呼叫未结束" in r.json()["detail"]
    # the plain status change is the same close, without force
    r = client.post(f"/api/v1/campaigns/{fw.campaign_id}/status", json={"to": "closed"}, headers=admin)
    assert r.status_code == 409 and "2 个呼叫未结束" in r.json()["detail"], r.text
    with transaction(fw.factory) as s:  # nothing was written by the refusals
        assert s.get(CampaignClosure, fw.campaign_id) is None

    dialer = FakeDialer()
    client.app.state.dialer = dialer  # type: ignore[attr-defined]
    r = client.post(url, json={"reason": "样本用完", "force": True}, headers=admin)
    assert r.status_code == 200, r.text
    with transaction(fw.factory) as s:  # both lines are dropped at the PBX once the close committed
        assert sorted(dialer.hung_up) == sorted(s.execute(select(Attempt.id)).scalars())
    body = r.json()
    assert body["campaign"]["status"] == "closed" and body["campaign"]["seed"]
    assert body["summary"]["interviews_broken_off"] == {"2.12": 1}  # eligible respondent: break-off
    assert body["summary"]["calls_ended"] == {"3.16": 1}
    _assert_nothing_in_hand(fw)
    with transaction(fw.factory) as s:
        row = s.execute(select(Interview)).scalar_one()
        assert row.finished and row.disposition == "2.12" and not row.valid_for_scoring
        assert row.state["state"] == "broken_off", row.state.get("state")

    results = client.get(f"/api/v1/campaigns/{fw.campaign_id}/results", headers=admin).json()
    assert results["counts"]["cases"]["open"] == 0
    assert results["counts"]["cases"]["finalised"] == results["counts"]["cases"]["total"] == 6
    assert results["rates"]["overall"]["final"] == results["rates"]["overall"]["provisional"]
    for d in results["rates"]["districts"]:
        assert d["final"] == d["provisional"]
    assert results["sealed"]["sha256"] == body["results_sha256"] == _canonical_sha(results)
    with transaction(fw.factory) as s:
        closure = s.get(CampaignClosure, fw.campaign_id)
        assert closure is not None
        assert hashlib.sha256(closure.results_json.encode("utf-8")).hexdigest() == closure.results_sha256
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "campaign.closed")).scalar_one()
        assert entry.details["reason"] == "样本用完" and entry.details["force"] is True
        assert entry.details["summary"]["cases_finalised"]
        # the close ends with a signed checkpoint covering all of it (the status change is its last entry)
        last = s.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
        assert last.action == "campaign.status_changed" and last.seq > entry.seq
        checkpoint = s.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
        ).scalar_one()
        assert (checkpoint.size, checkpoint.head_hash) == (last.seq, last.hash)
    # chain, ledger (the interview broken off, the call ended by the close) and checkpoint all verify
    verified = CliRunner().invoke(
        cli, ["audit", "verify"], env={"CATI_DATABASE_URL": db_url, "CATI_DATA_DIR": str(tmp_path / "data")}
    )
    assert verified.exit_code == 0, verified.output
    assert "ledger ok" in verified.output

    # frozen: the interviewer's answer and disposition are refused with the close's message
    r = c.post("/interview", {"action": "answer", "item_id": "q1", "value": 1, "version": 1})
    assert r.status_code == 409 and "已结束" in r.json()["detail"], r.text
    r = c.post("/disposition", {"code": "refusal"})
    assert r.status_code == 409 and "数据已冻结" in r.json()["detail"], r.text
    # the seat is released: wrap-up can be finished
    assert c.post("/next").status_code == 200
    # the figures no longer change and a second close is refused clearly
    again = client.get(f"/api/v1/campaigns/{fw.campaign_id}/results", headers=admin).json()
    assert again == results
    r = client.post(url, json={"reason": "again", "force": True}, headers=admin)
    assert r.status_code == 409 and "已经结束" in r.json()["detail"], r.text
    code, _out, err = cli_run(["campaign", "close", "C1", "--reason", "again"], db_url)
    assert code != 0 and "already closed" in err
    # the service doors refuse any write
    with transaction(fw.factory) as s, pytest.raises(Conflict, match="frozen"):
        cases.release_sample(s, fw.campaign_id, fw.district_ids[0], "resident", 2, now())


def test_close_ends_an_interview_whose_seat_is_gone_in_the_ledger(
    client: TestClient, fw: Fieldwork, users: Users, db_url: str, tmp_path: Path
) -> None:
    """A case still interviewing with no seat (a lost console): the close ends its interview, and the
    ledger vouches for that write (verify passes), as for every other write of the close."""
    _live_interview_and_ringing_call(client, fw, users)
    with fw.factory() as s, s.begin():  # the seat is gone: nothing points at the case any more
        s.execute(
            update(InterviewerSeat).values(
                status="offline", current_case_id=None, current_attempt_id=None, current_interview_id=None
            )
        )
    code, _out, err = cli_run(["campaign", "close", "C1", "--reason", "期满", "--force"], db_url)
    assert code == 0, err
    with transaction(fw.factory) as s:
        row = s.execute(select(Interview)).scalar_one()
        assert row.finished and row.disposition == "2.12" and not row.valid_for_scoring
    verified = CliRunner().invoke(
        cli, ["audit", "verify"], env={"CATI_DATABASE_URL": db_url, "CATI_DATA_DIR": str(tmp_path / "data")}
    )
    assert verified.exit_code == 0, verified.output


def test_close_from_the_cli(client: TestClient, fw: Fieldwork, users: Users, db_url: str) -> None:
    _live_interview_and_ringing_call(client, fw, users)
    code, out, err = cli_run(["campaign", "status", "C1", "closed"], db_url)
    assert code != 0 and "1 个访问正在进行" in err, (out, err)
    code, out, err = cli_run(["campaign", "close", "C1", "--reason", "期满"], db_url)
    assert code != 0 and "--force" in err, (out, err)
    code, out, err = cli_run(["campaign", "close", "C1", "--reason", "期满", "--force"], db_url)
    assert code == 0, err
    _assert_nothing_in_hand(fw)
    code, out, err = cli_run(["results", "show", "C1"], db_url)
    assert code == 0, err
    results = json.loads(out)
    assert results["counts"]["cases"]["open"] == 0
    assert results["rates"]["overall"]["final"] == results["rates"]["overall"]["provisional"]
    assert results["sealed"]["sha256"] == _canonical_sha(results)
    assert results["sealed"]["sha256"] in out and results["campaign"]["status"] == "closed"
    # never-dialled cases are 3.11 at close
    with transaction(fw.factory) as s:
        never = s.execute(
            select(Case.final_disposition).where(Case.campaign_id == fw.campaign_id, Case.attempts_count == 0)
        ).scalars()
        assert set(never) == {"3.11"}


def test_status_closed_without_calls_in_hand(client: TestClient, fw: Fieldwork, db_url: str) -> None:
    code, out, err = cli_run(["campaign", "status", "C1", "closed"], db_url)
    assert code == 0 and "closed" in out, err
    with transaction(fw.factory) as s:
        closure = s.get(CampaignClosure, fw.campaign_id)
        assert closure is not None and closure.summary["cases_finalised"] == {"3.11": 6}
    code, out, err = cli_run(["campaign", "status", "C1", "closed"], db_url)
    assert code != 0 and "already closed" in err


def test_the_dialer_after_close(client: TestClient, fw: Fieldwork, users: Users, db_url: str) -> None:
    """Nothing new is placed, and the PBX's late events for calls the close ended change nothing."""
    _live_interview_and_ringing_call(client, fw, users)
    code, _out, err = cli_run(["campaign", "close", "C1", "--reason", "期满", "--force"], db_url)
    assert code == 0, err
    with transaction(fw.factory) as s:
        before = {a.id: (a.outcome, a.disposition, a.ended_at) for a in s.execute(select(Attempt)).scalars()}
        assert cases.next_case(s, fw.campaign_id, now=now()) is None
        for attempt_id in before:  # the hang-up events arrive: idempotent, no error
            cases.record_call_result(s, attempt_id, outcome="answered", hangup_cause=16, now=now())
        with pytest.raises(Conflict, match="frozen"):
            cases.top_up(s, fw.campaign_id, now())
    with transaction(fw.factory) as s:
        after = {a.id: (a.outcome, a.disposition, a.ended_at) for a in s.execute(select(Attempt)).scalars()}
        assert after == before
        case = s.execute(select(Case).where(Case.campaign_id == fw.campaign_id)).scalars().first()
        assert case is not None
        with pytest.raises(Conflict, match="frozen"):
            cases.start_attempt(s, case, channel_id="x", dialling_mode="predictive", now=now(), node="t")


def test_close_waits_for_a_call_being_placed(engine: Engine, fw: Fieldwork, backend: str) -> None:
    """PostgreSQL: a dialer placing a call holds the campaign for share; the close waits, then sees it."""
    if backend != "postgresql":
        pytest.skip("SQLite write transactions are exclusive: nothing runs beside the close")
    from cati.campaigns.close import close_campaign

    outcome: dict[str, Any] = {}

    def close_in_background() -> None:
        try:
            with transaction(fw.factory) as s:
                close_campaign(s, fw.campaign_id, reason="期满", force=False, actor="admin", now=now())
            outcome["closed"] = True
        except Conflict as exc:
            outcome["refused"] = str(exc.detail)

    with transaction(fw.factory) as s:  # the dialer's hand-out transaction, still open
        case = cases.next_case(s, fw.campaign_id, now=now())
        assert case is not None
        closer = threading.Thread(target=close_in_background)
        closer.start()
        closer.join(timeout=1.0)
        assert closer.is_alive(), "the close did not wait for the call being placed"
        cases.start_attempt(s, case, channel_id="ch-1", dialling_mode="predictive", now=now(), node="t")
    closer.join(timeout=30)
    assert not closer.is_alive()
    assert "1 个呼叫未结束" in outcome.get("refused", ""), outcome
