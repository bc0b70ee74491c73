"""100 simulated interviewers against the service on PostgreSQL: latency and no lost answers.

Run: .venv/bin/python bench/bench_load.py [--interviewers 100] [--seconds 60] [--speed 5]

What it does: creates a scratch database on 127.0.0.1:5432, migrates it with Alembic, prepares the
Zibo example campaign in fieldwork with a quota that will not fill, starts ``cati serve`` in a child
process (the real app, the dialer on, the built-in simulated PBX at the given clock speed), and runs
the simulated interviewers of ``cati demo`` in this process for the given time: each logs in, waits
for calls via the live events, answers the whole script item by item, codes the call, wraps up.
Then it stops the crew and the server, counts the answer events stored against the answers the
server acknowledged, prints the figures and drops the database.

Latency is measured at the client (httpx), so it includes this process's own event loop; both
processes share the machine. Target here: p99 < 100 ms for saving an answer and fetching the state.
It also prints the CPU used by the server, this client and PostgreSQL during the shift, and the
whole machine's: near 100 % the latencies measure queueing for a core, not the service.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cati.clock import Clock  # noqa: E402
from cati.db import make_engine, upgrade  # noqa: E402
from cati.demo.interviewers import CrewConfig, Stats, run_crew  # noqa: E402
from cati.demo.run import DemoOptions, demo_start, free_port, prepare_demo, read_progress  # noqa: E402
from cati.models import AnswerEvent, Attempt, Interview  # noqa: E402
from cati.settings import Settings  # noqa: E402

PG_ADMIN_URL = os.environ.get("CATI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET_P99 = 0.100


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of values, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def line(kind: str, values: list[float]) -> str:
    if not values:
        return f"  {kind:<12} n=0"
    ms = [v * 1000 for v in values]
    return (
        f"  {kind:<12} n={len(ms):>6}  p50 {pct(ms, 0.5):7.1f} ms  p95 {pct(ms, 0.95):7.1f} ms  "
        f"p99 {pct(ms, 0.99):7.1f} ms  max {max(ms):7.1f} ms  mean {statistics.fmean(ms):6.1f} ms"
    )


async def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with status {proc.returncode}")
            try:
                if (await client.get(f"{url}/api/v1/health", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the server did not come up in time")


def cpu_ticks(pid: int | None = None) -> int:
    """CPU ticks used so far by one process (user + system), or by the whole machine (busy only)."""
    try:
        if pid is None:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
            return sum(fields) - fields[3] - fields[4]  # minus idle and iowait
        parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12])
    except (OSError, ValueError, IndexError):
        return 0


def postgres_ticks() -> int:
    """CPU ticks used so far by PostgreSQL's processes (Linux /proc; 0 elsewhere)."""
    total = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                total += cpu_ticks(int(entry.name))
        except (OSError, ValueError):
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interviewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--speed", type=float, default=5.0, help="service clock speed (think/talk times shrink)"
    )
    args = parser.parse_args()

    name = f"cati_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        upgrade(url)
        start = demo_start()
        settings = Settings(
            env="test", database_url=url, argon2_time_cost=1, argon2_memory_kib=1024, sim_start=start
        )
        options = DemoOptions(quota=10_000, interviewers=args.interviewers, speed=args.speed, seed="bench")
        setup = prepare_demo(settings, options)
        print(f"scratch database {name} migrated and prepared in {time.perf_counter() - t0:.1f} s")

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
        with log_path.open("wb") as server_log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [cati, "serve", "--port", str(port)], env=env, stdout=server_log, stderr=subprocess.STDOUT
            )
        print(f"server log: {log_path}")
        base = f"http://127.0.0.1:{port}"
        logins = [(a.username, a.password) for a in setup.simulated]
        cpu: dict[str, float] = {}
        stats = asyncio.run(run(base, proc, setup.campaign_id, logins, args, start, cpu))
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(
                select(func.count())
                .select_from(AnswerEvent)
                .where(AnswerEvent.kind.in_(("answer", "change", "refuse", "dont_know")))
            ).scalar_one()
            attempts = conn.execute(select(func.count()).select_from(Attempt)).scalar_one()
            finished = conn.execute(
                select(func.count()).select_from(Interview).where(Interview.finished.is_(True))
            ).scalar_one()
        from sqlalchemy.orm import Session

        with Session(engine) as s:
            progress = read_progress(s, setup.campaign_id)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    kinds = ("answer", "refuse", "dont_know")
    sent = sum(stats.actions_sent[k] for k in kinds)
    acked = sum(stats.actions_ok[k] for k in kinds)
    answer = stats.latencies.get("answer", [])
    state = stats.latencies.get("state", []) + stats.latencies.get("next", [])
    print(
        f"\n{args.interviewers} simulated interviewers, {args.seconds:g} s, clock {args.speed:g}x, PostgreSQL"
    )
    print(
        f"  calls taken by interviewers {stats.calls}, attempts dialled {attempts}, "
        f"interviews finished {finished}, completes {progress.completes}"
    )
    print(f"  requests per second: {sum(len(v) for v in stats.latencies.values()) / args.seconds:.0f}")
    if cpu.get("machine"):
        # Client and server share the machine: a saturated CPU shows up as queueing in the latencies.
        print(
            f"  CPU during the shift (of one core): server {cpu['server']:.0f}%, this client "
            f"{cpu['client']:.0f}%, PostgreSQL {cpu['postgres']:.0f}%; whole machine "
            f"{cpu['machine']:.0f}% of {os.cpu_count()} cores"
        )
    for kind in ("answer", "state", "next", "disposition", "ready"):
        print(line(kind, stats.latencies.get(kind, [])))
    print(
        f"  answers sent {sent}, acknowledged {acked}, stored {stored}; lost (acknowledged, not stored) "
        f"{max(0, acked - stored)}; stale-version conflicts {stats.conflicts}\n"
        f"  errors (all phases, incl. the rush to finish calls at the end) {dict(stats.errors) or 'none'}"
    )
    ok_answer = pct(answer, 0.99) < TARGET_P99
    ok_state = pct(state, 0.99) < TARGET_P99
    print(
        f"  p99 save an answer {pct(answer, 0.99) * 1000:.1f} ms ({'meets' if ok_answer else 'misses'} the "
        f"100 ms target); p99 fetch the state / go ready for the next case {pct(state, 0.99) * 1000:.1f} ms "
        f"({'meets' if ok_state else 'misses'})"
    )
    return 0 if acked <= stored <= sent else 1


