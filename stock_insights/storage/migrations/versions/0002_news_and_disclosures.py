"""news and disclosures: point-in-time flags, per-source stamps, link method, lookup indexes

Revision ID: 0002
Revises: 0001

- ``news_articles.first_seen_estimated`` and ``disclosures.first_seen_estimated``: true when
  ``first_seen_at`` is the documented estimate for a backfilled item, not our own sighting
  (``stock_insights.text.point_in_time``).
- ``news_article_sources``: the source's own ``published_at``, ``first_seen_at``, ``title`` and
  ``canonical_url``;
  indexes for "what do we already have from this source".
- ``news_stock_links.method``: code, alias or corroborated (an ambiguous alias with evidence).
- ``disclosures.is_correction`` ([기재정정]) and ``updated_at``; an index on ``receipt_date`` for
  trading-day partitions.

SQLite cannot ALTER most things, so every change goes through ``batch_alter_table``; existing rows
get ``false`` / ``'alias'`` from the server defaults.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stock_insights.storage.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("news_articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_seen_estimated", sa.Boolean(), server_default="0", nullable=False))

    with op.batch_alter_table("news_article_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_seen_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("title", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("canonical_url", sa.String(length=1000), nullable=True))
        batch_op.create_index("ix_news_article_sources_canonical_url", ["canonical_url"], unique=False)
        batch_op.create_index("ix_news_article_sources_source_fetched_at", ["source", "fetched_at"], unique=False)
        batch_op.create_index("ix_news_article_sources_source_item_id", ["source", "source_item_id"], unique=False)

    with op.batch_alter_table("news_stock_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=20), server_default="alias", nullable=False))

    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_seen_estimated", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("is_correction", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("updated_at", UTCDateTime(), nullable=True))
        batch_op.create_index("ix_disclosures_receipt_date", ["receipt_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_receipt_date")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("is_correction")
        batch_op.drop_column("first_seen_estimated")

    with op.batch_alter_table("news_stock_links", schema=None) as batch_op:
        batch_op.drop_column("method")

    with op.batch_alter_table("news_article_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_news_article_sources_source_item_id")
        batch_op.drop_index("ix_news_article_sources_source_fetched_at")
        batch_op.drop_index("ix_news_article_sources_canonical_url")
        batch_op.drop_column("canonical_url")
        batch_op.drop_column("title")
        batch_op.drop_column("first_seen_at")
        batch_op.drop_column("published_at")

    with op.batch_alter_table("news_articles", schema=None) as batch_op:
        batch_op.drop_column("first_seen_estimated")
