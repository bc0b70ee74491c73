"""The service clock: real time in production, faster than real time for demos and benchmarks.

One clock is shared by the dialing loop, the case scheduler and the built-in simulated PBX, so
calling windows, retry delays and the PBX's time-of-day behaviour agree when time runs at 60x.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """``now()`` = ``start + speed x (real time elapsed since the clock was made)``, in UTC."""

    speed: float = 1.0
    start: dt.datetime | None = None
    _t0: float = field(default_factory=time.monotonic, init=False, repr=False)
    _origin: dt.datetime = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("clock speed must be positive")
        origin = self.start or dt.datetime.now(dt.UTC)
        if origin.tzinfo is None:
            raise ValueError("clock start must carry a time zone")
        self._origin = origin.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        """The current service time, timezone-aware UTC."""
        elapsed = time.monotonic() - self._t0
        return self._origin + dt.timedelta(seconds=elapsed * self.speed)

    def real_seconds(self, service_seconds: float) -> float:
        """How long a span of service time takes in real time (for sleeps)."""
        return service_seconds / self.speed

    async def wait_until(self, until: dt.datetime, event: asyncio.Event | None = None) -> bool:
        """Wait until the service time ``until`` or until ``event`` is set; True if the event was set.

        Timers measured in service time (the dialer's 2-second rule) wait here, so a clock that a
        test moves by hand decides them exactly; this one sleeps the matching real time.
        """
        while True:
            if event is not None and event.is_set():
                return True
            left = (until - self.now()).total_seconds()
            if left <= 0:
                return False
            if event is None:
                await asyncio.sleep(self.real_seconds(left))
                continue
            try:
                await asyncio.wait_for(event.wait(), self.real_seconds(left))
            except TimeoutError:
                continue  # timers may fire a hair early: check the service time again
