"""Who may call what: every route of the app, with every role and anonymously, against one table.

A route added without an entry here fails ``test_every_route_is_in_the_table``; a route added
without a rule fails the app build itself (``test_an_undeclared_route_stops_the_app``).
"""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from support import Users

from cati.app import create_app
from cati.auth.access import RouteRuleMissing, access_table, check_routes, public, require_roles
from cati.models import Role
from cati.settings import Settings

PUBLIC = "public"
EVERYONE = frozenset(Role)
ADMIN = frozenset({Role.admin})
RESULTS = frozenset({Role.assessor, Role.supervisor, Role.admin})
INTERVIEWER = frozenset({Role.interviewer})
READERS = frozenset({Role.interviewer, Role.supervisor, Role.admin})
AUDIT = frozenset({Role.witness, Role.assessor, Role.supervisor, Role.admin})
SUPERVISE = frozenset({Role.supervisor, Role.admin})
CELL = "/api/v1/campaigns/{campaign_id}/controls/quota-cells/{district_code}/{stratum}"

#: (method, path) -> roles allowed, or PUBLIC. The single source of truth for this test.
#: The verification kit (docs/verify.md): witnesses, the assessment office, admins.
KIT = frozenset({Role.witness, Role.assessor, Role.admin})

TABLE: dict[tuple[str, str], frozenset[Role] | str] = {
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/api/v1/health"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/auth/me"): EVERYONE,
    ("POST", "/api/v1/auth/logout"): EVERYONE,
    ("GET", "/api/v1/campaigns"): EVERYONE,
    ("POST", "/api/v1/campaigns"): ADMIN,
    ("GET", "/api/v1/campaigns/{campaign_id}"): EVERYONE,
    ("POST", "/api/v1/campaigns/{campaign_id}/status"): ADMIN,
    ("POST", "/api/v1/campaigns/{campaign_id}/close"): ADMIN,
    ("POST", "/api/v1/campaigns/{campaign_id}/scores/open"): ADMIN,
    ("GET", "/api/v1/campaigns/{campaign_id}/results"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/responses.csv"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/responses.xlsx"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/responses.sav"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/scores.csv"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/scores.xlsx"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/exports/final-scores.json"): RESULTS,
    ("GET", "/campaigns/{campaign_id}/results"): RESULTS,
    ("GET", "/api/v1/campaigns/{campaign_id}/bundle.zip"): KIT,
    ("GET", "/api/v1/campaigns/{campaign_id}/announcement"): AUDIT,
    ("GET", "/api/v1/campaigns/{campaign_id}/announcement.pdf"): AUDIT,
    ("GET", "/api/v1/campaigns/{campaign_id}/signoffs"): AUDIT,
    ("POST", "/api/v1/campaigns/{campaign_id}/signoffs"): frozenset({Role.witness}),
    ("GET", "/campaigns/{campaign_id}/announcement"): AUDIT,
    ("GET", "/public/campaigns/{code}"): PUBLIC,
    ("GET", "/api/v1/dialer/status"): frozenset({Role.admin, Role.supervisor}),
    ("GET", "/api/v1/campaigns/{campaign_id}/controls"): SUPERVISE,
    ("GET", "/supervise"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/pause"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/resume"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/districts/{district_code}/pause"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/districts/{district_code}/resume"): SUPERVISE,
    ("POST", CELL + "/close"): SUPERVISE,
    ("POST", CELL + "/reopen"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/pacing"): SUPERVISE,
    ("POST", "/api/v1/campaigns/{campaign_id}/controls/seats/{user_id}/logout"): SUPERVISE,
    ("GET", "/api/v1/campaigns/{campaign_id}/live"): AUDIT,
    ("GET", "/api/v1/campaigns/{campaign_id}/live/stream"): AUDIT,
    ("GET", "/witness"): AUDIT,
    ("GET", "/api/v1/audit/key"): AUDIT,
    ("GET", "/api/v1/audit/checkpoints/latest"): AUDIT,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): EVERYONE,
    ("GET", "/"): PUBLIC,
    ("GET", "/api/v1/console/state"): READERS,
    ("POST", "/api/v1/console/ready"): INTERVIEWER,
    ("POST", "/api/v1/console/pause"): INTERVIEWER,
    ("POST", "/api/v1/console/offline"): INTERVIEWER,
    ("POST", "/api/v1/console/preview/next"): INTERVIEWER,
    ("POST", "/api/v1/console/preview/dial"): INTERVIEWER,
    ("POST", "/api/v1/console/interview"): INTERVIEWER,
    ("POST", "/api/v1/console/hangup"): INTERVIEWER,
    ("POST", "/api/v1/console/disposition"): INTERVIEWER,
    ("POST", "/api/v1/console/next"): INTERVIEWER,
    ("GET", "/api/v1/console/events"): INTERVIEWER,
    ("GET", "/console"): INTERVIEWER,
    ("GET", "/static/{path:path}"): PUBLIC,
}

