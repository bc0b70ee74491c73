"""The witness room in a real browser: Debian's chromium driven by Playwright, the real app under
uvicorn (SQLite, 127.0.0.1, a random port, no dialer: calls are delivered as the dialing loop does).

A notary signs in and opens ``/witness``; an interviewer then completes an interview through the
console API; the page's figures change without a reload. Screenshots at 1920x1080 and 1366x768 go
to the test's tmp dir.
"""

from __future__ import annotations

import hashlib
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
from console_support import INSTRUMENT_TEXT, Fieldwork, now
from sqlalchemy import select

from cati.auth.service import create_user, issue_api_token
from cati.cases import service as cases
from cati.db import transaction
from cati.models import Campaign, Case, User

pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url, engine, factory = sqlite_db(tmp_path)
    cheap = cheap_settings(db_url)
    with transaction(factory) as s:
        built = make_campaign(s, code="C1", districts=2, suffix_digits=4, windows=ALWAYS_OPEN)
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        dress_as_zibo(campaign)
        cases.release_sample(s, built.campaign_id, built.district_ids[0], "resident", 4, now())
        numbers = list(s.execute(select(Case.phone_number)).scalars())
        create_user(s, username="notary", role="witness", password="correct horse", settings=cheap, actor="t")
        iv = create_user(
            s, username="iv01", role="interviewer", password="pw-iv01-long", settings=cheap, actor="t"
        )
        iv_id = iv.id
    with transaction(factory) as s:
        user = s.execute(select(User).where(User.username == "iv01")).scalar_one()
        token, _ = issue_api_token(s, user, cheap, actor="t")
    try:
        with serve(tmp_path, db_url) as base:
            yield {
                "base": base,
                "fw": Fieldwork(factory, built.campaign_id, built.district_ids),
                "iv_id": iv_id,
                "token": token,
                "numbers": numbers,
            }
    finally:
        engine.dispose()


def _interviewer_completes(base: str, token: str, fw: Fieldwork, iv_id: int) -> None:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=10) as http:
        assert http.post("/api/v1/console/ready", json={}).status_code == 200
        complete_interview(http, fw, iv_id)


def test_the_witness_room_follows_fieldwork_live(server: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server["base"]
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            page = ctx.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            login(page, base, "/", "notary", "correct horse")
            page.click('a[data-link="witness"]')
            page.wait_for_url(f"{base}/witness")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#f-completes")).to_have_text("0 / 20")
            expect(page.locator("#f-status")).to_have_text("调查进行中")
            expect(page.locator("#scores-sealed")).to_be_visible()
            expect(page.locator("#p-digest")).to_have_text(
                hashlib.sha256(INSTRUMENT_TEXT.encode()).hexdigest()
            )
            first_id = int(page.evaluate("document.body.dataset.eventId"))
            page.screenshot(path=str(shots / "witness-1-before-1920.png"), full_page=True)

            _interviewer_completes(base, server["token"], server["fw"], server["iv_id"])

            expect(page.locator("#f-completes")).to_have_text("1 / 20")  # no reload
            assert int(page.evaluate("document.body.dataset.eventId")) > first_id
            expect(page.locator("#progress-table tbody tr").first).to_contain_text("区0")
            expect(page.locator("#audit-table")).to_contain_text("访问员记录结果")
            html = page.content()
            for number in server["numbers"]:
                assert number not in html
            page.screenshot(path=str(shots / "witness-2-after-1920.png"), full_page=True)
            page.set_viewport_size({"width": 1366, "height": 768})
            page.screenshot(path=str(shots / "witness-3-1366.png"))

            page.goto(f"{base}/witness?lang=en")
            expect(page.locator("#conn")).to_have_text("Live")
            expect(page.locator("#f-status")).to_have_text("Fieldwork")
            page.screenshot(path=str(shots / "witness-4-en-1366.png"))
            assert errors == []
        finally:
            browser.close()
    print(f"screenshots in {shots}")
