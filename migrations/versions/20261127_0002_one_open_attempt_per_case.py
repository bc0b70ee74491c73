"""At most one open attempt per case (partial unique index), so no number is in two calls at once.

Revision ID: 0002_open_attempt
Revises: 0001
Create Date: 2026-11-27 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_open_attempt"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "uq_attempts_one_open_per_case",
        "attempts",
        ["case_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
        sqlite_where=sa.text("ended_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_attempts_one_open_per_case", table_name="attempts")
