"""The announcement page in a real browser (Debian's chromium via Playwright, the app under uvicorn):
a witness opens the results sheet of a closed campaign, signs it with their password, and sees their
signature appear in their party's block. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_results import World, _interview

from cati.auth.service import create_user
from cati.campaigns.close import close_campaign
from cati.db import make_engine, transaction, upgrade
from cati.models import CampaignClosure
from cati.settings import Settings

CHROMIUM = "/usr/bin/chromium"
UVICORN = [sys.executable, "-m", "uvicorn", "cati.app:create_app", "--factory", "--host", "127.0.0.1"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, int, str]]:
    """A closed Zibo campaign on SQLite served by uvicorn; yields (base URL, campaign id, digest)."""
    db_url = f"sqlite:///{tmp_path / 'cati.sqlite3'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    cheap = Settings(
        env="test", database_url=db_url, argon2_time_cost=1, argon2_memory_kib=1024, dialer=False
    )
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
    port = _free_port()
    env = {
        **os.environ,
        "CATI_ENV": "test",
        "CATI_DATABASE_URL": db_url,
        "CATI_DATA_DIR": str(tmp_path / "d"),
    }
    env["CATI_DIALER"] = "false"
    proc = subprocess.Popen(
        [*UVICORN, "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise AssertionError(f"the service did not start:\n{out}") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", w.campaign_id, sha
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_witness_signs_the_announcement(server: tuple[str, int, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, cid, sha = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--no-first-run",
                "--disable-component-update",
            ],
            viewport={"width": 1366, "height": 768},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            path = f"/campaigns/{cid}/announcement"
            page.goto(f"{base}{path}")  # not signed in: the login page, back here afterwards
            page.fill("#username", "notary1")
            page.fill("#password", "correct horse")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}{path}")
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
