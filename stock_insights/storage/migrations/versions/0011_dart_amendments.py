"""dart_amendments: DART corrections kept as versions linked to the filing they amend

``disclosures`` gains ``version``, ``original_rcept_no`` (the chain's first stored filing; the row itself for an
original), ``amends_rcept_no`` (the version it amends) and ``original_missing`` (a correction whose original is not
stored); the rows already stored are linked here by the same rule the store applies
(``stock_insights.clients.dart.link_versions``). ``news_stock_links`` gains ``first_seen_at`` (when the sighting
that made the link was first seen; null for the links stored before, which readers take as the article's).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stock_insights.storage.types
from stock_insights.clients.dart import FilingRef, link_versions

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _link_stored() -> None:
    disclosures = sa.table(
        "disclosures",
        sa.column("rcept_no", sa.String()),
        sa.column("corp_code", sa.String()),
        sa.column("report_name", sa.String()),
        sa.column("receipt_date", sa.Date()),
        sa.column("version", sa.Integer()),
        sa.column("original_rcept_no", sa.String()),
        sa.column("amends_rcept_no", sa.String()),
        sa.column("original_missing", sa.Boolean()),
    )
    bind = op.get_bind()
    bind.execute(sa.update(disclosures).values(original_rcept_no=disclosures.c.rcept_no))
    rows = bind.execute(
        sa.select(disclosures.c.rcept_no, disclosures.c.corp_code, disclosures.c.report_name,
                  disclosures.c.receipt_date)
    ).all()
    links = link_versions(FilingRef(*row) for row in rows)
    changed = [
        {"key": rcept_no, "v": link.version, "o": link.original_rcept_no, "a": link.amends_rcept_no,
         "m": link.original_missing}
        for rcept_no, link in links.items()
        if link.version != 1 or link.original_missing or link.amends_rcept_no is not None
    ]
    if changed:
        bind.execute(
            sa.update(disclosures)
            .where(disclosures.c.rcept_no == sa.bindparam("key"))
            .values(version=sa.bindparam("v"), original_rcept_no=sa.bindparam("o"),
                    amends_rcept_no=sa.bindparam("a"), original_missing=sa.bindparam("m")),
            changed,
        )


def upgrade() -> None:
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("original_rcept_no", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("amends_rcept_no", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("original_missing", sa.Boolean(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_disclosures_original_rcept_no_version", ["original_rcept_no", "version"], unique=False
        )
    with op.batch_alter_table("news_stock_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_seen_at", stock_insights.storage.types.UTCDateTime(timezone=True), nullable=True)
        )
    _link_stored()


def downgrade() -> None:
    with op.batch_alter_table("news_stock_links", schema=None) as batch_op:
        batch_op.drop_column("first_seen_at")
    with op.batch_alter_table("disclosures", schema=None) as batch_op:
        batch_op.drop_index("ix_disclosures_original_rcept_no_version")
        batch_op.drop_column("original_missing")
        batch_op.drop_column("amends_rcept_no")
        batch_op.drop_column("original_rcept_no")
        batch_op.drop_column("version")
