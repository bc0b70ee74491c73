"""The witness room in a real browser: Debian's chromium driven by Playwright, the real app under
uvicorn (SQLite, 127.0.0.1, a random port, no dialer: calls are delivered as the dialing loop does).

A notary signs in and opens ``/witness``; an interviewer then completes an interview through the
console API; the page's figures change without a reload. Screenshots at 1920x1080 and 1366x768 go
to the test's tmp dir.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from case_factory import ALWAYS_OPEN, make_campaign
from console_support import Fieldwork, deliver_call, now
from sqlalchemy import select

from cati.auth.service import create_user, issue_api_token
from cati.campaigns.instruments import BUILTIN_DIR
from cati.cases import service as cases
from cati.db import make_engine, make_sessionmaker, transaction, upgrade
from cati.models import Campaign, Case, User
from cati.settings import Settings

CHROMIUM = "/usr/bin/chromium"
SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]

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
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path / 'cati.sqlite3'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    text = (BUILTIN_DIR / "satisfaction.yaml").read_text(encoding="utf-8")
    cheap = Settings(
        env="test", database_url=db_url, argon2_time_cost=1, argon2_memory_kib=1024, dialer=False
    )
    with transaction(factory) as s:
        built = make_campaign(s, code="C1", districts=2, suffix_digits=4, windows=ALWAYS_OPEN)
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        campaign.name_zh, campaign.name_en = "淄博市群众满意度调查", "Zibo satisfaction survey"
        campaign.instrument_name, campaign.instrument_text = "satisfaction.yaml", text
        campaign.instrument_sha256 = hashlib.sha256(text.encode()).hexdigest()
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
    port = _free_port()
    env = {
        **os.environ,
        "CATI_ENV": "test",
        "CATI_DATABASE_URL": db_url,
        "CATI_DATA_DIR": str(tmp_path / "data"),
        "CATI_DIALER": "false",
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "cati.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
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
        yield {
            "base": f"http://127.0.0.1:{port}",
            "fw": Fieldwork(factory, built.campaign_id, built.district_ids),
            "iv_id": iv_id,
            "token": token,
            "numbers": numbers,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        engine.dispose()


def _interviewer_completes(base: str, token: str, fw: Fieldwork, iv_id: int) -> None:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=10) as http:
        assert http.post("/api/v1/console/ready", json={}).status_code == 200
        deliver_call(fw, iv_id)
        for item_id, value in [*SCREENING, *((q, 2) for q in RATED), ("suggestions", "路灯")]:
            iv = http.get("/api/v1/console/state").json()["current"]["interview"]
            assert iv["item"]["id"] == item_id
            r = http.post(
                "/api/v1/console/interview",
                json={"action": "answer", "item_id": item_id, "value": value, "version": iv["version"]},
            )
            assert r.status_code == 200, r.text
        assert http.post("/api/v1/console/disposition", json={"code": "complete"}).status_code == 200


def test_the_witness_room_follows_fieldwork_live(server: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = server["base"]
    shots = tmp_path / "shots"
    shots.mkdir()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        try:
            ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
            page = ctx.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/")
            page.fill("#username", "notary")
            page.fill("#password", "correct horse")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/")
            page.click('a[data-link="witness"]')
            page.wait_for_url(f"{base}/witness")
            expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            expect(page.locator("#f-completes")).to_have_text("0 / 20")
            expect(page.locator("#f-status")).to_have_text("调查进行中")
            expect(page.locator("#scores-sealed")).to_be_visible()
            expect(page.locator("#p-digest")).to_have_text(
                hashlib.sha256((BUILTIN_DIR / "satisfaction.yaml").read_bytes()).hexdigest()
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
