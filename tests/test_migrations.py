"""The migrations are the schema: they must build exactly what the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, select

from cati.models import AuditHead, Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # Type-only differences (our UTC wrapper vs DateTime) are not schema drift.
    real = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert real == []


def test_audit_chain_starts_at_genesis(engine: Engine) -> None:
    with engine.connect() as conn:
        head = conn.execute(select(AuditHead.last_seq, AuditHead.last_hash)).one()
    assert head == (0, "0" * 64)
