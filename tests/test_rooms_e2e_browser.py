"""The witness rooms end to end, as their users meet them: ``cati demo`` runs a small survey (a real
process: uvicorn, the dialing loop, the simulated PBX over AMI, simulated interviewers), and Debian's
chromium walks the supervisor, the three witnesses and the assessment office through it:

1. the supervisor watches ``/supervise`` and a witness ``/witness`` fill up live, no reload;
2. the quotas fill; the admin closes fieldwork (HTTP, as the API documents);
3. each witness account opens the announcement, re-enters its password and signs for its party;
4. the assessment office opens the results page and downloads scores.xlsx and responses.sav; the
   kit (bundle.zip) is checked with ``cati verify`` in a clean directory, and the PDF sheet carries
   all three signatures.

Screenshots go to ``test-artifacts/rooms-*.png``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import ARTIFACTS, BROWSER_MARKS, free_port, launch, login

ROOT = Path(__file__).resolve().parent.parent

pytestmark = BROWSER_MARKS

#: (account, party key) of the witnesses the demo creates: each signs for its own office.
SIGNERS = [("kaohe", "assessment_office"), ("jiwei", "discipline"), ("witness", "notary")]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATI_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """``cati demo`` on a fresh data directory: yields (base URL, passwords by account, data dir)."""
    data = tmp_path / "data"
    port = free_port()
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cati.cli", "demo", "--data-dir", str(data), "--port", str(port),
         "--quota", "1", "--districts", "1", "--interviewers", "4", "--speed", "120"],
        stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=tmp_path,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "demo.log").read_text(errors="replace")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo did not start serving"
            time.sleep(0.3)
        logins = {}
        for line in (data / "demo-logins.txt").read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                user, _role, password = line.split("\t")
                logins[user] = password
        yield base, logins, data
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _token(base: str, user: str, password: str) -> dict[str, str]:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _shown(page: Any) -> int:
    """The completes a room shows in ``#f-completes`` ("X / target")."""
    return int(page.locator("#f-completes").inner_text().split("/")[0])


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rooms-{name}.png"), full_page=True)


