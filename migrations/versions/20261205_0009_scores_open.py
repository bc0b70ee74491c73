"""Scores sealed until close, unless an admin opens them early (a pilot): when and why.

Revision ID: 0009_scores_open
Revises: 0008_doors
Create Date: 2026-12-05 17:45:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_scores_open"
down_revision: str | None = "0008_doors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("scores_opened_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("scores_opened_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("scores_opened_reason")
        batch.drop_column("scores_opened_at")
