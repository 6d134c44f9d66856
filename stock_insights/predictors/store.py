"""Writes and reads of predictions, their evaluations and the leaderboard snapshots made of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select, tuple_
from sqlalchemy.orm import Session

from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, upsert, utcnow
from stock_insights.storage.models import Evaluation, LeaderboardSnapshot, Prediction

# Columns that identify a prediction version; everything else may be refreshed by a re-run.
PREDICTION_KEY = ("model", "code", "target_date", "horizon", "as_of")


# What a call cost stays with the prediction: a replay (served from the answer cache) must not zero it.
CALL_COLUMNS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd")


def upsert_predictions(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    now = utcnow()
    payload = [{**row, "created_at": row.get("created_at", now)} for row in rows]
    update = [c for c in payload[0] if c not in (*PREDICTION_KEY, "created_at")]
    fresh = [r for r in payload if not r.get("replay")]
    replays = [r for r in payload if r.get("replay")]
    upsert(session, Prediction.__table__, fresh, key=PREDICTION_KEY, update=update)
    upsert(
        session, Prediction.__table__, replays, key=PREDICTION_KEY, update=[c for c in update if c not in CALL_COLUMNS]
    )
    bump_dataset_version(session, Dataset.PREDICTIONS)
    return len(payload)


def upsert_leaderboard_snapshots(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """One snapshot per (day, window, horizon); a re-run of a day replaces its payload."""
    upsert(session, LeaderboardSnapshot.__table__, rows, update=["payload", "markdown", "created_at"])
    if rows:
        bump_dataset_version(session, Dataset.LEADERBOARD, Dataset.EVALUATIONS)
    return len(rows)


def predictions_for_target(session: Session, target_date: date, horizon: int | None = 1) -> list[Prediction]:
    """Every version of the forecasts for ``target_date`` of one horizon (``None``: every horizon)."""
    stmt = select(Prediction).where(Prediction.target_date == target_date)
    if horizon is not None:
        stmt = stmt.where(Prediction.horizon == horizon)
    return list(
        session.execute(
            stmt.order_by(Prediction.model, Prediction.code, Prediction.horizon, Prediction.as_of)
        ).scalars()
    )


def predictions_between(session: Session, first: date, last: date, max_horizon: int | None = None) -> list[Prediction]:
    """Every forecast with a target day in [first, last], every horizon (up to ``max_horizon``)."""
    stmt = select(Prediction).where(Prediction.target_date >= first, Prediction.target_date <= last)
    if max_horizon is not None:
        stmt = stmt.where(Prediction.horizon <= max_horizon)
    return list(
        session.execute(
            stmt.order_by(
                Prediction.target_date, Prediction.model, Prediction.code, Prediction.horizon, Prediction.as_of
            )
        ).scalars()
    )


def evaluations_with_predictions(session: Session, first: date, last: date) -> list[tuple[Prediction, Evaluation]]:
    """Every evaluation of a forecast with a target day in [first, last], with its forecast."""
    rows = session.execute(
        select(Prediction, Evaluation)
        .join(Evaluation, Evaluation.prediction_id == Prediction.id)
        .where(Prediction.target_date >= first, Prediction.target_date <= last)
        .order_by(Prediction.id)
    )
    return [(p, e) for p, e in rows.tuples()]


def upsert_evaluations(session: Session, rows: Sequence[dict[str, Any]], *, only_new: bool = False) -> int:
    """Write evaluations keyed by prediction. ``only_new``: insert where the forecast has no evaluation yet and
    leave existing ones alone (a not-yet-matured forecast's pending row must never replace its score)."""
    if not rows:
        return 0
    upsert(session, Evaluation.__table__, list(rows), update=() if only_new else None)
    bump_dataset_version(session, Dataset.EVALUATIONS)
    return len(rows)


def latest_predictions_query(
    *,
    code: str | None = None,
    target_date: date | None = None,
    model: str | None = None,
    as_of_before: datetime | None = None,
    horizon: int | None = None,
    after: PredictionCursor | None = None,
    as_of: datetime | None = None,
) -> Select[Prediction, Evaluation]:
    """Predictions joined to their evaluation (if any), newest target first; every horizon unless one is given.

    ``as_of`` (issue 17; not the forecast's own cutoff column): only the forecasts stored by then (``created_at``),
    each with its evaluation only if it was scored by then.

    The order is total: (target_date desc, code, model, as_of desc, id desc), the order of the
    ``ix_predictions_listing`` index (migration 0008), so a page is a range of it. ``after`` is the last row of
    the previous page (keyset pagination): the rows strictly after it in that order.
    """
    scored = [Evaluation.prediction_id == Prediction.id]
    if as_of is not None:
        scored.append(Evaluation.scored_at <= as_of)
    stmt = select(Prediction, Evaluation).outerjoin(Evaluation, and_(*scored))
    if as_of is not None:
        stmt = stmt.where(Prediction.created_at <= as_of)
    if horizon is not None:
        stmt = stmt.where(Prediction.horizon == horizon)
    if code is not None:
        stmt = stmt.where(Prediction.code == code)
    if target_date is not None:
        stmt = stmt.where(Prediction.target_date == target_date)
    if model is not None:
        stmt = stmt.where(Prediction.model == model)
    if as_of_before is not None:
        stmt = stmt.where(Prediction.as_of < as_of_before)
    if after is not None:
        day, code_, model_, as_of, last_id = after
        # Mixed directions: no single row comparison; the plain bound on target_date starts the index range.
        stmt = stmt.where(
            Prediction.target_date <= day,
            or_(
                Prediction.target_date < day,
                and_(Prediction.target_date == day, tuple_(Prediction.code, Prediction.model) > tuple_(code_, model_)),
                and_(
                    Prediction.target_date == day,
                    Prediction.code == code_,
                    Prediction.model == model_,
                    tuple_(Prediction.as_of, Prediction.id) < tuple_(as_of, last_id),
                ),
            ),
        )
    return stmt.order_by(*PREDICTION_LIST_ORDER)


# (target_date, code, model, as_of, id) of a listed prediction: what a page cursor holds.
PredictionCursor = tuple[date, str, str, datetime, int]
PREDICTION_LIST_ORDER = (
    Prediction.target_date.desc(),
    Prediction.code,
    Prediction.model,
    Prediction.as_of.desc(),
    Prediction.id.desc(),
)


def scored_versions(session: Session, start: date, end: date, horizon: int = 1) -> list[dict[str, Any]]:
    """Every scored version of the predictions of one horizon whose **exit day** is in [start, end], oldest cutoff
    first: the rows the leaderboard is computed from. ``date`` is the exit day (for horizon 1 the target day): the
    day the outcome became known, so a window of dates holds only outcomes known by its end, whatever the horizon.
    ``as_of`` and ``created_at`` say whether a version was live (``metrics.honesty``)."""
    rows = session.execute(
        select(
            Prediction.model,
            Prediction.code,
            Prediction.target_date,
            Prediction.as_of,
            Prediction.created_at,
            Prediction.direction,
            Prediction.prob_up,
            Prediction.expected_return,
            Evaluation.exit_date,
            Evaluation.realized_return,
            Evaluation.excess_return,
            Evaluation.hit,
        )
        .join(Evaluation, Evaluation.prediction_id == Prediction.id)
        .where(
            Evaluation.exit_date >= start,
            Evaluation.exit_date <= end,
            Prediction.horizon == horizon,
            Evaluation.status == "scored",
        )
        .order_by(Prediction.as_of)
    )
    return [
        {
            "model": r.model,
            "code": r.code,
            "date": r.exit_date,
            "target_date": r.target_date,
            "as_of": r.as_of,
            "created_at": r.created_at,
            "direction": r.direction,
            "prob_up": r.prob_up,
            "expected_return": r.expected_return,
            "realized_return": r.realized_return,
            "excess_return": r.excess_return,
            "hit": bool(r.hit),
        }
        for r in rows
    ]


def scored_rows(session: Session, start: date, end: date, horizon: int = 1) -> list[dict[str, Any]]:
    """:func:`scored_versions`, the latest version (latest cutoff) of each (model, stock, target day) standing for
    that day, live or late (``metrics.honesty`` chooses among versions by the ledger's rule)."""
    latest: dict[tuple[str, str, date], dict[str, Any]] = {}
    for row in scored_versions(session, start, end, horizon):
        latest[(row["model"], row["code"], row["target_date"])] = row
    return list(latest.values())
