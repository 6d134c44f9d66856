"""prompt_hash: the SHA-256 of each prediction's rendered prompt

``predictions.prompt_hash``: SHA-256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of the
messages an LLM forecast sent; null for baselines (no prompt) and for forecasts stored before this revision.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("prompt_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("prompt_hash")
