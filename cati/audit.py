"""The audit log (全程记实): every state-changing step recorded as it happens, by whom.

Each entry carries SHA-256(canonical entry + previous entry's hash), so editing or deleting a row
behind the application's back breaks the chain at that row. ``record`` only queues the entry on the
session; the session's commit seals the queue (``seal``): it flushes the transaction's own changes,
then takes the one-row head under ``FOR UPDATE`` (on SQLite the write transaction is already
exclusive), numbers and hashes the queued entries and inserts them. So the entries commit together
with the change they describe, or neither; concurrent writers queue on the head only for the few
milliseconds of their commit, and since the head is always the last lock a transaction takes, it
cannot deadlock with the row locks taken before it. Entries recorded in a savepoint that rolls back
are dropped with it. Rows passed as ``bind`` are bound to the entry (``cati.ledger``) as they
stand at the seal, i.e. as committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import String, Table, Text, event, func, insert, literal, select, update
from sqlalchemy import cast as sa_cast
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from cati import ledger
from cati.models import AnswerEvent, Attempt, AuditEntry, AuditHead, Interview, utcnow
from cati.verify import chain

GENESIS_HASH = chain.GENESIS_HASH
SYSTEM_ACTOR = "system"


def entry_hash(entry: AuditEntry) -> str:
    """The hash an entry must carry, recomputed from its fields (``cati.verify.chain``)."""
    data = chain.canonical(
        entry.seq,
        chain.format_at(entry.at),
        entry.actor,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.details,
        entry.prev_hash,
    )
    return hashlib.sha256(data).hexdigest()


Bound = AnswerEvent | Interview | Attempt
_PENDING = "audit_pending"


@dataclass
class _Pending:
    entry: AuditEntry
    bind: list[Bound]
    transaction: SessionTransaction | None


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
    bind: Iterable[Bound | None] = (),
) -> AuditEntry:
    """Queue one entry in the caller's transaction; the commit numbers, hashes and inserts it.

    ``bind``: answer events, interviews or attempts this step wrote; the entry's
    ``details["ledger"]`` gets their digests as committed (``cati.ledger``).
    """
    # Round-trip the details through JSON now so the stored value hashes the same when read back.
    clean = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    when = (at or utcnow()).astimezone(dt.UTC)
    entry = AuditEntry(
        at=when,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=clean,
        hash="",
    )
    if session.get_transaction() is None:
        session.connection()  # begin now, so a rollback before any other statement drops the entry
    tx = session.get_nested_transaction() or session.get_transaction()
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(_Pending(entry, [r for r in bind if r is not None], tx))
    return entry


def seal(session: Session) -> list[AuditEntry]:
    """Number, hash and insert the queued entries under the head lock (flushed, not committed).

    Runs by itself before every commit; call it directly only on a session that is never
    committed (a migration's).
    """
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return []
    session.flush()  # the transaction's own row locks first: the head is the last lock taken
    for p in pending:
        if p.bind:
            p.entry.details = {**p.entry.details, "ledger": ledger.bindings(*p.bind)}
    out = [p.entry for p in pending]
    if session.get_bind().dialect.name == "postgresql":
        for entry in out:
            _append_pg(session, entry)
        return out
    # SQLite: the write transaction is exclusive already; lock, number and hash in Python.
    head_t, log_t = _tables()
    last_seq, last_hash = session.execute(
        select(head_t.c.last_seq, head_t.c.last_hash).where(head_t.c.id == 1).with_for_update()
    ).one()
    prev_before = last_hash
    for entry in out:
        entry.seq = last_seq + 1
        entry.prev_hash = last_hash
        entry.hash = entry_hash(entry)
        prev_before, last_seq, last_hash = last_hash, entry.seq, entry.hash
    session.execute(
        update(head_t)
        .where(head_t.c.id == 1)
        .values(last_seq=last_seq, last_hash=last_hash, prev_hash=prev_before)
    )
    session.execute(insert(log_t).values([_row(e) for e in out]))
    return out


def _tables() -> tuple[Table, Table]:
    return cast(Table, AuditHead.__table__), cast(Table, AuditEntry.__table__)


def _row(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "object_type": e.object_type,
        "object_id": e.object_id,
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _append_pg(session: Session, entry: AuditEntry) -> None:
    """One statement: lock and move the head, hash in the database, insert the entry.

    The head is then held only for this statement's own work and the commit. The entry's
    canonical form (``cati.verify.chain.canonical``) ends with ``"prev_hash":"<hash>","seq":<n>}``
    (sorted keys), so Python sends what comes before and PostgreSQL's ``sha256`` hashes the same
    bytes ``entry_hash`` would; ``verify_chain`` recomputes every hash in Python all the same.
    """
    head_t, log_t = _tables()
    body = {
        "at": chain.format_at(entry.at),
        "actor": entry.actor,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "details": entry.details,
    }
    text_before = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    prefix = text_before[:-1] + ',"prev_hash":"'
    next_seq = head_t.c.last_seq + 1
    canonical = (
        literal(prefix, Text)
        + head_t.c.last_hash
        + literal('","seq":', Text)
        + sa_cast(next_seq, Text)
        + literal("}", Text)
    )
    moved = (
        update(head_t)
        .where(head_t.c.id == 1)
        .values(
            prev_hash=head_t.c.last_hash,
            last_seq=next_seq,
            last_hash=func.encode(func.sha256(func.convert_to(canonical, "UTF8")), "hex"),
        )
        .returning(head_t.c.last_seq, head_t.c.prev_hash, head_t.c.last_hash)
        .cte("moved")
    )
    values = select(
        moved.c.last_seq,
        literal(entry.at, log_t.c.at.type),
        literal(entry.actor, String),
        literal(entry.action, String),
        literal(entry.object_type, String),
        literal(entry.object_id, String),
        literal(entry.details, log_t.c.details.type),
        moved.c.prev_hash,
        moved.c.last_hash,
    )
    columns = ["seq", "at", "actor", "action", "object_type", "object_id", "details", "prev_hash", "hash"]
    seq, prev_hash, hash_ = session.execute(
        insert(log_t).from_select(columns, values).returning(log_t.c.seq, log_t.c.prev_hash, log_t.c.hash)
    ).one()
    entry.seq, entry.prev_hash, entry.hash = seq, prev_hash, hash_


@event.listens_for(Session, "before_commit")
def _seal_before_commit(session: Session) -> None:
    seal(session)


@event.listens_for(Session, "do_orm_execute")
def _seal_before_reading_the_log(state: ORMExecuteState) -> None:
    """Reading the audit log in the same transaction sees the entries queued so far."""
    pending = state.is_select and state.session.info.get(_PENDING)
    if pending and any(m.class_ in (AuditEntry, AuditHead) for m in state.all_mappers):
        seal(state.session)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """Entries queued inside a transaction or savepoint that rolled back go with it."""
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if not pending:
        return

    def inside(tx: SessionTransaction | None) -> bool:
        while tx is not None:
            if tx is previous_transaction:
                return True
            tx = tx.parent
        return False

    kept = [p for p in pending if not inside(p.transaction)]
    if kept:
        session.info[_PENDING] = kept
    else:
        session.info.pop(_PENDING, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_at_end(session: Session, transaction: SessionTransaction) -> None:
    """A session's outermost transaction ended (committed, rolled back or closed): nothing stays queued."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: ``ok``, entries checked, and the first broken seq with why."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def entries(session: Session, upto: int | None = None, batch: int = 1000) -> Iterator[AuditEntry]:
    """The log in seq order (up to seq ``upto`` if given), read in batches of ``batch`` rows."""
    last = 0
    while True:
        query = select(AuditEntry).where(AuditEntry.seq > last)
        if upto is not None:
            query = query.where(AuditEntry.seq <= upto)
        rows = session.execute(query.order_by(AuditEntry.seq).limit(batch)).scalars().all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> VerifyResult:
    """Recompute the whole chain; name the first entry that is altered, missing or out of place."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in entries(session):
        if entry.seq != expected_seq:
            return VerifyResult(False, checked, expected_seq, f"entry {expected_seq} is missing")
        if entry.prev_hash != prev:
            return VerifyResult(False, checked, entry.seq, "previous-hash link does not match")
        if entry_hash(entry) != entry.hash:
            return VerifyResult(False, checked, entry.seq, "entry content does not match its hash")
        prev = entry.hash
        expected_seq += 1
        checked += 1
    head = session.execute(select(AuditHead).where(AuditHead.id == 1)).scalar_one_or_none()
    if head is None:
        return VerifyResult(False, checked, None, "chain head row is missing")
    if head.last_seq != checked or head.last_hash != prev:
        return VerifyResult(
            False,
            checked,
            checked + 1 if head.last_seq > checked else checked,
            "chain head does not match the last entry (entries deleted at the end?)",
        )
    return VerifyResult(True, checked)
