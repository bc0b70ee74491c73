"""The live campaign feed (``/api/v1/campaigns/{id}/live`` and its SSE stream) as its users read it.

Witnesses and the assessment office get the witness view (no personal data), supervisors and admins
the supervisor view; interviewers nothing. Calls are delivered as the dialing loop delivers them and
interviews are taken through the console API.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from console_support import Fieldwork, browser_login, deliver_call, make_fieldwork
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users

from cati import audit
from cati.app import create_app
from cati.db import transaction
from cati.live import arith
from cati.models import Case, Role
from cati.settings import Settings

SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]
PHONE_IN_NOTE = "13912345678"


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


@pytest.fixture
def people(users: Users) -> dict[str, int]:
    return {
        name: users.create(name, role)
        for name, role in [
            ("iv01", Role.interviewer),
            ("wit", Role.witness),
            ("ass", Role.assessor),
            ("sup", Role.supervisor),
            ("adm", Role.admin),
        ]
    }


def _live(client: TestClient, users: Users, who: str, cid: int, **params: str) -> Any:
    r = client.get(f"/api/v1/campaigns/{cid}/live", headers=users.bearer(who), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _complete_one(client: TestClient, fw: Fieldwork, iv: int) -> None:
    """The interviewer gets ready, takes a call and completes the interview through the console API."""
    csrf = browser_login(client, "iv01")
    assert client.post("/api/v1/console/ready", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    deliver_call(fw, iv)
    _complete_one_after_call(client, fw)


# --------------------------------------------------------------------------------------------------
# Roles and views
# --------------------------------------------------------------------------------------------------


def test_the_view_follows_the_role_and_interviewers_get_nothing(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users
) -> None:
    cid = fw.campaign_id
    for who in ("wit", "ass"):
        snap = _live(client, users, who, cid)
        assert snap["view"] == "witness" and "seats" not in snap and "alerts" not in snap
        assert snap["plan"]["code"] == "C1" and snap["commitment"] == snap["plan"]["seed_commitment"]
        assert len(snap["key_fingerprint"]) >= 16 and snap["plan"]["seed"] is None
        assert snap["instrument"]["sha256"] == snap["plan"]["instrument"]["sha256"]
    for who in ("sup", "adm"):
        snap = _live(client, users, who, cid)
        assert snap["view"] == "supervisor" and snap["seats"] == [] and isinstance(snap["alerts"], list)
    # a supervisor may look through the witnesses' eyes; a witness may not look through theirs
    assert _live(client, users, "sup", cid, view="witness")["view"] == "witness"
    r = client.get(f"/api/v1/campaigns/{cid}/live?view=supervisor", headers=users.bearer("wit"))
    assert r.status_code == 403 and "督导" in r.json()["detail"]
    assert client.get(f"/api/v1/campaigns/{cid}/live", headers=users.bearer("iv01")).status_code == 403
    assert client.get(f"/api/v1/campaigns/{cid}/live/stream", headers=users.bearer("iv01")).status_code == 403
    assert client.get(f"/api/v1/campaigns/{cid}/live").status_code == 401
    assert client.get("/api/v1/campaigns/999/live", headers=users.bearer("wit")).status_code == 404
    assert client.get("/api/v1/campaigns/999/live/stream", headers=users.bearer("wit")).status_code == 404
    assert client.get("/api/v1/campaigns/abc/live", headers=users.bearer("wit")).status_code == 422


def test_progress_seats_and_outcomes_follow_the_interviews(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users
) -> None:
    cid = fw.campaign_id
    before = _live(client, users, "sup", cid)
    cell = before["progress"]["districts"][0]["cells"]
    resident = next(c for c in cell if c["stratum"] == "resident")
    assert resident["completes"] == 0 and resident["remaining"] == resident["target"]

    csrf = browser_login(client, "iv01")
    assert client.post("/api/v1/console/ready", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    deliver_call(fw, people["iv01"])
    during = _live(client, users, "sup", cid)
    [seat] = during["seats"]
    assert seat["username"] == "iv01" and seat["state"] == "on_call" and seat["stratum"] == "resident"
    assert seat["district"]["code"] == "D0" and "phone" not in json.dumps(seat)
    d0 = during["progress"]["districts"][0]
    assert next(c for c in d0["cells"] if c["stratum"] == "resident")["in_progress"] == 1
    assert during["calls"]["last_hour"]["total"] == 1

    _complete_one_after_call(client, fw)
    after = _live(client, users, "sup", cid)
    d0 = after["progress"]["districts"][0]
    resident = next(c for c in d0["cells"] if c["stratum"] == "resident")
    assert resident["completes"] == 1 and resident["in_progress"] == 0
    assert resident["remaining"] == resident["target"] - 1
    assert after["progress"]["totals"]["completes"] == 1
    assert after["calls"]["outcomes"]["today"]["answered"] == 1
    assert after["calls"]["outcomes"]["total"] == {**arith.empty_mix(), "answered": 1}
    assert (
        after["rates"]["provisional"]["counts"]["I"] == 1 and after["rates"]["provisional"]["RR1"] is not None
    )
    assert after["abandonment"]["today"] == {"live": 1, "abandoned": 0, "rate": 0.0, "share_of_cap": 0.0}
    [seat] = after["seats"]
    assert seat["state"] == "ready" and seat["completes_today"] == 1
    assert seat["avg_interview_seconds_today"] is not None
    # the witnesses see the same figures
    wit = _live(client, users, "wit", cid)
    assert wit["progress"] == after["progress"] and wit["calls"] == after["calls"]


def _complete_one_after_call(client: TestClient, fw: Fieldwork) -> None:
    csrf = browser_login(client, "iv01")
    h = {"X-CSRF-Token": csrf}
    for item_id, value in [*SCREENING, *((q, 2) for q in RATED), ("suggestions", "路灯")]:
        iv_state = client.get("/api/v1/console/state", headers=h).json()["current"]["interview"]
        assert iv_state["item"]["id"] == item_id
        r = client.post(
            "/api/v1/console/interview",
            json={"action": "answer", "item_id": item_id, "value": value, "version": iv_state["version"]},
            headers=h,
        )
        assert r.status_code == 200, r.text
    assert client.post("/api/v1/console/disposition", json={"code": "complete"}, headers=h).status_code == 200
    assert client.post("/api/v1/console/next", json={}, headers=h).status_code == 200


def test_no_phone_number_reaches_any_view(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users
) -> None:
    """Case numbers and a number written into an audit entry's details never appear, in any view."""
    cid = fw.campaign_id
    csrf = browser_login(client, "iv01")
    assert client.post("/api/v1/console/ready", json={}, headers={"X-CSRF-Token": csrf}).status_code == 200
    deliver_call(fw, people["iv01"])
    with transaction(fw.factory) as s:
        numbers = list(s.execute(select(Case.phone_number).where(Case.campaign_id == cid)).scalars())
        audit.record(
            s,
            actor="sup 13800001111",
            action="case.appointment",
            object_type="case",
            object_id="0533-87654321",
            details={"reason": f"回拨 {PHONE_IN_NOTE}", "note": PHONE_IN_NOTE, "to": "+86 139 1234 5678"},
        )
    assert numbers
    texts = []
    for who, view in (("wit", None), ("ass", None), ("sup", None), ("adm", None), ("sup", "witness")):
        params = {"view": view} if view else {}
        texts.append(json.dumps(_live(client, users, who, cid, **params), ensure_ascii=False))
    for text in texts:
        for number in [*numbers, PHONE_IN_NOTE, "13800001111", "87654321", "1234 5678"]:
            assert number not in text, number
    entry = next(e for e in json.loads(texts[0])["audit"]["entries"] if e["action"] == "case.appointment")
    assert entry["details"]["reason"] == "回拨 139******78" and "note" not in entry["details"]
    assert entry["actor"] == "sup 138******11" and entry["description"]["zh-CN"] == "预约回访"


