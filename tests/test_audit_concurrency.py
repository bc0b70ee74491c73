"""Many writers at once (threads and separate processes) never fork the audit chain."""

from __future__ import annotations

import subprocess
import sys
import threading

from sqlalchemy import Engine, func, select

from cati.audit import record, verify_chain
from cati.db import make_sessionmaker, transaction
from cati.models import AuditEntry

THREADS = 6
PROCESSES = 3
PER_WRITER = 15

# A writer process: says "ready", waits for "go" on stdin, then writes its entries one per transaction.
WRITER = """
import sys
from cati.audit import record
from cati.db import make_engine, make_sessionmaker, transaction
url, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url)
factory = make_sessionmaker(engine)
with engine.connect():
    pass
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    with transaction(factory) as s:
        record(s, actor=name, action="test.concurrent", object_type="writer", object_id=i, details={"i": i})
engine.dispose()
print("done", flush=True)
"""


def test_threads_and_processes_write_one_unbroken_chain(db_url: str, engine: Engine) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db_url, f"proc-{p}", str(PER_WRITER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(PROCESSES)
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        factory = make_sessionmaker(engine)
        start = threading.Barrier(THREADS + 1)
        errors: list[BaseException] = []

        def write(name: str) -> None:
            try:
                start.wait(timeout=30)
                for i in range(PER_WRITER):
                    with transaction(factory) as s:
                        record(s, actor=name, action="test.concurrent", object_type="writer", object_id=i)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(f"thread-{t}",)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for p in procs:  # release the processes and the threads together
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        start.wait(timeout=30)
        for t in threads:
            t.join(timeout=120)
        for p in procs:
            assert p.wait(timeout=120) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert errors == []

    total = (THREADS + PROCESSES) * PER_WRITER
    with factory() as s:
        result = verify_chain(s)
        seqs = s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
        prevs = s.execute(select(func.count(func.distinct(AuditEntry.prev_hash)))).scalar_one()
        writers = s.execute(select(func.count(func.distinct(AuditEntry.actor)))).scalar_one()
    assert result.ok and result.checked == total, result
    assert seqs == list(range(1, total + 1))  # contiguous, no gaps, no duplicates
    assert prevs == total  # every entry links to a different predecessor: no fork
    assert writers == THREADS + PROCESSES
