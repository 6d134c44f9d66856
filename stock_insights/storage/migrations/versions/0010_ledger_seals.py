"""ledger_seals: each trading day's live forecasts sealed before the open, hashed and chained

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stock_insights.storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_seals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=False),
        sa.Column("chain_digest", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("byte_count", sa.Integer(), nullable=False),
        sa.Column("sealed_at", stock_insights.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("canonical_zlib", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ledger_seals")),
        sa.UniqueConstraint("chain_digest", name=op.f("uq_ledger_seals_chain_digest")),
        sa.UniqueConstraint("previous_digest", name=op.f("uq_ledger_seals_previous_digest")),
    )


def downgrade() -> None:
    op.drop_table("ledger_seals")
