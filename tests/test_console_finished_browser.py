"""A Ready interviewer is told in the browser, at once and in Chinese, when every quota is full.

The real service under uvicorn with the real dialing loop and the simulated PBX (SQLite, a random
port), Debian's chromium driven by Playwright. One number is in the sample and one complete is
wanted. 王芳 waits in the browser, Ready; a colleague (iv02, through the same API) takes the only call
and completes it: 王芳's console shows the banner over SSE without a reload, the idle text says no
call will come, and pressing Ready again says so at once. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_support import (
    ARTIFACTS,
    BROWSER_MARKS,
    cheap_settings,
    dress_as_zibo,
    launch_persistent,
    login,
    serve_with_simpbx,
    sqlite_db,
)
from case_factory import ALWAYS_OPEN, make_campaign
from console_support import now
from sqlalchemy import select

from cati.auth.service import create_user
from cati.cases import service as cases
from cati.db import make_engine, make_sessionmaker, transaction
from cati.models import Campaign, Case, QuotaCell

ITEM_IDS = re.compile(r"\b(s_line|s_age|s_tie|overall|q(?:10|[1-9])|suggestions)\b")

pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The service with one released number that answers and one complete wanted; yields its URL."""
    db_url, engine, factory = sqlite_db(tmp_path)
    cheap = cheap_settings(db_url)
    with transaction(factory) as s:
        built = make_campaign(
            s,
            code="ZB-2026",
            districts=1,
            suffix_digits=4,
            targets={"resident": 1, "staff": 0},
            windows=ALWAYS_OPEN,
            scheduling={"topup_min_open": 0},
        )
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        dress_as_zibo(campaign)
        campaign.dialling_mode = "progressive"
        released = cases.release_sample(s, built.campaign_id, built.district_ids[0], "resident", 1, now())
        numbers = [
            c.phone_number for c in s.execute(select(Case).where(Case.id.in_(released.case_ids))).scalars()
        ]
        for username, name, ext in (("wangfang", "王芳", "1001"), ("iv02", "李娜", "1002")):
            user = create_user(
                s, username=username, role="interviewer", password="correct horse", settings=cheap, actor="t"
            )
            user.display_name, user.extension = name, ext
    engine.dispose()
    with serve_with_simpbx(tmp_path, db_url, numbers, ring_median=1.0, wrap_up_seconds=300) as base:
        yield base
    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        cell = s.execute(select(QuotaCell).where(QuotaCell.stratum == "resident")).scalar_one()
        assert cell.completes == cell.target == 1
    engine.dispose()


def _colleague_completes_the_last_interview(base: str) -> None:
    """iv02 through the console API: Ready, take the one call, answer everything, code it complete."""
    with httpx.Client(base_url=base, timeout=10) as http:
        token = http.post("/api/v1/auth/token", data={"username": "iv02", "password": "correct horse"})
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        if http.get("/api/v1/console/state", headers=headers).json()["seat"]["status"] == "offline":
            assert http.post("/api/v1/console/ready", json={}, headers=headers).status_code == 200
        deadline = time.monotonic() + 20
        while True:
            st = http.get("/api/v1/console/state", headers=headers).json()
            if st["seat"]["status"] == "on_call" and st["current"]["interview"]:
                break
            assert time.monotonic() < deadline, st
            time.sleep(0.2)
        view = st["current"]["interview"]
        answers = {"s_line": 1, "s_age": 45, "s_tie": 1, "suggestions": "没有意见"}
        while view["state"] == "asking":
            item = view["item"]["id"]
            value = answers.get(item, 2)
            body = {"action": "answer", "item_id": item, "value": value, "version": view["version"]}
            r = http.post("/api/v1/console/interview", json=body, headers=headers)
            assert r.status_code == 200, r.text
            view = r.json()
        r = http.post("/api/v1/console/disposition", json={"code": "complete"}, headers=headers)
        assert r.status_code == 200, r.text