PRINCIPALS: list[Role | None] = [None, *Role]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared settings, with live-event streams that end quickly (a request here reads to the end)."""
    settings.sse_max_seconds = 0.2
    return settings


def _served(app: FastAPI) -> dict[tuple[str, str], object]:
    out: dict[tuple[str, str], object] = {}
    for info in access_table(app):
        for method in info.methods - {"HEAD"}:
            out[(method, info.path)] = info.rule
    return out


def test_every_route_is_in_the_table(settings: Settings) -> None:
    app = create_app(settings)
    served = set(_served(app))
    schema_ops = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    assert schema_ops <= served  # the schema shows nothing that is not served
    assert served - set(TABLE) == set(), "routes missing from TABLE in tests/test_role_matrix.py"
    assert set(TABLE) - served == set(), "TABLE lists routes the app no longer serves"


def test_declared_rules_match_the_table(settings: Settings) -> None:
    for key, rule in _served(create_app(settings)).items():
        expected = TABLE[key]
        assert rule is not None, key
        if expected == PUBLIC:
            assert rule.public, key  # type: ignore[attr-defined]
        else:
            assert not rule.public and rule.roles == expected, key  # type: ignore[attr-defined]


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_route_with_every_role(client: TestClient, users: Users) -> None:
    """Call each route as each role and anonymously: allowed -> neither 401 nor 403; else 401/403."""
    for role in Role:
        users.create(f"u-{role.value}", role)
    app = client.app
    assert isinstance(app, FastAPI)
    checked = 0
    for (method, path), expected in TABLE.items():
        for role in PRINCIPALS:
            # A fresh token per call: logout routes revoke the token they are called with.
            headers = users.bearer(f"u-{role.value}") if role is not None else {}
            r = client.request(method, _fill(path), headers=headers, follow_redirects=False)
            allowed = expected == PUBLIC or (role is not None and role in expected)
            who = role.value if role else "anonymous"
            if allowed:
                assert r.status_code not in (401, 403), f"{who} refused on {method} {path}: {r.text}"
            else:
                assert r.status_code == (401 if role is None else 403), f"{who} let into {method} {path}"
                assert "detail" in r.json()
            checked += 1
    assert checked == len(TABLE) * len(PRINCIPALS)


def test_an_undeclared_route_stops_the_app() -> None:
    app = FastAPI()

    @app.get("/fine", dependencies=[public()])
    def fine() -> None: ...

    router = APIRouter(prefix="/r")

    @router.get("/forgotten")
    def forgotten() -> None: ...

    app.include_router(router)
    with pytest.raises(RouteRuleMissing, match="/r/forgotten"):
        check_routes(app)


def test_router_and_route_rules_intersect() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/r", dependencies=[require_roles(Role.admin, Role.supervisor)])

    @router.get("/x", dependencies=[require_roles(Role.supervisor, Role.witness)])
    def x() -> None: ...

    app.include_router(router)
    rule = next(i.rule for i in access_table(app) if i.path == "/r/x")
    assert rule is not None and rule.roles == frozenset({Role.supervisor})
