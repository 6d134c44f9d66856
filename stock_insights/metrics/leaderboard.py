"""Model-level metrics over rolling windows of trading dates, as plain data ready for JSON.

Input: one row per scored prediction, a pandas DataFrame with columns ``model, code, date, direction,
prob_up, expected_return, realized_return`` and optionally ``excess_return`` (one horizon at a time; the caller
filters). Rows whose ``realized_return`` is missing are pending and are dropped (and counted); NaN anywhere
else (``excess_return`` aside: unknown when the index has no close), an unknown direction or a repeated
(model, code, date) raises ValueError. A stored ``hit`` column is ignored: hits are recomputed.

One meaning of direction (``stock_insights.metrics.outcome``), for every statistic here: the outcome is
binary, up iff ``realized_return > 0`` (an unchanged close is "not up", because ``prob_up`` is the probability
of a rise, and Brier and log loss score that event); a call is up iff ``direction == "up"`` ("down" and "flat"
are not-up calls); hit = (called up) == (went up). No flat band; ``n_unchanged`` counts the outcomes that
were exactly zero, so nothing is hidden.

For each window N (20, 60, 250 by default) the window is the last N distinct dates present in the rows
(all models together, up to ``end``), so every model is measured over the same calendar. Per model:

- hit rate with the Wilson interval, and the daily hit rate across dates (per-date hit rate first, then mean
  and t-interval over dates), §5.1;
- Pesaran-Timmermann and MCC on up / not-up calls against the outcome, §5.2;
- Brier score and Brier skill score against the window's own up-rate (climatology), log loss, ECE and
  reliability bins (equal width), §5.3-5.5;
- daily IC and Rank IC of each score in ``ic_scores`` against realized returns, then Qlib's mean, ICIR and
  t across dates, §2.2 and §5.6;
- the daily top-k long-short portfolio on ``portfolio_score`` after fee and sell tax: daily returns,
  cumulative return, IR (252 days), maximum drawdown, turnover, §5.6. Each window's book starts from cash
  on its first date, so that date pays the entry costs; use horizon-1 rows (daily returns that do not
  overlap) for this figure;
- excess return of the "up" calls (:class:`ExcessReturn`): the mean, over the model's forecasts whose
  direction is "up" and whose index return is known, of ``excess_return`` = realized return − the return of
  the stock's market index (KOSPI or KOSDAQ) over the same entry and exit closes; also per date first, then
  across dates. It answers "did buying what the model called up beat the index?", before costs.

Ranking: models with at least ``MIN_DATES_FOR_VERDICT`` (10) dates in the window are ranked by Brier score,
lowest first; a model with fewer dates gets ``rank = None`` and ``unranked_reason``: too few dates to order
it. Every window also carries the paired comparisons of every pair of models (``comparisons``: McNemar
clustered by date, Diebold-Mariano with HLN on Brier, Holm across the window's family,
``stock_insights.metrics.comparison``), on the window's rows.

Section numbers refer to ``/work/shared/reference/forecasting-and-evaluation.md``. :func:`to_jsonable` turns
any result of the metrics modules into JSON-safe dicts and lists (dates as ISO strings, NaN and infinities
as None).
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
from stock_insights.metrics.comparison import MIN_DATES_FOR_VERDICT, ArmArrays, ExperimentResults, arm_verdicts
from stock_insights.metrics.outcome import outcomes_up, unchanged
from stock_insights.metrics.portfolio import (
    DEFAULT_FEE_PER_SIDE,
    DEFAULT_SELL_TAX,
    DEFAULT_TOP_K,
    PortfolioResult,
    long_short_portfolio,
)
from stock_insights.metrics.ranking import (
    MIN_STOCKS_PER_DATE,
    ICResult,
    grouped_average_rank,
    information_coefficient_ranked,
)

WINDOWS: tuple[int, ...] = (20, 60, 250)
IC_SCORES: tuple[str, ...] = ("expected_return", "prob_up")
COLUMNS = ("model", "code", "date", "direction", "prob_up", "expected_return", "realized_return")
OPTIONAL = ("excess_return",)
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
class ExcessReturn:
    """Mean excess return over the stock's index of the forecasts that called "up" (module docstring)."""

    n: int  # "up" calls with a known index return
    n_without_index: int  # "up" calls whose index return is unknown (left out)
    mean: float | None  # pooled over the n forecasts
    daily: DailyMean | None  # per-date mean of those forecasts first, then across dates
    reason: str | None = None


@dataclass(frozen=True)
class ModelMetrics:
    model: str
    rank: int | None  # by Brier score, 1 = lowest; None when the model has too few dates to be ranked
    n_predictions: int
    n_dates: int
    first_date: Any
    last_date: Any
    n_unchanged: int  # outcomes with realized_return == 0 exactly: scored as "not up", counted here
    excess_return: ExcessReturn
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
    unranked_reason: str | None = None