def test_ready_interviewer_is_told_in_chinese_when_the_quotas_are_full(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        # the browser's own language is English: the console still speaks Chinese; and its clock
        # shows the campaign's zone, not the browser's London
        browser = launch_persistent(pw, tmp_path, locale="en-US", timezone_id="Europe/London")
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            login(page, base, "/console", "wangfang", "correct horse")  # the login page, back here
            expect(page.locator("#seat-status")).to_have_text("离线")
            expect(page.locator("#clock-zone")).to_have_text("Asia/Shanghai")  # not the browser's London
            _colleague_completes_the_last_interview(base)  # the only number, the only complete wanted
            # 王芳 presses F2 now and is told at once, in Chinese: no call will come
            page.keyboard.press("F2")
            expect(page.locator("#seat-status")).to_have_text("就绪 · 等待来电")
            banner = page.locator("#finished")
            expect(banner).to_be_visible(timeout=3000)
            expect(banner).to_contain_text("拨号已结束")
            expect(banner).to_contain_text("调查项目 ZB-2026 的全部配额已经完成")
            expect(page.locator("#idle-text")).to_contain_text("不会再有新的电话")
            expect(page.locator("#clock-zone")).to_have_text("Asia/Shanghai")
            clock = page.locator("#clock-time").inner_text()
            assert re.fullmatch(r"\d{2}:\d{2}", clock), clock
            page.screenshot(path=str(ARTIFACTS / "console-finished-1-ready.png"))
            assert not ITEM_IDS.search(page.locator("body").inner_text())
        finally:
            browser.close()


def test_waiting_interviewer_gets_the_banner_live(server: str, tmp_path: Path) -> None:
    """王芳 is already Ready and waiting when the colleague's complete fills the last cell."""
    from playwright.sync_api import expect, sync_playwright

    base = server
    with sync_playwright() as pw:
        browser = launch_persistent(pw, tmp_path)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            login(page, base, "/console", "wangfang", "correct horse")  # the login page, back here
            expect(page.locator("#seat-status")).to_have_text("离线")
            with httpx.Client(base_url=base, timeout=10) as http:  # the colleague is Ready first
                credentials = {"username": "iv02", "password": "correct horse"}
                token = http.post("/api/v1/auth/token", data=credentials)
                headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
                http.post("/api/v1/console/ready", json={}, headers=headers)
                deadline = time.monotonic() + 20
                state = "/api/v1/console/state"
                while http.get(state, headers=headers).json()["seat"]["status"] != "on_call":
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            page.keyboard.press("F2")  # the one number is taken: 王芳 waits
            expect(page.locator("#seat-status")).to_have_text("就绪 · 等待来电")
            expect(page.locator("#idle-text")).to_have_text("等待来电…")
            expect(page.locator("#finished")).to_be_hidden()
            page.screenshot(path=str(ARTIFACTS / "console-finished-2-waiting.png"))
            _colleague_completes_the_last_interview(base)  # its seat is on the call already
            banner = page.locator("#finished")
            expect(banner).to_be_visible(timeout=5000)  # over SSE, no reload
            expect(banner).to_contain_text("全部配额已经完成，拨号已结束")
            expect(page.locator("#idle-text")).to_contain_text("请按 F4 下班")
            page.screenshot(path=str(ARTIFACTS / "console-finished-3-told.png"))
            page.keyboard.press("F4")
            expect(page.locator("#seat-status")).to_have_text("离线")
            expect(banner).to_be_visible()
            # English on request: the same banner in English, and Ready still says it at once
            page.goto(f"{base}/console?lang=en")
            expect(page.locator("#seat-status")).to_have_text("Offline")
            expect(banner).to_contain_text("Dialling has ended")
            expect(banner).to_contain_text("Every quota of campaign ZB-2026 is full")
            page.keyboard.press("F2")
            expect(page.locator("#seat-status")).to_have_text("Ready · waiting for a call")
            expect(page.locator("#idle-text")).to_contain_text("no more calls will come")
            page.screenshot(path=str(ARTIFACTS / "console-finished-4-english.png"))
        finally:
            browser.close()
