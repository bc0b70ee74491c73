"""The assessment office's results page in a real browser (Debian chromium through Playwright).

The assessor signs in, sees the sealed notice during fieldwork (no scores, no downloads), then,
after close, the districts table in official order, sorts it by clicking headers, sees both
ECharts charts drawn and downloads scores.xlsx. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
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
from support import Users
from test_exports import _close
from test_results import World, populate

pytestmark = BROWSER_MARKS


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, World]]:
    """The real app under uvicorn on a SQLite file holding the results test campaign (in fieldwork)."""
    db_url, engine, _ = sqlite_db(tmp_path)
    world = populate(engine, Users(cheap_settings(db_url), engine))
    try:
        with serve(tmp_path, db_url) as base:
            yield base, world
    finally:
        engine.dispose()


def test_assessor_reads_sorts_and_downloads(served: tuple[str, World], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, world = served
    url = f"{base}/campaigns/{world.campaign_id}/results"
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = launch_persistent(pw, tmp_path, accept_downloads=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on(
                "console",
                lambda m: (
                    errors.append(m.text)
                    if m.type == "error" and not m.text.startswith("Failed to load resource")
                    else None
                ),
            )
            failed: list[str] = []  # every script and style loads (CSP, no CDN); the favicon may not
            page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

            # the home page leads there (not to raw JSON)
            login(page, base, "/", "assessor", "correct horse")
            page.click(f'a[href="/campaigns/{world.campaign_id}/results"]')
            page.wait_for_url(url)

            # fieldwork: sealed notice, counts only, no charts, no downloads
            expect(page.locator("#sealed-notice")).to_contain_text("封存")
            expect(page.locator("#no-downloads")).to_be_visible()
            assert page.locator("#chart-scores").count() == 0
            headers = page.locator("#scores-table th").all_inner_texts()
            assert "得分" not in " ".join(headers) and "有效问卷" in headers
            expect(page.locator("#scores-table tbody tr")).to_have_count(8)
            page.screenshot(path=str(ARTIFACTS / "results-1-sealed.png"), full_page=True)

            _close(world)
            page.reload()
            expect(page.locator("#closed-note")).to_be_visible()
            expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
            assert page.locator("#chart-scores canvas").count() >= 1
            assert page.locator("#chart-dimensions canvas").count() >= 1
            first_column = page.locator("#scores-table tbody td[data-key=district]")
            official = first_column.all_inner_texts()
            assert official[:2] == ["张店区", "淄川区"] and len(official) == 8
            page.screenshot(path=str(ARTIFACTS / "results-2-closed.png"), full_page=True)

            # sort by score: highest first, districts without a score last; again: lowest first
            page.click("#scores-table th[data-key=score]")
            scores = page.locator("#scores-table tbody td[data-key=score]").all_inner_texts()
            assert scores[:2] == ["90.67", "40.00"] and set(scores[2:]) == {"–"}
            expect(page.locator("#scores-table th[data-key=score]")).to_have_attribute(
                "aria-sort", "descending"
            )
            page.click("#scores-table th[data-key=score]")
            assert page.locator("#scores-table tbody td[data-key=score]").all_inner_texts()[:2] == [
                "40.00",
                "90.67",
            ]
            page.click("#scores-table th[data-key=rank]")
            assert first_column.all_inner_texts()[:2] == ["张店区", "淄川区"]
            page.click("#official-order")
            assert first_column.all_inner_texts() == official
            page.screenshot(path=str(ARTIFACTS / "results-3-sorted.png"), full_page=True)

            # a download link works: the workbook opens with the page's figures
            with page.expect_download() as info:
                page.click('a[data-file="scores.xlsx"]')
            saved = tmp_path / info.value.suggested_filename
            info.value.save_as(saved)
            assert saved.name.endswith("-scores.xlsx")
            wb = openpyxl.load_workbook(io.BytesIO(saved.read_bytes()))
            assert round(wb["成绩"].cell(row=2, column=5).value, 2) == 90.67
            links = page.locator("#downloads a[data-file]").evaluate_all(
                "els => els.map(e => e.dataset.file)"
            )
            assert links == [
                "scores.xlsx",
                "scores.csv",
                "responses.xlsx",
                "responses.csv",
                "responses.sav",
                "final-scores.json",
            ]

            # English
            page.goto(f"{url}?lang=en")
            expect(page.locator("#scores-table th[data-key=score]")).to_have_text("score")
            expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
            page.screenshot(path=str(ARTIFACTS / "results-4-en.png"), full_page=True)
            assert not errors, errors
            assert [u for u in failed if not u.endswith("/favicon.ico")] == [], failed
        finally:
            browser.close()
