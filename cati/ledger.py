"""The audit ledger: the rows that decide scores, bound to the audit chain and checked against it.

Every write of an answer (``answer_events``), an interview (disposition, validity, scored row, ...)
or a call attempt (outcome, disposition, end, ...) records an audit entry in the same transaction
whose details carry ``"ledger": [[table, row id, digest], ...]``: the SHA-256 of the row's audited
fields as written. The chain makes those digests tamper-evident; ``verify_ledger`` walks the chain
once (streamed by seq), keeps the latest digest per row, then streams each table and names every
row that differs from its last entry, that no entry wrote (added behind the service's back), or
that an entry wrote and is gone (deleted). Free text (open answers, problems, notes) is only ever
in a digest, never in clear.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.orm import Session

from cati.models import AnswerEvent, Attempt, AuditEntry, Interview

#: Bump only with a migration that re-binds every row: old entries keep the digests they carry.
DIGEST_VERSION = 1

#: The audited fields of each table. ``id`` is always bound as the row's key.
AUDITED: Mapping[str, tuple[str, ...]] = {
    "answer_events": ("interview_id", "seq", "item_id", "kind", "value", "at"),
    "interviews": (
        "campaign_id",
        "district_id",
        "case_id",
        "attempt_id",
        "interviewer_id",
        "stratum",
        "state",
        "version",
        "finished",
        "disposition",
        "valid_for_scoring",
        "scoring_rule",
        "score_row",
        "problems_text",
        "started_at",
        "ended_at",
    ),
    "attempts": (
        "case_id",
        "campaign_id",
        "channel_id",
        "interviewer_id",
        "dialling_mode",
        "started_at",
        "answered_at",
        "connected_at",
        "ended_at",
        "outcome",
        "hangup_cause",
        "disposition",
        "abandoned",
    ),
}
TABLES: Mapping[str, Table] = {
    "answer_events": AnswerEvent.__table__,  # type: ignore[dict-item]
    "interviews": Interview.__table__,  # type: ignore[dict-item]
    "attempts": Attempt.__table__,  # type: ignore[dict-item]
}
_TABLE_OF: Mapping[type, str] = {AnswerEvent: "answer_events", Interview: "interviews", Attempt: "attempts"}

#: Rows per audit entry when a whole table is adopted (data written before the ledger).
ADOPT_BATCH = 500


def _plain(value: Any) -> Any:
    """A value as it reads back from either database, in a form that hashes the same."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:  # SQLite hands back naive UTC
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, (dict, list, tuple)):
        # JSON columns: round-trip so keys and tuples look as they will when read back.
        return json.loads(json.dumps(value, ensure_ascii=False, default=str))
    return value


def sha256_text(text: str | None) -> str | None:
    """SHA-256 of a text (open answer, note): tamper-evident without the words in clear."""
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_digest(table: str, row_id: int, values: Mapping[str, Any]) -> str:
    """SHA-256 of one row's audited fields (canonical JSON, versioned)."""
    body = {
        "v": DIGEST_VERSION,
        "table": table,
        "id": row_id,
        "fields": {name: _plain(values[name]) for name in AUDITED[table]},
    }
    data = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def binding(row: AnswerEvent | Interview | Attempt) -> list[Any]:
    """``[table, id, digest]`` of an ORM row as it stands (flushed: the id is known)."""
    table = _TABLE_OF[type(row)]
    values = {name: getattr(row, name) for name in AUDITED[table]}
    return [table, row.id, row_digest(table, row.id, values)]


def bindings(*rows: AnswerEvent | Interview | Attempt | None) -> list[list[Any]]:
    """Bindings of the rows given (None skipped), for an entry's ``details["ledger"]``."""
    return [binding(r) for r in rows if r is not None]


