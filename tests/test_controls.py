"""The supervisor's controls over HTTP: pause/resume dialling (campaign, district), close/reopen a
quota cell, switch the pacing mode, log out a seat; audited, refused after close, bilingual errors."""

from __future__ import annotations

from typing import Any

import pytest
from console_support import Fieldwork, deliver_call, make_fieldwork, now
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users

from cati.cases import service as cases
from cati.db import transaction
from cati.models import (
    AuditEntry,
    Campaign,
    Case,
    District,
    ExchangePrefix,
    InterviewerSeat,
    QuotaCell,
    Role,
)


class Sup:
    """A supervisor's control calls."""

    def __init__(self, client: TestClient, headers: dict[str, str], campaign_id: int) -> None:
        self.client, self.headers, self.base = client, headers, f"/api/v1/campaigns/{campaign_id}/controls"

    def post(self, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
        r = self.client.post(self.base + path, json=body if body is not None else {}, headers=self.headers)
        assert r.status_code == status, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def state(self) -> Any:
        r = self.client.get(self.base, headers=self.headers)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    """Two districts (D0 from make_fieldwork, D1 added), resident numbers released in both."""
    fw = make_fieldwork(engine, count=4)
    with transaction(fw.factory) as s:
        d1 = District(campaign_id=fw.campaign_id, code="D1", name_zh="区1", suffix_digits=4)
        s.add(d1)
        s.flush()
        s.add(ExchangePrefix(campaign_id=fw.campaign_id, district_id=d1.id, prefix="1391"))
        for stratum in ("staff", "resident"):
            s.add(QuotaCell(campaign_id=fw.campaign_id, district_id=d1.id, stratum=stratum, target=150))
        s.flush()
        cases.release_sample(s, fw.campaign_id, d1.id, "resident", 4, now())
        fw.district_ids.append(d1.id)
    return fw


@pytest.fixture
def sup(client: TestClient, users: Users, fw: Fieldwork) -> Sup:
    users.create("sup", Role.supervisor)
    return Sup(client, users.bearer("sup"), fw.campaign_id)


def _hand_out_districts(fw: Fieldwork) -> set[str]:
    """Every district the hand-out still gives a case from (rolled back: nothing is kept)."""
    seen: set[str] = set()
    s = fw.factory()
    try:
        while (c := cases.next_case(s, fw.campaign_id, now=now())) is not None:
            d = s.get(District, c.district_id)
            assert d is not None
            seen.add(d.code)
    finally:
        s.rollback()
        s.close()
    return seen


def _audits(fw: Fieldwork, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    with fw.factory() as s:
        rows = s.execute(
            select(AuditEntry).where(AuditEntry.action.like(prefix + "%")).order_by(AuditEntry.id)
        ).scalars()
        return [(e.actor, e.action, e.details) for e in rows]


def test_only_supervisors_and_admins_use_the_controls(
    client: TestClient, users: Users, fw: Fieldwork
) -> None:
    base = f"/api/v1/campaigns/{fw.campaign_id}/controls"
    assert client.post(base + "/pause", json={"reason": "x"}).status_code == 401
    for name, role in (("iv", Role.interviewer), ("wit", Role.witness), ("ass", Role.assessor)):
        users.create(name, role)
        h = users.bearer(name)
        assert client.post(base + "/pause", json={"reason": "x"}, headers=h).status_code == 403
        assert client.get(base, headers=h).status_code == 403
    users.create("adm", Role.admin)
    r = client.post(base + "/pause", json={"reason": "管理员暂停"}, headers=users.bearer("adm"))
    assert r.status_code == 200 and r.json()["paused"] is True
    assert client.get("/api/v1/campaigns/99999/controls", headers=users.bearer("adm")).status_code == 404


def test_pausing_a_district_stops_its_hand_out_until_resumed(sup: Sup, fw: Fieldwork) -> None:
    assert _hand_out_districts(fw) == {"D0", "D1"}
    r = sup.post("/districts/D0/pause", {"reason": ""}, status=422)
    assert "理由" in r["detail"] and "reason" in r["detail"]
    sup.post("/districts/D9/pause", {"reason": "x"}, status=404)
    st = sup.post("/districts/D0/pause", {"reason": "区政府来电要求暂停"})
    assert [(d["code"], d["paused"]) for d in st["districts"]] == [("D0", True), ("D1", False)]
    assert st["districts"][0]["paused_reason"] == "区政府来电要求暂停"
    again = sup.post("/districts/D0/pause", {"reason": "x"}, status=409)
    assert "已暂停" in again["detail"]
    assert _hand_out_districts(fw) == {"D1"}
    sup.post("/districts/D0/resume")
    assert _hand_out_districts(fw) == {"D0", "D1"}
    sup.post("/districts/D0/resume", status=409)
    assert [(a, act, d["district"], d["reason"]) for a, act, d in _audits(fw, "controls.district")] == [
        ("sup", "controls.district_paused", "D0", "区政府来电要求暂停"),
        ("sup", "controls.district_resumed", "D0", ""),
    ]


def test_pausing_the_campaign_stops_preview_too(
    client: TestClient, users: Users, sup: Sup, fw: Fieldwork
) -> None:
    with transaction(fw.factory) as s:
        s.get_one(Campaign, fw.campaign_id).dialling_mode = "preview"
    users.create("iv01", Role.interviewer)
    iv = users.bearer("iv01")
    assert client.post("/api/v1/console/ready", json={}, headers=iv).status_code == 200
    sup.post("/pause", {"reason": "系统检查"})
    assert _hand_out_districts(fw) == set()
    r = client.post("/api/v1/console/preview/next", json={}, headers=iv)
    assert r.status_code == 200 and r.json()["current"] is None  # no case handed out while paused
    sup.post("/resume")
    r = client.post("/api/v1/console/preview/next", json={}, headers=iv)
    assert r.status_code == 200 and r.json()["current"] is not None
    assert [act for _, act, _ in _audits(fw, "controls.dialling")] == [
        "controls.dialling_paused",
        "controls.dialling_resumed",
    ]


def test_closing_a_quota_cell_by_hand_and_reopening_only_if_not_full(sup: Sup, fw: Fieldwork) -> None:
    sup.post("/quota-cells/D1/resident/close", {"reason": ""}, status=422)
    r = sup.post("/quota-cells/D1/elderly/close", {"reason": "x"}, status=422)
    assert "层别" in r["detail"]
    st = sup.post("/quota-cells/D1/resident/close", {"reason": "该区样本质量存疑"})
    cell = next(c for c in st["districts"][1]["cells"] if c["stratum"] == "resident")
    assert cell["closed"] is True and cell["full"] is False
    assert _hand_out_districts(fw) == {"D0"}
    # no top-up for a closed cell either
    with transaction(fw.factory) as s:
        released = cases.top_up(s, fw.campaign_id, now())
        assert all(r.district_id != fw.district_ids[1] or r.stratum != "resident" for r in released)
    sup.post("/quota-cells/D1/resident/reopen")
    assert _hand_out_districts(fw) == {"D0", "D1"}
    # a full cell closed by hand stays closed
    sup.post("/quota-cells/D0/resident/close", {"reason": "满额前关闭"})
    with transaction(fw.factory) as s:
        c = s.execute(
            select(QuotaCell).where(
                QuotaCell.district_id == fw.district_ids[0], QuotaCell.stratum == "resident"
            )
        ).scalar_one()
        c.completes = c.target
    r = sup.post("/quota-cells/D0/resident/reopen", status=409)
    assert "配额已满" in r["detail"] and "full" in r["detail"]
    actions = [(act, d["district"], d["stratum"]) for _, act, d in _audits(fw, "controls.quota_cell")]
    assert actions == [
        ("controls.quota_cell_closed", "D1", "resident"),
        ("controls.quota_cell_reopened", "D1", "resident"),
        ("controls.quota_cell_closed", "D0", "resident"),
    ]


def test_switching_the_pacing_mode(sup: Sup, fw: Fieldwork) -> None:
    sup.post("/pacing", {"mode": "predictive", "reason": ""}, status=422)
    r = sup.post("/pacing", {"mode": "turbo", "reason": "x"}, status=422)
    assert "拨号模式" in r["detail"]
    sup.post("/pacing", {"mode": "progressive", "reason": "x"}, status=409)
    st = sup.post("/pacing", {"mode": "predictive", "reason": "坐席充足"})
    assert st["dialling_mode"] == "predictive"
    with fw.factory() as s:
        assert s.get_one(Campaign, fw.campaign_id).dialling_mode == "predictive"
    ((actor, _, details),) = _audits(fw, "controls.pacing")
    assert actor == "sup" and details["from"] == "progressive" and details["to"] == "predictive"


def test_logging_out_a_seat(client: TestClient, users: Users, sup: Sup, fw: Fieldwork) -> None:
    uid = users.create("iv01", Role.interviewer)
    iv = users.bearer("iv01")
    sup.post(f"/seats/{uid}/logout", {"reason": "x"}, status=404)  # no seat yet
    assert client.post("/api/v1/console/ready", json={}, headers=iv).status_code == 200
    sup.post(f"/seats/{uid}/logout", {"reason": ""}, status=422)
    # on a call: refused with a clear message, nothing changes
    deliver_call(fw, uid)
    r = sup.post(f"/seats/{uid}/logout", {"reason": "离开座位"}, status=409)
    assert "通话" in r["detail"] and "on a call" in r["detail"]
    with fw.factory() as s:
        assert s.get_one(InterviewerSeat, uid).status == "on_call"
    # a ready seat goes offline at once, and the console shows it
    with transaction(fw.factory) as s:  # the interview is put aside for this test: seat back to ready
        seat = s.get_one(InterviewerSeat, uid)
        seat.status, seat.current_case_id, seat.current_attempt_id, seat.current_interview_id = (
            "ready",
            None,
            None,
            None,
        )
    out = sup.post(f"/seats/{uid}/logout", {"reason": "访问员已离开"})
    assert out == {"user_id": uid, "username": "iv01", "status": "offline", "was": "ready"}
    st = client.get("/api/v1/console/state", headers=iv).json()
    assert st["seat"]["status"] == "offline"
    sup.post(f"/seats/{uid}/logout", {"reason": "again"}, status=409)
    ((actor, _, details),) = _audits(fw, "seat.logged_out")
    assert actor == "sup" and details["reason"] == "访问员已离开" and details["from"] == "ready"


def test_a_previewed_case_goes_back_when_the_seat_is_logged_out(
    client: TestClient, users: Users, sup: Sup, fw: Fieldwork
) -> None:
    with transaction(fw.factory) as s:
        s.get_one(Campaign, fw.campaign_id).dialling_mode = "preview"
    uid = users.create("iv01", Role.interviewer)
    iv = users.bearer("iv01")
    client.post("/api/v1/console/ready", json={}, headers=iv)
    case_id = client.post("/api/v1/console/preview/next", json={}, headers=iv).json()["current"]["case_id"]
    assert sup.post(f"/seats/{uid}/logout", {"reason": "离开"})["was"] == "reserved"
    with fw.factory() as s:
        assert s.get_one(Case, case_id).status == "pending"
        assert s.get_one(InterviewerSeat, uid).current_case_id is None


def test_every_control_is_refused_after_close(
    client: TestClient, users: Users, sup: Sup, fw: Fieldwork
) -> None:
    uid = users.create("iv01", Role.interviewer)
    client.post("/api/v1/console/ready", json={}, headers=users.bearer("iv01"))
    with transaction(fw.factory) as s:
        s.get_one(Campaign, fw.campaign_id).status = "closed"
    for path, body in (
        ("/pause", {"reason": "x"}),
        ("/districts/D0/pause", {"reason": "x"}),
        ("/quota-cells/D0/resident/close", {"reason": "x"}),
        ("/pacing", {"mode": "predictive", "reason": "x"}),
        (f"/seats/{uid}/logout", {"reason": "x"}),
    ):
        r = sup.post(path, body, status=409)
        assert "已结束" in r["detail"] and r["code"] == "campaign.closed", path
    assert _audits(fw, "controls.") == []
    assert sup.state()["status"] == "closed"


def test_a_control_that_fails_midway_leaves_nothing_behind(
    sup: Sup, fw: Fieldwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flag and its audit entry are one transaction: a failure after the flag is set leaves neither."""
    from cati.controls import service as controls

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(controls.audit, "record", broken)
    r = sup.client.post(sup.base + "/districts/D0/pause", json={"reason": "x"}, headers=sup.headers)
    assert r.status_code == 500 and "disk full" not in r.text  # no traceback for the user
    with fw.factory() as s:
        d0 = s.execute(select(District).where(District.code == "D0")).scalar_one()
        assert d0.dialling_paused_at is None and d0.dialling_paused_reason is None
    monkeypatch.undo()
    assert sup.state()["districts"][0]["paused"] is False
    assert _hand_out_districts(fw) == {"D0", "D1"}


class _WakeRecorder:
    """Stands in for the dialing loop; only records wake-ups."""

    def __init__(self) -> None:
        self.woken: list[int | None] = []

    def wake(self, campaign_id: int | None = None) -> None:
        self.woken.append(campaign_id)


def test_the_dialer_is_woken_after_a_resume_reopen_or_pacing_switch_only(
    client: TestClient, sup: Sup, fw: Fieldwork
) -> None:
    """Resuming, reopening a cell and switching the pacing take effect at once (the dialing loop is
    woken after the commit); pausing, closing and logging out do not wake it."""
    recorder = _WakeRecorder()
    client.app.state.dialer = recorder  # type: ignore[attr-defined]
    why = {"reason": "测试"}
    sup.post("/pause", why)
    sup.post("/districts/D0/pause", why)
    sup.post("/quota-cells/D1/resident/close", why)
    assert recorder.woken == []
    sup.post("/resume", why)
    sup.post("/districts/D0/resume", why)
    sup.post("/quota-cells/D1/resident/reopen", why)
    sup.post("/pacing", {"mode": "predictive", "reason": "测试"})
    assert recorder.woken == [fw.campaign_id] * 4
