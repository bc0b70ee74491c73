"""Who may call which route: every route declares its rule, and an app with an undeclared route
refuses to build (deny by default).

Declare a rule with a dependency, on the route or on its router::

    @router.get("/things", dependencies=[require_roles(Role.admin, Role.supervisor)])
    def list_things(...): ...

    @router.post("/things")
    def create_thing(user: Annotated[User, require_roles(Role.admin)], ...): ...   # user = caller

    @router.get("/public-thing", dependencies=[public()])

Several rules on one route (router and route) must all pass: the allowed set is their
intersection. ``route_access(route)`` reads the rule back, ``access_table(app)`` lists them all.

The caller is found from ``Authorization: Bearer <token>`` or else from the session cookie. A
state-changing request (POST, PUT, PATCH, DELETE) that is authenticated by the cookie must carry
the session's CSRF token as the ``X-CSRF-Token`` header or a ``csrf_token`` form field; bearer
requests need none (browsers never add that header on their own).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import fastapi.routing
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from cati.api.deps import SessionDep
from cati.auth.service import Principal, principal_for_session, principal_for_token
from cati.errors import Forbidden, Unauthorized
from cati.models import Role, User

SESSION_COOKIE = "cati_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ALL_ROLES: tuple[Role, ...] = tuple(Role)
_ACCESS_ATTR = "__cati_access__"


@dataclass(frozen=True)
class AccessRule:
    """A route's rule: public, or the set of roles allowed."""

    public: bool
    roles: frozenset[Role] = frozenset()

    def allows(self, role: Role | None) -> bool:
        """Whether a caller with ``role`` (None: anonymous) passes this rule."""
        return self.public or (role is not None and role in self.roles)


class NotAuthenticated(Unauthorized):
    """No valid credentials: API callers get 401, browsers asking for a page go to /login."""


class RouteRuleMissing(RuntimeError):
    """Routes were registered without an access rule."""