async def run(
    base: str,
    proc: subprocess.Popen[bytes],
    campaign_id: int,
    logins: list[tuple[str, str]],
    args: argparse.Namespace,
    start: dt.datetime,
    cpu: dict[str, float],
) -> Stats:
    """Run the crew against the server for ``args.seconds``, then stop it cleanly."""
    await wait_up(base, proc)
    # The server's clock started when it came up; this one runs alongside (appointment times only).
    clock = Clock(speed=args.speed, start=start)
    stop = asyncio.Event()
    stats = Stats()
    config = CrewConfig(base_url=base, campaign_id=campaign_id, speed=args.speed, seed="bench", now=clock.now)
    task = asyncio.create_task(run_crew(config, logins, stop, stats=stats))
    await asyncio.sleep(min(10.0, args.seconds / 4))  # logins and the first calls
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    before = (cpu_ticks(proc.pid), cpu_ticks(os.getpid()), postgres_ticks(), cpu_ticks(), time.monotonic())
    await asyncio.sleep(args.seconds - min(10.0, args.seconds / 4))
    after = (cpu_ticks(proc.pid), cpu_ticks(os.getpid()), postgres_ticks(), cpu_ticks(), time.monotonic())
    span = (after[4] - before[4]) * tick / 100  # ticks per percent of one core
    if span > 0:
        for n, key in enumerate(("server", "client", "postgres", "machine")):
            cpu[key] = (after[n] - before[n]) / span / ((os.cpu_count() or 1) if key == "machine" else 1)
    stats.recording = False  # steady state only: at the end everyone finishes the call in hand at once
    stop.set()
    try:
        await asyncio.wait_for(task, timeout=90)
    except TimeoutError:
        print("  (the crew did not stop within 90 s)")
    return stats


if __name__ == "__main__":
    sys.exit(main())
