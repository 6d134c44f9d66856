"""Writes and reads of predictions and their evaluations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from stock_insights.storage.db import bump_dataset_version, upsert, utcnow
from stock_insights.storage.models import Evaluation, Prediction

DATASET_PREDICTIONS = "predictions"
DATASET_EVALUATIONS = "evaluations"

# Columns that identify a prediction version; everything else may be refreshed by a re-run.
PREDICTION_KEY = ("model", "code", "target_date", "horizon", "as_of")


def upsert_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    now = utcnow()
    payload = [{**row, "created_at": row.get("created_at", now)} for row in rows]
    update = [c for c in payload[0] if c not in (*PREDICTION_KEY, "created_at")]
    upsert(session, Prediction.__table__, payload, key=PREDICTION_KEY, update=update)
    bump_dataset_version(session, DATASET_PREDICTIONS)
    return len(payload)


def predictions_for_target(session: Session, target_date: date, horizon: int = 1) -> list[Prediction]:
    return list(
        session.execute(
            select(Prediction)
            .where(Prediction.target_date == target_date, Prediction.horizon == horizon)
            .order_by(Prediction.model, Prediction.code, Prediction.as_of)
        ).scalars()
    )


def upsert_evaluations(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    upsert(session, Evaluation.__table__, list(rows))
    bump_dataset_version(session, DATASET_EVALUATIONS)
    return len(rows)


def latest_predictions_query(
    *,
    code: str | None = None,
    target_date: date | None = None,
    model: str | None = None,
    as_of_before: datetime | None = None,
) -> Select[tuple[Prediction, Evaluation]]:
    """Predictions joined to their evaluation (if any), newest target first."""
    stmt = select(Prediction, Evaluation).outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
    if code is not None:
        stmt = stmt.where(Prediction.code == code)
    if target_date is not None:
        stmt = stmt.where(Prediction.target_date == target_date)
    if model is not None:
        stmt = stmt.where(Prediction.model == model)
    if as_of_before is not None:
        stmt = stmt.where(Prediction.as_of < as_of_before)
    return stmt.order_by(Prediction.target_date.desc(), Prediction.code, Prediction.model, Prediction.as_of.desc())
