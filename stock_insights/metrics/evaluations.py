"""Scoring forecasts on their exit day, and the audit that no evaluation used a price after its horizon.

Entry and exit, for a forecast of target day t and horizon h (sessions): entry is the close of the session
before t (the last price the forecaster could know at its 08:00 cutoff), exit the close of the h-th session
after the entry (for h = 1, the close of t). Scoring exit days D reads the forecasts of up to
``MAX_HORIZON - 1`` sessions before min(D), and closes from the earliest entry to max(D), never a later one.

No Dagster here: ``defs/evaluations`` wraps these in the asset and its check.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.clients.kis.client import INDEX_CODES
from stock_insights.market.store import closes_by_code, index_closes, stock_markets
from stock_insights.metrics.outcome import is_hit, realized_direction
from stock_insights.metrics.scoring import score
from stock_insights.predictors.store import evaluations_with_predictions, predictions_between
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import Evaluation, Prediction

MAX_HORIZON = 5  # sessions

# A pending evaluation carries every scored column, empty: one batch, one shape.
UNSCORED = dict.fromkeys(
    (
        "exit_price",
        "realized_return",
        "realized_direction",
        "hit",
        "brier",
        "log_loss",
        "return_error",
        "market_return",
        "excess_return",
    )
)


class SessionIndex:
    """Trading days around a run's partitions, for entry and exit arithmetic in sessions."""

    def __init__(self, first: date, last: date) -> None:
        # Generous calendar margins: MAX_HORIZON sessions are never more than three weeks apart.
        margin = timedelta(days=7 * MAX_HORIZON + 21)
        self.days = calendar.sessions(first - margin, last + margin)
        self.position = {d: i for i, d in enumerate(self.days)}

    def shift(self, day: date, sessions: int) -> date:
        return self.days[self.position[day] + sessions]

    def entry_and_exit(self, target: date, horizon: int) -> tuple[date, date]:
        """(session before ``target``, the ``horizon``-th session after that)."""
        entry = self.shift(target, -1) if target in self.position else calendar.previous_session(target)
        return entry, self.shift(entry, horizon)


def evaluation_rows(session: Session, days: list[date]) -> tuple[list[dict], list[dict], Counter]:
    """Evaluations for the exit days ``days``.

    Returns (rows of forecasts exiting on one of ``days``: scored, or pending while a price is missing;
    pending rows of forecasts of those days that exit later; counts). Reads closes from the earliest entry
    to ``max(days)`` and nothing later.
    """
    index = SessionIndex(min(days), max(days))
    wanted, last_day = set(days), max(days)
    counts: Counter = Counter()
    exiting, later = [], []
    for p in predictions_between(session, index.shift(min(days), -(MAX_HORIZON - 1)), last_day):
        if p.horizon > MAX_HORIZON:
            counts["horizon_not_supported"] += 1
            continue
        entry, exit_ = index.entry_and_exit(p.target_date, p.horizon)
        if exit_ in wanted:
            exiting.append((p, entry, exit_))
        elif exit_ > last_day:
            later.append((p, entry, exit_))
    codes = sorted({p.code for p, _, _ in exiting + later})
    first_entry = min((entry for _, entry, _ in exiting + later), default=min(days))
    closes = closes_by_code(session, codes, first_entry, last_day)
    markets = stock_markets(session, codes)
    levels = {name: index_closes(session, code, first_entry, last_day) for name, code in INDEX_CODES.items()}
    now = utcnow()

    def base(p: Prediction, entry: date, exit_: date) -> dict[str, Any]:
        entry_price = closes[p.code].get(entry)
        return {
            "prediction_id": p.id,
            "entry_date": entry,
            "exit_date": exit_,
            "entry_price": entry_price,
            "scored_at": now,
        }

    rows = []
    for p, entry, exit_ in exiting:
        row = base(p, entry, exit_)
        exit_price = closes[p.code].get(exit_)
        if row["entry_price"] is None or exit_price is None:
            rows.append({**row, **UNSCORED, "status": "pending"})
            counts["pending"] += 1
            continue
        s = score(
            direction=p.direction,
            prob_up=p.prob_up,
            expected_return=p.expected_return,
            entry_price=row["entry_price"],
            exit_price=exit_price,
        )
        market = levels.get(markets.get(p.code, ""), {})
        market_return = market[exit_] / market[entry] - 1.0 if entry in market and exit_ in market else None
        rows.append(
            {
                **row,
                "status": "scored",
                "exit_price": exit_price,
                "realized_return": s.realized_return,
                "realized_direction": s.realized_direction,
                "hit": s.hit,
                "brier": s.brier,
                "log_loss": s.log_loss,
                "return_error": s.return_error,
                "market_return": market_return,
                "excess_return": None if market_return is None else s.realized_return - market_return,
            }
        )
        counts["scored"] += 1
        counts[f"hits/{p.model}/h{p.horizon}"] += int(s.hit)
        counts[f"n/{p.model}/h{p.horizon}"] += 1
    pending_later = [{**base(p, entry, exit_), **UNSCORED, "status": "pending"} for p, entry, exit_ in later]
    counts["not_matured"] = len(pending_later)
    return rows, pending_later, counts


