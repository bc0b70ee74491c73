"""Chinese everywhere the interviewer looks, driven through the console's HTTP API.

Errors come worded in zh-CN by default and in English with the reader's locale (``?lang=en``, the
``cati_lang`` cookie, ``Accept-Language``), always with a machine ``code``; no item id (``s_age``,
``q3``) reaches anything the console shows; times are in the campaign's time zone; and a Ready
interviewer is told at once when the quotas are full, the campaign closes or no number is left.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from typing import Any

import pytest
from console_support import Fieldwork, deliver_call, make_fieldwork, now
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from support import Users
from test_console_api import RATED, SCREENING, Console

from cati.app import create_app
from cati.campaigns.close import close_campaign
from cati.cases import service as cases
from cati.db import transaction
from cati.models import Case, CaseStatus, District, QuotaCell, Role
from cati.settings import Settings
from cati.web.catalogs import console_errors
from cati.web.i18n import CATALOG

#: Item ids as the instrument spells them (``overall`` and ``suggestions`` are also English words:
#: they are looked for in the Chinese texts only).
ITEM_IDS = re.compile(r"\b(s_line|s_age|s_tie|q(?:10|[1-9]))\b")
WORD_IDS = re.compile(r"overall|suggestions")


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


def _one_cell_to_fill(fw: Fieldwork, target: int = 1) -> None:
    """Only the resident cell is open, wanting ``target`` completes; the staff cell is full."""
    with transaction(fw.factory) as s:
        s.execute(update(QuotaCell).where(QuotaCell.stratum == "staff").values(target=0))
        s.execute(update(QuotaCell).where(QuotaCell.stratum == "resident").values(target=target))


def _wait_subscribed(client: TestClient) -> None:
    """Until the console's event stream has subscribed to its seat's topic."""
    bus = client.app.state.bus  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not bus._subs and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert bus._subs, "the event stream did not start"


def _complete_one(c: Console) -> dict[str, Any]:
    for _item, value in SCREENING:
        c.key("answer", value)
    for _item in RATED:
        c.key("answer", 2)
    c.key("answer", "没有意见")
    return c.post("/disposition", {"code": "complete"})  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# Errors: zh-CN first, English with the locale, a code for programs
# --------------------------------------------------------------------------------------------------


def test_the_catalogs_hold_the_same_codes_and_fields() -> None:
    assert set(console_errors.ZH) == set(console_errors.EN)
    for key, zh in console_errors.ZH.items():
        fields = set(re.findall(r"\{(\w+)\}", zh))
        assert fields == set(re.findall(r"\{(\w+)\}", console_errors.EN[key])), key
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{key} has no Chinese"


def test_errors_in_chinese_by_default_and_english_on_request(
    client: TestClient, fw: Fieldwork, users: Users
) -> None:
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    deliver_call(fw, uid)
    c.key("answer", 1)  # s_line: home phone
    iv = c.state()["current"]["interview"]
    body = {"action": "answer", "item_id": iv["item"]["id"], "value": 150, "version": iv["version"]}

    zh = c.post("/interview", body, 422)
    assert zh["code"] == "answer.out_of_range"
    assert zh["detail"] == "甄别题 2：150 超出允许范围 0–120，请核对后重新输入。"
    assert zh["params"]["item"] == "甄别题 2" and zh["params"]["value"] == "150"

    for how in ({"params": {"lang": "en"}}, {"headers": {"Accept-Language": "en-US,en;q=0.9"}}):
        r = client.post(
            "/api/v1/console/interview",
            json=body,
            params=how.get("params"),
            headers={**c.headers, **how.get("headers", {})},
        )
        assert r.status_code == 422
        assert r.json()["code"] == "answer.out_of_range"
        assert r.json()["detail"].startswith("screening question 2: 150 is outside the allowed range 0–120")
    # the page's cookie wins over the browser's Accept-Language
    client.cookies.set("cati_lang", "zh-CN")
    r = client.post(
        "/api/v1/console/interview", json=body, headers={**c.headers, "Accept-Language": "en"}
    )
    assert r.json()["detail"].startswith("甄别题 2")
    client.cookies.clear()

    # a stale page, a screening question refused, an unknown option, not a number
    stale = c.post("/interview", {**body, "value": 40, "version": iv["version"] - 1}, 409)
    assert stale["code"] == "interview.stale_version" and "其他窗口" in stale["detail"]
    refused = c.key("refuse", status=409)
    assert refused["code"] == "interview.screening_needs_answer"
    assert refused["detail"].startswith("甄别题 2是甄别题")
    nan = c.key("answer", "四十", status=422)
    assert nan["code"] == "answer.not_a_number" and "不是数字" in nan["detail"]
    c.key("answer", 40)
    wrong = c.key("answer", 7, status=422)  # s_tie has four options
    assert wrong["code"] == "answer.unknown_option"
    assert wrong["detail"] == "甄别题 3：没有选项 7，可选 1, 2, 3, 4。"

    # the disposition rules and the appointment time, in both languages
    c.key("answer", 1)
    early = c.post("/disposition", {"code": "complete"}, 409)
    assert early["code"] == "disposition.not_complete" and "不是完成访问" in early["detail"]
    bad = c.post("/disposition", {"code": "appointment", "appointment_at": "明天晚上"}, 422)
    assert bad["code"] == "appointment.bad_time" and "格式不对" in bad["detail"]
    past = c.post("/disposition", {"code": "appointment", "appointment_at": "2020-01-02T19:30"}, 422)
    assert past["code"] == "appointment.in_past"
    assert past["detail"] == "预约时间 2020-01-02 19:30（Asia/Shanghai）已经过去，请选择以后的时间。"
    r = client.post(
        "/api/v1/console/disposition?lang=en",
        json={"code": "appointment", "appointment_at": "2020-01-02T19:30"},
        headers=c.headers,
    )
    assert r.json()["detail"] == (
        "The appointment time 2020-01-02 19:30 (Asia/Shanghai) has passed: choose a later time."
    )
    # seat moves that do not fit say the seat's state in words
    busy = c.post("/next", status=409)
    assert busy["code"] == "seat.not_wrap_up" and "通话中" in busy["detail"]
    assert not ITEM_IDS.search(" ".join(str(x["detail"]) for x in (zh, stale, refused, nan, wrong, early)))


# --------------------------------------------------------------------------------------------------
# No item id on the console
# --------------------------------------------------------------------------------------------------


def _shown_texts(state: dict[str, Any], locale: str) -> list[str]:
    """Every text the console page renders from a ConsoleState (what console.js puts on screen)."""
    lang = "en" if locale == "en" else "zh"
    out: list[str] = []
    cur = state.get("current") or {}
    iv = cur.get("interview") or {}
    item = iv.get("item") or {}
    if item:
        out += [item["label"][lang], item["text"][lang], *(o["label"][lang] for o in item["options"])]
        if item.get("instructions"):
            out.append(item["instructions"][lang])
    for a in iv.get("answers", []):
        out += [a["item_label"][lang], (a["label"] or {}).get(lang, "")]
    if iv.get("rule"):
        out.append(str(iv["rule"]["name"]))
    out += [d["label"][lang] for d in state["dispositions"]]
    if state.get("dialling", {}).get("message"):
        out.append(state["dialling"]["message"][lang])
    return out


def test_no_item_id_in_anything_the_console_shows(client: TestClient, fw: Fieldwork, users: Users) -> None:
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    c.post("/ready")
    deliver_call(fw, uid)
    shown: list[str] = []
    shown_zh: list[str] = []
    labels = []
    for _item, value in SCREENING:
        st = c.state()
        labels.append(st["current"]["interview"]["item"]["label"]["zh"])
        shown_zh += _shown_texts(st, "zh-CN")
        shown += _shown_texts(st, "en")
        c.key("answer", value)
    for _item in RATED:
        st = c.state()
        labels.append(st["current"]["interview"]["item"]["label"]["zh"])
        shown_zh += _shown_texts(st, "zh-CN")
        shown += _shown_texts(st, "en")
        c.key("answer", 3)
    st = c.state()
    labels.append(st["current"]["interview"]["item"]["label"]["zh"])
    shown_zh += _shown_texts(st, "zh-CN")
    shown += _shown_texts(st, "en")
    assert labels[:4] == ["甄别题 1", "甄别题 2", "甄别题 3", "第 1 题"]
    assert labels[-1] == "开放题（意见和建议）"
    review = st["current"]["interview"]["answers"]
    assert [a["item_label"]["zh"] for a in review][:4] == ["甄别题 1", "甄别题 2", "甄别题 3", "第 1 题"]
    found = [t for t in shown + shown_zh if ITEM_IDS.search(t)] + [t for t in shown_zh if WORD_IDS.search(t)]
    assert not found, found
    # the page itself: its static words, and every message it may show
    for lang in ("zh-CN", "en"):
        page = client.get(f"/console?lang={lang}", headers=c.headers)
        assert page.status_code == 200
        visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", page.text, flags=re.S)
        assert not ITEM_IDS.search(visible), ITEM_IDS.search(visible)
        messages = [v for k, v in CATALOG[lang].items() if k.startswith(("console.", "console_errors."))]
        assert not [m for m in messages if ITEM_IDS.search(m)]


# --------------------------------------------------------------------------------------------------
# Times in the campaign's time zone
# --------------------------------------------------------------------------------------------------


def test_times_are_shown_and_read_in_the_campaigns_time_zone(
    client: TestClient, fw: Fieldwork, users: Users
) -> None:
    uid = users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    st = c.post("/ready")
    assert st["campaign"]["timezone"] == "Asia/Shanghai" and st["clock"]["timezone"] == "Asia/Shanghai"
    assert st["clock"]["now"].endswith("+08:00") and st["seat"]["since"].endswith("+08:00")
    assert st["shift"]["started_at"].endswith("+08:00")
    deliver_call(fw, uid)
    for _item, value in SCREENING:
        c.key("answer", value)
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).astimezone(dt.timezone(dt.timedelta(hours=8)))
    when = f"{tomorrow:%Y-%m-%d}T19:30"  # no offset: the campaign's zone
    c.post("/disposition", {"code": "appointment", "appointment_at": when})
    with transaction(fw.factory) as s:
        booked = s.execute(select(Case).where(Case.appointment_at.is_not(None))).scalar_one()
        at = booked.appointment_at
        assert at is not None
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        assert at.astimezone(dt.UTC).hour == 11 and at.minute == 30  # 19:30 in Shanghai
        booked.status = CaseStatus.dialling.value  # handed out again: the console shows the appointment
    # the next call of the same case shows its appointment in Shanghai time
    c.post("/next")
    with transaction(fw.factory) as s:
        case = s.execute(select(Case).where(Case.appointment_at.is_not(None))).scalar_one()
        case.status = CaseStatus.scheduled.value
        case.next_call_at = now() - dt.timedelta(minutes=1)
        case.appointment_at = now() - dt.timedelta(minutes=1)
    deliver_call(fw, uid)
    appt = c.state()["current"]["appointment"]
    assert appt is not None and appt["at"].endswith("+08:00")


# --------------------------------------------------------------------------------------------------
# Dialling finished: a Ready interviewer is told at once
# --------------------------------------------------------------------------------------------------


def test_ready_interviewer_told_at_once_when_the_last_quota_fills(
    settings: Settings, engine: Engine, users: Users
) -> None:
    settings.sse_max_seconds = 3.0
    fw = make_fieldwork(engine)
    _one_cell_to_fill(fw)
    users.create("iv01", Role.interviewer)
    uid2 = users.create("iv02", Role.interviewer)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        waiting, working = Console(client, users.bearer("iv01")), Console(client, users.bearer("iv02"))
        st = waiting.post("/ready")
        assert st["dialling"] == {"finished": False, "reason": None, "code": None, "message": None}
        working.post("/ready")
        deliver_call(fw, uid2)
        got: dict[str, Any] = {}

        def listen() -> None:
            r = client.get("/api/v1/console/events", headers=waiting.headers)
            got["text"] = r.text

        t = threading.Thread(target=listen)
        t.start()
        _wait_subscribed(client)
        _complete_one(working)  # the one complete wanted: every cell is full now
        t.join(timeout=10)
        assert not t.is_alive()
        # the waiting seat got a `dialling` event on its own topic, then the fresh state
        frames = re.findall(r"event: (\w+)\ndata: (.*)\n", got["text"])
        finished = [json.loads(data) for kind, data in frames if kind == "dialling"]
        assert finished and finished[0]["reason"] == "quotas_full" and finished[0]["finished"]
        assert finished[0]["message"]["zh"].startswith("调查项目 C1 的全部配额已经完成，拨号已结束")
        assert finished[0]["message"]["en"].startswith("Every quota of campaign C1 is full")
        states = [json.loads(data) for kind, data in frames if kind == "state"]
        assert states[-1]["seat"]["status"] == "ready" and states[-1]["dialling"]["reason"] == "quotas_full"
        # one who presses Ready now is told in the answer itself, not left waiting
        st = working.post("/next")
        assert st["seat"]["status"] == "ready" and st["dialling"]["reason"] == "quotas_full"
        working.post("/offline")
        st = working.post("/ready")
        assert st["dialling"]["finished"] and st["dialling"]["code"] == "dialling.quotas_full"
        # a reopened cell (a supervisor raises the target): the banner goes away
        with transaction(fw.factory) as s:
            s.execute(update(QuotaCell).where(QuotaCell.stratum == "resident").values(target=5))
        assert waiting.state()["dialling"]["finished"] is False


def test_closed_campaign_told_at_once_and_ready_refused_in_words(
    settings: Settings, engine: Engine, users: Users
) -> None:
    settings.sse_max_seconds = 3.0
    fw = make_fieldwork(engine)
    users.create("iv01", Role.interviewer)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        c = Console(client, users.bearer("iv01"))
        c.post("/ready")
        got: dict[str, Any] = {}

        def listen() -> None:
            got["text"] = client.get("/api/v1/console/events", headers=c.headers).text

        t = threading.Thread(target=listen)
        t.start()
        _wait_subscribed(client)
        # the close commits in the app's own process: its events reach the stream after commit
        with transaction(client.app.state.sessionmaker) as s:  # type: ignore[attr-defined]
            close_campaign(s, fw.campaign_id, reason="调查结束", force=False, actor="test", now=now())
        t.join(timeout=10)
        assert "event: dialling" in got["text"] and '"reason":"closed"' in got["text"]
        st = c.state()
        assert st["dialling"]["reason"] == "closed" and "已结束实地访问" in st["dialling"]["message"]["zh"]
        c.post("/offline")
        refused = c.post("/ready", status=409)
        assert refused["code"] == "dialling.closed"
        assert refused["detail"].startswith("调查项目 C1 已结束实地访问")
        en = client.post("/api/v1/console/ready?lang=en", json={}, headers=c.headers).json()
        assert en["detail"].startswith("Campaign C1 is closed: dialling has stopped")


def test_no_number_left_is_finished_but_numbers_not_yet_due_are_not(
    client: TestClient, fw: Fieldwork, users: Users
) -> None:
    users.create("iv01", Role.interviewer)
    c = Console(client, users.bearer("iv01"))
    assert c.post("/ready")["dialling"]["finished"] is False
    with transaction(fw.factory) as s:
        # every case scheduled for later: work still to come
        for case in s.execute(select(Case)).scalars():
            case.status = CaseStatus.scheduled.value
            case.next_call_at = now() + dt.timedelta(hours=2)
    assert c.state()["dialling"]["finished"] is False
    with transaction(fw.factory) as s:
        for case in s.execute(select(Case)).scalars():
            case.status = CaseStatus.finalised.value
        assert cases.dialling_outlook(s, fw.campaign_id) is None  # the frame can still release numbers
        district = s.get(District, fw.district_ids[0])
        assert district is not None
        district.sample_position = 10**4  # the whole 4-digit frame used up
        assert cases.dialling_outlook(s, fw.campaign_id) == "exhausted"
    st = c.state()
    assert st["dialling"]["reason"] == "exhausted" and "样本已用完" in st["dialling"]["message"]["zh"]


async def test_a_complete_rolled_back_tells_nobody(engine: Engine, users: Users) -> None:
    """The banner's event leaves only with a committed transaction: a crash after the last complete
    was recorded (before the commit) leaves the cell open and says nothing to any seat."""
    import asyncio

    from cati.console import service as console
    from cati.db import make_sessionmaker
    from cati.events import EventBus, install_session_events
    from cati.models import User

    fw = make_fieldwork(engine)
    _one_cell_to_fill(fw)
    waiting, working = users.create("iv01", Role.interviewer), users.create("iv02", Role.interviewer)
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    factory = make_sessionmaker(engine)
    install_session_events(factory, bus)
    with transaction(factory) as s:
        for uid in (waiting, working):
            user = s.get(User, uid)
            assert user is not None
            console.go_ready(s, user, now=now())
    deliver_call(fw, working)

    def finish(s: Any) -> None:
        user = s.get(User, working)
        loaded = console.load_interview(s, console.lock_seat(s, working).current_interview_id)
        for _item, value in SCREENING:
            loaded.engine.answer(loaded.engine.current.id, value, now())
        for _item in RATED:
            loaded.engine.answer(loaded.engine.current.id, 2, now())
        loaded.engine.answer(loaded.engine.current.id, "好", now())
        loaded.row.state = loaded.engine.to_dict()
        s.flush()
        console.record_disposition(s, user, code="complete", now=now())

    with bus.subscribe({f"seat:{waiting}"}) as sub:
        try:
            with transaction(factory) as s:
                finish(s)
                assert cases.dialling_outlook(s, fw.campaign_id) == "quotas_full"
                raise RuntimeError("the server died before the commit")
        except RuntimeError:
            pass
        await asyncio.sleep(0.1)
        assert sub.queue.empty()  # nothing was said
        with transaction(factory) as s:
            assert cases.dialling_outlook(s, fw.campaign_id) is None  # the cell is still open
            finish(s)
        ev = await asyncio.wait_for(sub.queue.get(), 2)
        while ev.type != "dialling":
            ev = await asyncio.wait_for(sub.queue.get(), 2)
        assert ev.data["reason"] == "quotas_full"
