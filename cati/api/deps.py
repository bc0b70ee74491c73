"""Request dependencies. The session dependency commits at the edge of the request or rolls back."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, Request
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from cati.dialing.control import DialerControl, NullDialer
from cati.settings import Settings


def app_now(state: Any) -> dt.datetime:
    """Now by the app's clock (``app.state.clock``: simulated time in the demo), else UTC wall time."""
    clock = getattr(state, "clock", None)
    now: dt.datetime = clock.now() if clock is not None else dt.datetime.now(dt.UTC)
    return now


def request_now(request: Request) -> dt.datetime:
    """:func:`app_now` of the request's app (what a route passes services as ``now``)."""
    return app_now(request.app.state)


def request_dialer(request: Request) -> DialerControl:
    """The app's dialing loop (``app.state.dialer``), or a no-op one when it does not run."""
    dialer: DialerControl | None = getattr(request.app.state, "dialer", None)
    return dialer if dialer is not None else NullDialer()


def wake_dialer_later(request: Request, tasks: BackgroundTasks, campaign_id: int | None) -> None:
    """Wake the dialing loop for ``campaign_id`` once the response is out (after the commit), so a
    ready seat, a resume or a pacing switch takes effect at once."""
    dialer = request_dialer(request)

    async def wake() -> None:  # on the event loop, after the response
        dialer.wake(campaign_id)

    tasks.add_task(wake)


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
