"""Indexes for the dialer's hot seat queries: ready seats of a campaign, the seat of an attempt.

Revision ID: 0003_seat_indexes
Revises: 0002_open_attempt
Create Date: 2026-11-28 09:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_seat_indexes"
down_revision: str | None = "0002_open_attempt"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_interviewer_seats_campaign_status",
        "interviewer_seats",
        ["campaign_id", "status", "status_since"],
    )
    op.create_index("ix_interviewer_seats_current_attempt_id", "interviewer_seats", ["current_attempt_id"])


def downgrade() -> None:
    op.drop_index("ix_interviewer_seats_current_attempt_id", table_name="interviewer_seats")
    op.drop_index("ix_interviewer_seats_campaign_status", table_name="interviewer_seats")
