"""Test rig for the dialing loop: a campaign in fieldwork, interviewers with ready seats, the
DialerService on a real event bus, talking AMI over TCP to the in-process simulated PBX.

Outcomes are made certain per number with the PBX model's ``fixed`` table (the numbers come from
the released sample), so a test knows what each call will do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from case_factory import ALWAYS_OPEN, make_campaign
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cati.campaigns.instruments import BUILTIN_DIR
from cati.cases import service as cases
from cati.clock import Clock
from cati.db import make_engine, make_sessionmaker, transaction
from cati.dialing.service import DialerService, PacerFactory, default_pacer
from cati.events import EventBus, install_session_events
from cati.models import Attempt, Campaign, Case, InterviewerSeat, User
from cati.settings import Settings

#: A Monday evening in Shanghai (residents answer).
START = dt.datetime(2026, 11, 23, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SPEED = 30.0
FAST_CLIENT: dict[str, Any] = {
    "reconnect_delay": 0.1,
    "max_reconnect_delay": 0.3,
    "ping_interval": 1.0,
    "ping_timeout": 1.0,
    "connect_timeout": 2.0,
    "action_timeout": 2.0,
}

#: Timings of the rig's simulated respondents (service seconds).
RIG_MODEL_DEFAULTS: dict[str, Any] = {
    "ring_median": 2.0,
    "ring_min": 1.0,
    "ring_max": 3.0,
    "fail_delay": 1.0,
    "talk_seconds": 0,
}


class HandClock(Clock):
    """A service clock that stands still until the test moves it (``advance``).

    The dialer's service-time timers (the 2-second rule) wait on ``wait_until``, which wakes at
    every ``advance``; the simulated PBX keeps running at ``speed`` on its own clock.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._offset = dt.timedelta(0)
        self._moved = asyncio.Event()

    def now(self) -> dt.datetime:
        return self._origin + self._offset

    def advance_to(self, when: dt.datetime) -> None:
        """Set the service time (never backwards) and wake every timer waiting on it."""
        assert when >= self.now(), "the service clock never goes back"
        self._offset = when - self._origin
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def wait_until(self, until: dt.datetime, event: asyncio.Event | None = None) -> bool:
        while True:
            if event is not None and event.is_set():
                return True
            if self.now() >= until:
                return False
            waits = [asyncio.ensure_future(self._moved.wait())]
            if event is not None:
                waits.append(asyncio.ensure_future(event.wait()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    factory: sessionmaker[Session]
    bus: EventBus
    clock: Clock
    settings: Settings
    campaign_id: int
    district_id: int
    seats: list[int]
    numbers: list[str]
    service: DialerService | None = None
    cleanup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def session(self) -> Session:
        return self.factory()

    def attempts(self) -> list[Attempt]:
        with self.factory() as s:
            return list(s.execute(select(Attempt).order_by(Attempt.id)).scalars().all())

    def cases(self) -> dict[str, Case]:
        with self.factory() as s:
            return {c.phone_number: c for c in s.execute(select(Case)).scalars().all()}

    def seat(self, user_id: int) -> InterviewerSeat:
        with self.factory() as s:
            seat = s.get(InterviewerSeat, user_id)
            assert seat is not None
            return seat

    async def start(self, **kwargs: Any) -> DialerService:
        self.service = DialerService(
            self.settings, self.factory, self.bus, self.clock, client_options=FAST_CLIENT, **kwargs
        )
        await self.service.start()
        self.cleanup.append(self.service.stop)
        return self.service

    async def close(self) -> None:
        for step in reversed(self.cleanup):
            await step()


async def wait_for(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` (sync, may hit the database in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def build(
    db_url: str,
    tmp_path: Path,
    *,
    mode: str = "progressive",
    seats: int = 1,
    cases_count: int = 4,
    outcomes: list[str] | None = None,
    ready: bool = True,
    abandon_cap: float = 0.01,
    scheduling: dict[str, Any] | None = None,
    model_defaults: dict[str, Any] | None = None,
    clock: Clock | None = None,
    **settings_overrides: Any,
) -> Rig:
    """Campaign, sample, interviewers (seats ready), the PBX model fixing each number's outcome."""
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    install_session_events(factory, bus)
    if clock is None:
        clock = Clock(speed=settings_overrides.pop("speed", SPEED), start=START)
    instrument = (BUILTIN_DIR / "satisfaction.yaml").read_text(encoding="utf-8")
    now = clock.now()
    with transaction(factory) as s:
        built = make_campaign(
            s,
            districts=1,
            suffix_digits=3,
            targets={"resident": 50},
            windows={"resident": ALWAYS_OPEN["resident"]},
            scheduling={"topup_min_open": 0, **(scheduling or {})},
        )
        campaign = s.get(Campaign, built.campaign_id)
        assert campaign is not None
        campaign.dialling_mode = mode
        campaign.abandon_cap = abandon_cap
        campaign.ring_timeout_s = 15
        campaign.instrument_name = "satisfaction.yaml"
        campaign.instrument_text = instrument
        campaign.instrument_sha256 = hashlib.sha256(instrument.encode()).hexdigest()
        released = cases.release_sample(
            s, built.campaign_id, built.district_ids[0], "resident", cases_count, now
        )
        numbers = [
            n
            for (n,) in s.execute(
                select(Case.phone_number).where(Case.id.in_(released.case_ids)).order_by(Case.sample_position)
            ).all()
        ]
        seat_ids = []
        for i in range(seats):
            user = User(username=f"iv{i:02d}", role="interviewer", password_hash="x", extension=f"{1001 + i}")
            s.add(user)
            s.flush()
            s.add(
                InterviewerSeat(
                    user_id=user.id,
                    campaign_id=built.campaign_id,
                    status="ready" if ready else "offline",
                    status_since=now,
                    shift_started_at=now,
                )
            )
            seat_ids.append(user.id)
    fixed = {n: (outcomes[i % len(outcomes)] if outcomes else "answer") for i, n in enumerate(numbers)}
    model = tmp_path / "pbx-model.yaml"
    # fixed outcomes; the timings are the model's: a short ring (well inside the 15 s ring timeout)
    # and, unless a test sets ``talk_seconds``, an answered respondent stays until hung up
    defaults = {**RIG_MODEL_DEFAULTS, **(model_defaults or {})}
    model.write_text(yaml.safe_dump({"fixed": fixed, "defaults": defaults}), encoding="utf-8")
    settings = Settings(
        env="test",
        database_url=db_url,
        data_dir=tmp_path / "data",
        dialer=True,
        speed=clock.speed,
        sim_start=START,
        sim_seed="7",
        sim_model=model,
        dialer_tick_seconds=0.05,
        **settings_overrides,
    )
    rig = Rig(factory, bus, clock, settings, built.campaign_id, built.district_ids[0], seat_ids, numbers)

    async def dispose() -> None:
        engine.dispose()

    rig.cleanup.append(dispose)
    return rig


class Scripted:
    """Pacing that places a fixed number of lines once, then none: tests the service, not the maths."""

    def __init__(self, lines: int) -> None:
        self.lines = lines

    def decide(self, snap: Any) -> int:
        n, self.lines = self.lines, 0
        return n

    def observe_dial(self, seconds: float, live: bool) -> None: ...
    def observe_talk(self, seconds: float) -> None: ...
    def observe_wrap(self, seconds: float) -> None: ...


def scripted(lines: int) -> PacerFactory:
    policy = Scripted(lines)
    return lambda mode, cap: policy


__all__ = [
    "FAST_CLIENT",
    "SPEED",
    "START",
    "HandClock",
    "Rig",
    "build",
    "default_pacer",
    "free_port",
    "scripted",
    "wait_for",
]
