"""The simulated clock: simulated time runs ``speed`` times faster than real time.

Why: a demo of a day's fieldwork, or a benchmark of hundreds of calls, cannot wait for real ring
times. Time-of-day behaviour (households answer in the evening) needs a simulated *date and hour*,
so the clock starts at a configurable local datetime (Asia/Shanghai by default) and every AMI
Timestamp, CDR time and Uniqueid uses simulated epoch seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


class SimClock:
    """Maps real monotonic time to simulated epoch time; ``real_delay`` converts durations."""

    def __init__(
        self,
        speed: float = 1.0,
        start: datetime | None = None,
        tz: str = DEFAULT_TZ,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.speed = float(speed)
        self.tz = ZoneInfo(tz)
        if start is None:
            start = datetime.now(self.tz)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        self.start = start
        self._start_epoch = start.timestamp()
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._start_epoch + (self._monotonic() - self._t0) * self.speed

    def datetime(self, epoch: float | None = None) -> datetime:
        """Simulated local datetime (in the clock's time zone)."""
        return datetime.fromtimestamp(self.now() if epoch is None else epoch, self.tz)

    def real_delay(self, sim_seconds: float) -> float:
        """Real seconds to wait for ``sim_seconds`` of simulated time."""
        return max(0.0, sim_seconds) / self.speed

    def format(self, epoch: float) -> str:
        """Local time as CDRs print it: ``YYYY-MM-DD HH:MM:SS``."""
        return self.datetime(epoch).strftime("%Y-%m-%d %H:%M:%S")
