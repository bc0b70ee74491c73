"""The announcement: the results sheet (JSON, page, PDF) of a closed campaign, the witnesses'
sign-off, and the public pre-announcement page; driven over HTTP as each user does."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from support import Users
from test_results import World, world  # noqa: F401  (the fixture: Zibo campaign with interviews)

from cati.db import transaction
from cati.models import AuditCheckpoint, AuditEntry, Campaign, CampaignClosure, LoginThrottle, Role, Signoff

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WITNESSES = {
    "notary1": "notary",
    "jiwei1": "discipline",
    "kaohe1": "assessment_office",
    "quxian1": "district",
}


def _close(client: TestClient, users: Users, w: World) -> str:
    r = client.post(
        f"/api/v1/campaigns/{w.campaign_id}/close",
        json={"reason": "实地调查结束", "force": True},
        headers=users.bearer("admin"),
    )
    assert r.status_code == 200, r.text
    return str(r.json()["results_sha256"])


@pytest.fixture
def closed(client: TestClient, users: Users, world: World) -> tuple[World, str]:  # noqa: F811
    for name in WITNESSES:
        users.create(name, Role.witness)
    return world, _close(client, users, world)


def _web_login(client: TestClient, username: str, path: str) -> str:
    """Log in through the form as a browser does, open ``path``; the page's CSRF token (if any)."""
    form = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert token
    r = client.post(
        "/login",
        data={"username": username, "password": "correct horse", "login_csrf": token.group(1), "next": path},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == path
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get(path).text)
    return meta.group(1) if meta else ""


def _sign(client: TestClient, users: Users, cid: int, who: str, **body: Any) -> Any:
    payload = {"party": WITNESSES.get(who, "notary"), "password": "correct horse", **body}
    return client.post(f"/api/v1/campaigns/{cid}/signoffs", json=payload, headers=users.bearer(who))


def test_nothing_before_close(client: TestClient, users: Users, world: World) -> None:  # noqa: F811
    users.create("notary1", Role.witness)
    cid = world.campaign_id
    r = client.get(f"/api/v1/campaigns/{cid}/announcement", headers=users.bearer("witness"))
    assert r.status_code == 409 and "尚未结束" in r.json()["detail"]
    r = client.get(f"/api/v1/campaigns/{cid}/announcement.pdf", headers=users.bearer("assessor"))
    assert r.status_code == 409
    r = _sign(client, users, cid, "notary1", digest="0" * 64)
    assert r.status_code == 409 and "尚未结束" in r.json()["detail"]
    with transaction(world.factory) as s:
        assert s.execute(select(Signoff)).first() is None


def test_roles(client: TestClient, users: Users, closed: tuple[World, str]) -> None:
    w, _ = closed
    cid = w.campaign_id
    for role in ("witness", "assessor", "supervisor", "admin"):
        assert (
            client.get(f"/api/v1/campaigns/{cid}/announcement", headers=users.bearer(role)).status_code == 200
        )
        assert client.get(f"/api/v1/campaigns/{cid}/signoffs", headers=users.bearer(role)).status_code == 200
    assert (
        client.get(f"/api/v1/campaigns/{cid}/announcement", headers=users.bearer("interviewer")).status_code
        == 403
    )
    assert client.get(f"/api/v1/campaigns/{cid}/announcement").status_code == 401
    assert client.get(f"/api/v1/campaigns/{cid}/announcement.pdf").status_code == 401
    assert client.get("/api/v1/campaigns/999/announcement", headers=users.bearer("admin")).status_code == 404
    # only witnesses sign
    for role in ("assessor", "supervisor", "admin"):
        r = _sign(client, users, cid, role, party="notary", digest=closed[1])
        assert r.status_code == 403, role