# --------------------------------------------------------------------------------------------------
# Scores, checkpoints
# --------------------------------------------------------------------------------------------------


def test_scores_stay_sealed_until_opened_and_an_early_opening_shows(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users
) -> None:
    cid = fw.campaign_id
    for who in ("wit", "sup"):
        snap = _live(client, users, who, cid)
        assert snap["scores"] == {"sealed": True} and snap["scores_opened_early"] is None
    r = client.post(
        f"/api/v1/campaigns/{cid}/scores/open",
        json={"reason": "试点 13912345678"},
        headers=users.bearer("adm"),
    )
    assert r.status_code == 200, r.text
    snap = _live(client, users, "wit", cid)
    assert snap["scores"]["sealed"] is False and "scores" in snap["scores"]
    early = snap["scores_opened_early"]
    assert early["by"] == "adm" and early["reason"] == "试点 139******78" and early["at"].endswith("+08:00")
    assert "提前开放" in early["banner"]["zh-CN"]
    assert any(e["action"] == "results.scores_opened_early" for e in snap["audit"]["entries"])


def test_the_checkpoint_is_shown_and_downloadable_by_a_witness(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users
) -> None:
    from cati.checkpoints import service as checkpoints
    from cati.checkpoints.keys import SignerSource

    cid = fw.campaign_id
    assert _live(client, users, "wit", cid)["audit"]["checkpoint"] is None
    signer = SignerSource(client.app.state.settings).get()  # type: ignore[attr-defined]
    with transaction(fw.factory) as s:
        checkpoints.write_checkpoint(s, signer, reason="cli")
    snap = _live(client, users, "wit", cid)
    cp = snap["audit"]["checkpoint"]
    assert cp["seq"] >= 1 and len(cp["head_hash"]) == 64 and cp["signature"]
    assert cp["key_fingerprint"] == snap["key_fingerprint"]
    got = client.get(snap["audit"]["checkpoint_url"], headers=users.bearer("wit"))
    assert got.status_code == 200 and got.json()["signature"] == cp["signature"]


