"""Signed audit checkpoints: the chain's size and head hash at a moment, Ed25519-signed (docs/audit.md).

Revision ID: 0006_checkpoints
Revises: 0005_ledger
Create Date: 2026-12-05 13:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_checkpoints"
down_revision: str | None = "0005_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index(op.f("ix_audit_checkpoints_size"), "audit_checkpoints", ["size"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_checkpoints_size"), table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")