def test_sheet_shape_from_the_sealed_results(
    client: TestClient, users: Users, closed: tuple[World, str]
) -> None:
    w, sha = closed
    cid = w.campaign_id
    a = client.get(f"/api/v1/campaigns/{cid}/announcement", headers=users.bearer("witness")).json()
    assert a["schema"] == "cati.announcement/1"
    # official order: the districts as loaded (examples/zibo.yaml)
    assert [d["code"] for d in a["districts"]] == list(w.districts)
    assert [d["order"] for d in a["districts"]] == list(range(1, len(w.districts) + 1))
    results = client.get(f"/api/v1/campaigns/{cid}/results", headers=users.bearer("assessor")).json()
    scored = {d["district"]: d for d in results["scores"]["districts"]}
    by_code = {d["code"]: d for d in a["districts"]}
    zd = by_code["zhangdian"]
    assert zd["score"] == scored["张店区"]["score"] and zd["component"] == scored["张店区"]["component"]
    assert zd["component"] == pytest.approx(zd["score"] * 0.6, abs=1e-5)
    assert zd["ci95"] == scored["张店区"]["ci95"] and zd["dimensions"] == scored["张店区"]["dimensions"]
    assert (zd["valid"], zd["invalid"]) == (3, 1)
    assert (by_code["zichuan"]["valid"], by_code["zichuan"]["invalid"]) == (1, 0)
    assert set(zd["rates"]) == {"RR3", "COOP1", "REF2", "CON2"}
    assert zd["rates"]["RR3"] == results["rates"]["districts"][0]["final"]["RR3"]
    # ranking: scored districts by rank, the unranked last in official order
    assert [r["code"] for r in a["ranking"][:2]] == ["zhangdian", "zichuan"]
    assert [r["rank"] for r in a["ranking"]] == [1, 2] + [None] * (len(w.districts) - 2)
    assert [r["code"] for r in a["ranking"][2:]] == [
        c for c in w.districts if c not in ("zhangdian", "zichuan")
    ]
    # seed, commitment, digest, checkpoint, dates
    assert a["sample"]["seed"] and a["sample"]["match"] is True
    assert a["sample"]["recomputed_commitment"] == a["sample"]["commitment"]
    assert a["results"] == {**a["results"], "sha256": sha, "recomputed_sha256": sha, "match": True}
    assert a["fieldwork"]["fieldwork_started"] and a["fieldwork"]["closed"]
    assert a["fieldwork"]["fieldwork_started"] <= a["fieldwork"]["closed"]
    cp = a["final_checkpoint"]
    assert cp is not None and len(cp["head_hash"]) == 64 and len(cp["key_fingerprint"]) > 8 and cp["seq"] > 0
    assert [p["party"] for p in a["parties"]] == ["assessment_office", "discipline", "notary", "district"]
    assert a["signoffs"] == []
    assert not any(phone in str(a) for phone in w.phones)


def test_commitment_mismatch_is_shown(client: TestClient, users: Users, closed: tuple[World, str]) -> None:
    w, _ = closed
    with transaction(w.factory) as s:
        s.execute(update(Campaign).where(Campaign.id == w.campaign_id).values(seed_commitment="ab" * 32))
    a = client.get(f"/api/v1/campaigns/{w.campaign_id}/announcement", headers=users.bearer("witness")).json()
    assert a["sample"]["match"] is False
    with transaction(w.factory) as s:  # a tampered stored result no longer matches its digest
        row = s.get(CampaignClosure, w.campaign_id)
        assert row is not None
        row.results_json = row.results_json.replace("张店区", "张店")
    a = client.get(f"/api/v1/campaigns/{w.campaign_id}/announcement", headers=users.bearer("witness")).json()
    assert a["results"]["match"] is False


