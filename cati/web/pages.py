"""The browser login: ``GET/POST /login``, ``POST /logout`` and a small home page.

The login form is protected against login CSRF with a double-submit token: ``GET /login`` sets a
random ``cati_login_csrf`` cookie and puts the same value in the form; ``POST /login`` accepts only
a matching pair. After login the session's own CSRF token protects every state-changing request.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from cati.api.deps import CommitOnReturn, SessionDep, SettingsDep
from cati.auth import service, throttle
from cati.auth.access import SESSION_COOKIE, PrincipalDep, any_role, client_address, public
from cati.auth.service import Principal
from cati.models import Campaign, Role, utcnow
from cati.web.i18n import locale_for
from cati.web.templates import render

router = APIRouter(include_in_schema=False, route_class=CommitOnReturn)

LOGIN_CSRF_COOKIE = "cati_login_csrf"


def safe_next(value: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, ``//x``) becomes ``/``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(
    request: Request,
    *,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    next_: str = "/",
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        error=error,
        username=username,
        next=safe_next(next_),
        login_csrf=token,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", path="/login")
    return response


@router.get("/login", dependencies=[public()])
def login_form(request: Request, next: str = "/") -> Response:
    """The sign-in page (zh-CN by default; ``?lang=en`` for English)."""
    return _login_page(request, next_=next)


@router.post("/login", dependencies=[public()])
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    login_csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the credentials; on success set the session cookie and go to ``next``."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (cookie and login_csrf and secrets.compare_digest(cookie.encode(), login_csrf.encode())):
        return _login_page(request, status_code=400, error="login.expired", username=username, next_=next)
    outcome = service.login(
        session, username, password, settings, channel="web", source=client_address(request)
    )
    user = outcome.user
    if user is None:
        # Returned, not raised: the failure count and its audit entry must still commit.
        if outcome.locked_until is not None:
            page = _login_page(request, status_code=429, error="login.locked", username=username, next_=next)
            page.headers["Retry-After"] = str(throttle.retry_after_seconds(outcome.locked_until, utcnow()))
            return page
        return _login_page(request, status_code=401, error="login.failed", username=username, next_=next)
    raw, _row = service.start_web_session(session, user, settings)
    target = safe_next(next)
    if target == "/" and user.role == Role.interviewer.value:
        target = "/console"  # an interviewer's work is the console: go straight there
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        raw,
        max_age=settings.session_max_age_seconds,
        httponly=True,
        samesite="lax",
        secure=settings.cookie_secure,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[any_role()])
def logout(request: Request, session: SessionDep) -> Response:
    """End the session (a form post carrying the session's ``csrf_token``) and go to the login page."""
    principal: Principal = request.state.principal
    service.logout(session, principal)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


#: What each role may open from the home page (each link is a route that allows the role).
HOME_LINKS: dict[str, tuple[str, ...]] = {
    "admin": ("supervise", "results", "dialer", "campaigns", "witness", "api_docs"),
    "supervisor": ("supervise", "results", "campaigns", "witness"),
    "assessor": ("results", "campaigns", "witness"),
    "witness": ("witness", "campaigns"),
    "interviewer": ("console",),
}


def _home_links(role: str, campaigns: list[tuple[int, str, str]]) -> list[dict[str, str]]:
    """Links for ``role``: per-campaign ones (the results page) once per campaign, the rest once."""
    links: list[dict[str, str]] = []
    for kind in HOME_LINKS.get(role, ()):
        if kind == "results":
            for cid, code, name in campaigns:
                href = f"/campaigns/{cid}/results"
                links.append({"key": kind, "href": href, "what": f"{name} ({code})"})
        else:
            href = {
                "console": "/console",
                "witness": "/witness",
                "supervise": "/supervise",
                "dialer": "/api/v1/dialer/status",
                "campaigns": "/api/v1/campaigns",
                "api_docs": "/openapi.json",
            }[kind]
            links.append({"key": kind, "href": href, "what": ""})
    return links


@router.get("/", dependencies=[public()])
def home(request: Request, principal: PrincipalDep, session: SessionDep) -> Response:
    """Signed in: who you are, links to what your role may use, a sign-out button; else the login page."""
    if principal is None:
        return RedirectResponse("/login", status_code=303)
    english = locale_for(request) == "en"
    rows = session.execute(
        select(Campaign.id, Campaign.code, Campaign.name_en if english else Campaign.name_zh).order_by(
            Campaign.id
        )
    ).all()
    campaigns = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
    links = _home_links(principal.user.role, campaigns)
    return render(
        request,
        "home.html",
        user=principal.user,
        links=links,
        witness=principal.user.role == "witness",
        csrf_token=principal.csrf_token,
    )
