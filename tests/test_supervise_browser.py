"""The supervisor room in a real browser: Debian's chromium driven by Playwright, the real app under
uvicorn (SQLite, 127.0.0.1, a random port, no dialer: calls are delivered as the dialing loop does).

A supervisor signs in, opens ``/supervise`` from the home page, sees an interviewer's seat change
live, pauses a district and closes a quota cell through the confirm dialog (with a reason), logs a
seat out; no reload anywhere. Screenshots at 1920x1080 and 1366x768 go to the test's tmp dir.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import (
    BROWSER_MARKS,
    cheap_settings,
    complete_interview,
    dress_as_zibo,
    launch,
    login,
    serve,
    sqlite_db,
)
from case_factory import ALWAYS_OPEN, make_campaign
from console_support import Fieldwork, now
from sqlalchemy import select

from cati.auth.service import create_user, issue_api_token
from cati.cases import service as cases
from cati.db import transaction
from cati.models import AuditEntry, Campaign, Case, District, InterviewerSeat, QuotaCell, User

pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url, engine, factory = sqlite_db(tmp_path)
    cheap = cheap_settings(db_url)
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    with transaction(factory) as s:
        built = make_campaign(s, code="C1", districts=2, suffix_digits=4, windows=ALWAYS_OPEN)
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        dress_as_zibo(campaign)
        for district_id in built.district_ids:
            cases.release_sample(s, built.campaign_id, district_id, "resident", 4, now())
        numbers = list(s.execute(select(Case.phone_number)).scalars())
        create_user(s, username="sup", role="supervisor", password="correct horse", settings=cheap, actor="t")
        for name in ("iv01", "iv02"):
            ids[name] = create_user(
                s, username=name, role="interviewer", password="pw-iv-long-enough", settings=cheap, actor="t"
            ).id
    with transaction(factory) as s:
        for name in ("iv01", "iv02"):
            user = s.execute(select(User).where(User.username == name)).scalar_one()
            tokens[name], _ = issue_api_token(s, user, cheap, actor="t")
    try:
        with serve(tmp_path, db_url) as base:
            yield {
                "base": base,
                "fw": Fieldwork(factory, built.campaign_id, built.district_ids),
                "ids": ids,
                "tokens": tokens,
                "numbers": numbers,
            }
    finally:
        engine.dispose()


def test_the_supervisor_room_watches_and_steers(server: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, fw = server["base"], server["fw"]
    shots = tmp_path / "shots"
    shots.mkdir()
    iv01 = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {server['tokens']['iv01']}"})
    iv02 = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {server['tokens']['iv02']}"})
    with sync_playwright() as pw, iv01, iv02:
        browser = launch(pw)
        try:
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            page = ctx.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            # iv01's own console, open in another browser: it must learn of the log-out by itself
            iv_page = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN").new_page()
            iv_page.set_default_timeout(15000)
            login(iv_page, base, "/", "iv01", "pw-iv-long-enough", landing="/console")
            expect(iv_page.locator("#seat-status")).to_have_text("离线")

            login(page, base, "/", "sup", "correct horse")
            assert page.locator('a[data-link="dialer"]').count() == 0  # the room replaces the raw JSON
            page.click('a[data-link="supervise"]')
            page.wait_for_url(f"{base}/supervise")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#k-status")).to_have_text("调查进行中")
            expect(page.locator("#k-completes")).to_have_text("0 / 20")

            # an interviewer's seat changes: the room shows it live, and the time in state ticks
            assert iv01.post("/api/v1/console/ready", json={}).status_code == 200
            row = page.locator('#seats-table tr[data-user="iv01"]')
            expect(row.locator(".seat-state")).to_have_text("待命")
            assert iv01.post("/api/v1/console/pause", json={"reason": "meal"}).status_code == 200
            expect(row.locator(".seat-state")).to_have_text("暂停 · 用餐")
            expect(iv_page.locator("#seat-status")).to_contain_text("暂停")
            tick = row.locator("td.tick")
            first = tick.inner_text()
            expect(tick).not_to_have_text(first)  # ticks between snapshots, no reload

            # a complete by the other interviewer, for figures in the room
            assert iv02.post("/api/v1/console/ready", json={}).status_code == 200
            complete_interview(iv02, fw, server["ids"]["iv02"])
            expect(page.locator("#k-completes")).to_have_text("1 / 20")
            expect(page.locator('#seats-table tr[data-user="iv02"] .seat-state')).to_have_text("整理中")
            page.screenshot(path=str(shots / "supervise-1-1920.png"))

            # pause district D0: confirm dialog; a reason is required
            d0 = page.locator('#cells-table tr[data-district="D0"]').first
            d0.locator('button[data-action="pause-district"]').click()
            expect(page.locator("#confirm")).to_be_visible()
            expect(page.locator("#confirm-text")).to_contain_text("区0")
            page.click("#confirm-ok")
            expect(page.locator("#confirm-error")).to_be_visible()  # no reason: not sent
            page.fill("#confirm-reason", "区政府来电要求暂停")
            page.screenshot(path=str(shots / "supervise-2-confirm-1920.png"))
            page.click("#confirm-ok")
            expect(page.locator("#flash")).to_contain_text("已完成")
            d0 = page.locator('#cells-table tr[data-district="D0"]').first
            expect(d0).to_contain_text("暂停中")
            expect(d0.locator('button[data-action="resume-district"]')).to_be_visible()

            # close the quota cell D1 x resident
            cell = page.locator('#cells-table tr[data-district="D1"][data-stratum="resident"]')
            cell.locator('button[data-action="close-cell"]').click()
            page.fill("#confirm-reason", "样本质量复核")
            page.click("#confirm-ok")
            cell = page.locator('#cells-table tr[data-district="D1"][data-stratum="resident"]')
            expect(cell.locator(".cell-state")).to_have_text("已关闭")
            expect(cell.locator('button[data-action="reopen-cell"]')).to_be_visible()

            # log out iv01 (paused): offline at once
            page.locator('#seats-table tr[data-user="iv01"] button[data-action="logout"]').click()
            page.fill("#confirm-reason", "访问员已离开")
            page.click("#confirm-ok")
            expect(page.locator('#seats-table tr[data-user="iv01"] .seat-state')).to_have_text("离线")
            assert iv01.get("/api/v1/console/state").json()["seat"]["status"] == "offline"
            expect(iv_page.locator("#seat-status")).to_have_text("离线")  # pushed, no reload

            # switching the pacing mode, then cancelling a confirm, changes nothing
            page.select_option("#mode-select", "predictive")
            page.click("#confirm-cancel")
            expect(page.locator("#mode-select")).to_have_value("progressive")

            html = page.content()
            for number in server["numbers"]:
                assert number not in html
            page.screenshot(path=str(shots / "supervise-3-after-1920.png"))
            page.set_viewport_size({"width": 1366, "height": 768})
            page.screenshot(path=str(shots / "supervise-4-1366.png"))
            page.screenshot(path=str(shots / "supervise-5-1366-full.png"), full_page=True)

            page.goto(f"{base}/supervise?lang=en")
            expect(page.locator("#conn")).to_have_text("Live")
            expect(page.locator('#cells-table tr[data-district="D0"]').first).to_contain_text("Paused")
            page.screenshot(path=str(shots / "supervise-6-en-1366.png"))
            assert errors == []
        finally:
            browser.close()
    with fw.factory() as s:
        d0 = s.execute(select(District).where(District.code == "D0")).scalar_one()
        assert d0.dialling_paused_reason == "区政府来电要求暂停"
        d1 = s.execute(select(District).where(District.code == "D1")).scalar_one()
        c = s.execute(
            select(QuotaCell).where(QuotaCell.district_id == d1.id, QuotaCell.stratum == "resident")
        ).scalar_one()
        assert c.closed_reason == "样本质量复核"
        assert s.get_one(InterviewerSeat, server["ids"]["iv01"]).status == "offline"
        actors = {
            (e.actor, e.action)
            for e in s.execute(select(AuditEntry).where(AuditEntry.actor == "sup")).scalars()
        }
        assert {
            ("sup", "controls.district_paused"),
            ("sup", "controls.quota_cell_closed"),
            ("sup", "seat.logged_out"),
        } <= actors
        assert not any(a == "controls.pacing_changed" for _, a in actors)
    print(f"screenshots in {shots}")
