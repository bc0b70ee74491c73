"""The whole dialing loop against the simulated PBX over TCP, with scripted interviewers (issue 4, item 5).

What runs: a migrated database (SQLite in a temporary directory, or ``--db URL``), a campaign in
fieldwork over three districts, N interviewers made ready through the console service, and the
service's :class:`~cati.dialing.service.DialerService` with its built-in simulated PBX (AMI over TCP on
127.0.0.1, the respondent model's default answer rates at 19:00 on a weekday). Each scripted
interviewer listens on the event bus like the console does; when its seat's ``state`` event says
``on_call`` it "talks" for a scripted time, codes the call through the console service (which closes
the attempt), has the dialer hang up, wraps up and goes ready again.

Printed per dialling mode: answer -> console-event latency p50/p99/max (target: within 300 ms; the
time from the AMI answer event to the seat's ``state`` event arriving on the bus), dials placed per
second, live answers, abandonment on the 2-second rule (abandoned / live answers, and the hold from
answer to abandonment as the service measured it on its clock, in service seconds), interviewer
occupancy (talk share and talk + wrap-up share of logged-in time), and how many calls were connected.

Run: ``.venv/bin/python bench/bench_dialing.py [--seats 20] [--seconds 40] [--speed 30]
[--modes progressive,predictive] [--db URL]`` (about 90 s with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cati.campaigns.instruments import BUILTIN_DIR
from cati.clock import Clock
from cati.console import service as console
from cati.db import make_engine, make_sessionmaker, transaction, upgrade
from cati.dialing.service import DialerService
from cati.events import EventBus, install_session_events
from cati.models import Attempt, Campaign, District, ExchangePrefix, QuotaCell, User
from cati.settings import Settings

START = dt.datetime(2026, 11, 23, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))  # Monday evening
ALWAYS = [{"days": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "24:00"}]


@dataclass
class Figures:
    latencies_ms: list[float] = field(default_factory=list)
    talk_s: float = 0.0  # service seconds
    wrap_s: float = 0.0
    calls: int = 0


def setup(factory: sessionmaker[Session], mode: str, seats: int, now: dt.datetime) -> tuple[int, list[int]]:
    instrument = (BUILTIN_DIR / "satisfaction.yaml").read_text(encoding="utf-8")
    with transaction(factory) as s:
        campaign = Campaign(
            code=f"bench-{mode}",
            name_zh="基准",
            name_en="Bench",
            timezone="Asia/Shanghai",
            status="fieldwork",
            dialling_mode=mode,
            instrument_name="satisfaction.yaml",
            instrument_text=instrument,
            instrument_sha256=hashlib.sha256(instrument.encode()).hexdigest(),
            calling_windows={"resident": ALWAYS},
            scheduling={"topup_min_open": 400, "topup_batch": 600},
            seed_hex="be9c" * 8,
            abandon_cap=0.01,
            ring_timeout_s=30,
        )
        s.add(campaign)
        s.flush()
        for d in range(3):
            district = District(campaign_id=campaign.id, code=f"D{d}", name_zh=f"区{d}", suffix_digits=4)
            s.add(district)
            s.flush()
            s.add(ExchangePrefix(campaign_id=campaign.id, district_id=district.id, prefix=f"53{d}1"))
            s.add(
                QuotaCell(campaign_id=campaign.id, district_id=district.id, stratum="resident", target=5000)
            )
        user_ids = []
        for i in range(seats):
            user = User(
                username=f"{mode[:4]}-iv{i:03d}",
                role="interviewer",
                password_hash="x",
                extension=str(2000 + i),
            )
            s.add(user)
            s.flush()
            console.go_ready(s, user, campaign_id=campaign.id, now=now)
            user_ids.append(user.id)
        return campaign.id, user_ids


async def interviewer(
    user_id: int,
    service: DialerService,
    factory: sessionmaker[Session],
    bus: EventBus,
    clock: Clock,
    figures: Figures,
    rng: random.Random,
    talk: tuple[float, float],
    wrap: float,
) -> None:
    """Take calls as the console would: wait for on_call, talk, code, hang up, wrap up, ready."""
    with bus.subscribe({console.seat_topic(user_id)}) as sub:
        while True:
            ev = await sub.queue.get()
            if ev.data.get("status") != "on_call" or ev.data.get("why") != "call connected":
                continue
            arrived = time.monotonic()

            def attempt_of_seat() -> int | None:
                with factory() as s:
                    seat = console.lock_seat(s, user_id, create=False)
                    return seat.current_attempt_id

            call = service._by_attempt.get(await asyncio.to_thread(attempt_of_seat) or 0)
            if call is not None and call.answered_mono is not None:
                figures.latencies_ms.append((arrived - call.answered_mono) * 1000.0)
            figures.calls += 1
            talk_s = rng.uniform(*talk)
            await asyncio.sleep(clock.real_seconds(talk_s))

            def code() -> int | None:
                with transaction(factory) as s:
                    user = s.get(User, user_id)
                    assert user is not None
                    _, attempt_id = console.record_disposition(s, user, code="refusal", now=clock.now())
                    return attempt_id

            attempt_id = await asyncio.to_thread(code)
            if attempt_id is not None:
                await service.hangup(attempt_id)
            figures.talk_s += talk_s
            await asyncio.sleep(clock.real_seconds(wrap))
            figures.wrap_s += wrap

            def ready() -> None:
                with transaction(factory) as s:
                    user = s.get(User, user_id)
                    assert user is not None
                    console.finish_wrap_up(s, user, now=clock.now())

            await asyncio.to_thread(ready)
            service.wake()


async def run_mode(mode: str, args: argparse.Namespace, db_url: str) -> dict[str, Any]:
    engine = make_engine(db_url)
    factory = make_sessionmaker(engine)
    bus = EventBus()
    bus.bind(asyncio.get_running_loop())
    install_session_events(factory, bus)
    clock = Clock(speed=args.speed, start=START)
    campaign_id, users = await asyncio.to_thread(setup, factory, mode, args.seats, clock.now())
    settings = Settings(
        env="test",
        database_url=db_url,
        dialer=True,
        speed=args.speed,
        sim_seed="11",
        dialer_tick_seconds=0.1,
        dialer_node=f"bench-{mode}",
    )
    service = DialerService(settings, factory, bus, clock, topup_seconds=5.0)
    figures = Figures()
    rng = random.Random(5)
    tasks = [
        asyncio.create_task(interviewer(u, service, factory, bus, clock, figures, rng, (60.0, 180.0), 20.0))
        for u in users
    ]
    await service.start()
    t0, s0 = time.monotonic(), clock.now()
    await asyncio.sleep(args.seconds)
    elapsed, service_elapsed = time.monotonic() - t0, (clock.now() - s0).total_seconds()
    status = service.status()
    holds = sorted(service.abandon_holds_s)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await service.stop()

    def open_attempts() -> int:
        with factory() as s:
            return len(s.execute(select(Attempt.id).where(Attempt.ended_at.is_(None))).all())

    left_open = await asyncio.to_thread(open_attempts)
    engine.dispose()
    c = status["counters"]
    lat = sorted(figures.latencies_ms)
    logged = args.seats * service_elapsed
    return {
        "mode": mode,
        "real_s": elapsed,
        "placed": c["placed"],
        "answered": c["answered"],
        "connected": c["connected"],
        "abandoned": c["abandoned"],
        "abandon_holds_s": holds,
        "latency": lat,
        "service_latency": status["latency_ms"],
        "talk_share": figures.talk_s / logged,
        "busy_share": (figures.talk_s + figures.wrap_s) / logged,
        "left_open_after_stop": left_open,
        "campaign": status["campaigns"].get(str(campaign_id), {}),
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seats", type=int, default=20)
    p.add_argument("--seconds", type=float, default=40.0, help="real seconds per mode")
    p.add_argument("--speed", type=float, default=30.0)
    p.add_argument("--modes", default="progressive,predictive")
    p.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary directory)")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            url = args.db or f"sqlite:///{Path(tmp) / f'{mode}.sqlite3'}"
            await asyncio.to_thread(upgrade, url)
            results.append(await run_mode(mode, args, url))
    backend = (args.db or "sqlite").split(":")[0]
    print(
        f"dialing loop: {args.seats} scripted interviewers, speed {args.speed:g}x, {args.seconds:g} s real "
        f"per mode, database {backend}; talk 60-180 s, wrap-up 20 s (service time)"
    )
    for r in results:
        lat = r["latency"]
        live = max(r["answered"], 1)
        print(f"\n[{r['mode']}]")
        print(
            f"  answer -> console event: p50 {pct(lat, 0.5):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
            f"max {max(lat) if lat else float('nan'):.1f} ms over {len(lat)} connected calls "
            f"(target 300 ms; p99/target {pct(lat, 0.99) / 300:.2f})"
        )
        print(
            f"  service's own figure (answer -> commit): p50 {r['service_latency']['p50']} ms, "
            f"p99 {r['service_latency']['p99']} ms"
        )
        print(
            f"  dials placed {r['placed']} ({r['placed'] / r['real_s']:.1f}/s real), "
            f"live answers {r['answered']}, connected {r['connected']}"
        )
        print(
            f"  abandoned {r['abandoned']} = {r['abandoned'] / live:.2%} of live answers "
            "(2-second rule; cap 1%)"
        )
        holds = r["abandon_holds_s"]
        if holds:
            print(
                f"  hold before abandonment (service clock): min {holds[0]:.3f} s, "
                f"p50 {pct(holds, 0.5):.3f} s, max {holds[-1]:.3f} s over {len(holds)} calls (rule: 2 s)"
            )
        else:
            print("  hold before abandonment: no call abandoned")
        print(
            f"  occupancy: talking {r['talk_share']:.2f}, "
            f"talking + wrap-up {r['busy_share']:.2f} of logged-in time"
        )
        print(f"  attempts left open after stop: {r['left_open_after_stop']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
