"""The audit log (全程记实): every state-changing step recorded as it happens, by whom.

Each entry carries SHA-256(canonical entry + previous entry's hash), so editing or deleting a row
behind the application's back breaks the chain at that row. Writers take the one-row head under
``FOR UPDATE`` (on SQLite the write transaction is already exclusive), so concurrent writers queue
and the chain never forks. ``record`` only flushes: the caller's transaction commits the entry
together with the change it describes, or neither.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.models import AuditEntry, AuditHead, utcnow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "system"


def _canonical(
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any],
    prev_hash: str,
) -> bytes:
    body = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "details": details,
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: AuditEntry) -> str:
    """The hash an entry must carry, recomputed from its fields."""
    data = _canonical(
        entry.seq,
        entry.at,
        entry.actor,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.details,
        entry.prev_hash,
    )
    return hashlib.sha256(data).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str | int,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (flushed, not committed)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    # Round-trip the details through JSON now so the stored value hashes the same when read back.
    clean = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    when = (at or utcnow()).astimezone(dt.UTC)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        at=when,
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        details=clean,
        prev_hash=head.last_hash,
        hash="",
    )
    entry.hash = entry_hash(entry)
    head.last_seq = entry.seq
    head.last_hash = entry.hash
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a chain check: ``ok``, entries checked, and the first broken seq with why."""

    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str | None = None


def _entries(session: Session, batch: int = 1000) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session) -> VerifyResult:
    """Recompute the whole chain; name the first entry that is altered, missing or out of place."""
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for entry in _entries(session):
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
