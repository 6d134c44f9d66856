"""Model-level metrics over rolling windows of trading dates, as plain data ready for JSON.

Input: one row per scored prediction, a pandas DataFrame with columns ``model, code, date, direction,
prob_up, expected_return, realized_return, hit`` (one horizon at a time; the caller filters). Rows whose
``realized_return`` is missing are pending and are dropped (and counted); NaN anywhere else, an unknown
direction or a repeated (model, code, date) raises ValueError.

For each window N (20, 60, 250 by default) the window is the last N distinct dates present in the rows
(all models together, up to ``end``), so every model is measured over the same calendar. Per model:

- hit rate with the Wilson interval (stored three-class ``hit``), and the daily hit rate across dates
  (per-date hit rate first, then mean and t-interval over dates), §5.1;
- Pesaran-Timmermann and MCC on up / not-up calls (``direction == "up"``; "down" and "flat" are "not up")
  against ``realized_return > 0``, §5.2;
- Brier score and Brier skill score against the window's own up-rate, log loss, ECE and reliability bins
  (equal width), §5.3-5.5;
- daily IC and Rank IC of each score in ``ic_scores`` against realized returns, then Qlib's mean, ICIR and
  t across dates, §2.2 and §5.6;
- the daily top-k long-short portfolio on ``portfolio_score`` after fee and sell tax: daily returns,
  cumulative return, IR (252 days), maximum drawdown, turnover, §5.6. Each window's book starts from cash
  on its first date, so that date pays the entry costs; use horizon-1 rows (daily returns that do not
  overlap) for this figure.

Section numbers refer to ``/work/shared/reference/forecasting-and-evaluation.md``. Models are ranked by
Brier score, lowest first. :func:`to_jsonable` turns any result of the metrics modules into JSON-safe
dicts and lists (dates as ISO strings, NaN and infinities as None).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from stock_insights.metrics.classification import (
    DEFAULT_BINS,
    BrierSkill,
    Calibration,
    Confusion,
    DailyMean,
    HitRate,
    PesaranTimmermann,
    as_binary,
    as_probability,
    as_real,
    brier_skill_score,
    calibration,
    confusion,
    hit_rate,
    log_loss,
    mean_across_dates,
    pesaran_timmermann,
)
from stock_insights.metrics.portfolio import (
    DEFAULT_FEE_PER_SIDE,
    DEFAULT_SELL_TAX,
    DEFAULT_TOP_K,
    PortfolioResult,
    long_short_portfolio,
)
from stock_insights.metrics.ranking import MIN_STOCKS_PER_DATE, ICResult, information_coefficient

WINDOWS: tuple[int, ...] = (20, 60, 250)
IC_SCORES: tuple[str, ...] = ("expected_return", "prob_up")
COLUMNS = ("model", "code", "date", "direction", "prob_up", "expected_return", "realized_return", "hit")
DIRECTIONS = ("up", "down", "flat")


@dataclass(frozen=True)
class Settings:
    top_k: int = DEFAULT_TOP_K
    fee_per_side: float = DEFAULT_FEE_PER_SIDE
    sell_tax: float = DEFAULT_SELL_TAX
    n_bins: int = DEFAULT_BINS
    min_stocks: int = MIN_STOCKS_PER_DATE
    ic_scores: tuple[str, ...] = IC_SCORES
    portfolio_score: str = "expected_return"


@dataclass(frozen=True)
class DailySeries:
    """Per-date figures of one model in one window (the inputs of the across-date summaries)."""

    dates: list = field(default_factory=list)
    n_predictions: list[int] = field(default_factory=list)
    hit_rate: list[float] = field(default_factory=list)
    brier: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class ModelMetrics:
    model: str
    rank: int  # by Brier score, 1 = lowest
    n_predictions: int
    n_dates: int
    first_date: Any
    last_date: Any
    hit_rate: HitRate
    daily_hit_rate: DailyMean
    pesaran_timmermann: PesaranTimmermann
    confusion: Confusion
    brier: BrierSkill
    log_loss: float
    calibration: Calibration
    ic: dict[str, ICResult]
    portfolio: PortfolioResult
    daily: DailySeries


@dataclass(frozen=True)
class Leaderboard:
    window: int
    from_date: Any
    to_date: Any
    n_dates: int  # dates in the window (all models)
    n_pending_dropped: int  # rows without a realized return, in the whole input
    settings: Settings
    models: list[ModelMetrics] = field(default_factory=list)


@dataclass
class _Prepared:
    """The validated input as arrays, rows sorted by (model, date), dates as integer codes."""

    labels: list  # date code -> date label
    model: np.ndarray
    date: np.ndarray
    code: np.ndarray
    predicted_up: np.ndarray
    prob_up: np.ndarray
    expected_return: np.ndarray
    realized_return: np.ndarray
    hit: np.ndarray
    n_pending: int


def _prepare(rows: pd.DataFrame, end: Any) -> _Prepared:
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    realized = pd.to_numeric(rows["realized_return"], errors="raise")
    pending = realized.isna().to_numpy()
    frame = rows.loc[~pending, list(COLUMNS)]
    if end is not None:
        frame = frame[frame["date"] <= end]
    for column in ("model", "code", "date", "direction", "hit"):
        if frame[column].isna().any():
            raise ValueError(f"column {column!r} has missing values in scored rows")
    unknown = ~frame["direction"].isin(DIRECTIONS)
    if unknown.any():
        raise ValueError(f"direction must be one of {DIRECTIONS}; found {frame.loc[unknown, 'direction'].iloc[0]!r}")
    if frame.duplicated(["model", "code", "date"]).any():
        raise ValueError("more than one scored row for some (model, code, date); keep the latest prediction")
    date_code, labels = pd.factorize(frame["date"], sort=True)
    order = np.lexsort((date_code, frame["model"].to_numpy()))
    take = frame.iloc[order]
    return _Prepared(
        labels=[_plain(x) for x in labels],
        model=take["model"].to_numpy(),
        date=date_code[order].astype(np.int64),
        code=take["code"].to_numpy(),
        predicted_up=(take["direction"] == "up").to_numpy(),
        prob_up=as_probability(take["prob_up"].to_numpy(dtype=float)) if len(take) else np.zeros(0),
        expected_return=as_real(take["expected_return"].to_numpy(dtype=float), "expected_return")
        if len(take)
        else np.zeros(0),
        realized_return=as_real(take["realized_return"].to_numpy(dtype=float), "realized_return")
        if len(take)
        else np.zeros(0),
        hit=as_binary(take["hit"].to_numpy(), "hit") if len(take) else np.zeros(0, dtype=bool),
        n_pending=int(pending.sum()),
    )


def _model_metrics(data: _Prepared, sl: slice, model: str, labels: list, settings: Settings) -> ModelMetrics:
    dates = data.date[sl]
    realized = data.realized_return[sl]
    outcome = realized > 0
    prob = data.prob_up[sl]
    hits = data.hit[sl]
    predicted_up = data.predicted_up[sl]

    # Per-date figures first (dates are the unit of independence), then across dates.
    day, day_codes = pd.factorize(dates, sort=True)
    per_day = np.bincount(day)
    day_hit = np.bincount(day, weights=hits.astype(float)) / per_day
    day_brier = np.bincount(day, weights=(prob - outcome) ** 2) / per_day
    day_labels = [labels[c] for c in day_codes]

    scores = {"expected_return": data.expected_return[sl], "prob_up": prob}
    ic = {}
    for name in settings.ic_scores:
        result = information_coefficient(dates, scores[name], realized, settings.min_stocks)
        ic[name] = dataclasses.replace(
            result, daily=dataclasses.replace(result.daily, dates=[labels[c] for c in result.daily.dates])
        )
    book = long_short_portfolio(
        dates,
        data.code[sl],
        scores[settings.portfolio_score],
        realized,
        k=settings.top_k,
        fee_per_side=settings.fee_per_side,
        sell_tax=settings.sell_tax,
    )
    book = dataclasses.replace(book, dates=[labels[c] for c in book.dates])
    return ModelMetrics(
        model=str(model),
        rank=0,
        n_predictions=len(dates),
        n_dates=len(day_codes),
        first_date=day_labels[0],
        last_date=day_labels[-1],
        hit_rate=hit_rate(hits),
        daily_hit_rate=mean_across_dates(day_hit),
        pesaran_timmermann=pesaran_timmermann(predicted_up, outcome),
        confusion=confusion(predicted_up, outcome),
        brier=brier_skill_score(prob, outcome),
        log_loss=log_loss(prob, outcome),
        calibration=calibration(prob, outcome, settings.n_bins),
        ic=ic,
        portfolio=book,
        daily=DailySeries(
            dates=day_labels, n_predictions=per_day.tolist(), hit_rate=day_hit.tolist(), brier=day_brier.tolist()
        ),
    )


def build_leaderboards(
    rows: pd.DataFrame,
    windows: Sequence[int] = WINDOWS,
    end: Any = None,
    settings: Settings | None = None,
) -> dict[int, Leaderboard]:
    """Every model's metrics over the last N dates for each N in ``windows`` (module docstring).

    ``end``: only rows dated on or before it count (default: all). A window longer than the history uses
    every date there is; ``n_dates`` says how many.
    """
    settings = settings or Settings()
    unknown = set(settings.ic_scores) - {"expected_return", "prob_up"}
    if unknown or settings.portfolio_score not in ("expected_return", "prob_up"):
        raise ValueError("scores must be 'expected_return' or 'prob_up'")
    if not windows or any(not (isinstance(w, int) and w >= 1) for w in windows):
        raise ValueError("windows must be positive integers")
    data = _prepare(rows, end)
    n_dates_total = len(data.labels)
    boards: dict[int, Leaderboard] = {}
    # Rows are sorted by (model, date): each model is a contiguous block, and a window is its tail.
    starts = np.flatnonzero(np.r_[True, data.model[1:] != data.model[:-1]]) if len(data.model) else np.zeros(0, int)
    model_bounds = list(zip(starts.tolist(), [*starts[1:].tolist(), len(data.model)][: len(starts)], strict=True))
    for window in windows:
        first_code = max(0, n_dates_total - window)
        metrics = []
        for start, stop in model_bounds:
            begin = start + int(np.searchsorted(data.date[start:stop], first_code, side="left"))
            if begin < stop:
                metrics.append(_model_metrics(data, slice(begin, stop), data.model[start], data.labels, settings))
        metrics.sort(key=lambda m: (m.brier.brier, m.model))
        ranked = [dataclasses.replace(m, rank=i) for i, m in enumerate(metrics, start=1)]
        boards[window] = Leaderboard(
            window=window,
            from_date=data.labels[first_code] if n_dates_total else None,
            to_date=data.labels[-1] if n_dates_total else None,
            n_dates=n_dates_total - first_code,
            n_pending_dropped=data.n_pending,
            settings=settings,
            models=ranked,
        )
    return boards


def _plain(label: Any) -> Any:
    if isinstance(label, pd.Timestamp):
        return label.date() if label == label.normalize() else label.to_pydatetime()
    if isinstance(label, np.generic):
        return label.item()
    return label


def to_jsonable(value: Any) -> Any:
    """Dataclasses, dicts, sequences and numpy values as JSON-safe Python: NaN and ±inf become None,
    dates ISO strings, numpy arrays lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        value = _plain(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot make {type(value).__name__} JSON-safe")
