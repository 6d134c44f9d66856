"""leaderboards: model standings per rolling window and day

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stock_insights.storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leaderboards",
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("created_at", stock_insights.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("as_of_date", "window", name=op.f("pk_leaderboards")),
    )


def downgrade() -> None:
    op.drop_table("leaderboards")
