"""Indexes for the API's list routes at market scale (issue 15, item 5)

Every list route pages by keyset (a cursor of the last row's sort key); each of these indexes is exactly one
route's order, so a page is one index range however deep it is:

- news_articles (published_at, id): ``/news`` newest first (replaces the index on published_at alone);
- news_stock_links (code, article_id): ``/news?code=`` reads a stock's article ids from the index alone
  (replaces the index on code alone);
- disclosures (receipt_date, rcept_no): ``/disclosures`` (replaces the index on receipt_date alone);
- notifications (user_id, created_at, id): ``/notifications`` (replaces the index on user_id alone);
- predictions (target_date desc, code, model, as_of desc, id desc): ``/predictions``.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (new index, table, columns, the index it replaces)
REPLACED = (
    ("ix_news_articles_published_at_id", "news_articles", ["published_at", "id"], "ix_news_articles_published_at"),
    ("ix_news_stock_links_code_article_id", "news_stock_links", ["code", "article_id"], "ix_news_stock_links_code"),
    (
        "ix_disclosures_receipt_date_rcept_no",
        "disclosures",
        ["receipt_date", "rcept_no"],
        "ix_disclosures_receipt_date",
    ),
    (
        "ix_notifications_user_id_created_at_id",
        "notifications",
        ["user_id", "created_at", "id"],
        "ix_notifications_user_id",
    ),
)
PREDICTIONS_LISTING: list[str | sa.TextClause] = [sa.text("target_date DESC"), "code", "model", sa.text("as_of DESC"), sa.text("id DESC")]


def upgrade() -> None:
    for name, table, columns, old in REPLACED:
        op.create_index(name, table, columns, unique=False)
        op.drop_index(old, table_name=table)
    op.create_index("ix_predictions_listing", "predictions", PREDICTIONS_LISTING, unique=False)


def downgrade() -> None:
    op.drop_index("ix_predictions_listing", table_name="predictions")
    for name, table, columns, old in REPLACED:
        op.create_index(old, table, columns[:1], unique=False)
        op.drop_index(name, table_name=table)
