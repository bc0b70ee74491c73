"""Helpers shared by the tests (imported as ``support``: pytest puts tests/ on the path)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from cati.auth.service import create_user, issue_api_token
from cati.db import make_sessionmaker, transaction
from cati.models import Role, User
from cati.settings import Settings


class Users:
    """Make users and bearer tokens straight through the services (no HTTP)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.factory = make_sessionmaker(engine)

    def create(self, username: str, role: Role | str, password: str = "correct horse") -> int:
        with transaction(self.factory) as s:
            return create_user(
                s, username=username, role=role, password=password, settings=self.settings, actor="test"
            ).id

    def token(self, username: str) -> str:
        with transaction(self.factory) as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one()
            raw, _ = issue_api_token(s, user, self.settings, actor="test")
            return raw

    def bearer(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(username)}"}