def test_signoff(client: TestClient, users: Users, closed: tuple[World, str]) -> None:
    w, sha = closed
    cid = w.campaign_id
    # wrong digest: 409 naming both
    r = _sign(client, users, cid, "notary1", digest="f" * 64)
    assert r.status_code == 409 and sha in r.json()["detail"] and "f" * 64 in r.json()["detail"]
    # wrong password: 401, counted by the login back-off, nothing signed
    r = _sign(client, users, cid, "notary1", digest=sha, password="wrong")
    assert r.status_code == 401 and "密码错误" in r.json()["detail"]
    with transaction(w.factory) as s:
        assert s.execute(select(LoginThrottle.failures).where(LoginThrottle.scope == "account")).scalar() == 1
    # unknown party
    r = _sign(client, users, cid, "notary1", digest=sha, party="mayor")
    assert r.status_code == 422 and "未知的签字方" in r.json()["detail"]
    r = _sign(client, users, cid, "notary1", digest=sha.upper())
    assert r.status_code == 201, r.text
    assert r.json()["party"] == "notary" and r.json()["results_sha256"] == sha
    # a second signature by the same account: 409, whatever the party
    r = _sign(client, users, cid, "notary1", digest=sha, party="district")
    assert r.status_code == 409 and "已" in r.json()["detail"]
    assert _sign(client, users, cid, "jiwei1", digest=sha).status_code == 201
    listed = client.get(f"/api/v1/campaigns/{cid}/signoffs", headers=users.bearer("assessor")).json()
    assert [(s["party"], s["name"], s["results_sha256"]) for s in listed] == [
        ("notary", "notary1", sha),
        ("discipline", "jiwei1", sha),
    ]
    a = client.get(f"/api/v1/campaigns/{cid}/announcement", headers=users.bearer("admin")).json()
    assert a["signoffs"] == listed
    with transaction(w.factory) as s:
        entries = s.execute(select(AuditEntry).where(AuditEntry.action == "results.signed")).scalars().all()
        assert [(e.actor, e.details["party"], e.details["results_sha256"]) for e in entries] == [
            ("notary1", "notary", sha),
            ("jiwei1", "discipline", sha),
        ]
        # each signature is anchored at once: a signed checkpoint covers its entry
        newest = s.execute(select(func.max(AuditCheckpoint.size))).scalar_one()
        assert newest is not None and newest >= max(e.seq for e in entries)
    assert _sign(client, users, cid, "quxian1", digest=sha, password="wrong").status_code == 401
    again = client.get(f"/api/v1/campaigns/{cid}/signoffs", headers=users.bearer("admin")).json()
    assert again == listed


def test_english_errors(client: TestClient, users: Users, closed: tuple[World, str]) -> None:
    w, _ = closed
    r = client.post(
        f"/api/v1/campaigns/{w.campaign_id}/signoffs?lang=en",
        json={"party": "notary", "password": "nope", "digest": "0" * 64},
        headers=users.bearer("notary1"),
    )
    assert r.status_code == 401 and r.json()["detail"].startswith("Wrong password")
    r = client.post(
        f"/api/v1/campaigns/{w.campaign_id}/signoffs",
        json={"party": "notary", "password": "x", "digest": "0" * 64, "extra": 1},
        headers=users.bearer("notary1"),
    )
    assert r.status_code == 422


