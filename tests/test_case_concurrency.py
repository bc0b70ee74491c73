"""Concurrency: several dialers (threads, and on PostgreSQL separate processes with their own
engines) take cases at once. No case may be handed out twice while a call is up, no number may be
in two open attempts, and a dialled case is dialled again only by a scheduled retry."""

from __future__ import annotations

import itertools
import multiprocessing
from collections import defaultdict

import pytest
from case_factory import ALWAYS_OPEN, make_campaign
from case_workers import run_worker
from sqlalchemy import Engine, select

from cati.audit import verify_chain
from cati.cases import service as svc
from cati.db import make_sessionmaker, transaction
from cati.models import Attempt, Case, utcnow
from dialer.schedule import DISPOSITIONS, Next

MAX_ATTEMPTS = 4


def _setup(engine: Engine, per_cell: int) -> int:
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        b = make_campaign(
            s,
            windows=ALWAYS_OPEN,
            targets={"staff": 10},
            scheduling={"max_attempts": MAX_ATTEMPTS, "retry_minutes": {"busy": 0, "no_answer": 0}},
        )
        for d in b.district_ids:
            svc.release_sample(s, b.campaign_id, d, "staff", per_cell, utcnow())
        return b.campaign_id


def _check(engine: Engine, campaign_id: int, attempts_made: int) -> None:
    with make_sessionmaker(engine)() as s:
        cases = s.execute(select(Case).where(Case.campaign_id == campaign_id)).scalars().all()
        attempts = s.execute(select(Attempt).order_by(Attempt.started_at, Attempt.id)).scalars().all()
        by_case: dict[int, list[Attempt]] = defaultdict(list)
        for a in attempts:
            by_case[a.case_id].append(a)
        assert len(attempts) == attempts_made
        assert all(a.ended_at is not None for a in attempts)
        for c in cases:
            mine = by_case[c.id]
            assert c.attempts_count == len(mine)
            # Every case was worked to the end: attempts exhausted, closed busy/no answer.
            assert c.status == "finalised" and c.final_disposition in {"3.12", "3.13"}
            assert len(mine) == MAX_ATTEMPTS
            for before, after in itertools.pairwise(mine):
                # Never two calls at once: the next call starts after the previous one ended ...
                assert before.ended_at is not None and after.started_at >= before.ended_at
                # ... and only because the previous result scheduled a retry.
                assert DISPOSITIONS[before.disposition or ""].next is Next.retry
        assert verify_chain(s).ok


def test_threads_never_share_a_case(engine: Engine, db_url: str) -> None:
    campaign_id = _setup(engine, per_cell=10)
    made = run_worker(db_url, campaign_id, "node-a", iterations=200, threads=4)
    _check(engine, campaign_id, made)


def test_processes_and_threads_never_share_a_case(engine: Engine, db_url: str, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several processes with their own engines: the PostgreSQL row-lock design")
    campaign_id = _setup(engine, per_cell=20)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        pending = [pool.apply_async(run_worker, (db_url, campaign_id, f"node-{p}", 200, 2)) for p in range(3)]
        here = run_worker(db_url, campaign_id, "node-main", 200, 2)
        made = here + sum(r.get(timeout=180) for r in pending)
    _check(engine, campaign_id, made)