@dataclass(frozen=True)
class Leaderboard:
    window: int
    from_date: Any
    to_date: Any
    n_dates: int  # dates in the window (all models)
    n_pending_dropped: int  # rows without a realized return, in the whole input
    settings: Settings
    models: list[ModelMetrics] = field(default_factory=list)
    min_dates_to_rank: int = MIN_DATES_FOR_VERDICT
    # Every pair of the window's models, Holm across the window (None with fewer than two models).
    comparisons: ExperimentResults | None = None


@dataclass
class _Prepared:
    """The validated input as arrays, rows sorted by (model, date); dates, models and codes as integer codes
    (``pd.factorize(..., sort=True)``: the codes order as the labels do)."""

    labels: list  # date code -> date label
    model_labels: list  # model code -> model label
    model: np.ndarray  # model codes
    date: np.ndarray
    code: np.ndarray  # stock codes' integer codes
    n_codes: int
    predicted_up: np.ndarray
    prob_up: np.ndarray
    expected_return: np.ndarray
    realized_return: np.ndarray
    excess_return: np.ndarray  # NaN where unknown
    n_pending: int


def _prepare(rows: pd.DataFrame, end: Any) -> _Prepared:
    missing = [c for c in COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    realized = pd.to_numeric(rows["realized_return"], errors="raise")
    pending = realized.isna().to_numpy()
    frame = rows.loc[~pending, [*COLUMNS, *(c for c in OPTIONAL if c in rows.columns)]]
    if end is not None:
        frame = frame[frame["date"] <= end]
    for name in ("model", "code", "date", "direction"):
        if frame[name].isna().any():
            raise ValueError(f"column {name!r} has missing values in scored rows")
    unknown = ~frame["direction"].isin(DIRECTIONS)
    if unknown.any():
        raise ValueError(f"direction must be one of {DIRECTIONS}; found {frame.loc[unknown, 'direction'].iloc[0]!r}")
    # Integer codes once, instead of strings in every later step; sort=True keeps the labels' order.
    date_code, labels = pd.factorize(frame["date"], sort=True)
    model_code, model_labels = pd.factorize(frame["model"], sort=True)
    code_code, code_labels = pd.factorize(frame["code"], sort=True)
    n_dates, n_codes = len(labels), len(code_labels)
    key = (model_code.astype(np.int64) * n_codes + code_code) * n_dates + date_code
    if len(key) and (
        np.bincount(key).max() > 1
        if len(model_labels) * n_codes * n_dates <= 4 * len(key) + 2**22
        else (np.diff(np.sort(key)) == 0).any()
    ):
        raise ValueError("more than one scored row for some (model, code, date); keep the latest prediction")
    order = np.lexsort((date_code, model_code))

    def column(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=float)[order]

    empty = len(order) == 0
    return _Prepared(
        labels=[_plain(x) for x in labels],
        model_labels=list(model_labels),
        model=model_code[order].astype(np.int64),
        date=date_code[order].astype(np.int64),
        code=code_code[order].astype(np.int64),
        n_codes=n_codes,
        predicted_up=frame["direction"].eq("up").to_numpy(dtype=bool)[order],
        prob_up=as_probability(column("prob_up")) if not empty else np.zeros(0),
        expected_return=as_real(column("expected_return"), "expected_return") if not empty else np.zeros(0),
        realized_return=as_real(column("realized_return"), "realized_return") if not empty else np.zeros(0),
        excess_return=pd.to_numeric(frame["excess_return"], errors="raise").to_numpy(dtype=float)[order]
        if "excess_return" in frame.columns
        else np.full(len(order), np.nan),
        n_pending=int(pending.sum()),
    )


def _model_metrics(
    data: _Prepared, sl: slice, model: str, labels: list, settings: Settings, ranks: dict[str, np.ndarray]
) -> ModelMetrics:
    """``ranks``: average ranks within each date of the scores and of ``realized_return``, for the rows of ``sl``."""
    dates = data.date[sl]
    realized = data.realized_return[sl]
    outcome = outcomes_up(realized)
    prob = data.prob_up[sl]
    predicted_up = data.predicted_up[sl]
    hits = predicted_up == outcome  # metrics.outcome: hit = (called up) == (went up)

    # Per-date figures first (dates are the unit of independence), then across dates.
    day, day_codes = pd.factorize(dates, sort=True)
    per_day = np.bincount(day)
    day_hit = np.bincount(day, weights=hits.astype(float)) / per_day
    day_brier = np.bincount(day, weights=(prob - outcome) ** 2) / per_day
    day_labels = [labels[c] for c in day_codes]

    scores = {"expected_return": data.expected_return[sl], "prob_up": prob}
    ic = {}
    for name in settings.ic_scores:
        result = information_coefficient_ranked(
            dates, scores[name], realized, (ranks[name], ranks["realized_return"]), settings.min_stocks
        )
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
        n_unchanged=int(unchanged(realized).sum()),
        excess_return=excess_of_up_calls(dates, predicted_up, data.excess_return[sl]),
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


def excess_of_up_calls(dates: np.ndarray, predicted_up: np.ndarray, excess: np.ndarray) -> ExcessReturn:
    """Mean of ``excess`` over the "up" calls whose excess is known; per date first for the daily figure."""
    known = predicted_up & np.isfinite(excess)
    missing = int(np.sum(predicted_up & ~np.isfinite(excess)))
    if not known.any():
        reason = "no 'up' call" if not predicted_up.any() else "no 'up' call with a known index return"
        return ExcessReturn(n=0, n_without_index=missing, mean=None, daily=None, reason=reason)
    values, day_of = excess[known], dates[known]
    day, _ = pd.factorize(day_of, sort=True)
    per_day = np.bincount(day, weights=values) / np.bincount(day)
    return ExcessReturn(
        n=int(known.sum()), n_without_index=missing, mean=float(values.mean()), daily=mean_across_dates(per_day)
    )


def _ranked(metrics: list[ModelMetrics]) -> list[ModelMetrics]:
    """Models with enough dates by Brier score (rank 1 = lowest), then the rest unranked, by name."""
    eligible = sorted(
        (m for m in metrics if m.n_dates >= MIN_DATES_FOR_VERDICT), key=lambda m: (m.brier.brier, m.model)
    )
    others = sorted((m for m in metrics if m.n_dates < MIN_DATES_FOR_VERDICT), key=lambda m: m.model)
    reason = f"too few dates to rank: fewer than {MIN_DATES_FOR_VERDICT} dates in the window"
    return [dataclasses.replace(m, rank=i) for i, m in enumerate(eligible, start=1)] + [
        dataclasses.replace(m, rank=None, unranked_reason=reason) for m in others
    ]


def _arm(data: _Prepared, sl: slice) -> ArmArrays:
    """One model's window rows as the paired tests read them (dates as their integer codes: order is kept)."""
    outcome = outcomes_up(data.realized_return[sl])
    return ArmArrays(
        key=data.date[sl] * data.n_codes + data.code[sl],
        date=data.date[sl],
        hit=data.predicted_up[sl] == outcome,
        loss=(data.prob_up[sl] - outcome) ** 2,
    )


def build_leaderboards(
    rows: pd.DataFrame,
    windows: Sequence[int] = WINDOWS,
    end: Any = None,
    settings: Settings | None = None,
    horizon: int = 1,
) -> dict[int, Leaderboard]:
    """Every model's metrics over the last N dates for each N in ``windows`` (module docstring).

    ``end``: only rows dated on or before it count (default: all). A window longer than the history uses
    every date there is; ``n_dates`` says how many. ``horizon``: the rows' forecast horizon in sessions (the
    paired Diebold-Mariano tests allow for the overlap of h-session returns, lags up to h − 1).
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
    # Ranks within a date do not depend on the window (whole dates): rank each model's rows once.
    ranked_columns = {*settings.ic_scores, "realized_return"}
    model_ranks = [
        {name: grouped_average_rank(data.date[start:stop], getattr(data, name)[start:stop]) for name in ranked_columns}
        for start, stop in model_bounds
    ]
    for window in windows:
        first_code = max(0, n_dates_total - window)
        metrics = []
        blocks: dict[Any, slice] = {}  # model label -> its window rows
        for (start, stop), ranks in zip(model_bounds, model_ranks, strict=True):
            begin = start + int(np.searchsorted(data.date[start:stop], first_code, side="left"))
            if begin < stop:
                label = data.model_labels[data.model[start]]
                blocks[label] = slice(begin, stop)
                tail = {name: values[begin - start :] for name, values in ranks.items()}
                metrics.append(_model_metrics(data, slice(begin, stop), label, data.labels, settings, tail))
        ranked = _ranked(metrics)
        comparisons = None
        if len(metrics) >= 2:
            # Each arm is a model's rows, selected by its label as a name (as experiment_verdicts does).
            arms = {
                m.model: _arm(data, blocks[m.model]) if m.model in blocks else None
                for m in sorted(metrics, key=lambda m: m.model)
            }
            comparisons = arm_verdicts(arms, horizon=horizon)
        boards[window] = Leaderboard(
            window=window,
            from_date=data.labels[first_code] if n_dates_total else None,
            to_date=data.labels[-1] if n_dates_total else None,
            n_dates=n_dates_total - first_code,
            n_pending_dropped=data.n_pending,
            settings=settings,
            models=ranked,
            comparisons=comparisons,
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
