"""The interviewer's console across a crash of the service (Playwright + Debian chromium).

The real service (uvicorn, dialer, built-in PBX) is SIGKILLed while the interviewer is in an
interview and started again on the same data. The console, reloaded, shows the case in wrap-up with
"对方已挂断"; the interviewer may finish typing, but "complete" is refused until the audited
"受访者回拨/以其他方式完成" box is ticked.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from browser_support import CHROMIUM, RATED
from case_factory import ALWAYS_OPEN, make_campaign
from console_support import now
from sqlalchemy import select

from cati.auth.service import create_user
from cati.campaigns.instruments import BUILTIN_DIR
from cati.cases import service as cases
from cati.db import make_engine, make_sessionmaker, transaction, upgrade
from cati.demo.run import free_port
from cati.models import AuditEntry, Campaign, Case, Interview
from cati.settings import Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]


def _data(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A one-district campaign whose numbers all answer; the service's environment."""
    db_url = f"sqlite:///{tmp_path / 'cati.sqlite3'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    text = (BUILTIN_DIR / "satisfaction.yaml").read_text(encoding="utf-8")
    cheap = Settings(env="test", database_url=db_url, argon2_time_cost=1, argon2_memory_kib=1024)
    with transaction(make_sessionmaker(engine)) as s:
        built = make_campaign(s, code="C1", districts=1, suffix_digits=4, windows=ALWAYS_OPEN)
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        campaign.instrument_name, campaign.instrument_text = "satisfaction.yaml", text
        campaign.instrument_sha256 = hashlib.sha256(text.encode()).hexdigest()
        campaign.dialling_mode = "progressive"
        released = cases.release_sample(s, built.campaign_id, built.district_ids[0], "resident", 4, now())
        numbers = [
            c.phone_number for c in s.execute(select(Case).where(Case.id.in_(released.case_ids))).scalars()
        ]
        create_user(
            s, username="wangfang", role="interviewer", password="correct horse", settings=cheap, actor="test"
        )
    engine.dispose()
    model = tmp_path / "pbx-model.yaml"
    defaults = {"ring_median": 1.5, "ring_min": 1, "ring_max": 2, "talk_seconds": 0}
    model.write_text(yaml.safe_dump({"fixed": dict.fromkeys(numbers, "answer"), "defaults": defaults}))
    env = {
        **os.environ,
        "CATI_ENV": "test",
        "CATI_DATABASE_URL": db_url,
        "CATI_DATA_DIR": str(tmp_path / "data"),
        "CATI_DIALER": "true",
        "CATI_SIM_MODEL": str(model),
        "CATI_DIALER_TICK_SECONDS": "0.2",
    }
    return db_url, env


def _serve(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "cati.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the service did not start"
            time.sleep(0.1)


def test_a_crash_mid_interview_then_the_console_codes_the_dropped_call(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    db_url, env = _data(tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _serve(port, env)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768}).new_page()
                page.set_default_timeout(15000)
                page.goto(f"{base}/console")
                page.fill("#username", "wangfang")
                page.fill("#password", "correct horse")
                page.keyboard.press("Enter")
                page.wait_for_url(f"{base}/console")
                expect(page.locator("#seat-status")).to_have_text("离线")
                script = page.locator("#script")

                def at(item: str) -> None:
                    expect(script).to_have_attribute("data-item", item)

                page.keyboard.press("F2")
                at("s_line")
                page.keyboard.press("1")
                at("s_age")
                page.keyboard.type("45")
                page.keyboard.press("Enter")
                at("s_tie")
                page.keyboard.press("1")
                at("overall")

                # the service dies (kill -9) and is started again on the same data
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                proc = _serve(port, env)
                page.reload()
                expect(page.locator("#seat-status")).to_have_text("整理")
                expect(page.locator("#line-dropped")).to_be_visible()
                expect(page.locator("#line-dropped")).to_contain_text("对方已挂断")
                expect(page.locator("#wrapup")).to_be_hidden()  # no countdown to the next call
                at("overall")  # the interview is kept where it was

                # the interviewer goes on typing after the drop (notes are saved) ...
                for item in RATED:
                    at(item)
                    page.keyboard.press("2")
                at("suggestions")
                page.keyboard.type("路灯")
                page.keyboard.press("Enter")
                expect(page.locator("#disposition")).to_be_visible()
                expect(page.locator("#disp-elsewhere-row")).to_be_visible()
                # ... but "complete" is refused without saying how it was completed
                page.keyboard.press("1")
                expect(page.locator("#notice")).to_contain_text("对方已挂断")
                expect(page.locator("#wrapup")).to_be_hidden()
                page.locator("#disp-elsewhere").check()
                page.locator('#disp-choices button[data-code="complete"]').click()
                expect(page.locator("#wrapup")).to_be_visible()
                expect(page.locator("#fig-completes")).to_have_text("1")
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        done = s.execute(select(Interview).where(Interview.finished.is_(True))).scalars().all()
        assert len(done) == 1 and done[0].disposition == "1.1"
        coded = s.execute(select(AuditEntry).where(AuditEntry.action == "console.disposition")).scalar_one()
        assert coded.details["completed_elsewhere"] is True and coded.details["line_dropped_at"]
    engine.dispose()
