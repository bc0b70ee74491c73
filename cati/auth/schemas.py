"""Request and response shapes of the auth API."""

from __future__ import annotations

from pydantic import BaseModel

from cati.models import Role


class TokenRead(BaseModel):
    """OAuth2 token response: send ``Authorization: Bearer <access_token>`` afterwards."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int


class MeRead(BaseModel):
    """The caller. ``csrf_token`` is set when the caller is signed in through the browser cookie."""

    id: int
    username: str
    display_name: str
    role: Role
    extension: str | None
    via: str
    csrf_token: str | None = None
