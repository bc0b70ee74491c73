"""Login, sessions, CSRF, bearer tokens, back-off: driven over HTTP the way a browser or client would."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select, text, update
from support import Users

from cati.app import create_app
from cati.auth import service
from cati.auth.passwords import verify_password
from cati.models import ApiToken, AuditEntry, LoginThrottle, WebSession
from cati.settings import Settings
from cati.web.i18n import CATALOG


def _login_csrf(client: TestClient, lang: str = "") -> str:
    page = client.get("/login" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200
    match = re.search(r'name="login_csrf" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _browser_login(client: TestClient, username: str, password: str, next_: str = "/") -> int:
    return _browser_login_response(client, username, password, next_).status_code


def _browser_login_response(client: TestClient, username: str, password: str, next_: str = "/") -> Response:
    token = _login_csrf(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "login_csrf": token, "next": next_},
        follow_redirects=False,
    )


def _actions(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())


def test_login_page_is_chinese_by_default_with_an_english_switch(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    assert 'href="/login?lang=en"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no external assets
    assert "default-src 'self'" in page.headers["content-security-policy"]
    english = client.get("/login?lang=en")
    assert '<html lang="en">' in english.text and "Sign in" in english.text
    # The choice is remembered for the next page.
    assert '<html lang="en">' in client.get("/login").text


def test_catalogs_have_the_same_keys() -> None:
    assert set(CATALOG["zh-CN"]) == set(CATALOG["en"])


def test_browser_login_sets_a_hardened_cookie_and_logout_ends_it(
    client: TestClient, users: Users, engine: Engine
) -> None:
    users.create("li", "supervisor")
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={"username": "li", "password": "correct horse", "login_csrf": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("cati_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    raw = cookie.split(";")[0].split("=", 1)[1]
    with engine.connect() as c:
        stored = c.execute(select(WebSession.token_hash)).scalars().all()
    assert stored and raw not in stored and all(len(h) == 64 for h in stored)

    home = client.get("/")
    assert home.status_code == 200 and "li" in home.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text)
    assert csrf
    me = client.get("/api/v1/auth/me").json()
    assert me["username"] == "li" and me["via"] == "session" and me["csrf_token"] == csrf.group(1)

    out = client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/api/v1/auth/me").status_code == 401
    with engine.connect() as c:
        assert c.execute(select(WebSession)).first() is None
    assert _actions(engine)[-2:] == ["auth.login_succeeded", "auth.logout"]


def test_secure_cookie_is_configurable(settings: Settings, users: Users) -> None:
    from cati.app import create_app

    users.create("li", "supervisor")
    with TestClient(
        create_app(settings.model_copy(update={"cookie_secure": True})), base_url="https://t"
    ) as c:
        token = _login_csrf(c)
        r = c.post(
            "/login",
            data={"username": "li", "password": "correct horse", "login_csrf": token},
            follow_redirects=False,
        )
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("cati_session="))
    assert "Secure" in cookie


def test_cookie_requests_that_change_state_need_the_csrf_token(client: TestClient, users: Users) -> None:
    users.create("admin", "admin")
    assert _browser_login(client, "admin", "correct horse") == 303
    csrf = client.get("/api/v1/auth/me").json()["csrf_token"]
    assert client.post("/api/v1/auth/logout").status_code == 403
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "wrong"}).status_code == 403
    assert client.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    # Still signed in after the refused attempts; the right token works.
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


def test_login_form_needs_its_own_csrf_pair(client: TestClient, users: Users) -> None:
    users.create("li", "supervisor")
    r = client.post("/login", data={"username": "li", "password": "correct horse", "login_csrf": "forged"})
    assert r.status_code == 400 and "cati_session" not in r.headers.get("set-cookie", "")


def test_next_never_leaves_the_site(client: TestClient, users: Users) -> None:
    users.create("li", "supervisor")
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={"username": "li", "password": "correct horse", "login_csrf": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_a_page_without_login_goes_to_the_login_page(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_bearer_token_flow(client: TestClient, users: Users, engine: Engine) -> None:
    users.create("wang", "witness")
    r = client.post("/api/v1/auth/token", data={"username": "wang", "password": "correct horse"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=auth).json()
    assert me["role"] == "witness" and me["via"] == "token" and me["csrf_token"] is None
    with engine.connect() as c:
        hashes = c.execute(select(ApiToken.token_hash)).scalars().all()
    assert body["access_token"] not in hashes
    # Bearer requests need no CSRF token; logout revokes the token.
    assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    assert client.get("/api/v1/auth/me", headers=auth).status_code == 401
    assert "auth.token_issued" in _actions(engine)


def test_expired_token_is_refused(client: TestClient, users: Users, engine: Engine) -> None:
    users.create("wang", "witness")
    auth = users.bearer("wang")
    with engine.begin() as c:
        c.execute(update(ApiToken).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    r = client.get("/api/v1/auth/me", headers=auth)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")


def _token(client: TestClient, username: str, password: str) -> Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_failures_look_the_same_and_lock_the_account_for_that_address(
    client: TestClient, users: Users, engine: Engine, settings: Settings
) -> None:
    users.create("zhao", "interviewer")
    unknown = _token(client, "nobody", "whatever1")
    wrong = _token(client, "zhao", "wrong pass")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"detail": "invalid username or password"}
    # login_max_failures is 3 in the test settings: the third failure from this address locks ...
    assert _token(client, "zhao", "wrong pass").status_code == 401
    third = _token(client, "zhao", "wrong pass")
    assert third.status_code == 429 and third.json()["detail"] == service.LOGIN_LOCKED
    assert third.json()["detail"].startswith("登录失败次数过多")
    assert 0 < int(third.headers["retry-after"]) <= 60
    # ... so even the right password is refused, and told the account is locked.
    locked = _token(client, "zhao", "correct horse")
    assert locked.status_code == 429 and locked.json()["detail"] == service.LOGIN_LOCKED
    # An unknown username is locked the same way: the answers still do not tell who exists.
    assert _token(client, "nobody", "whatever1").status_code == 401
    ghost = _token(client, "nobody", "whatever1")
    assert ghost.status_code == 429 and ghost.json() == third.json()
    # The owner at another address is not locked out by this address's guessing.
    elsewhere = TestClient(client.app, client=("10.0.0.2", 40000))
    assert _token(elsewhere, "zhao", "correct horse").status_code == 200
    # The browser form from the locked address says it is locked too (429), in Chinese first.
    page = _browser_login_response(client, "zhao", "correct horse")
    assert page.status_code == 429 and "登录失败次数过多" in page.text
    # When the lock has run out, the right password works and clears the account's count.
    with engine.begin() as c:
        c.execute(
            update(LoginThrottle).values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert _token(client, "zhao", "correct horse").status_code == 200
    with engine.connect() as c:
        pair = c.execute(
            select(LoginThrottle.failures).where(
                LoginThrottle.scope == "pair", LoginThrottle.key == "testclient zhao"
            )
        ).scalar_one()
        assert pair == 0
        reasons = [
            d["reason"]
            for d in c.execute(
                select(AuditEntry.details)
                .where(AuditEntry.action == "auth.login_failed")
                .order_by(AuditEntry.seq)
            ).scalars()
        ]
    assert reasons == [
        "unknown_user",
        "wrong_password",
        "wrong_password",
        "wrong_password",
        "locked",
        "unknown_user",
        "unknown_user",
        "locked",
    ]


def test_one_address_trying_many_accounts_is_stopped(
    settings: Settings, users: Users, engine: Engine
) -> None:
    """Password spraying: one address, one guess per account, stopped by the per-address limit."""
    settings = settings.model_copy(update={"login_source_max_failures": 4})
    users.create("qian", "interviewer")
    with TestClient(create_app(settings), raise_server_exceptions=False) as sprayer:
        answers = [_token(sprayer, f"user{i}", "guess guess").status_code for i in range(4)]
        assert answers == [401, 401, 401, 429]
        # every login from that address is now refused, even a right one
        assert _token(sprayer, "qian", "correct horse").status_code == 429
        # and nothing more is counted (a locked address cannot grow the counters table)
        with engine.connect() as c:
            counters = c.execute(select(func.count()).select_from(LoginThrottle)).scalar_one()
        assert [_token(sprayer, f"more{i}", "guess").status_code for i in range(3)] == [429] * 3
        with engine.connect() as c:
            assert c.execute(select(func.count()).select_from(LoginThrottle)).scalar_one() == counters
        # other addresses are not affected
        other = TestClient(sprayer.app, client=("10.0.0.3", 40000))
        assert _token(other, "qian", "correct horse").status_code == 200


def test_many_addresses_guessing_one_account_lock_it(settings: Settings, users: Users) -> None:
    settings = settings.model_copy(update={"login_account_max_failures": 5})
    users.create("sun", "interviewer")
    with TestClient(create_app(settings), raise_server_exceptions=False) as first:
        statuses = [
            _token(TestClient(first.app, client=(f"10.1.0.{i}", 40000)), "sun", "bad guess").status_code
            for i in range(5)
        ]
        assert statuses == [401, 401, 401, 401, 429]
        fresh = TestClient(first.app, client=("10.1.1.1", 40000))
        assert _token(fresh, "sun", "correct horse").status_code == 429


def test_passwords_are_argon2_hashes(users: Users, engine: Engine, settings: Settings) -> None:
    users.create("li", "supervisor", password="s3cret-passphrase")
    with engine.connect() as c:
        stored = c.execute(text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and "s3cret" not in stored
    assert verify_password(stored, "s3cret-passphrase", settings)
    assert not verify_password(stored, "s3cret-passphrasf", settings)


@pytest.mark.parametrize(
    ("role", "next_", "landing"),
    [
        ("interviewer", "/", "/console"),
        ("interviewer", "/api/v1/console/state", "/api/v1/console/state"),
        ("assessor", "/", "/"),
    ],
)
def test_login_lands_where_the_role_works(
    client: TestClient, users: Users, role: str, next_: str, landing: str
) -> None:
    users.create("wang", role)
    token = _login_csrf(client)
    r = client.post(
        "/login",
        data={"username": "wang", "password": "correct horse", "login_csrf": token, "next": next_},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == landing
