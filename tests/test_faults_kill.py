"""Fault injection: ``cati demo`` killed with SIGKILL at random moments, restarted on the same data.

The real service runs as a subprocess (uvicorn, the dialer, the built-in simulated PBX, simulated
interviewers over HTTP), as an operator runs it. It is killed ``KILLS`` times at a random moment
after it answers HTTP, restarted each time on the same database, then left to finish by itself
(``--exit-when-done``). At the end:

* the survey finished by itself (every quota cell at target; overshoot bounded by the crew size);
* every interview action the simulated interviewers got a 200 for is stored (the crew logs each
  acknowledgement client-side, ``--ack-log``, before it sends the next request);
* no attempt is open, no case is ``interviewing``/``dialling``, no seat is on a call;
* no phone number was in two overlapping calls;
* ``cati audit verify`` exits 0.

The table printed at the end (``-s``) gives kills, answers acked vs stored, open attempts,
overlaps and stalls (runs after the last kill that did not finish on their own).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cati.db import make_engine, make_sessionmaker
from cati.demo.run import free_port
from cati.models import (
    AnswerEvent,
    Attempt,
    AuditEntry,
    Case,
    CaseStatus,
    Interview,
    InterviewerSeat,
    QuotaCell,
)

pytestmark = pytest.mark.slow

KILLS = 5
QUOTA = 1
DISTRICTS = 2
INTERVIEWERS = 4
SPEED = 120.0
#: Real seconds the last (unkilled) run may take to finish the survey.
FINISH_TIMEOUT = 60.0
KIND_OF_ACTION = {"answer": {"answer", "change"}, "refuse": {"refuse"}, "dont_know": {"dont_know"}}


def _env(db_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATI_")}
    env.update(
        CATI_ENV="test",
        CATI_DATABASE_URL=db_url,
        CATI_ARGON2_TIME_COST="1",
        CATI_ARGON2_MEMORY_KIB="1024",
        CATI_DIALER_TICK_SECONDS="0.2",
        # a dropped call nobody codes is coded after 2 service minutes (1 s at 120x)
        CATI_RECOVER_CODE_AFTER_SECONDS="120",
        PYTHONUNBUFFERED="1",
    )
    return env


def _cmd(data: Path, port: int, ack: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cati.cli",
        "demo",
        "--data-dir",
        str(data),
        "--port",
        str(port),
        "--quota",
        str(QUOTA),
        "--districts",
        str(DISTRICTS),
        "--interviewers",
        str(INTERVIEWERS),
        "--speed",
        str(SPEED),
        "--seed",
        "5",
        "--exit-when-done",
        "--ack-log",
        str(ack),
    ]


def _serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("cati demo did not start serving")


def test_survey_survives_sigkill(db_url: str, tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CATI_FAULT_SEED", "1")))
    data, ack = tmp_path / "data", tmp_path / "acks.jsonl"
    env = _env(db_url)
    log = (tmp_path / "demo.log").open("ab")
    kills = 0
    open_at_kills: set[int] = set()  # calls a kill cut: the restarted PBX has none of them
    finished_alone = False
    stalls = 0
    try:
        while kills < KILLS:
            port = free_port()
            proc = subprocess.Popen(_cmd(data, port, ack), env=env, stdout=log, stderr=subprocess.STDOUT)
            _serving(port, proc)
            time.sleep(rng.uniform(0.5, 3.0))
            if proc.poll() is not None:  # the survey finished before this kill
                finished_alone = proc.returncode == 0
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            kills += 1
            open_at_kills |= _open_attempts(db_url)
        if not finished_alone:
            port = free_port()
            proc = subprocess.Popen(_cmd(data, port, ack), env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                rc = proc.wait(timeout=FINISH_TIMEOUT)
            except subprocess.TimeoutExpired:
                stalls += 1
                proc.send_signal(signal.SIGINT)
                proc.wait(timeout=30)
                rc = -1
            finished_alone = rc == 0
    finally:
        log.close()
    output = (tmp_path / "demo.log").read_text(encoding="utf-8", errors="replace")

    acked = [json.loads(line) for line in ack.read_text(encoding="utf-8").splitlines() if line.strip()]
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            events: dict[int, list[AnswerEvent]] = defaultdict(list)
            for ev in s.execute(select(AnswerEvent)).scalars():
                events[ev.interview_id].append(ev)
            versions = {i: v for i, v in s.execute(select(Interview.id, Interview.version)).all()}
            actions = dict(
                s.execute(select(AuditEntry.action, func.count()).group_by(AuditEntry.action)).all()
            )
            auto_coded = s.execute(
                select(func.count()).where(
                    AuditEntry.action == "console.disposition", AuditEntry.actor == "system:recovery"
                )
            ).scalar_one()
            lost_acks = []
            for a in acked:
                iid = int(a["interview_id"])
                found = any(
                    ev.item_id == a["item_id"]
                    and ev.kind in KIND_OF_ACTION[a["action"]]
                    and (a["action"] != "answer" or ev.value == str(a["value"]))
                    for ev in events.get(iid, [])
                )
                if not found or versions.get(iid, 0) < int(a["version"]):
                    lost_acks.append(a)
            stored = len(acked) - len(lost_acks)
            # every call a kill cut is closed as lost at the restart, never completed on a dead line
            lost_ids = set(
                s.execute(select(AuditEntry.object_id).where(AuditEntry.action == "attempt.lost")).scalars()
            )
            cut = s.execute(select(Attempt).where(Attempt.id.in_(open_at_kills))).scalars().all()
            not_lost = [a.id for a in cut if str(a.id) not in lost_ids]
            dead_completes = [a.id for a in cut if a.disposition in ("1.1", "1.2")]
            open_attempts = s.execute(select(Attempt.id).where(Attempt.ended_at.is_(None))).scalars().all()
            in_call = (
                s.execute(
                    select(Case.id).where(
                        Case.status.in_([CaseStatus.interviewing.value, CaseStatus.dialling.value])
                    )
                )
                .scalars()
                .all()
            )
            busy_seats = (
                s.execute(
                    select(InterviewerSeat.user_id).where(InterviewerSeat.status.in_(["on_call", "reserved"]))
                )
                .scalars()
                .all()
            )
            cells = s.execute(select(QuotaCell)).scalars().all()
            calls: dict[str, list[tuple[float, float]]] = defaultdict(list)
            for phone, started, ended in s.execute(
                select(Case.phone_number, Attempt.started_at, Attempt.ended_at).join(
                    Case, Case.id == Attempt.case_id
                )
            ).all():
                end = ended or started
                calls[phone].append((_ts(started), _ts(end)))
            overlaps = 0
            for spans in calls.values():
                spans.sort()
                overlaps += sum(1 for (_, e1), (s2, _) in itertools.pairwise(spans) if s2 < e1)
            attempts = sum(len(v) for v in calls.values())
            completes = sum(c.completes for c in cells)
            target = sum(c.target for c in cells)
    finally:
        engine.dispose()

    verify = subprocess.run(
        [sys.executable, "-m", "cati.cli", "audit", "verify", "--data-dir", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    overshoot = max((c.completes - c.target for c in cells), default=0)
    print(
        "\n| backend | kills | answers acked | answers stored | open attempts | cases in a call "
        "| overlaps | stalls | completes/target | max overshoot | attempts | audit verify |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {engine.url.get_backend_name()} | {kills} | {len(acked)} | {stored} | {len(open_attempts)} "
        f"| {len(in_call)} | {overlaps} | {stalls} | {completes}/{target} | {overshoot} | {attempts} "
        f"| {verify.returncode} |\n"
        f"recovery: attempts closed lost {actions.get('attempt.lost', 0)}, seats moved to wrap-up with a "
        f"dropped call {actions.get('seat.line_dropped', 0)}, coded automatically {auto_coded}, "
        f"stranded cases given back {actions.get('case.recovered', 0)}; "
        f"calls cut by kills {len(open_at_kills)}"
    )
    tail = output[-3000:]
    assert kills == KILLS, f"the survey finished after {kills} kills: make it bigger\n{tail}"
    assert finished_alone and stalls == 0, f"the survey did not finish by itself\n{tail}"
    assert open_at_kills, "no kill cut a call"
    assert not_lost == [], f"calls cut by a kill not closed as lost at the restart: {not_lost}"
    assert dead_completes == [], f"interviews completed on a call cut by a kill: {dead_completes}"
    assert actions.get("seat.line_dropped", 0) > 0, "no kill hit a call in an interviewer's hands"
    assert acked, "the crew acknowledged no answer: the ack log is not written"
    assert lost_acks == [], f"acknowledged answers not stored: {lost_acks[:5]}"
    assert open_attempts == []
    assert in_call == []
    assert busy_seats == []
    assert overlaps == 0
    assert all(c.completes >= c.target for c in cells), [(c.id, c.completes, c.target) for c in cells]
    assert overshoot <= INTERVIEWERS, "overshoot is bounded by the interviews in flight"
    assert verify.returncode == 0, verify.stdout + verify.stderr


def _open_attempts(db_url: str) -> set[int]:
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as s:
            return set(s.execute(select(Attempt.id).where(Attempt.ended_at.is_(None))).scalars())
    finally:
        engine.dispose()


def _ts(value: object) -> float:
    import datetime as dt

    assert isinstance(value, dt.datetime)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()