@pytest.mark.timeout(300)
def test_supervisor_witnesses_and_assessor_through_a_demo_survey(
    demo: tuple[str, dict[str, str], Path], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, logins, _data = demo
    sup = _token(base, "supervisor", logins["supervisor"])
    campaigns = httpx.get(f"{base}/api/v1/campaigns", headers=sup, timeout=30).json()
    cid, code = campaigns[0]["id"], campaigns[0]["code"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        try:

            def page_for(user: str, path: str, size: tuple[int, int] = (1366, 768)) -> Any:
                ctx = browser.new_context(
                    viewport={"width": size[0], "height": size[1]},
                    locale="zh-CN",
                    timezone_id="Europe/London",  # times must still show in the campaign's zone
                    accept_downloads=True,
                )
                page = ctx.new_page()
                page.set_default_timeout(20000)
                page.on("pageerror", lambda exc: errors.append(f"{user}: {exc}"))
                login(page, base, path, user, logins[user])
                return page

            # 1. fieldwork, live: the supervisor's room on a wall screen, a witness on a laptop
            room = page_for("supervisor", "/supervise", (1920, 1080))
            expect(room.locator("#conn")).not_to_have_class("conn connecting")
            expect(room.locator("#cells-table")).to_contain_text("张店区")
            watch = page_for("witness", "/witness")
            commitment = httpx.get(f"{base}/api/v1/campaigns/{cid}", headers=sup, timeout=30).json()[
                "seed_commitment"
            ]
            expect(watch.locator("#p-commitment")).to_have_text(commitment)
            expect(watch.locator("#f-completes")).to_contain_text("/")  # the first snapshot is in
            first = _shown(watch)
            _shot(room, "1-supervise-fieldwork")
            _shot(watch, "2-witness-fieldwork")

            # the quotas fill (two cells of one completes each); the rooms follow without a reload
            deadline = time.monotonic() + 150
            while True:
                live = httpx.get(f"{base}/api/v1/campaigns/{cid}/live", headers=sup, timeout=30).json()
                totals = live["progress"]["totals"]
                if totals["completes"] >= totals["target"]:
                    break
                assert time.monotonic() < deadline, totals
                time.sleep(1)
            # the witness room catches up with the full quotas without a reload ("X / target")
            watch.wait_for_function(
                "t => parseInt(document.querySelector('#f-completes').textContent) >= t",
                arg=totals["target"],
                timeout=30000,
            )
            assert _shown(watch) > first or first >= totals["target"]
            expect(watch.locator("#scores-sealed")).to_be_visible()  # sealed until close
            results = page_for("assessor", f"/campaigns/{cid}/results")
            expect(results.locator("#sealed-notice")).to_be_visible()
            assert httpx.get(
                f"{base}/api/v1/campaigns/{cid}/exports/scores.csv",
                headers=_token(base, "assessor", logins["assessor"]),
                timeout=30,
            ).status_code == 409

            # 2. the admin closes fieldwork (calls still in hand are broken off and coded)
            admin = _token(base, "admin", logins["admin"])
            r = httpx.post(
                f"{base}/api/v1/campaigns/{cid}/close",
                json={"reason": "配额已满，实地访问结束", "force": True},
                headers=admin,
                timeout=60,
            )
            assert r.status_code == 200, r.text
            digest = r.json()["results_sha256"]
            expect(watch.locator("#f-status")).to_contain_text("结束", timeout=30000)
            _shot(room, "3-supervise-closed")

            # 3. every witness signs the announcement for its own office
            for user, party in SIGNERS:
                sheet = page_for(user, f"/campaigns/{cid}/announcement")
                expect(sheet.locator("#results-digest")).to_have_text(digest)
                expect(sheet.locator("#commitment-match")).to_contain_text("一致")
                sheet.select_option("#sign-party", party)
                sheet.fill("#sign-password", logins[user])
                sheet.click("#sign-submit")
                expect(sheet.locator(f'.sig[data-party="{party}"]')).to_contain_text(digest[:20])
                expect(sheet.locator("#sign-status")).to_be_visible()
            sheet.reload()
            for _user, party in SIGNERS:
                expect(sheet.locator(f'.sig[data-party="{party}"] .signed')).to_have_count(1)
            _shot(sheet, "4-announcement-signed")

            # 4. the assessment office: results page, downloads, the kit
            results.reload()
            expect(results.locator("#closed-note")).to_be_visible()
            expect(results.locator("#scores-table")).to_contain_text("张店区")
            _shot(results, "5-results")
            files: dict[str, bytes] = {}
            for name in ("scores.xlsx", "responses.sav"):
                with results.expect_download() as got:
                    results.click(f'a[data-file="{name}"]')
                files[name] = Path(got.value.path()).read_bytes()
            bundle = results.request.get(f"{base}/api/v1/campaigns/{cid}/bundle.zip")
            assert bundle.status == 200
            kit_bytes = bundle.body()
            pdf = results.request.get(f"{base}/api/v1/campaigns/{cid}/announcement.pdf")
            assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
        finally:
            browser.close()
    assert not errors, errors

    # the downloads open in the office's own tools
    import openpyxl
    import pyreadstat

    sheet_rows = list(openpyxl.load_workbook(io.BytesIO(files["scores.xlsx"])).worksheets[0].values)
    assert any("张店区" in [str(c) for c in row] for row in sheet_rows)
    sav = tmp_path / "responses.sav"
    sav.write_bytes(files["responses.sav"])
    frame, meta = pyreadstat.read_sav(str(sav))
    assert len(frame) >= 2 and meta.variable_value_labels
    numbers = _numbers(_data)
    for blob in (files["scores.xlsx"], files["responses.sav"], kit_bytes):
        assert not any(n.encode() in blob for n in numbers)

    # the kit verifies in a clean directory, with nothing of the service, and knows the signatures
    kit = tmp_path / "clean" / f"{code}-bundle.zip"
    kit.parent.mkdir()
    kit.write_bytes(kit_bytes)
    with zipfile.ZipFile(kit) as z:
        signed = json.loads(z.read("signoffs.json"))
    assert sorted(s["party"] for s in signed) == sorted(p for _u, p in SIGNERS)
    done = subprocess.run(
        [sys.executable, "-m", "cati.cli", "verify", str(kit)],
        capture_output=True, text=True, env=_env(), cwd=kit.parent, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert digest in done.stdout


def _numbers(data: Path) -> list[str]:
    """The phone numbers the demo dialled (straight from its SQLite file)."""
    import sqlite3

    dbs = list(data.glob("*.sqlite3"))
    assert dbs, list(data.iterdir())
    with sqlite3.connect(dbs[0]) as db:
        return [str(r[0]) for r in db.execute("select phone_number from cases")]
