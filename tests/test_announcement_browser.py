"""The announcement page in a real browser (Debian's chromium via Playwright, the app under uvicorn):
a witness opens the results sheet of a closed campaign, signs it with their password, and sees their
signature appear in their party's block. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    BROWSER_MARKS,
    cheap_settings,
    launch_persistent,
    login,
    serve,
    sqlite_db,
)
from test_results import World, _interview

from cati.auth.service import create_user
from cati.campaigns.close import close_campaign
from cati.db import transaction
from cati.models import CampaignClosure

pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """A closed Zibo campaign on SQLite served by uvicorn; yields (base URL, campaign id, digest)."""
    db_url, engine, _ = sqlite_db(tmp_path)
    cheap = cheap_settings(db_url)
    w = World(engine)
    with transaction(w.factory) as s:
        for name, role, shown in (("notary1", "witness", "李公证"), ("admin", "admin", "")):
            user = create_user(
                s, username=name, role=role, password="correct horse", settings=cheap, actor="t"
            )
            user.display_name = shown
        good = ["good"] * 11
        w.case(
            s,
            "zhangdian",
            "resident",
            ["1.1"],
            final="1.1",
            interview=_interview(w.instrument, "resident", good),
        )
        w.case(
            s,
            "zichuan",
            "staff",
            ["1.1"],
            final="1.1",
            interview=_interview(w.instrument, "staff", ["average"] * 11),
        )
    with transaction(w.factory) as s:
        close_campaign(s, w.campaign_id, reason="实地调查结束", force=True, actor="admin", now=_now())
    with transaction(w.factory) as s:
        closure = s.get(CampaignClosure, w.campaign_id)
        assert closure is not None
        sha = closure.results_sha256
    engine.dispose()
    with serve(tmp_path, db_url) as base:
        yield base, w.campaign_id, sha


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_witness_signs_the_announcement(server: tuple[str, int, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, cid, sha = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_persistent(pw, tmp_path)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            # the public pre-announcement: no login, the plan and the commitment, the revealed seed
            page.goto(f"{base}/public/campaigns/zibo-2026")
            expect(page.locator("#seed")).to_be_visible()
            expect(page.locator("#districts")).to_contain_text("张店区")
            page.screenshot(path=str(ARTIFACTS / "announcement-0-public.png"), full_page=True)
            path = f"/campaigns/{cid}/announcement"
            login(page, base, path, "notary1", "correct horse")  # the login page, back here afterwards
            expect(page.locator("#results-digest")).to_have_text(sha)
            expect(page.locator("#commitment-match")).to_contain_text("一致")
            assert page.locator("#digest-qr").evaluate("img => img.naturalWidth") > 0
            notary = page.locator('.sig[data-party="notary"]')
            expect(notary).to_contain_text("尚未签字")
            page.screenshot(path=str(ARTIFACTS / "announcement-1-sheet.png"), full_page=True)
            # a wrong password: the page says so and nothing is signed
            page.select_option("#sign-party", "notary")
            page.fill("#sign-password", "wrong")
            page.click("#sign-submit")
            expect(page.locator("#sign-error")).to_contain_text("密码错误")
            page.locator("#sign-form").screenshot(path=str(ARTIFACTS / "announcement-2-wrong-password.png"))
            page.fill("#sign-password", "correct horse")
            page.click("#sign-submit")
            expect(notary).to_contain_text("李公证")
            expect(notary).to_contain_text(sha[:20])
            expect(page.locator("#sign-status")).to_have_text("本账号已签字。")
            expect(page.locator('.sig[data-party="discipline"]')).to_contain_text("尚未签字")
            page.locator("#sheet-signatures").screenshot(path=str(ARTIFACTS / "announcement-3-signed.png"))
            pdf = page.request.get(f"{base}/api/v1/campaigns/{cid}/announcement.pdf")
            assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
        finally:
            browser.close()
