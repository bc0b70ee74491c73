"""Supervisor controls: dialling paused per campaign and per district, quota cells closed by hand.

Revision ID: 0010_controls
Revises: 0009_scores_open
Create Date: 2026-12-05 18:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_controls"
down_revision: str | None = "0009_scores_open"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("campaigns", "districts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("dialling_paused_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("dialling_paused_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("quota_cells") as batch:
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("closed_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quota_cells") as batch:
        batch.drop_column("closed_reason")
        batch.drop_column("closed_at")
    for table in ("districts", "campaigns"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("dialling_paused_reason")
            batch.drop_column("dialling_paused_at")
