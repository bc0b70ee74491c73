"""Auth API: bearer tokens (OAuth2 password flow), the caller, logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm

from cati.api.deps import CommitOnReturn, SessionDep, SettingsDep
from cati.auth import service, throttle
from cati.auth.access import SESSION_COOKIE, any_role, client_address, public
from cati.auth.schemas import MeRead, TokenRead
from cati.auth.service import Principal
from cati.models import Role, User, utcnow

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=CommitOnReturn)


@router.post(
    "/token",
    response_model=TokenRead,
    dependencies=[public()],
    responses={
        401: {"description": "wrong credentials (one message for every cause)"},
        429: {"description": "too many failed logins: locked for now (Retry-After)"},
    },
)
def issue_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenRead | JSONResponse:
    """Exchange username and password for a bearer token that expires."""
    outcome = service.login(
        session, form.username, form.password, settings, channel="api", source=client_address(request)
    )
    user = outcome.user
    if user is None:
        # Returned, not raised: the failure count and its audit entry must still commit.
        if outcome.locked_until is not None:
            wait = throttle.retry_after_seconds(outcome.locked_until, utcnow())
            return JSONResponse(
                {"detail": service.LOGIN_LOCKED, "retry_after_seconds": wait},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        return JSONResponse(
            {"detail": service.LOGIN_FAILED}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )
    raw, _row = service.issue_api_token(session, user, settings, actor=user.username)
    return TokenRead(access_token=raw, expires_in=settings.api_token_ttl_seconds)


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


@router.get("/me", response_model=MeRead)
def me(request: Request, user: Annotated[User, any_role()]) -> MeRead:
    """Who is calling; a browser session also gets its CSRF token here."""
    principal = _principal(request)
    return MeRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        extension=user.extension,
        via=principal.via,
        csrf_token=principal.csrf_token,
    )


@router.post("/logout", status_code=204, response_class=Response, dependencies=[any_role()])
def logout(request: Request, session: SessionDep) -> Response:
    """Revoke the bearer token used, or end the browser session (and clear its cookie)."""
    principal = _principal(request)
    service.logout(session, principal)
    response = Response(status_code=204)
    if principal.via == "session":
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response
