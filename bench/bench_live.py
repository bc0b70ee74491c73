"""200 live streams (witness and supervisor rooms) while 100 interviewers work, on PostgreSQL.

Run: .venv/bin/python bench/bench_live.py [--streams 200] [--interviewers 100] [--seconds 40] [--speed 5]

Built on bench_load.py (the same scratch database, demo campaign, ``cati serve`` child with the
dialer and the simulated PBX, and the simulated interviewers of ``cati demo``). Two phases of
``--seconds`` each after a warm-up: first the interviewers alone, then the same crew with
``--streams`` open ``GET /api/v1/campaigns/{id}/live/stream`` connections (three witness views for
one supervisor view), read by this process.

Stream latency is measured with probes: every ``--probe-every`` seconds this process commits an
audited change the way another process would (the quota target of one cell goes up by one, with an
audit entry, straight into the database) and notes the time the commit returned; each stream's
latency is the time until its first event showing that target. The server learns of such a write
from the audit chain's head (polled once a second per campaign and view), so this is the slow path;
seat changes come over the in-process bus. Printed: latency p50/p95/p99/max over every (stream,
probe), events received, events dropped (id gaps: snapshots replaced before a stalled client took
them), probes a stream never saw, answer-save latency with and without the streams, and CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import PG_ADMIN_URL, cpu_ticks, line, pct, postgres_ticks, wait_up  # noqa: E402

from cati import audit  # noqa: E402
from cati.auth.service import issue_api_token  # noqa: E402
from cati.clock import Clock  # noqa: E402
from cati.db import make_engine, make_sessionmaker, transaction, upgrade  # noqa: E402
from cati.demo.interviewers import CrewConfig, Stats, run_crew  # noqa: E402
from cati.demo.run import DemoOptions, demo_start, free_port, prepare_demo  # noqa: E402
from cati.models import QuotaCell, User  # noqa: E402
from cati.settings import Settings  # noqa: E402

PROBE_BASE = 50_000


@dataclass
class StreamStats:
    view: str
    events: int = 0
    dropped: int = 0
    last_id: int | None = None
    seen_target: int = 0
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    first_at: float | None = None


@dataclass
class Probes:
    committed: dict[int, float] = field(default_factory=dict)  # probe target -> commit time
    latencies: list[float] = field(default_factory=list)
    missed: int = 0


def probe_target(snapshot: dict[str, Any]) -> int:
    return int(snapshot["progress"]["districts"][0]["cells"][0]["target"])


async def read_stream(
    client: httpx.AsyncClient, url: str, token: str, st: StreamStats, probes: Probes, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    try:
        async with client.stream("GET", url, headers=headers) as r:
            if r.status_code != 200:
                st.errors.append(f"HTTP {r.status_code}")
                return
            ev_id: int | None = None
            data: list[str] = []
            async for raw in r.aiter_lines():
                if stop.is_set():
                    return
                if raw.startswith("id: "):
                    ev_id = int(raw[4:])
                elif raw.startswith("data: "):
                    data.append(raw[6:])
                elif raw == "" and data:
                    now = time.perf_counter()
                    payload = "\n".join(data)
                    data = []
                    st.events += 1
                    st.bytes += len(payload)
                    if st.first_at is None:
                        st.first_at = now
                    if ev_id is not None and st.last_id is not None and ev_id > st.last_id + 1:
                        st.dropped += ev_id - st.last_id - 1
                    st.last_id = ev_id
                    target = probe_target(json.loads(payload))
                    if target > st.seen_target:
                        for n in range(max(st.seen_target, PROBE_BASE) + 1, target + 1):
                            at = probes.committed.get(n)
                            if at is not None:
                                probes.latencies.append(now - at)
                        st.seen_target = target
    except (httpx.HTTPError, asyncio.CancelledError) as exc:
        if not stop.is_set():
            st.errors.append(type(exc).__name__)


def commit_probe(factory: Any, campaign_id: int, target: int) -> float:
    with transaction(factory) as s:
        cell = s.execute(
            select(QuotaCell).where(QuotaCell.campaign_id == campaign_id).order_by(QuotaCell.id).limit(1)
        ).scalar_one()
        cell.target = target
        audit.record(
            s,
            actor="bench",
            action="campaign.quota_set",
            object_type="campaign",
            object_id=campaign_id,
            details={"target": target, "cells": [cell.id], "why": "bench_live probe"},
        )
    return time.perf_counter()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--interviewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=5.0)
    parser.add_argument("--probe-every", type=float, default=3.0)
    parser.add_argument("--profile", action="store_true", help="print a profile of one snapshot at the end")
    args = parser.parse_args()

    name = f"cati_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    proc: subprocess.Popen[bytes] | None = None
    engine = None
    try:
        upgrade(url)
        start = demo_start()
        settings = Settings(
            env="test", database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, sim_start=start
        )
        options = DemoOptions(quota=10_000, interviewers=args.interviewers, speed=args.speed, seed="bench")
        setup = prepare_demo(settings, options)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        tokens = {}
        with transaction(factory) as s:
            for username in ("witness", "supervisor"):
                user = s.execute(select(User).where(User.username == username)).scalar_one()
                tokens[username] = issue_api_token(s, user, settings, actor="bench")[0]
        commit_probe(factory, setup.campaign_id, PROBE_BASE)

        port = free_port()
        env = {
            **os.environ,
            "CATI_ENV": "test",
            "CATI_DATABASE_URL": url,
            "CATI_DIALER": "true",
            "CATI_SPEED": str(args.speed),
            "CATI_SIM_SEED": "bench",
            "CATI_SIM_START": start.isoformat(),
            "CATI_ARGON2_TIME_COST": "1",
            "CATI_ARGON2_MEMORY_KIB": "1024",
        }
        cati = str(Path(sys.executable).with_name("cati"))
        log_path = Path(tempfile.gettempdir()) / f"{name}-server.log"
        with log_path.open("wb") as server_log:
            proc = subprocess.Popen(
                [cati, "serve", "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT
            )
        print(f"server log: {log_path}")
        base = f"http://127.0.0.1:{port}"
        logins = [(a.username, a.password) for a in setup.simulated]
        asyncio.run(run(base, proc, setup.campaign_id, logins, tokens, factory, args, start))
        snapshot_cost(factory, setup.campaign_id, args.profile)
        return 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot_cost(factory: Any, campaign_id: int, profile: bool) -> None:
    """What one computation costs, in this process, on the database the run left behind."""
    import cProfile
    import datetime as dt
    import pstats

    from cati.live.snapshot import live_snapshot

    for view in ("witness", "supervisor"):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            with transaction(factory) as s:
                live_snapshot(s, campaign_id, view=view, now=dt.datetime.now(dt.UTC))  # type: ignore[arg-type]
            times.append(time.perf_counter() - t0)
        print(f"  one {view} snapshot computed here: median {sorted(times)[2] * 1000:.0f} ms")
    if profile:
        prof = cProfile.Profile()
        with transaction(factory) as s:
            prof.runcall(live_snapshot, s, campaign_id, view="supervisor", now=dt.datetime.now(dt.UTC))
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


def _cpu(proc: subprocess.Popen[bytes]) -> tuple[int, int, int, int, float]:
    return cpu_ticks(proc.pid), cpu_ticks(os.getpid()), postgres_ticks(), cpu_ticks(), time.monotonic()


def _cpu_line(before: tuple[int, int, int, int, float], after: tuple[int, int, int, int, float]) -> str:
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    span = (after[4] - before[4]) * tick / 100
    if span <= 0:
        return "n/a"
    cores = os.cpu_count() or 1
    server, client, pg, machine = ((after[n] - before[n]) / span for n in range(4))
    return (
        f"server {server:.0f}%, bench client {client:.0f}%, PostgreSQL {pg:.0f}% (of one core); "
        f"whole machine {machine / cores:.0f}% of {cores} cores"
    )


async def run(
    base: str,
    proc: subprocess.Popen[bytes],
    campaign_id: int,
    logins: list[tuple[str, str]],
    tokens: dict[str, str],
    factory: Any,
    args: argparse.Namespace,
    start: Any,
) -> None:
    span_b = 1.0
    await wait_up(base, proc)
    clock = Clock(speed=args.speed, start=start)
    crew_stop = asyncio.Event()
    stats = Stats()
    config = CrewConfig(base_url=base, campaign_id=campaign_id, speed=args.speed, seed="bench", now=clock.now)
    crew = asyncio.create_task(run_crew(config, logins, crew_stop, stats=stats))
    await asyncio.sleep(args.warmup)

    # Phase A: the interviewers alone.
    a0 = len(stats.latencies.get("answer", []))
    cpu_a0 = _cpu(proc)
    await asyncio.sleep(args.seconds)
    cpu_a1 = _cpu(proc)
    answers_a = list(stats.latencies.get("answer", [])[a0:])

    # Phase B: the same crew, plus the streams.
    probes = Probes()
    streams: list[StreamStats] = []
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=args.streams + 10, max_keepalive_connections=args.streams + 10)
    timeout = httpx.Timeout(10.0, read=60.0)
    url = f"{base}/api/v1/campaigns/{campaign_id}/live/stream"
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        opened = time.perf_counter()
        tasks = []
        for n in range(args.streams):
            view = "supervisor" if n % 4 == 3 else "witness"
            st = StreamStats(view)
            streams.append(st)
            token = tokens["supervisor" if view == "supervisor" else "witness"]
            tasks.append(asyncio.create_task(read_stream(client, url, token, st, probes, stop)))
        while any(s.first_at is None and not s.errors for s in streams):
            await asyncio.sleep(0.05)
            if time.perf_counter() - opened > 60:
                break
        first = [s.first_at - opened for s in streams if s.first_at is not None]
        await asyncio.sleep(2.0)
        b0 = len(stats.latencies.get("answer", []))
        cpu_b0 = _cpu(proc)
        events_b0 = sum(s.events for s in streams)
        phase_b = time.perf_counter()
        target = PROBE_BASE
        t_end = time.perf_counter() + args.seconds
        while time.perf_counter() < t_end:
            target += 1
            probes.committed[target] = await asyncio.to_thread(commit_probe, factory, campaign_id, target)
            await asyncio.sleep(args.probe_every)
        await asyncio.sleep(3.0)  # the last probe's events
        cpu_b1 = _cpu(proc)
        answers_b = list(stats.latencies.get("answer", [])[b0:])
        events_b = sum(s.events for s in streams) - events_b0
        span_b = time.perf_counter() - phase_b
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stats.recording = False
    crew_stop.set()
    try:
        await asyncio.wait_for(crew, timeout=90)
    except TimeoutError:
        print("  (the crew did not stop within 90 s)")

    n_probes = len(probes.committed)
    expected = n_probes * len(streams)
    seen = len(probes.latencies)
    total_events = sum(s.events for s in streams)
    mean_kib = sum(s.bytes for s in streams) / max(total_events, 1) / 1024
    print(
        f"\n{args.streams} live streams ({sum(s.view == 'witness' for s in streams)} witness, "
        f"{sum(s.view == 'supervisor' for s in streams)} supervisor) + {args.interviewers} simulated "
        f"interviewers, clock {args.speed:g}x, PostgreSQL; phases of {args.seconds:g} s after a "
        f"{args.warmup:g} s warm-up"
    )
    print(
        f"  streams open with a first snapshot: {len(first)}/{len(streams)}; time to first snapshot "
        f"p50 {pct(first, 0.5) * 1000:.0f} ms, max {max(first or [float('nan')]) * 1000:.0f} ms"
    )
    print("  stream update latency (probe committed -> event at the client), over every stream and probe:")
    print(line("latency", probes.latencies))
    print(
        f"  probes {n_probes}, seen {seen} of {expected} (stream x probe); "
        f"events received during phase B {events_b} "
        f"({events_b / span_b / max(len(streams), 1):.2f} per stream per second), "
        f"in total {total_events}; dropped (id gaps) {sum(s.dropped for s in streams)}; "
        f"mean event size {mean_kib:.1f} KiB"
    )
    errors = [e for s in streams for e in s.errors]
    print(f"  stream errors: {errors or 'none'}")
    print("  answer save, interviewers alone (phase A) and with the streams (phase B):")
    print(line("answer A", answers_a))
    print(line("answer B", answers_b))
    if answers_a and answers_b:
        print(
            f"  ratio B/A: p50 {pct(answers_b, 0.5) / pct(answers_a, 0.5):.2f}, "
            f"p99 {pct(answers_b, 0.99) / pct(answers_a, 0.99):.2f}"
        )
    print(f"  CPU phase A: {_cpu_line(cpu_a0, cpu_a1)}")
    print(f"  CPU phase B: {_cpu_line(cpu_b0, cpu_b1)}")
    print(f"  interview calls taken {stats.calls}; crew errors {dict(stats.errors) or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
