"""Request dependencies. The session dependency commits at the edge of the request or rolls back."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
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


class CommitOnReturn(APIRoute):
    """Routes whose sync handler commits its request session on the handler's own worker thread.

    Why: FastAPI closes function-scoped dependencies only after the response is validated, and
    for a sync handler that validation is one more hop onto the worker-thread pool. Committed at
    teardown, a transaction (with its connection and its row locks: the seat, the interview, the
    audit chain head) would wait for a free thread; under load every thread may be waiting for a
    connection, and the pool then times out. Committing as the handler returns ends the
    transaction in the same hop; ``get_session`` then has nothing left to commit. A handler that
    raises is rolled back by ``get_session`` as before.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(inspect.unwrap(endpoint)) and not inspect.isasyncgenfunction(
            inspect.unwrap(endpoint)
        ):
            endpoint = _commit_on_return(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _commit_on_return(handler: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = handler(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                value.commit()
        return result

    return run