def test_page_and_sign_in_browser_session(
    client: TestClient, users: Users, closed: tuple[World, str]
) -> None:
    w, sha = closed
    cid = w.campaign_id
    csrf = _web_login(client, "kaohe1", f"/campaigns/{cid}/announcement")
    page = client.get(f"/campaigns/{cid}/announcement")
    assert page.status_code == 200
    html = page.text
    assert "满意度调查结果公布单" in html and sha in html and "张店区" in html
    assert 'src="data:image/svg+xml' in html and 'id="sign-form"' in html
    assert "<script>" not in html and "/static/announcement/signoff.js" in html
    assert "尚未签字" in html
    r = client.post(
        f"/api/v1/campaigns/{cid}/signoffs",
        json={"party": "assessment_office", "password": "correct horse", "digest": sha},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    html = client.get(f"/campaigns/{cid}/announcement").text
    assert "kaohe1" in html and 'id="sign-form"' not in html and "本账号已签字" in html
    en = client.get(f"/campaigns/{cid}/announcement?lang=en").text
    assert "results sheet" in en and "City assessment office" in en
    assert client.get("/static/announcement/signoff.js").status_code == 200


def test_page_roles_and_before_close(client: TestClient, users: Users, world: World) -> None:  # noqa: F811
    path = f"/campaigns/{world.campaign_id}/announcement"
    _web_login(client, "witness", path)
    page = client.get(path)
    assert page.status_code == 409 and "尚未结束" in page.text


def _pdf(client: TestClient, users: Users, cid: int, lang: str = "") -> bytes:
    r = client.get(f"/api/v1/campaigns/{cid}/announcement.pdf{lang}", headers=users.bearer("assessor"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    return r.content


def test_pdf_embeds_cjk_fonts_and_carries_signatures(
    client: TestClient, users: Users, closed: tuple[World, str], backend: str
) -> None:
    from pypdf import PdfReader

    w, sha = closed
    assert _sign(client, users, w.campaign_id, "notary1", digest=sha).status_code == 201
    body = _pdf(client, users, w.campaign_id)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"announcement-{backend}.pdf").write_bytes(body)  # rendered to PNG and looked at
    reader = PdfReader(io.BytesIO(body))
    assert reader.pages[0].mediabox.width == pytest.approx(595.28, abs=1)  # A4 portrait
    assert 3 <= len(reader.pages) <= 5
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "满意度调查结果公布单" in text and "张店区" in text and "公证处" in text
    assert sha[:32] in re.sub(r"\s", "", text)
    assert "notary1" in text
    fonts: list[tuple[str, bool]] = []
    for p in reader.pages:
        for font in (p["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            desc_font = descendants[0].get_object() if descendants else font
            descriptor = desc_font.get("/FontDescriptor")
            if descriptor is None:
                continue
            descriptor = descriptor.get_object()
            embedded = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts.append((str(font.get("/BaseFont")), embedded))
    assert fonts and all(embedded for _, embedded in fonts), fonts
    assert any("CJK" in name for name, _ in fonts), fonts


def test_public_pre_announcement(client: TestClient, users: Users, world: World) -> None:  # noqa: F811
    with transaction(world.factory) as s:
        c = s.get(Campaign, world.campaign_id)
        assert c is not None
        code, commitment = c.code, c.seed_commitment
    page = client.get(f"/public/campaigns/{code}")
    assert page.status_code == 200
    html = page.text
    assert commitment and commitment in html and "张店区" in html and "cati verify" in html
    assert "调查结束前不公布任何得分" in html
    assert not any(phone in html for phone in world.phones)
    assert "90.6" not in html  # no score, even after interviews
    assert client.get("/public/campaigns/NOPE").status_code == 404
    assert "pre-announcement" in client.get(f"/public/campaigns/{code}?lang=en").text
    # a draft is not announced
    with transaction(world.factory) as s:
        s.execute(update(Campaign).where(Campaign.id == world.campaign_id).values(status="draft"))
    assert client.get(f"/public/campaigns/{code}").status_code == 404
    with transaction(world.factory) as s:
        s.execute(update(Campaign).where(Campaign.id == world.campaign_id).values(status="fieldwork"))
    _close(client, users, world)
    html = client.get(f"/public/campaigns/{code}").text
    assert 'id="seed"' in html


def test_a_failed_signoff_leaves_nothing(
    client: TestClient, users: Users, closed: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signature and its audit entry commit together: a crash between them writes neither."""
    from cati.announcement import service

    w, sha = closed

    real = service.audit.record
    flushed: list[bool] = []

    def crash(session: Any, **kwargs: Any) -> Any:
        if kwargs["action"] == "results.signed":  # after the signature row was flushed
            flushed.append(session.execute(select(Signoff)).first() is not None)
            raise RuntimeError("power cut")
        return real(session, **kwargs)

    monkeypatch.setattr(service.audit, "record", crash)
    assert _sign(client, users, w.campaign_id, "notary1", digest=sha).status_code == 500
    assert flushed == [True]
    monkeypatch.undo()
    with transaction(w.factory) as s:
        assert s.execute(select(Signoff)).first() is None
    assert _sign(client, users, w.campaign_id, "notary1", digest=sha).status_code == 201


def test_password_guessing_at_signoff_is_locked_out(
    client: TestClient, users: Users, closed: tuple[World, str], settings: Any
) -> None:
    """Wrong passwords at sign-off count like failed logins: after the limit, 429 even with the right one."""
    w, sha = closed
    for _ in range(settings.login_max_failures - 1):
        assert _sign(client, users, w.campaign_id, "notary1", digest=sha, password="guess").status_code == 401
    assert _sign(client, users, w.campaign_id, "notary1", digest=sha, password="guess").status_code == 429
    r = _sign(client, users, w.campaign_id, "notary1", digest=sha)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    with transaction(w.factory) as s:
        assert s.execute(select(Signoff)).first() is None


def test_english_pdf(client: TestClient, users: Users, closed: tuple[World, str]) -> None:
    from pypdf import PdfReader

    w, _ = closed
    text = "\n".join(
        p.extract_text() for p in PdfReader(io.BytesIO(_pdf(client, users, w.campaign_id, "?lang=en"))).pages
    )
    assert "results sheet" in text and "Zhangdian" in text and "Notary office" in text
