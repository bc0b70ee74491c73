"""Recovery after a crash, driven as the interviewer and the restarted service would.

A call is delivered as the dialer delivers it; the "crash" is the restart's reconciliation with no
live channel (``recovery.reconcile``, what the dialer runs when the PBX link comes up). Then the
console API is used over HTTP as the interviewer would.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from console_support import Fieldwork, deliver_call, make_fieldwork, now
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users
from test_console_api import RATED, SCREENING, Console, cookie_console

from cati.cases import service as cases
from cati.console import recovery
from cati.console import service as console
from cati.db import transaction
from cati.models import Attempt, AuditEntry, Case, CaseStatus, Interview, InterviewerSeat, Role


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


@pytest.fixture
def iv01(users: Users) -> int:
    return users.create("iv01", Role.interviewer)


def _crash_and_restart(fw: Fieldwork) -> recovery.Recovered:
    """The restarted dialer reconciles: the PBX has no channel of the earlier run."""
    out = recovery.Recovered()
    with transaction(fw.factory) as s:
        recovery.reconcile(s, set(), now(), node="test", into=out)
    return out


def _seat(fw: Fieldwork, user_id: int) -> tuple[str, int | None, int | None]:
    with fw.factory() as s:
        seat = s.get(InterviewerSeat, user_id)
        assert seat is not None
        return seat.status, seat.current_case_id, seat.current_interview_id


def _answer(c: Console, keys: list[tuple[str, Any]]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for _item, value in keys:
        view = c.key("answer", value)
    return view


def test_a_lost_call_goes_to_wrap_up_kept_and_the_interviewer_codes_it(
    client: TestClient, fw: Fieldwork, iv01: int
) -> None:
    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, attempt_id, interview_id = deliver_call(fw, iv01)
    _answer(c, SCREENING[:2])

    out = _crash_and_restart(fw)
    assert out.closed_attempts == [attempt_id] and out.to_code == [iv01]
    assert _seat(fw, iv01) == ("wrap_up", case_id, interview_id)
    st = c.state()
    cur = st["current"]
    assert st["seat"]["status"] == "wrap_up"
    assert cur["line_dropped"] and cur["to_code"] and cur["call"]["state"] == "ended"
    assert cur["interview"]["id"] == interview_id and cur["interview"]["progress"]["answered"] == 2

    # the interviewer may not walk away from it (the case would have nobody): zh-CN first
    for path in ("/ready", "/next", "/offline"):
        r = client.post(f"/api/v1/console{path}", json={}, headers=c.headers)
        assert r.status_code == 409 and r.json()["code"] == "seat.code_call_first", r.text
        assert "对方已挂断" in r.json()["detail"]
    r = client.post("/api/v1/console/pause", json={"reason": "break"}, headers=c.headers)
    assert r.status_code == 409

    # notes may still be saved; then a callback keeps the interview for the next call
    st = c.post("/disposition", {"code": "callback"})
    assert st["seat"]["status"] == "wrap_up" and not st["current"]["to_code"]
    st = c.post("/next")
    assert st["seat"]["status"] == "ready"
    with fw.factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.scheduled.value
        row = s.get(Interview, interview_id)
        assert row is not None and not row.finished  # resumable on the next call
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None and attempt.ended_at is not None and attempt.disposition == "2.35"
        dropped = s.execute(select(AuditEntry).where(AuditEntry.action == "seat.line_dropped")).scalar_one()
        assert dropped.details["interview_id"] == interview_id


def test_a_complete_on_answers_saved_after_the_drop_needs_the_audited_choice(
    client: TestClient, fw: Fieldwork, iv01: int
) -> None:
    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, _attempt_id, _ = deliver_call(fw, iv01)
    _answer(c, SCREENING)
    _crash_and_restart(fw)
    # the interviewer goes on typing after the line dropped: saves are accepted (notes) ...
    for item_id in RATED:
        c.key("answer", 2 if item_id != "q7" else 1)
    view = c.key("answer", "路灯")
    assert view["disposition"] == "1.1"
    assert c.state()["current"]["saved_after_drop"] == len(RATED) + 1
    # ... but not recorded as a complete without saying how it was completed
    r = client.post("/api/v1/console/disposition", json={"code": "complete"}, headers=c.headers)
    assert r.status_code == 409 and r.json()["code"] == "disposition.line_dropped"
    assert "对方已挂断" in r.json()["detail"]
    r = client.post("/api/v1/console/disposition?lang=en", json={"code": "partial"}, headers=c.headers)
    assert r.status_code == 409 and "line dropped" in r.json()["detail"]
    st = c.post("/disposition", {"code": "complete", "completed_elsewhere": True})
    assert st["seat"]["status"] == "wrap_up" and st["shift"]["completes"] == 1
    with fw.factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.final_disposition == "1.1"
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "console.disposition")).scalar_one()
        assert entry.details["completed_elsewhere"] is True and entry.details["line_dropped_at"]


def test_a_break_off_after_the_drop_is_not_counted_as_complete(
    client: TestClient, fw: Fieldwork, iv01: int
) -> None:
    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, _, interview_id = deliver_call(fw, iv01)
    _answer(c, SCREENING)
    _crash_and_restart(fw)
    for item_id in RATED:
        c.key("answer", 2 if item_id != "q7" else 1)
    c.post("/disposition", {"code": "break_off"})
    with fw.factory() as s:
        row = s.get(Interview, interview_id)
        assert row is not None and row.disposition == "2.12" and not row.valid_for_scoring
        case = s.get(Case, case_id)
        assert case is not None and case.last_disposition == "2.12"


def test_a_call_nobody_codes_is_coded_after_the_timeout(client: TestClient, fw: Fieldwork, iv01: int) -> None:
    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, _, interview_id = deliver_call(fw, iv01)
    _answer(c, SCREENING[:1])
    _crash_and_restart(fw)
    early = recovery.sweep(fw.factory, lambda: now() + dt.timedelta(seconds=30), code_after_s=600)
    assert early.auto_coded == [] and _seat(fw, iv01)[0] == "wrap_up"
    late = recovery.sweep(fw.factory, lambda: now() + dt.timedelta(seconds=700), code_after_s=600)
    assert late.auto_coded == [iv01]
    st = c.state()
    assert st["seat"]["status"] == "wrap_up" and not st["current"]["to_code"]
    assert c.post("/next")["seat"]["status"] == "ready"
    with fw.factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.scheduled.value
        assert case.last_disposition == "2.35"  # still asking: callback, the interview kept
        row = s.get(Interview, interview_id)
        assert row is not None and not row.finished
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "console.disposition")).scalar_one()
        assert entry.actor == console.AUTO_CODER and entry.details["choice"] == "callback"


def test_an_on_call_seat_left_by_a_crash_is_freed_by_the_sweep_and_a_stranded_case_rescheduled(
    client: TestClient, fw: Fieldwork, iv01: int
) -> None:
    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, attempt_id, _ = deliver_call(fw, iv01)
    # the call's end was written but the seat never heard of it (a crash between the two)
    with transaction(fw.factory) as s:
        cases.record_call_result(s, attempt_id, outcome="lost", now=now())
    out = recovery.sweep(fw.factory, now, code_after_s=600)
    assert out.to_code == [iv01] and _seat(fw, iv01)[0] == "wrap_up"
    # a case left interviewing with no seat and no open attempt (a seat cleared by hand)
    with transaction(fw.factory) as s:
        seat = s.get(InterviewerSeat, iv01)
        assert seat is not None
        seat.status, seat.current_case_id, seat.current_attempt_id = "ready", None, None
        seat.current_interview_id = None
    out = recovery.sweep(fw.factory, now, code_after_s=600)
    assert out.stranded == [case_id]
    with fw.factory() as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == CaseStatus.scheduled.value
        assert cases.stranded_cases(s) == []


def test_reconciliation_locks_the_seat_before_the_case_no_deadlock_with_the_console(
    client: TestClient, fw: Fieldwork, iv01: int, engine: Engine, backend: str
) -> None:
    """The console holds the seat and then wants the case (coding a call) while the restart's
    reconciliation closes the same call: with the seat locked first by both, reconciliation waits;
    with the case first (the old order) PostgreSQL detects a deadlock and one of them fails."""
    if backend != "postgresql":
        pytest.skip("row locks: SQLite serialises whole transactions")
    import threading

    from sqlalchemy import text

    c = cookie_console(client, "iv01")
    c.post("/ready")
    case_id, attempt_id, _ = deliver_call(fw, iv01)
    errors: list[BaseException] = []
    out = recovery.Recovered()

    def reconcile() -> None:
        try:
            with transaction(fw.factory) as s:
                recovery.reconcile(s, set(), now(), node="test", into=out)
        except BaseException as exc:
            errors.append(exc)

    with transaction(fw.factory) as a:
        console.lock_seat(a, iv01, create=False)  # the console: the seat first ...
        worker = threading.Thread(target=reconcile)
        worker.start()
        with engine.connect() as watch:  # ... until reconciliation waits on a row lock
            for _ in range(500):
                waiting = watch.execute(
                    text(
                        "select count(*) from pg_stat_activity"
                        " where wait_event_type = 'Lock' and datname = current_database()"
                    )
                ).scalar_one()
                if waiting:
                    break
                watch.rollback()
                threading.Event().wait(0.01)
            assert waiting, "reconciliation never waited for the seat"
        try:
            cases._lock_case(a, case_id)  # ... then the case, as record_disposition does
        except BaseException as exc:
            errors.append(exc)
    worker.join(timeout=30)
    assert errors == []
    assert out.closed_attempts == [attempt_id]
