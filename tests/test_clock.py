"""The service clock's timer: what the 2-second rule waits on."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from cati.clock import Clock

START = dt.datetime(2026, 11, 23, 11, 0, tzinfo=dt.UTC)


async def test_wait_until_ends_at_the_service_time_not_before() -> None:
    clock = Clock(speed=20.0, start=START)
    until = clock.now() + dt.timedelta(seconds=2)  # 100 ms of real time at 20x
    t0 = time.monotonic()
    assert await clock.wait_until(until, asyncio.Event()) is False
    assert clock.now() >= until
    assert time.monotonic() - t0 >= 0.1


async def test_wait_until_returns_early_when_the_event_is_set() -> None:
    clock = Clock(speed=1.0, start=START)
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, event.set)
    t0 = time.monotonic()
    assert await clock.wait_until(clock.now() + dt.timedelta(seconds=5), event) is True
    assert time.monotonic() - t0 < 2.0
