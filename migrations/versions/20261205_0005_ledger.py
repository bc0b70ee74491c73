"""Audit ledger: rows written before it (answers, interviews, attempts) are adopted into the chain.

From this revision on every write of an ``answer_events``, ``interviews`` or ``attempts`` row records
an audit entry binding the row's digest (``cati.ledger``), and ``cati audit verify`` fails on any
row no entry binds. Rows already in a database from before are bound here, as they stand, by
``ledger.adopted`` entries (500 rows each): the ledger vouches for them from this migration on, not
for what happened to them before. Adds ``audit_head.prev_hash`` for the one-statement append.

Revision ID: 0005_ledger
Revises: 0004_scoring_rule
Create Date: 2026-12-05 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision: str = "0005_ledger"
down_revision: str | None = "0004_scoring_rule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from cati import audit, ledger

    # The head remembers the hash before the last entry, so PostgreSQL appends an entry in one
    # statement (UPDATE audit_head ... RETURNING feeding the INSERT): the head lock's window.
    op.add_column("audit_head", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    session = Session(bind=op.get_bind())
    rows = list(ledger.unbound_rows(session))
    for n, chunk in enumerate(ledger.adopt_chunks(rows), start=1):
        audit.record(
            session,
            actor=audit.SYSTEM_ACTOR,
            action="ledger.adopted",
            object_type="ledger",
            object_id=n,
            details={"rows": len(chunk), "ledger": chunk},
        )
    audit.seal(session)  # this session never commits: Alembic commits the migration's connection


def downgrade() -> None:
    """Audit entries are append-only and stay in the chain; only the head's helper column goes."""
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("prev_hash")
