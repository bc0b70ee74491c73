"""The console in a real browser: Debian's chromium driven by Playwright, the real app under uvicorn
with the real dialing loop and the in-process simulated PBX (SQLite, 127.0.0.1, a random port).

An interviewer logs in, presses F2, takes the call the simulated PBX delivers, completes the
interview by keyboard alone with a reload in the middle, then books an appointment on the next call.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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
from cati.models import AnswerEvent, Campaign, Case, Interview

RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]

pytestmark = BROWSER_MARKS


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The real service on SQLite with the dialer and the simulated PBX; yields (base URL, db URL)."""
    db_url, engine, factory = sqlite_db(tmp_path)
    with transaction(factory) as s:
        built = make_campaign(
            s, code="C1", districts=1, suffix_digits=4, windows=ALWAYS_OPEN, scheduling={"topup_min_open": 0}
        )
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        dress_as_zibo(campaign)
        campaign.dialling_mode = "progressive"
        campaign.ring_timeout_s = 30
        released = cases.release_sample(s, built.campaign_id, built.district_ids[0], "resident", 4, now())
        numbers = [
            c.phone_number for c in s.execute(select(Case).where(Case.id.in_(released.case_ids))).scalars()
        ]
        user = create_user(
            s,
            username="wangfang",
            role="interviewer",
            password="correct horse",
            settings=cheap_settings(db_url),
            actor="test",
        )
        user.display_name, user.extension = "王芳", "1001"
    engine.dispose()
    # the wrap-up is long enough that the English page loads and F3 lands before the second one runs
    # out (otherwise the next call takes the seat first); well inside the page's 15 s timeout
    with serve_with_simpbx(tmp_path, db_url, numbers, ring_median=1.5, wrap_up_seconds=6) as base:
        yield base, db_url


def test_interviewer_takes_calls_by_keyboard(server: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, db_url = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_persistent(pw, tmp_path)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            login(page, base, "/console", "wangfang", "correct horse")  # the login page, back here
            expect(page.locator("#seat-status")).to_have_text("离线")
            page.screenshot(path=str(ARTIFACTS / "console-1-offline.png"))

            script = page.locator("#script")

            def at(item: str, timeout: float = 5000) -> None:
                expect(script).to_have_attribute("data-item", item, timeout=timeout)

            # F2: ready; the dialer calls a number, the simulated PBX answers, the case opens at once
            page.keyboard.press("F2")
            at("s_line")
            expect(page.locator("#seat-status")).to_have_text("通话中")
            expect(page.locator("#case-district")).to_have_text("区0")
            phone = page.locator("#case-phone").inner_text()
            assert phone.startswith("****") and phone[-4:].isdigit()
            expect(page.locator("#intro")).to_have_attribute("open", "")
            page.screenshot(path=str(ARTIFACTS / "console-2-call.png"))

            page.keyboard.press("1")  # home phone
            at("s_age")
            page.keyboard.type("45")
            page.keyboard.press("Enter")
            at("s_tie")
            page.keyboard.press("1")  # lives in the district
            at("overall")
            page.keyboard.press("2")
            at("q1")
            page.keyboard.press("3")
            at("q2")
            page.keyboard.press("b")  # back to correct q1
            at("q1")
            expect(page.locator('#q-options button[data-option="3"]')).to_have_class("chosen")
            page.keyboard.press("1")
            at("q2")
            page.keyboard.press("4")
            at("q3")
            page.screenshot(path=str(ARTIFACTS / "console-3-question.png"))
            # the interviewer sees numbers and words, never an item id (header, review of answers)
            expect(page.locator("#q-id")).to_have_text("第 4 题")
            review = page.locator("#answers").text_content() or ""
            assert "甄别题 1：住宅电话" in review and "甄别题 2：45" in review, review
            shown = page.locator("body").inner_text() + review
            assert not re.search(r"\b(s_line|s_age|s_tie|overall|q(?:10|[1-9])|suggestions)\b", shown), shown

            # the browser reloads (or crashed): the interview resumes exactly there
            page.reload()
            at("q3")
            expect(page.locator("#progress-text")).to_have_text("6 / 15")
            for item, key in zip(RATED[3:10], "1234123", strict=True):
                at(item)
                page.keyboard.press(key)
            at("q10")
            page.keyboard.press("1")
            at("suggestions")
            page.keyboard.type("希望多修几条路，路灯晚上常常不亮。")
            page.keyboard.press("Enter")
            expect(page.locator("#ending-title")).to_have_text("结束语")
            expect(page.locator('#disp-choices button[data-code="complete"]')).to_have_class("suggested")
            page.screenshot(path=str(ARTIFACTS / "console-4-disposition.png"))
            page.keyboard.press("1")  # complete
            expect(page.locator("#wrapup")).to_be_visible()
            expect(page.locator("#fig-completes")).to_have_text("1")
            page.screenshot(path=str(ARTIFACTS / "console-5-wrapup.png"))

            # the wrap-up runs out (6 s); the next call arrives by itself; book an appointment
            at("s_line", timeout=20000)
            expect(page.locator("#fig-calls")).to_have_text("2")
            page.keyboard.press("Escape")
            expect(page.locator("#disposition")).to_be_visible()
            page.keyboard.press("5")  # appointment
            expect(page.locator("#appt-at")).to_be_focused()
            page.keyboard.press("Tab")
            page.keyboard.press("Control+A")
            page.keyboard.type("20:15")
            page.keyboard.press("Tab")
            page.keyboard.type("晚上八点后再打")
            page.keyboard.press("Tab")
            page.keyboard.press("Space")  # keep it for me
            page.screenshot(path=str(ARTIFACTS / "console-6-appointment.png"))
            page.keyboard.press("Enter")
            expect(page.locator("#wrapup")).to_be_visible()

            # English switch
            page.goto(f"{base}/console?lang=en")
            expect(page.locator("h1")).to_have_text("Interviewer console")
            # keys count only once the page has the seat's state (still in wrap-up) and the menu is open
            expect(page.locator("#seat-status")).to_have_text("Wrap-up")
            page.keyboard.press("F3")
            expect(page.locator("#pause-panel")).to_be_visible()
            page.keyboard.press("2")  # meal
            expect(page.locator("#seat-status")).to_have_text("Paused · Meal")
            page.screenshot(path=str(ARTIFACTS / "console-7-english-paused.png"))
        finally:
            browser.close()

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as s:
        done = s.execute(select(Interview).where(Interview.finished.is_(True))).scalars().all()
        assert len(done) == 1 and done[0].disposition == "1.1" and done[0].valid_for_scoring
        assert done[0].score_row is not None and done[0].score_row["q1"] == "good"  # the corrected answer
        assert done[0].problems_text == "希望多修几条路，路灯晚上常常不亮。"
        kinds = [
            e.kind
            for e in s.execute(select(AnswerEvent).where(AnswerEvent.interview_id == done[0].id)).scalars()
        ]
        assert "back" in kinds and "change" in kinds
        booked = s.execute(select(Case).where(Case.appointment_at.is_not(None))).scalars().all()
        assert len(booked) == 1 and booked[0].appointment_note == "晚上八点后再打"
        assert booked[0].appointment_interviewer_id is not None and booked[0].status == "scheduled"
        at = booked[0].appointment_at
        assert at is not None and (at.hour, at.minute) == (12, 15)  # 20:15 in Shanghai
    engine.dispose()
