"""Dialer-like workers for the concurrency tests: run in threads and in separate processes.

Each worker loops: take the next case and open an attempt in one transaction (as the dialer does),
hold the "call" a moment, then record a busy or no-answer result in another transaction.
"""

from __future__ import annotations

import random
import threading
import time

from cati.cases import service as svc
from cati.db import make_engine, make_sessionmaker, transaction
from cati.models import utcnow


def run_worker(db_url: str, campaign_id: int, node: str, iterations: int, threads: int = 1) -> int:
    """Run ``threads`` dialer loops on one engine of this process; return the attempts they made."""
    engine = (
        make_engine(db_url, pool_size=threads + 1, max_overflow=0)
        if "postgresql" in db_url
        else make_engine(db_url)
    )
    factory = make_sessionmaker(engine)
    made: list[int] = []
    errors: list[BaseException] = []

    def loop(tag: str) -> None:
        rng = random.Random(tag)
        count = 0
        idle = 0
        try:
            for i in range(iterations):
                channel = f"{tag}-{i}"
                with transaction(factory) as s:
                    case = svc.next_case(s, campaign_id, now=utcnow())
                    if case is not None:
                        svc.start_attempt(
                            s, case, channel_id=channel, dialling_mode="predictive", now=utcnow(), node=node
                        )
                if case is None:
                    idle += 1
                    if idle > 50:
                        break
                    time.sleep(0.01)
                    continue
                idle = 0
                count += 1
                time.sleep(rng.random() * 0.003)
                with transaction(factory) as s:
                    outcome = rng.choice(["busy", "no_answer"])
                    svc.record_call_result(s, channel, outcome=outcome, now=utcnow())
        except BaseException as exc:  # reported to the test, which fails
            errors.append(exc)
        made.append(count)

    workers = [threading.Thread(target=loop, args=(f"{node}-t{t}",)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    engine.dispose()
    if errors:
        raise errors[0]
    return sum(made)
