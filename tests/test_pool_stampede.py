"""A stampede of logins and console requests against a small pool and few worker threads.

Why: FastAPI runs each sync dependency and the handler as separate hops on the worker-thread
pool. A request that kept its database connection from the caller lookup while it queued for the
next thread could leave every connection held by requests waiting for a thread and every thread
waiting for a connection: nothing moved until the pool timed out (``QueuePool limit reached``).
Here far more requests than connections and threads run at once; all must succeed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import anyio.to_thread
import httpx
import pytest
from support import Users

from cati.app import create_app
from cati.models import Role
from cati.settings import Settings

INTERVIEWERS = 24
THREADS = 4  # worker threads for the whole app during the test
POOL = 2  # connections, no overflow


@pytest.fixture
async def few_threads() -> AsyncIterator[None]:
    limiter = anyio.to_thread.current_default_thread_limiter()
    before = limiter.total_tokens
    limiter.total_tokens = THREADS
    try:
        yield
    finally:
        limiter.total_tokens = before


async def test_many_logins_and_console_requests_at_once_on_a_small_pool(
    settings: Settings, users: Users, few_threads: None
) -> None:
    names = [f"iv{n:02d}" for n in range(INTERVIEWERS)]
    for name in names:
        users.create(name, Role.interviewer, password="correct horse")
    small = settings.model_copy(update={"db_pool_size": POOL, "db_max_overflow": 0, "db_pool_timeout": 5.0})
    app = create_app(small)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    async def shift(client: httpx.AsyncClient, name: str) -> list[int]:
        token = await client.post("/api/v1/auth/token", data={"username": name, "password": "correct horse"})
        if token.status_code != 200:
            return [token.status_code]
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        codes = [token.status_code]
        for path in ("/api/v1/auth/me", "/api/v1/console/state", "/api/v1/console/state"):
            codes.append((await client.get(path, headers=headers)).status_code)
        return codes

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client,
    ):
        results = await asyncio.wait_for(asyncio.gather(*(shift(client, name) for name in names)), timeout=90)
    assert results == [[200, 200, 200, 200]] * INTERVIEWERS
