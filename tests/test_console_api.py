"""The console API driven as an interviewer would: cookie login + CSRF header, or a bearer token.

Calls are delivered the way the dialing loop delivers them (pick a ready seat, hand out a case,
open an attempt, reserve, connect) through ``cati.console.service``.
"""

from __future__ import annotations

from typing import Any

import pytest
from console_support import Fieldwork, browser_login, deliver_call, make_fieldwork
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users

from cati.app import create_app
from cati.db import transaction
from cati.models import AnswerEvent, Attempt, AuditEntry, Case, Interview, InterviewerSeat, QuotaCell, Role
from cati.settings import Settings

#: Keys for a resident who passes screening: home line, age 45, lives in the district.
SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]


class Console:
    """One interviewer's console over HTTP (cookie + CSRF, or bearer)."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = self.client.post(f"/api/v1/console{path}", json=body or {}, headers=self.headers)
        assert r.status_code == status, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def state(self) -> Any:
        r = self.client.get("/api/v1/console/state", headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()

    def key(self, action: str, value: Any = None, status: int = 200, version: int | None = None) -> Any:
        iv = self.state()["current"]["interview"]
        body = {
            "action": action,
            "item_id": iv["item"]["id"] if iv["item"] else None,
            "value": value,
            "version": iv["version"] if version is None else version,
        }
        return self.post("/interview", body, status)


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


@pytest.fixture
def iv01(users: Users) -> int:
    return users.create("iv01", Role.interviewer)


def cookie_console(client: TestClient, username: str) -> Console:
    csrf = browser_login(client, username)
    return Console(client, {"X-CSRF-Token": csrf})


def _answer_through(c: Console, keys: list[tuple[str, Any]]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for item_id, value in keys:
        assert c.state()["current"]["interview"]["item"]["id"] == item_id
        view = c.key("answer", value)
    return view


def test_a_whole_interview_by_cookie_session(
    client: TestClient, fw: Fieldwork, iv01: int, engine: Engine
) -> None:
    c = cookie_console(client, "iv01")
    # without the CSRF header a state change is refused
    assert client.post("/api/v1/console/ready", json={}).status_code == 403
    st = c.post("/ready")
    assert st["seat"]["status"] == "ready" and st["shift"]["calls"] == 0
    assert st["campaign"]["id"] == fw.campaign_id and st["current"] is None

    case_id, attempt_id, interview_id = deliver_call(fw, iv01)
    st = c.state()
    assert st["seat"]["status"] == "on_call" and st["shift"]["calls"] == 1
    cur = st["current"]
    assert cur["case_id"] == case_id and cur["call"]["state"] == "connected"
    assert cur["district"]["code"] == "D0" and cur["stratum"] == "resident"
    iv = cur["interview"]
    assert iv["id"] == interview_id and iv["item"]["id"] == "s_line" and iv["section"] == "screening"
    assert iv["script"]["introduction"]["zh"].startswith("您好")

    _answer_through(c, SCREENING)
    for item_id in RATED:
        view = c.key("answer", 2 if item_id != "q7" else 1)
        assert view["answers"][-1]["item_id"] == item_id
    assert view["item"]["id"] == "suggestions" and view["section"] == "open"
    view = c.key("answer", "路灯坏了很久没人修")
    assert view["state"] == "completed" and view["valid_for_scoring"] and view["disposition"] == "1.1"

    st = c.post("/disposition", {"code": "complete"})
    assert st["seat"]["status"] == "wrap_up" and st["shift"]["completes"] == 1
    st = c.post("/next")
    assert st["seat"]["status"] == "ready" and st["current"] is None

    with transaction(fw.factory) as s:
        row = s.get(Interview, interview_id)
        assert row is not None and row.finished and row.valid_for_scoring and row.disposition == "1.1"
        assert (
            row.score_row is not None
            and row.score_row["q7"] == "good"
            and row.score_row["q1"] == "fairly_good"
        )
        assert row.problems_text == "路灯坏了很久没人修"
        case = s.get(Case, case_id)
        assert case is not None and case.status == "finalised" and case.final_disposition == "1.1"
        cell = s.execute(
            select(QuotaCell).where(
                QuotaCell.district_id == case.district_id, QuotaCell.stratum == "resident"
            )
        ).scalar_one()
        assert cell.completes == 1
        attempt = s.get(Attempt, attempt_id)
        assert attempt is not None and attempt.ended_at is not None and attempt.disposition == "1.1"
        # every answer was logged as given: 3 screening + 11 rated + the open question
        events = (
            s.execute(select(AnswerEvent).where(AnswerEvent.interview_id == interview_id)).scalars().all()
        )
        assert [e.item_id for e in events if e.kind == "answer"] == [
            "s_line",
            "s_age",
            "s_tie",
            *RATED,
            "suggestions",
        ]
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
        assert (
            "interview.started" in actions and "console.disposition" in actions and "shift.started" in actions
        )


def test_bearer_back_stale_version_and_bad_values(
    client: TestClient, fw: Fieldwork, iv01: int, users: Users
) -> None:
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    deliver_call(fw, iv01)
    v0 = c.state()["current"]["interview"]["version"]
    c.key("answer", 1)  # s_line
    # a second tab still showing version v0 is refused, and nothing changes
    r = c.post("/interview", {"action": "answer", "item_id": "s_age", "value": 30, "version": v0}, 409)
    assert r["code"] == "interview.stale_version" and "其他窗口" in r["detail"]
    # an answer for another item than the current one (double-submitted form) is a conflict
    iv = c.state()["current"]["interview"]
    c.post("/interview", {"action": "answer", "item_id": "s_line", "value": 1, "version": iv["version"]}, 409)
    # an age out of the instrument's bounds is a clear 422, never a 500
    r = c.key("answer", 500, status=422)
    assert r["code"] == "answer.out_of_range" and "0–120" in r["detail"] and "s_age" not in r["detail"]
    r = c.post("/interview", {"action": "fly", "version": iv["version"]}, 422)
    # screening items cannot be refused
    c.key("refuse", status=409)
    c.key("answer", 45)
    assert c.state()["current"]["interview"]["item"]["id"] == "s_tie"
    view = c.key("back")
    assert view["item"]["id"] == "s_age" and view["current_answer"]["value"] == 45
    view = c.key("answer", 52)
    assert view["item"]["id"] == "s_tie"
    # refuse and don't know on rated items
    c.key("answer", 1)
    c.key("refuse")
    view = c.key("dont_know")
    assert [a["status"] for a in view["answers"][-2:]] == ["refused", "dont_know"]


def test_wrong_roles_and_anonymous(client: TestClient, fw: Fieldwork, users: Users) -> None:
    users.create("sup", Role.supervisor)
    users.create("wit", Role.witness)
    assert client.post("/api/v1/console/ready", json={}).status_code == 401
    assert client.get("/api/v1/console/state").status_code == 401
    sup = users.bearer("sup")
    assert client.post("/api/v1/console/ready", json={}, headers=sup).status_code == 403
    assert client.get("/api/v1/console/state", headers=sup).status_code == 200  # supervisors may read
    assert client.get("/api/v1/console/state", headers=users.bearer("wit")).status_code == 403
    assert client.get("/console", headers=sup).status_code == 403


def test_phone_is_masked_except_the_last_digits(settings: Settings, engine: Engine, users: Users) -> None:
    settings.phone_visible_digits = 2
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        fw = make_fieldwork(engine)
        uid = users.create("iv01", Role.interviewer)
        c = Console(client, users.bearer("iv01"))
        c.post("/ready")
        case_id, _, _ = deliver_call(fw, uid)
        with transaction(fw.factory) as s:
            case = s.get(Case, case_id)
            assert case is not None
            number = case.phone_number
        r = client.get("/api/v1/console/state", headers=c.headers)
        assert number not in r.text and number[:-2] not in r.text
        masked = r.json()["current"]["phone_masked"]
        assert masked == "*" * (len(number) - 2) + number[-2:]


def test_reload_resumes_exactly_where_the_interview_was(
    settings: Settings, engine: Engine, users: Users
) -> None:
    fw = make_fieldwork(engine)
    uid = users.create("iv01", Role.interviewer)
    with TestClient(create_app(settings), raise_server_exceptions=False) as first:
        csrf = browser_login(first, "iv01")
        c = Console(first, {"X-CSRF-Token": csrf})
        c.post("/ready")
        deliver_call(fw, uid)
        _answer_through(c, SCREENING)
        c.key("answer", 3)  # overall
        before = c.state()["current"]["interview"]
        cookies = dict(first.cookies)
    # the browser crashed; a new client (and a new app process) with the same session cookie
    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        second.cookies.update(cookies)
        page = second.get("/console")
        assert page.status_code == 200 and 'name="csrf-token"' in page.text
        after = Console(second, {"X-CSRF-Token": csrf}).state()["current"]["interview"]
        assert after["item"]["id"] == "q1" and after["version"] == before["version"]
        assert after["answers"] == before["answers"]
        view = Console(second, {"X-CSRF-Token": csrf}).key("answer", 1)
        assert view["answers"][-1] == {**view["answers"][-1], "item_id": "q1", "value": 1}


@pytest.mark.parametrize(
    ("choice", "aapor", "final"),
    [
        ("refusal", "2.111", False),
        ("answering_machine", "3.14", False),
        ("fax", "4.20", True),
        ("business", "4.51", True),
        ("non_working", "4.31", True),
        ("language", "2.33", True),
        ("no_eligible", "4.70", True),
    ],
)
def test_disposition_mapping(
    client: TestClient, fw: Fieldwork, iv01: int, users: Users, choice: str, aapor: str, final: bool
) -> None:
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    case_id, attempt_id, interview_id = deliver_call(fw, iv01)
    st = c.post("/disposition", {"code": choice})
    assert st["seat"]["status"] == "wrap_up"
    with transaction(fw.factory) as s:
        case = s.get(Case, case_id)
        attempt = s.get(Attempt, attempt_id)
        row = s.get(Interview, interview_id)
        assert case is not None and attempt is not None and row is not None
        assert attempt.disposition == aapor and attempt.ended_at is not None
        assert case.last_disposition == aapor
        assert (case.status == "finalised") is final
        assert row.finished and row.disposition == aapor and not row.valid_for_scoring


def test_complete_only_when_finished_and_valid_and_screened_out_takes_the_engine_code(
    client: TestClient, fw: Fieldwork, iv01: int, users: Users
) -> None:
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    case_id, _, _ = deliver_call(fw, iv01)
    r = c.post("/disposition", {"code": "complete"}, 409)
    assert "不是完成访问" in r["detail"] and "all-rated/1" in r["detail"]
    c.post("/disposition", {"code": "screened_out"}, 409)
    c.post("/disposition", {"code": "teleported"}, 422)
    c.key("answer", 2)  # business line in the evening -> screened out, 4.51
    st = c.post("/disposition", {"code": "screened_out"})
    assert st["seat"]["status"] == "wrap_up"
    with transaction(fw.factory) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.final_disposition == "4.51"


def test_appointment_with_date_note_and_same_interviewer_then_resume(
    client: TestClient, fw: Fieldwork, iv01: int, users: Users
) -> None:
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    case_id, _, interview_id = deliver_call(fw, iv01)
    _answer_through(c, SCREENING)
    c.key("answer", 1)  # overall
    c.post("/disposition", {"code": "appointment"}, 422)  # needs a time
    c.post("/disposition", {"code": "appointment", "appointment_at": "yesterday"}, 422)
    c.post("/disposition", {"code": "appointment", "appointment_at": "2020-01-01T10:00"}, 422)  # past
    st = c.post(
        "/disposition",
        {
            "code": "appointment",
            "appointment_at": "2099-05-06T19:30",
            "note": "晚上七点半后方便",
            "same_interviewer": True,
        },
    )
    assert st["seat"]["status"] == "wrap_up"
    with transaction(fw.factory) as s:
        case = s.get(Case, case_id)
        assert case is not None and case.status == "scheduled"
        assert case.appointment_interviewer_id == iv01 and case.appointment_note == "晚上七点半后方便"
        at = case.appointment_at
        assert at is not None and (at.hour, at.minute) == (11, 30)  # 19:30 in Shanghai = 11:30 UTC
        row = s.get(Interview, interview_id)
        assert row is not None and not row.finished  # kept to be resumed
        case.appointment_at = at.replace(year=2000)  # the agreed time has come
        case.next_call_at = case.appointment_at
    c.post("/next")
    case_id2, _, interview_id2 = deliver_call(fw, iv01)
    assert (case_id2, interview_id2) == (case_id, interview_id)
    st = c.state()
    assert st["current"]["interview"]["item"]["id"] == "q1"
    assert st["current"]["appointment"]["note"] == "晚上七点半后方便"


def test_seat_moves_pause_offline_and_shift_figures(
    client: TestClient, fw: Fieldwork, iv01: int, users: Users, engine: Engine
) -> None:
    c = Console(client, users.bearer("iv01"))
    assert c.state()["seat"]["status"] == "offline"
    c.post("/pause", {"reason": "sleeping"}, 422)
    st = c.post("/pause", {"reason": "meal"})
    assert st["seat"] == {**st["seat"], "status": "paused", "pause_reason": "meal"}
    c.post("/ready")
    deliver_call(fw, iv01)
    c.post("/pause", {"reason": "break"}, 409)  # not during a call
    c.post("/offline", status=409)
    c.post("/next", status=409)
    st = c.post("/hangup")
    assert st["current"]["call"]["state"] == "ended" and st["seat"]["status"] == "on_call"
    c.post("/hangup", status=200)  # already down: harmless
    st = c.post("/disposition", {"code": "no_screener"})
    assert st["shift"]["calls"] == 1 and st["shift"]["completes"] == 0 and st["shift"]["talk_seconds"] >= 0
    st = c.post("/pause", {"reason": "training"})
    assert st["seat"]["status"] == "paused" and st["current"] is None
    st = c.post("/offline")
    assert st["seat"]["status"] == "offline" and st["shift"]["calls"] == 1
    with transaction(fw.factory) as s:
        seat = s.get(InterviewerSeat, iv01)
        assert seat is not None and seat.current_case_id is None


def test_preview_mode_shows_the_case_then_the_interviewer_dials(
    client: TestClient, engine: Engine, users: Users
) -> None:
    fw = make_fieldwork(engine, mode="preview")
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    c.post("/preview/next", status=409)  # not ready yet
    c.post("/ready")
    st = c.post("/preview/next")
    cur = st["current"]
    assert st["seat"]["status"] == "reserved" and cur["call"]["state"] == "preview"
    assert cur["interview"] is None and cur["phone_masked"].startswith("*")
    # no dialer is running in this app: the call cannot be placed, said clearly
    r = c.post("/preview/dial", status=409)
    assert r["code"] == "preview.dialer_unavailable" and "无法拨出" in r["detail"]
    # skipping the preview to take a break hands the case back to the queue
    st = c.post("/pause", {"reason": "break"})
    with transaction(fw.factory) as s:
        case = s.get(Case, cur["case_id"])
        assert case is not None and case.status == "pending"
    assert uid


class FakeDialer:
    """A dialer that places the previewed call (opens the attempt) as the real one would."""

    def __init__(self, fw: Fieldwork) -> None:
        self.fw = fw
        self.hung_up: list[int] = []
        self.woken: list[int | None] = []

    async def dial_preview(self, *, user_id: int, case_id: int) -> int:
        import uuid

        from console_support import now

        from cati.cases import service as cases

        with transaction(self.fw.factory) as s:
            case = s.get(Case, case_id)
            assert case is not None
            a = cases.start_attempt(
                s,
                case,
                channel_id=uuid.uuid4().hex,
                dialling_mode="preview",
                interviewer_id=user_id,
                now=now(),
                node="fake",
            )
            return a.id

    async def hangup(self, attempt_id: int) -> None:
        self.hung_up.append(attempt_id)

    def wake(self, campaign_id: int | None = None) -> None:
        self.woken.append(campaign_id)

    def status(self) -> dict[str, Any]:
        return {"running": True}


def test_preview_dial_through_the_dialer_then_connect(
    client: TestClient, engine: Engine, users: Users
) -> None:
    fw = make_fieldwork(engine, mode="preview")
    uid = users.create("iv01", Role.interviewer)
    dialer = FakeDialer(fw)
    client.app.state.dialer = dialer  # type: ignore[attr-defined]
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    assert dialer.woken  # ready wakes the pacer
    case_id = c.post("/preview/next")["current"]["case_id"]
    st = c.post("/preview/dial")
    assert st["current"]["call"]["state"] == "dialling" and st["seat"]["status"] == "reserved"
    attempt_id = st["current"]["attempt_id"]
    from console_support import now

    from cati.console import service as console

    with transaction(fw.factory) as s:
        console.connect_call(s, user_id=uid, case_id=case_id, attempt_id=attempt_id, now=now())
    st = c.state()
    assert st["seat"]["status"] == "on_call" and st["current"]["interview"]["item"]["id"] == "s_line"
    c.post("/disposition", {"code": "refusal"})
    assert dialer.hung_up == [attempt_id]  # coding an open call hangs it up


def test_live_events_carry_the_full_state_and_follow_changes(
    settings: Settings, engine: Engine, users: Users
) -> None:
    import threading
    import time

    settings.sse_max_seconds = 2.0
    make_fieldwork(engine)
    users.create("iv01", Role.interviewer)
    headers = users.bearer("iv01")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        got: dict[str, Any] = {}

        def listen() -> None:
            r = client.get("/api/v1/console/events", headers=headers)
            got["status"], got["type"], got["text"] = r.status_code, r.headers["content-type"], r.text

        t = threading.Thread(target=listen)
        t.start()
        time.sleep(0.5)
        assert client.post("/api/v1/console/ready", json={}, headers=headers).status_code == 200
        t.join(timeout=10)
        assert not t.is_alive()
    assert got["status"] == 200 and got["type"].startswith("text/event-stream")
    import json

    states = [
        json.loads(line[len("data: ") :]) for line in got["text"].splitlines() if line.startswith("data: ")
    ]
    assert "event: state" in got["text"] and len(states) >= 2
    assert states[0]["seat"]["status"] == "offline" and states[-1]["seat"]["status"] == "ready"
    assert states[-1]["interviewer"]["username"] == "iv01" and states[-1]["dispositions"]
