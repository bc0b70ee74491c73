"""Request dependencies. The session dependency commits at the edge of the request or rolls back."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cati.settings import Settings


async def get_settings_dep(request: Request) -> Settings:  # async: no worker-thread hop
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed if the handler returns, rolled back if it raises."""
    session: Session = request.app.state.sessionmaker()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# scope="function": the commit runs when the handler returns, before the response is sent, so a
# client never sees success for a change that then fails to commit, and a redirect after login
# never races the commit of the new session row.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