# --------------------------------------------------------------------------------------------------
# The stream
# --------------------------------------------------------------------------------------------------


def _events(text: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        ids = [int(x[4:]) for x in lines if x.startswith("id: ")]
        data = [x[6:] for x in lines if x.startswith("data: ")]
        if data:
            assert "event: snapshot" in lines
            out.append((ids[0], json.loads(data[0])))
    return out


def test_the_stream_sends_a_snapshot_at_once_and_another_after_a_complete(
    settings: Settings, engine: Engine, users: Users
) -> None:
    # Long enough for a loaded machine: the streams end by themselves after this many seconds.
    settings.sse_max_seconds = 10.0
    fw = make_fieldwork(engine)
    iv = users.create("iv01", Role.interviewer)
    users.create("wit", Role.witness)
    users.create("sup", Role.supervisor)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        got: dict[str, Any] = {}
        listeners = [("wit", threading.Event()), ("sup", threading.Event()), ("sup", threading.Event())]

        def listen(who: str, first: threading.Event) -> None:
            url = f"/api/v1/campaigns/{fw.campaign_id}/live/stream"
            with client.stream("GET", url, headers=users.bearer(who)) as r:
                lines = []
                for line in r.iter_lines():
                    lines.append(line)
                    if line.startswith("data:"):
                        first.set()  # the first snapshot is in: now the complete may happen
                got[who] = (r.status_code, r.headers["content-type"], "\n".join(lines) + "\n")
            first.set()

        threads = [threading.Thread(target=listen, args=pair) for pair in listeners]
        for t in threads:
            t.start()
        for _who, first in listeners:
            assert first.wait(timeout=20)
        _complete_one(client, fw, iv)
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive()
        stats = client.app.state.live_hub  # type: ignore[attr-defined]
        assert stats is not None
    for who in ("wit", "sup"):
        status, ctype, text = got[who]
        assert status == 200 and ctype.startswith("text/event-stream") and text.startswith("retry: 2000")
        events = _events(text)
        assert len(events) >= 2, text[:500]
        ids = [i for i, _ in events]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        first, last = events[0][1], events[-1][1]
        assert first["view"] == ("witness" if who == "wit" else "supervisor")
        assert first["progress"]["totals"]["completes"] == 0
        assert last["progress"]["totals"]["completes"] == 1


def test_arith_rules() -> None:
    rules = arith.AlertRules()
    assert arith.abandonment_alerts(0.009, 0.01, 100, rules)[0]["code"] == "abandonment_near_cap"
    assert arith.abandonment_alerts(0.011, 0.01, 100, rules)[0]["level"] == "critical"
    assert arith.abandonment_alerts(0.005, 0.01, 100, rules) == []
    assert arith.abandonment_alerts(None, 0.01, 0, rules) == []
    seats = [
        {"user_id": 1, "username": "a", "display_name": "", "state": "ready", "seconds_in_state": 601},
        {"user_id": 2, "username": "b", "display_name": "乙", "state": "paused", "seconds_in_state": 60},
        {"user_id": 3, "username": "c", "display_name": "", "state": "paused", "seconds_in_state": 15 * 60},
        {"user_id": 4, "username": "d", "display_name": "", "state": "on_call", "seconds_in_state": 9999},
    ]
    assert [(a["code"], a["data"]["user_id"]) for a in arith.seat_alerts(seats, rules)] == [
        ("seat_idle", 1),
        ("seat_paused_long", 3),
    ]
    districts = [
        {"code": "A", "name": {"zh-CN": "甲区", "en": "A"}, "target": 100, "completes": 50},
        {"code": "B", "name": {"zh-CN": "乙区", "en": "B"}, "target": 100, "completes": 10},
        {"code": "C", "name": {"zh-CN": "丙区", "en": "C"}, "target": 100, "completes": 40},
    ]
    [behind] = arith.behind_alerts(districts, rules)
    assert behind["data"]["district"] == "B" and "乙区" in behind["text"]["zh-CN"]
    assert arith.behind_alerts([{**d, "completes": 1} for d in districts], rules) == []  # too early
    assert arith.link_alerts({"link": "down"}, True)[0]["code"] == "pbx_link_down"
    assert arith.link_alerts({"link": "up"}, True) == [] and arith.link_alerts({"link": "down"}, False) == []
    assert arith.mask_text("tel 139-1234-5678, ext 801, 2026-12-05") == "tel 139******78, ext 801, 2026-12-05"
    assert arith.mask_text("sha 0a1234567890bc") == "sha 0a1234567890bc"  # a digest is not a number
    assert arith.mask_value({"n": 13912345678, "k": [1, "05331234567"]}) == {
        "n": "139******78",
        "k": [1, "053******67"],
    }
    assert arith.outcome_bucket(None, answered=False, abandoned=False, ended=False) is None
    assert arith.outcome_bucket("answered", answered=True, abandoned=True, ended=True) == "abandoned"
    assert arith.outcome_bucket("congestion", answered=False, abandoned=False, ended=True) == "failed"


# --------------------------------------------------------------------------------------------------
# The broadcaster, without a database
# --------------------------------------------------------------------------------------------------


def test_one_computation_feeds_every_stream_and_a_stalled_one_blocks_nobody() -> None:
    import asyncio

    from cati.events import EventBus, campaign_topic
    from cati.live.hub import LiveHub

    calls: list[tuple[str, ...]] = []
    state = {"n": 0}

    def compute(campaign_id: int, views: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        calls.append(views)
        return {v: {"view": v, "n": state["n"]} for v in views}

    async def scenario() -> None:
        bus = EventBus()
        bus.bind(asyncio.get_running_loop())
        hub = LiveHub(bus, compute, lambda cid: state["n"], min_interval=0.05, poll_seconds=0.05)
        with (
            hub.subscribe(1, "witness") as stalled,
            hub.subscribe(1, "witness") as w,
            hub.subscribe(1, "supervisor") as s,
        ):
            extra = [hub.subscribe(1, "witness") for _ in range(20)]
            clients = [cm.__enter__() for cm in extra]
            first = await w.next(2.0)
            assert first is not None and b'"n":0' in first
            for n in range(1, 6):
                state["n"] = n  # a committed change the token shows ...
                if n % 2:
                    bus.publish(campaign_topic(1), "seat", {})  # ... or the bus announces
                got = b""
                while f'"n":{n}'.encode() not in got:
                    nxt = await w.next(2.0)
                    assert nxt is not None, f"no update {n}"
                    got = nxt
                assert (await s.next(2.0)) is not None
            # 23 streams of two views, 6 states: one computation per state, both views at once
            assert len(calls) <= 8 and all(set(v) == {"supervisor", "witness"} for v in calls[1:])
            # the stalled stream holds only the newest snapshot; the others were replaced, not queued
            assert stalled.pending is not None and b'"n":5' in stalled.pending and stalled.superseded >= 4
            assert all(c.pending is not None and b'"n":5' in c.pending for c in clients)
            for cm in extra:
                cm.__exit__(None, None, None)
        await asyncio.sleep(0.2)
        assert hub.stats() == {}  # the last stream gone, the broadcaster ends

    asyncio.run(scenario())


def test_the_witness_page_offers_a_campaign_picker(
    client: TestClient, fw: Fieldwork, people: dict[str, int], users: Users, engine: Engine
) -> None:
    from case_factory import make_campaign

    from cati.db import make_sessionmaker

    with transaction(make_sessionmaker(engine)) as s:
        make_campaign(s, code="C2", districts=1)
    _page_login(client, "wit")
    page = client.get("/witness")
    assert page.status_code == 200 and "监督见证室" in page.text and 'id="campaign-select"' in page.text
    assert page.text.count("<option") == 2 and "/static/vendor/echarts/echarts.min.js" in page.text
    assert "<script>" not in page.text  # CSP: no inline script, only JSON blocks and our files
    en = client.get("/witness?lang=en&campaign=1")
    assert "Witness room" in en.text and '<option value="1" selected>' in en.text
    for asset in ("/static/live/witness.js", "/static/live/witness.css"):
        assert client.get(asset).status_code == 200
    client.cookies.clear()
    _page_login(client, "iv01")
    assert client.get("/witness").status_code == 403


def _page_login(client: TestClient, username: str) -> None:
    import re

    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token
    r = client.post(
        "/login",
        data={"username": username, "password": "correct horse", "login_csrf": token.group(1), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
