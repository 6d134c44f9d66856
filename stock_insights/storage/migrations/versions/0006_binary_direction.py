"""binary direction: recompute stored hit and realized_direction of scored evaluations from realized_return

One meaning of direction (stock_insights.metrics.outcome): the outcome is "up" iff realized_return > 0,
otherwise "down" (an unchanged close is not up); a forecast calls up iff its direction is "up"; hit = (called up)
== (went up). Rows scored before this revision used a three-class rule with a 0.3% flat band. Pending rows (no
realized return) are untouched. Downgrade restores the flat-band rule from the same columns.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_FLAT_BAND = 0.003  # the band of revisions before 0006, for the downgrade only

evaluations = sa.table(
    "evaluations",
    sa.column("prediction_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("realized_return", sa.Float),
    sa.column("realized_direction", sa.String),
    sa.column("hit", sa.Boolean),
)
predictions = sa.table("predictions", sa.column("id", sa.Integer), sa.column("direction", sa.String))


def _direction() -> sa.ScalarSelect[str]:
    return (
        sa.select(predictions.c.direction)
        .where(predictions.c.id == evaluations.c.prediction_id)
        .scalar_subquery()
    )


def _scored() -> sa.ColumnElement[bool]:
    return sa.and_(evaluations.c.status == "scored", evaluations.c.realized_return.is_not(None))


def upgrade() -> None:
    went_up = evaluations.c.realized_return > 0
    called_up = _direction() == "up"
    op.get_bind().execute(
        sa.update(evaluations)
        .where(_scored())
        .values(
            realized_direction=sa.case((went_up, "up"), else_="down"),
            hit=sa.case((sa.and_(called_up, went_up), True), (sa.and_(~called_up, ~went_up), True), else_=False),
        )
    )


def downgrade() -> None:
    r = evaluations.c.realized_return
    old = sa.case((r > OLD_FLAT_BAND, "up"), (r < -OLD_FLAT_BAND, "down"), else_="flat")
    op.get_bind().execute(sa.update(evaluations).where(_scored()).values(realized_direction=old))
    op.get_bind().execute(
        sa.update(evaluations)
        .where(_scored())
        .values(hit=sa.case((_direction() == evaluations.c.realized_direction, True), else_=False))
    )
