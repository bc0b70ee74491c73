"""Scores sealed until close; an admin may open them early, with a reason, audited."""

from __future__ import annotations

import pytest
from console_support import Fieldwork, make_fieldwork
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from support import Users

from cati.db import transaction
from cati.models import AuditEntry, Campaign, Role
from cati.results.visibility import OPENED_EARLY, scores_open


@pytest.fixture
def fw(engine: Engine, client: TestClient) -> Fieldwork:
    return make_fieldwork(engine)


def test_admin_opens_scores_early_once_with_a_reason(client: TestClient, fw: Fieldwork, users: Users) -> None:
    with transaction(fw.factory) as s:
        assert not scores_open(s.get_one(Campaign, fw.campaign_id))
    users.create("sup", Role.supervisor)
    sup = users.bearer("sup")
    url = f"/api/v1/campaigns/{fw.campaign_id}/scores/open"
    assert client.post(url, json={"reason": "试点"}, headers=sup).status_code == 403
    users.create("adm", Role.admin)
    adm = users.bearer("adm")
    assert client.post(url, json={"reason": ""}, headers=adm).status_code == 422
    r = client.post(url, json={"reason": "试点 / pilot"}, headers=adm)
    assert r.status_code == 200, r.text
    again = client.post(url, json={"reason": "again"}, headers=adm)
    assert again.status_code == 409 and "已提前开放" in again.json()["detail"]
    with transaction(fw.factory) as s:
        assert scores_open(s.get_one(Campaign, fw.campaign_id))
        entries = list(s.execute(select(AuditEntry).where(AuditEntry.action == OPENED_EARLY)).scalars())
        assert [(e.actor, e.details["reason"]) for e in entries] == [("adm", "试点 / pilot")]