# --------------------------------------------------------------------------------------------------
# Verify
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One row that contradicts the ledger: table, row id, the entry it contradicts (if any), why."""

    table: str
    row_id: int
    seq: int | None
    reason: str

    def zh(self) -> str:
        where = f"审计记录 {self.seq}" if self.seq is not None else "无审计记录"
        why = {
            "changed": "数据与审计记录不符(被改动)",
            "deleted": "数据行已被删除",
            "unrecorded": "数据行没有审计记录(绕过服务写入?)",
        }[self.reason]
        return f"{self.table} 第 {self.row_id} 行: {why}, {where}"

    def en(self) -> str:
        where = f"audit entry {self.seq}" if self.seq is not None else "no audit entry"
        why = {
            "changed": "differs from what the entry recorded (edited)",
            "deleted": "was deleted",
            "unrecorded": "was written by no audit entry (added behind the service's back?)",
        }[self.reason]
        return f"{self.table} row {self.row_id} {why}; {where}"


@dataclass(frozen=True)
class LedgerResult:
    """Outcome of the data check: rows checked, entries that bound rows, and what contradicts them."""

    rows: int
    bound_entries: int
    findings: list[Finding]
    #: Findings beyond the ones kept.
    more: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def _ledger_details(session: Session, batch: int) -> Iterator[tuple[int, Any]]:
    last = 0
    while True:
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.details)
            .where(AuditEntry.seq > last)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from ((seq, details) for seq, details in rows)
        last = rows[-1][0]


Expected = dict[tuple[str, int], tuple[int, str]]


def expected_rows(session: Session, *, batch: int = 2000) -> tuple[Expected, int]:
    """Walk the chain: the latest ``(seq, digest)`` bound for every row, and how many entries bound rows."""
    expected: Expected = {}
    entries = 0
    for seq, details in _ledger_details(session, batch):
        bound = details.get("ledger") if isinstance(details, dict) else None
        if not bound:
            continue
        entries += 1
        for table, row_id, digest in bound:
            expected[(table, int(row_id))] = (seq, digest)
    return expected, entries


def _stream_table(session: Session, table: str, batch: int) -> Iterator[tuple[int, str]]:
    t = TABLES[table]
    columns: list[Column[Any]] = [t.c.id, *(t.c[name] for name in AUDITED[table])]
    last = 0
    while True:
        rows = session.execute(select(*columns).where(t.c.id > last).order_by(t.c.id).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            values = dict(row._mapping)
            yield row.id, row_digest(table, row.id, values)
        last = rows[-1].id


def snapshot(session: Session) -> None:
    """Read the chain and the tables from one snapshot (PostgreSQL), so a check while the service
    writes sees each entry exactly with the rows it committed. Call before the session's first query."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def verify_ledger(session: Session, *, batch: int = 2000, limit: int = 50) -> LedgerResult:
    """Check every audited row against the latest entry that wrote it; at most ``limit`` findings kept."""
    expected, entries = expected_rows(session, batch=batch)
    findings: list[Finding] = []
    checked = 0
    extra = 0

    def add(f: Finding) -> None:
        nonlocal extra
        if len(findings) < limit:
            findings.append(f)
        else:
            extra += 1

    for table in AUDITED:
        for row_id, digest in _stream_table(session, table, batch):
            checked += 1
            want = expected.pop((table, row_id), None)
            if want is None:
                add(Finding(table, row_id, None, "unrecorded"))
            elif want[1] != digest:
                add(Finding(table, row_id, want[0], "changed"))
    for (table, row_id), (seq, _) in sorted(expected.items(), key=lambda kv: kv[1][0]):
        add(Finding(table, row_id, seq, "deleted"))
    return LedgerResult(checked, entries, findings, extra)


# --------------------------------------------------------------------------------------------------
# Data written before the ledger
# --------------------------------------------------------------------------------------------------


def unbound_rows(session: Session, *, batch: int = 2000) -> Iterator[tuple[str, int, str]]:
    """Rows no entry binds yet, as ``(table, id, digest)``: data written before the ledger existed."""
    expected, _ = expected_rows(session, batch=batch)
    for table in AUDITED:
        for row_id, digest in _stream_table(session, table, batch):
            if (table, row_id) not in expected:
                yield table, row_id, digest


def adopt_chunks(rows: Sequence[tuple[str, int, str]]) -> Iterator[list[list[Any]]]:
    """Bindings in chunks of ``ADOPT_BATCH`` rows, one audit entry each."""
    for start in range(0, len(rows), ADOPT_BATCH):
        yield [[t, i, d] for t, i, d in rows[start : start + ADOPT_BATCH]]
