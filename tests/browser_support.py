"""What every browser test shares: Debian's chromium (never a downloaded one), the real app served by
uvicorn in a subprocess on a free port, the login form, and where screenshots go.

Each test keeps its own data set-up; this module only serves it and opens the browser on it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from console_support import INSTRUMENT_TEXT, Fieldwork, deliver_call

from cati.db import make_engine, make_sessionmaker, upgrade
from cati.demo.run import free_port
from cati.models import Campaign
from cati.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
#: ``pytestmark`` of a browser test module: marked, and skipped where Debian's chromium is missing.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"
    ),
]
#: chromium's flags: no sandbox (containers), nothing fetched behind the test's back.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENING = [("s_line", 1), ("s_age", 45), ("s_tie", 1)]
RATED = ["overall", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q10"]

__all__ = ["ARTIFACTS", "BROWSER_MARKS", "CHROMIUM", "free_port"]


def cheap_settings(db_url: str) -> Settings:
    """Settings for creating accounts fast (cheap argon2) on ``db_url``."""
    return Settings(env="test", database_url=db_url, argon2_time_cost=1, argon2_memory_kib=1024, dialer=False)


def dress_as_zibo(campaign: Campaign) -> None:
    """The Zibo survey's names and the built-in instrument with its published sha256."""
    campaign.name_zh, campaign.name_en = "淄博市群众满意度调查", "Zibo satisfaction survey"
    campaign.instrument_name, campaign.instrument_text = "satisfaction.yaml", INSTRUMENT_TEXT
    campaign.instrument_sha256 = hashlib.sha256(INSTRUMENT_TEXT.encode()).hexdigest()


def sqlite_db(tmp_path: Path) -> tuple[str, Engine, sessionmaker[Session]]:
    """A fresh SQLite file in ``tmp_path`` migrated to head: (URL, engine, session factory)."""
    db_url = f"sqlite:///{tmp_path / 'cati.sqlite3'}"
    upgrade(db_url)
    engine = make_engine(db_url)
    return db_url, engine, make_sessionmaker(engine)


@contextmanager
def serve_with_simpbx(
    tmp_path: Path, db_url: str, answering: list[str], *, ring_median: float, wrap_up_seconds: int
) -> Iterator[str]:
    """:func:`serve` with the real dialing loop and the in-process simulated PBX, which answers the
    ``answering`` numbers after about ``ring_median`` seconds (seeded)."""
    model = tmp_path / "pbx-model.yaml"
    model.write_text(
        yaml.safe_dump(
            {
                "fixed": dict.fromkeys(answering, "answer"),
                "defaults": {"ring_median": ring_median, "ring_min": 1, "ring_max": 2, "talk_seconds": 0},
            }
        ),
        encoding="utf-8",
    )
    with serve(
        tmp_path,
        db_url,
        CATI_DIALER="true",
        CATI_SIM_MODEL=str(model),
        CATI_SIM_SEED="5",
        CATI_WRAP_UP_SECONDS=str(wrap_up_seconds),
        CATI_DIALER_TICK_SECONDS="0.2",
    ) as base:
        yield base


@contextmanager
def serve(tmp_path: Path, db_url: str, **env: str) -> Iterator[str]:
    """The real app under uvicorn on ``db_url`` (dialer off unless ``CATI_DIALER`` says otherwise);
    yields its base URL once it answers ``/api/v1/health`` and stops it afterwards."""
    port = free_port()
    full_env = {
        **os.environ,
        "CATI_ENV": "test",
        "CATI_DATABASE_URL": db_url,
        "CATI_DATA_DIR": str(tmp_path / "data"),
        "CATI_DIALER": "false",
        **env,
    }
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "uvicorn", "cati.app:create_app", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
        ],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"the service did not start:\n{out}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def launch(pw: Playwright) -> Browser:
    """Debian's chromium, headless, for tests that open several contexts."""
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def launch_persistent(
    pw: Playwright,
    tmp_path: Path,
    *,
    locale: str = "zh-CN",
    timezone_id: str = "Asia/Shanghai",
    **kwargs: Any,
) -> BrowserContext:
    """Debian's chromium with a profile in ``tmp_path``, 1366x768, in Shanghai and Chinese by default."""
    return pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=["--headless", *CHROMIUM_ARGS],
        viewport={"width": 1366, "height": 768},
        locale=locale,
        timezone_id=timezone_id,
        **kwargs,
    )


def login(page: Page, base: str, path: str, username: str, password: str, landing: str | None = None) -> None:
    """Open ``path`` (the login page when signed out), sign in through the form by keyboard, and wait
    for ``landing`` (default: back at ``path``)."""
    page.goto(f"{base}{path}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}{landing if landing is not None else path}")


def complete_interview(http: httpx.Client, fw: Fieldwork, user_id: int) -> None:
    """A call delivered to ``user_id``'s ready seat, every item answered through the console API, coded
    complete (``http`` carries the interviewer's token)."""
    deliver_call(fw, user_id)
    for item_id, value in [*SCREENING, *((q, 2) for q in RATED), ("suggestions", "路灯")]:
        iv = http.get("/api/v1/console/state").json()["current"]["interview"]
        assert iv["item"]["id"] == item_id
        r = http.post(
            "/api/v1/console/interview",
            json={"action": "answer", "item_id": item_id, "value": value, "version": iv["version"]},
        )
        assert r.status_code == 200, r.text
    assert http.post("/api/v1/console/disposition", json={"code": "complete"}).status_code == 200
