"""Helpers for the console tests: a campaign with the real instrument, calls delivered as the dialer does."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

from case_factory import make_campaign
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cati.campaigns.instruments import BUILTIN_DIR
from cati.cases import service as cases
from cati.console import service as console
from cati.db import make_sessionmaker, transaction
from cati.models import Campaign, Interview

INSTRUMENT_TEXT = (BUILTIN_DIR / "satisfaction.yaml").read_text(encoding="utf-8")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Fieldwork:
    factory: sessionmaker[Session]
    campaign_id: int
    district_ids: list[int]


def make_fieldwork(
    engine: Engine, *, mode: str = "progressive", stratum: str = "resident", count: int = 6
) -> Fieldwork:
    """A campaign in fieldwork with the built-in instrument and ``count`` released resident numbers."""
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        built = make_campaign(s, code="C1", districts=1, suffix_digits=4)
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        campaign.instrument_name = "satisfaction.yaml"
        campaign.instrument_text = INSTRUMENT_TEXT
        campaign.instrument_sha256 = hashlib.sha256(INSTRUMENT_TEXT.encode()).hexdigest()
        campaign.dialling_mode = mode
        s.flush()
        cases.release_sample(s, built.campaign_id, built.district_ids[0], stratum, count, now())
    return Fieldwork(factory, built.campaign_id, built.district_ids)


def deliver_call(fw: Fieldwork, user_id: int | None = None) -> tuple[int, int, int]:
    """What the dialing loop does for one answered call: (case id, attempt id, interview id).

    Picks the longest-idle ready seat (or ``user_id``'s), hands out the next case, opens an attempt,
    reserves the seat, and connects the call.
    """
    with transaction(fw.factory) as s:
        seat = console.pick_ready_seat(s, fw.campaign_id, now=now(), prefer_user_id=user_id)
        assert seat is not None, "no ready seat"
        if user_id is not None:
            assert seat.user_id == user_id
        c = cases.next_case(s, fw.campaign_id, now=now(), interviewer_id=seat.user_id)
        assert c is not None, "no case to dial"
        a = cases.start_attempt(
            s,
            c,
            channel_id=uuid.uuid4().hex,
            dialling_mode="progressive",
            interviewer_id=seat.user_id,
            now=now(),
            node="test",
        )
        console.reserve_seat(s, seat, case_id=c.id, attempt_id=a.id, now=now())
        case_id, attempt_id, uid = c.id, a.id, seat.user_id
    with transaction(fw.factory) as s:
        cases.mark_answered(s, attempt_id, now=now())
        row: Interview = console.connect_call(
            s, user_id=uid, case_id=case_id, attempt_id=attempt_id, now=now()
        )
        return case_id, attempt_id, row.id


def browser_login(client: TestClient, username: str, password: str = "correct horse") -> str:
    """Log in through the login form as a browser does; returns the session's CSRF token."""
    page = client.get("/login")
    match = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert match, page.text
    r = client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": match.group(1), "next": "/console"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    console_page = client.get("/console")
    assert console_page.status_code == 200, console_page.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', console_page.text)
    assert token
    return token.group(1)
