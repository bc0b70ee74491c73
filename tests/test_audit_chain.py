"""The audit chain: records verify, and tampering behind the application's back is caught."""

from __future__ import annotations

from sqlalchemy import Engine, delete, select, text, update

from cati.audit import record, verify_chain
from cati.db import make_sessionmaker, transaction
from cati.models import AuditEntry


def _write(engine: Engine, n: int) -> None:
    factory = make_sessionmaker(engine)
    for i in range(n):
        with transaction(factory) as s:
            record(
                s,
                actor="admin",
                action="test.step",
                object_type="thing",
                object_id=i,
                details={"i": i, "名称": "张店区", "nested": {"b": 1, "a": [1, 2]}},
            )


def test_chain_verifies(engine: Engine) -> None:
    _write(engine, 5)
    with make_sessionmaker(engine)() as s:
        result = verify_chain(s)
    assert result.ok and result.checked == 5


def test_edited_row_is_named(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="mallory"))
    with make_sessionmaker(engine)() as s:
        result = verify_chain(s)
    assert not result.ok and result.broken_seq == 3


def test_deleted_row_is_named(engine: Engine) -> None:
    _write(engine, 5)
    with engine.begin() as conn:
        conn.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    with make_sessionmaker(engine)() as s:
        result = verify_chain(s)
    assert not result.ok and result.broken_seq == 2


def test_deleted_tail_is_caught(engine: Engine) -> None:
    _write(engine, 4)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    with make_sessionmaker(engine)() as s:
        assert not verify_chain(s).ok


def test_entries_of_a_rolled_back_savepoint_are_dropped_and_the_rest_commit(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        record(s, actor="admin", action="test.kept", object_type="thing", object_id=1)
        try:
            with s.begin_nested():
                record(s, actor="admin", action="test.dropped", object_type="thing", object_id=2)
                raise RuntimeError("undo the savepoint")
        except RuntimeError:
            pass
        # reading the log inside the transaction sees its own entries
        assert [e.action for e in s.execute(select(AuditEntry)).scalars()] == ["test.kept"]
        record(s, actor="admin", action="test.after", object_type="thing", object_id=3)
    with make_sessionmaker(engine)() as s:
        actions = [e.action for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()]
        assert actions == ["test.kept", "test.after"]
        assert verify_chain(s).ok


def test_a_rolled_back_transaction_leaves_nothing_queued(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    s = factory()
    record(s, actor="admin", action="test.dropped", object_type="thing", object_id=1)
    s.rollback()
    s.commit()
    s.close()
    with make_sessionmaker(engine)() as s:
        assert s.execute(select(AuditEntry)).scalars().all() == []
