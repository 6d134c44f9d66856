"""listing_states: every listing's state over time, from the KIS stock master (issue 15)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stock_insights.storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listing_states",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("market", sa.String(length=10), nullable=False),
        sa.Column("security_type", sa.String(length=10), nullable=False),
        sa.Column("group_code", sa.String(length=2), nullable=False),
        sa.Column("standard_code", sa.String(length=12), nullable=False),
        sa.Column("preferred_kind", sa.Integer(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("administrative", sa.Boolean(), nullable=False),
        sa.Column("liquidating", sa.Boolean(), nullable=False),
        sa.Column("listed_on", sa.Date(), nullable=True),
        sa.Column("recorded_at", stock_insights.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", "valid_from", name=op.f("pk_listing_states")),
    )
    op.create_index("ix_listing_states_valid_to", "listing_states", ["valid_to"], unique=False)
    op.create_index("ix_listing_states_valid_from", "listing_states", ["valid_from"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_listing_states_valid_from", table_name="listing_states")
    op.drop_index("ix_listing_states_valid_to", table_name="listing_states")
    op.drop_table("listing_states")
