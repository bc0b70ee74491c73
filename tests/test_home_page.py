"""The home page ``/`` links each role to what it may use, in zh-CN and English; every link opens."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from support import Users
from test_auth import _browser_login

from cati.app import create_app
from cati.campaigns import service as campaigns
from cati.campaigns.instruments import resolve_instrument
from cati.campaigns.loader import load_campaign_file
from cati.db import REPO_ROOT, make_sessionmaker, transaction
from cati.models import CampaignStatus
from cati.settings import Settings

EXPECTED = {
    "admin": {"supervise", "results", "dialer", "campaigns", "witness", "api_docs"},
    "supervisor": {"supervise", "results", "campaigns", "witness"},
    "assessor": {"results", "campaigns", "witness"},
    "witness": {"witness", "campaigns"},
    "interviewer": {"console"},
}


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_home_links_open_for_the_role(role: str, settings: Settings, engine: Engine, users: Users) -> None:
    example = REPO_ROOT / "examples" / "zibo.yaml"
    spec = load_campaign_file(example)
    with transaction(make_sessionmaker(engine)) as s:
        c = campaigns.create_campaign(
            s, spec, instrument=resolve_instrument(spec.instrument, base_dir=example.parent), actor="t"
        )
        campaigns.change_status(s, c.id, CampaignStatus.published, actor="t")
        campaigns.change_status(s, c.id, CampaignStatus.fieldwork, actor="t")
    users.create("someone", role)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert _browser_login(client, "someone", "correct horse") == 303
        zh = client.get("/")
        assert zh.status_code == 200
        links = re.findall(r'<a href="([^"]+)" data-link="([a-z_]+)">', zh.text)
        assert {kind for _, kind in links} == EXPECTED[role]
        if "results" in EXPECTED[role]:
            # the results page, not raw JSON or a CSV download
            assert f'href="/campaigns/{c.id}/results"' in zh.text
            assert "/api/v1/campaigns" not in zh.text.replace('href="/api/v1/campaigns"', "")
            assert "调查结果" in zh.text and "（JSON）：各区县" not in zh.text and "淄博市" in zh.text
        for href, _ in links:
            assert client.get(href).status_code == 200, href
        en = client.get("/?lang=en")
        assert "What you can use" in en.text and "可以使用" not in en.text
