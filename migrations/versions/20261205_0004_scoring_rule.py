"""interviews.scoring_rule: the scoring policy (name/version) that decided a questionnaire's validity.

Existing rows keep NULL: the results read them with their campaign instrument's policy.

Revision ID: 0004_scoring_rule
Revises: 0003_seat_indexes
Create Date: 2026-12-05 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_scoring_rule"
down_revision: str | None = "0003_seat_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interviews") as batch:
        batch.add_column(sa.Column("scoring_rule", sa.String(length=48), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("interviews") as batch:
        batch.drop_column("scoring_rule")
