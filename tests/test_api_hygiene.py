"""Bad input at the API's door: always a JSON ``{"detail": ...}`` with the right status, never a 500."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from support import Users

from cati.app import create_app
from cati.settings import Settings

GOOD_CAMPAIGN = {
    "code": "c1",
    "name": {"zh-CN": "测试"},
    "districts": [{"code": "a", "name": {"zh-CN": "甲"}, "prefixes": ["218"]}],
}

# (name, method, path, request kwargs, who: admin/none/bad-token, expected status)
CASES: list[tuple[str, str, str, dict[str, Any], str, int]] = [
    (
        "malformed json",
        "POST",
        "/api/v1/campaigns",
        {"content": b'{"code": "x",', "headers": {"content-type": "application/json"}},
        "admin",
        422,
    ),
    ("json not an object", "POST", "/api/v1/campaigns", {"json": [1, 2, 3]}, "admin", 422),
    (
        "wrong types",
        "POST",
        "/api/v1/campaigns",
        {"json": {**GOOD_CAMPAIGN, "districts": "many"}},
        "admin",
        422,
    ),
    (
        "wrong nested type",
        "POST",
        "/api/v1/campaigns",
        {"json": {**GOOD_CAMPAIGN, "age": {"min": "old"}}},
        "admin",
        422,
    ),
    (
        "not json at all (bad UTF-8)",
        "POST",
        "/api/v1/campaigns",
        {"content": b"\xff\xfe\x00", "headers": {"content-type": "application/json"}},
        "admin",
        400,
    ),
    ("empty body", "POST", "/api/v1/campaigns", {}, "admin", 422),
    ("bad transition target", "POST", "/api/v1/campaigns/1/status", {"json": {"to": "paused"}}, "admin", 422),
    ("unknown id", "GET", "/api/v1/campaigns/999999", {}, "admin", 404),
    (
        "unknown id on transition",
        "POST",
        "/api/v1/campaigns/424242/status",
        {"json": {"to": "published"}},
        "admin",
        404,
    ),
    ("id not a number", "GET", "/api/v1/campaigns/abc", {}, "admin", 422),
    ("id beyond any integer column", "GET", "/api/v1/campaigns/99999999999999999999", {}, "admin", 422),
    ("negative id", "GET", "/api/v1/campaigns/-1", {}, "admin", 422),
    ("unknown route", "GET", "/api/v1/nothing-here", {}, "admin", 404),
    ("wrong method", "DELETE", "/api/v1/campaigns", {}, "admin", 405),
    ("bad token", "GET", "/api/v1/campaigns", {}, "bad-token", 401),
    (
        "other auth scheme",
        "GET",
        "/api/v1/campaigns",
        {"headers": {"authorization": "Basic YTpi"}},
        "none",
        401,
    ),
    ("empty bearer", "GET", "/api/v1/campaigns", {"headers": {"authorization": "Bearer "}}, "none", 401),
    ("no credentials", "POST", "/api/v1/campaigns", {"json": GOOD_CAMPAIGN}, "none", 401),
    ("token form missing fields", "POST", "/api/v1/auth/token", {"data": {"username": "x"}}, "none", 422),
    (
        "token as json",
        "POST",
        "/api/v1/auth/token",
        {"json": {"username": "x", "password": "y"}},
        "none",
        422,
    ),
    (
        "huge body",
        "POST",
        "/api/v1/campaigns",
        {"content": b"x" * 2_000_001, "headers": {"content-type": "application/json"}},
        "admin",
        413,
    ),
]


def test_bad_requests_get_json_errors(client: TestClient, users: Users) -> None:
    """All cases against one database per backend (one app start); every failing case is listed."""
    users.create("admin", "admin")
    failures = []
    for name, method, path, kwargs, who, status in CASES:
        headers = dict(kwargs.get("headers", {}))
        if who == "admin":
            headers.update(users.bearer("admin"))
        elif who == "bad-token":
            headers["authorization"] = "Bearer not-a-real-token"
        r = client.request(method, path, **{**kwargs, "headers": headers})
        ok = (
            r.status_code == status
            and r.headers.get("content-type", "").startswith("application/json")
            and "detail" in r.json()
            and "Traceback" not in r.text
        )
        if not ok:
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
    assert failures == []


def test_chunked_huge_body_is_refused(client: TestClient, users: Users) -> None:
    users.create("admin", "admin")

    def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 100_000

    r = client.post(
        "/api/v1/campaigns",
        content=chunks(),
        headers={**users.bearer("admin"), "content-type": "application/json"},
    )
    assert r.status_code == 413 and "detail" in r.json()


def test_openapi_and_health(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/campaigns" in schema["paths"] and "/api/v1/auth/token" in schema["paths"]
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_unexpected_errors_are_plain_json(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"} and "secret" not in r.text