def _same(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


# A checked evaluation: the forecast, its stored evaluation, and the entry and exit the calendar gives.
_Planned = tuple[Prediction, Evaluation, date, date]


def _evaluations_to_check(session: Session, index: SessionIndex, days: list[date]) -> dict[int, _Planned]:
    """This partition's rows, by prediction id: forecasts exiting on a checked day (by the calendar or by
    the stored exit date, so a wrong exit date is caught too), and pending rows of the forecasts it read."""
    wanted, last_day = set(days), max(days)
    pairs = evaluations_with_predictions(session, index.shift(min(days), -(MAX_HORIZON - 1)), last_day)
    planned: dict[int, _Planned] = {}
    for p, e in pairs:
        if p.horizon > MAX_HORIZON:
            continue
        entry, exit_ = index.entry_and_exit(p.target_date, p.horizon)
        if exit_ in wanted or e.exit_date in wanted or (exit_ > last_day and e.status == "pending"):
            planned[p.id] = (p, e, entry, exit_)
    return planned


def _closes_for(session: Session, planned: dict[int, _Planned]) -> dict[str, dict[date, float]]:
    """The stored closes of every date the checked rows name (calendar and stored entry and exit)."""
    if not planned:
        return {}
    codes = sorted({p.code for p, _, _, _ in planned.values()})
    dates = [d for _, e, entry, exit_ in planned.values() for d in (entry, exit_, e.entry_date, e.exit_date) if d]
    return closes_by_code(session, codes, min(dates), max(dates))


def _entry_and_exit_problems(
    where: str, e: Evaluation, entry: date, exit_: date, closes: dict[date, float]
) -> list[str]:
    """Dates by the calendar, and the entry price as the stored close (exit prices only count once scored)."""
    problems = []
    if e.entry_date != entry:
        problems.append(f"{where}: entry_date {e.entry_date}, the session before the target is {entry}")
    if e.exit_date != exit_:
        problems.append(f"{where}: exit_date {e.exit_date}, the horizon's last session is {exit_}")
    stored_entry = closes.get(entry)
    if e.entry_price is not None and not _same(e.entry_price, stored_entry):
        problems.append(f"{where}: entry_price {e.entry_price} is not the close of {entry} ({stored_entry})")
    return problems


def _realized_return_problems(where: str, e: Evaluation) -> list[str]:
    if e.entry_price is None or e.realized_return is None:
        return [f"{where}: scored without an entry price or a realized return"]
    if e.exit_price is not None and not math.isclose(
        e.realized_return, e.exit_price / e.entry_price - 1.0, rel_tol=1e-9, abs_tol=1e-12
    ):
        return [f"{where}: realized_return {e.realized_return} is not exit/entry - 1"]
    return []


def _outcome_problems(where: str, p: Prediction, e: Evaluation) -> list[str]:
    """Direction and hit must follow ``metrics.outcome`` from the stored realized return."""
    if e.realized_return is None:
        return []
    if (
        e.realized_direction != realized_direction(e.realized_return)
        or e.hit is None
        or bool(e.hit) != is_hit(p.direction, e.realized_return)
    ):
        return [
            f"{where}: realized_direction {e.realized_direction!r} / hit {e.hit} disagree with the binary "
            f"rule (up iff realized_return > 0) for realized_return {e.realized_return}"
        ]
    return []


def _scored_problems(where: str, p: Prediction, e: Evaluation, exit_: date, closes: dict[date, float]) -> list[str]:
    problems = []
    stored_exit = closes.get(exit_)
    if not _same(e.exit_price, stored_exit):
        problems.append(f"{where}: exit_price {e.exit_price} is not the close of {exit_} ({stored_exit})")
    return problems + _realized_return_problems(where, e) + _outcome_problems(where, p, e)


def _status_problems(where: str, p: Prediction, e: Evaluation, exit_: date, closes: dict[date, float]) -> list[str]:
    """A scored row must be scored right; a pending row must carry no realized field."""
    if e.status == "scored":
        return _scored_problems(where, p, e, exit_, closes)
    if e.status == "pending":
        filled = sorted(column for column in UNSCORED if getattr(e, column) is not None)
        return [f"{where}: pending but carries {', '.join(filled)}"] if filled else []
    return [f"{where}: unknown status {e.status!r}"]


def price_after_horizon_violations(session: Session, days: list[date]) -> tuple[int, list[str]]:
    """(evaluations checked, what is wrong with them) for the exit days ``days``, against the stored rows.

    Checked: every evaluation of a forecast exiting on one of ``days`` (by the calendar or by its stored
    exit date) and every pending one of the forecasts those days read. Entry day = the session before the
    target day; exit day = exactly the horizon-th session after the entry, never later; entry and exit
    prices = the stored closes (``daily_bars``) of those days; realized return = exit/entry - 1; realized
    direction and hit follow ``metrics.outcome`` (up iff realized return > 0; the hit as the forecast's up /
    not-up call agreeing); a pending row carries no realized field.
    """
    index = SessionIndex(min(days), max(days))
    planned = _evaluations_to_check(session, index, days)
    closes = _closes_for(session, planned)
    problems = []
    for p, e, entry, exit_ in planned.values():
        where = f"evaluation of prediction {p.id} ({p.model} {p.code} target {p.target_date} h{p.horizon})"
        problems += _entry_and_exit_problems(where, e, entry, exit_, closes[p.code])
        problems += _status_problems(where, p, e, exit_, closes[p.code])
    return len(planned), problems