async def _submitted_csrf(request: Request) -> str | None:
    """The CSRF token a state-changing request carries, from the header or a form field."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        try:
            form = await request.form()
        except Exception:
            return None
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


#: Declares the bearer scheme in the OpenAPI schema (the header itself is parsed below).
_bearer_doc = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_principal(
    request: Request,
    session: SessionDep,
    submitted_csrf: Annotated[str | None, Depends(_submitted_csrf)],
    _bearer: Annotated[str | None, Depends(_bearer_doc)],
) -> Principal | None:
    """The caller, or None for anonymous. Bad bearer tokens are 401; CSRF failures are 403."""
    principal = _lookup(request, session)
    if principal is None:
        return None
    if principal.via == "session" and request.method not in SAFE_METHODS and not (
        submitted_csrf
        and principal.csrf_token
        and secrets.compare_digest(submitted_csrf.encode(), principal.csrf_token.encode())
    ):
        raise Forbidden(f"CSRF token missing or wrong: send the {CSRF_HEADER} header or a csrf_token field")
    request.state.principal = principal
    return principal


def _lookup(request: Request, session: Session) -> Principal | None:
    """Find the caller, then end the read transaction so no connection is held meanwhile.

    Why the early commit: FastAPI runs each sync dependency and the handler as separate hops on
    the worker-thread pool. A request that kept its connection from here while it queued for the
    next free thread could hold the whole pool while every thread waited for a connection
    (``QueuePool limit reached`` after 30 s under a stampede). The caller's ``User`` stays loaded
    (``expire_on_commit=False``); the handler's first query checks a connection out again.
    """
    ours = not session.in_transaction()  # never end a transaction someone else began
    try:
        return _find_principal(request, session)
    finally:
        if ours and session.in_transaction():
            session.commit()


def _find_principal(request: Request, session: Session) -> Principal | None:
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, raw = authorization.partition(" ")
        principal = None
        if scheme.lower() == "bearer" and raw.strip():
            principal = principal_for_token(session, raw.strip())
        if principal is None:
            raise Unauthorized(
                "invalid or expired token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return principal_for_session(session, cookie)


PrincipalDep = Annotated[Principal | None, Depends(get_principal)]


def require_roles(*roles: Role) -> Any:
    """A dependency allowing only callers with one of ``roles``; it yields the calling ``User``.

    Use it in ``dependencies=[...]`` or as a parameter annotation
    (``user: Annotated[User, require_roles(Role.admin)]``). 401 for anonymous, 403 for other roles.
    """
    if not roles:
        raise ValueError("require_roles needs at least one role; use public() for open routes")
    allowed = frozenset(Role(r) for r in roles)

    async def check_role(principal: PrincipalDep) -> User:  # no I/O: no worker-thread hop
        if principal is None:
            raise NotAuthenticated("not authenticated", headers={"WWW-Authenticate": "Bearer"})
        if Role(principal.user.role) not in allowed:
            raise Forbidden(f"role {principal.user.role!r} may not use this")
        return principal.user

    setattr(check_role, _ACCESS_ATTR, AccessRule(public=False, roles=allowed))
    return Depends(check_role)


def any_role() -> Any:
    """Any logged-in user, whatever the role (``require_roles`` with every role)."""
    return require_roles(*ALL_ROLES)


async def _public_marker() -> None:
    return None


setattr(_public_marker, _ACCESS_ATTR, AccessRule(public=True))


def public() -> Any:
    """Mark a route as open to everyone, including anonymous callers."""
    return Depends(_public_marker)


def mark_public(route: BaseRoute) -> BaseRoute:
    """Mark a non-FastAPI route (e.g. a static-files Mount) as public."""
    setattr(route, _ACCESS_ATTR, AccessRule(public=True))
    return route


def _rules_in(dependant: Any) -> Iterable[AccessRule]:
    rule = getattr(dependant.call, _ACCESS_ATTR, None)
    if isinstance(rule, AccessRule):
        yield rule
    for sub in dependant.dependencies:
        yield from _rules_in(sub)


def _rule_of(route: Any, dependant: Any) -> AccessRule | None:
    direct = getattr(route, _ACCESS_ATTR, None)
    if isinstance(direct, AccessRule):
        return direct
    if dependant is None:
        return None
    rules = list(_rules_in(dependant))
    role_rules = [r for r in rules if not r.public]
    if role_rules:
        roles = frozenset(ALL_ROLES)
        for r in role_rules:
            roles &= r.roles
        return AccessRule(public=False, roles=roles)
    if rules:
        return AccessRule(public=True)
    return None


def route_access(route: BaseRoute) -> AccessRule | None:
    """The rule a route declares (several rules intersect), or None if it declares none."""
    dependant = route.dependant if isinstance(route, APIRoute | APIWebSocketRoute) else None
    return _rule_of(route, dependant)


@dataclass(frozen=True)
class RouteInfo:
    """One served route as the access table lists it."""

    path: str
    methods: frozenset[str]
    rule: AccessRule | None
    in_schema: bool


def _served_routes(app: FastAPI) -> Iterable[tuple[Any, Any]]:
    """(original route, effective route) pairs, with routers' prefixes and dependencies applied."""
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_contexts is None:  # FastAPI before lazily included routers: routes are flat already
        for route in app.routes:
            yield route, route
        return
    for ctx in iter_contexts(app.routes):
        yield ctx.original_route, ctx


def _framework_paths(app: FastAPI) -> set[str]:
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    return {p for p in paths if p}


def access_table(app: FastAPI) -> list[RouteInfo]:
    """Every served route with its rule; FastAPI's own docs routes count as public."""
    framework = _framework_paths(app)
    out: list[RouteInfo] = []
    for original, effective in _served_routes(app):
        path = str(getattr(effective, "path", "") or getattr(original, "path", ""))
        methods = frozenset(getattr(effective, "methods", None) or {"WS"})
        dependant = getattr(effective, "dependant", None)
        rule = _rule_of(original, dependant)
        if rule is None and path in framework:
            rule = AccessRule(public=True)
        in_schema = bool(getattr(effective, "include_in_schema", False)) and isinstance(original, APIRoute)
        out.append(RouteInfo(path, methods, rule, in_schema))
    return out


def check_routes(app: FastAPI) -> None:
    """Refuse an app in which any route lacks an access rule."""
    missing = [f"{' '.join(sorted(r.methods))} {r.path}" for r in access_table(app) if r.rule is None]
    if missing:
        raise RouteRuleMissing(
            "routes without an access rule (add require_roles(...) or public()): " + "; ".join(missing)
        )


def client_address(request: Request) -> str:
    """The client's address for the login back-off (the proxy's, unless uvicorn trusts its headers)."""
    return request.client.host if request.client is not None else "-"
