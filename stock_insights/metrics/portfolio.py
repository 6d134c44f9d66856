"""A daily top-k long-short portfolio built from a model's scores, after KRX trading costs.

Reference: ``/work/shared/reference/forecasting-and-evaluation.md`` §5.6 (long-short / top-k portfolio:
annualised return, IR = r̄/s·√N, max drawdown, turnover, results after costs including the KRX sell-side
transaction tax and fees) and §2.2 (Qlib's ``risk_analysis`` and ``calc_long_short_return``).

Book (each date t with at least 2k scored stocks):
    rank stocks by score, highest first, ties broken by stock code ascending (deterministic);
    long the first k, short the last k, equal weight: wᵢ = +1/(2k) long, −1/(2k) short.
    Net exposure 0, gross exposure 1 (half the capital long, half short), so the gross return is
    Σᵢ wᵢ·rᵢ = (mean long return − mean short return)/2, Qlib's ``calc_long_short_return`` convention.
    ``returns`` are the predictions' realized returns (previous close to target close for horizon 1): the book
    is set at the close before date t and held over date t. A horizon above 1 gives overlapping returns;
    use horizon-1 predictions for this series.

Trades and costs (fractions of capital, charged on date t's return):
    Δwᵢ = wᵢ,t − wᵢ,t₋₁ over the union of both books (a stock absent from a book has weight 0; the first
    date starts from cash). Weights are rebalanced to target; intraday drift is ignored.
    - Every trade pays the fee per side on its notional: fee·Σᵢ|Δwᵢ|. That covers buying a long,
      selling a long, selling short and buying to cover.
    - Every sell also pays the sell tax on its notional: tax·Σᵢ max(−Δwᵢ, 0). A sell is Δw < 0: selling
      (part of) a long, or opening / adding to a short (a short sale is a sale of shares on KRX and pays the
      securities transaction tax). Buys, including buying to cover a short, pay no tax.
    - Net return_t = gross return_t − fee·Σ|Δw| − tax·Σ max(−Δw, 0).
    - Turnover_t = Σᵢ|Δwᵢ| (traded notional over capital): 1.0 to build the book from cash, 2.0 when the
      whole book is replaced. The book left open on the last date is not charged for liquidation.
    - A date with fewer than 2k scored stocks is skipped (no return, no trades) and counted; the next
      traded date trades against the last book held.

Summary of a daily return series r (N = 252 trading days, §5.6; Qlib's code uses 238 for daily data and
its docstring 252):
    mean r̄ and sample std s (ddof = 1); annualised return = r̄·N (Qlib ``risk_analysis`` mode "sum");
    information ratio = r̄/s·√N; cumulative return = Π(1 + r) − 1 (compounded);
    maximum drawdown = min_t (V_t / max(1, max_{s≤t} V_s) − 1) with V_t = Π_{s≤t}(1 + r_s), a
    non-positive fraction. The running peak starts at the initial capital 1, so a loss on the first date
    counts (Qlib's sum-mode cummax starts at the first cumulated return and would miss it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from stock_insights.metrics.classification import as_real
from stock_insights.metrics.ranking import plain_label

DEFAULT_FEE_PER_SIDE = 0.00015  # 0.015 % brokerage fee per side (issue 7)
DEFAULT_SELL_TAX = 0.0018  # 0.18 % securities transaction tax on sells (issue 7)
DEFAULT_TOP_K = 5  # the tracked universe is a few dozen stocks; 2k must fit on every date
ANNUALISATION_DAYS = 252


@dataclass(frozen=True)
class Performance:
    n_days: int
    mean: float | None
    std: float | None
    annualised_return: float | None
    information_ratio: float | None
    cumulative_return: float | None
    max_drawdown: float | None
    reason: str | None = None


def performance(returns: ArrayLike, annualisation: int = ANNUALISATION_DAYS) -> Performance:
    """Mean, std, annualised return, IR, cumulative return and maximum drawdown (module docstring)."""
    r = np.asarray(returns, dtype=float)
    if r.size == 0:
        return Performance(0, None, None, None, None, None, None, reason="no traded dates")
    r = as_real(r, "returns")
    if (r <= -1).any():
        raise ValueError("a daily return of -100 % or worse cannot be compounded")
    mean = float(r.mean())
    wealth = np.cumprod(1.0 + r)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0))
    result = partial(
        Performance,
        n_days=int(r.size),
        mean=mean,
        annualised_return=mean * annualisation,
        cumulative_return=float(wealth[-1] - 1.0),
        max_drawdown=float(min(0.0, np.min(wealth / peak - 1.0))),
    )
    if r.size < 2:
        return result(std=None, information_ratio=None, reason="one date: IR undefined")
    std = float(r.std(ddof=1))
    if std == 0:
        return result(std=0.0, information_ratio=None, reason="constant returns: IR undefined")
    return result(std=std, information_ratio=mean / std * math.sqrt(annualisation))


@dataclass(frozen=True)
class PortfolioResult:
    k: int
    fee_per_side: float
    sell_tax: float
    dates: list = field(default_factory=list)  # traded dates, ascending
    gross_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    costs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    net_returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    turnover: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_dates_skipped: int = 0  # fewer than 2k scored stocks
    gross: Performance | None = None
    net: Performance | None = None
    mean_turnover: float | None = None  # over the dates after the first (the first builds the book)


def long_short_portfolio(
    dates: ArrayLike,
    codes: ArrayLike,
    scores: ArrayLike,
    returns: ArrayLike,
    k: int = DEFAULT_TOP_K,
    fee_per_side: float = DEFAULT_FEE_PER_SIDE,
    sell_tax: float = DEFAULT_SELL_TAX,
    annualisation: int = ANNUALISATION_DAYS,
) -> PortfolioResult:
    """Daily top-k long-short returns before and after costs, turnover and their summaries (module docstring).

    One row per (date, stock); a repeated (date, stock) raises ValueError, as does NaN in scores or returns.
    """
    if not (isinstance(k, int | np.integer) and k >= 1):
        raise ValueError("k must be a positive integer")
    if not (fee_per_side >= 0 and sell_tax >= 0):
        raise ValueError("costs must be non-negative")
    s = as_real(scores, "scores")
    r = as_real(returns, "returns")
    d = np.asarray(dates)
    c = np.asarray(codes)
    if not len(d) == len(c) == len(s) == len(r):
        raise ValueError("dates, codes, scores and returns differ in length")
    date_idx, date_labels = pd.factorize(d, sort=True)
    code_idx, _ = pd.factorize(c, sort=True)
    if (date_idx < 0).any() or (code_idx < 0).any():
        raise ValueError("dates and codes must not be missing")
    n_dates, n_codes = len(date_labels), int(code_idx.max()) + 1
    flat = date_idx.astype(np.int64) * n_codes + code_idx
    if len(flat) and np.bincount(flat).max() > 1:  # the dates x codes matrix below is as large anyway
        raise ValueError("each (date, code) must appear once")

    # Dates x codes matrices; columns are in code order, so a stable sort breaks score ties by code.
    score = np.full((n_dates, n_codes), np.nan)
    ret = np.zeros((n_dates, n_codes))
    score[date_idx, code_idx] = s
    ret[date_idx, code_idx] = r
    n_scored = np.sum(~np.isnan(score), axis=1)
    traded = n_scored >= 2 * k
    score, ret, n_scored = score[traded], ret[traded], n_scored[traded]
    days = len(n_scored)
    result = partial(
        PortfolioResult,
        k=int(k),
        fee_per_side=fee_per_side,
        sell_tax=sell_tax,
        dates=[plain_label(date_labels[i]) for i in np.flatnonzero(traded)],
        n_dates_skipped=int((~traded).sum()),
    )
    if days == 0:
        empty = performance([], annualisation)
        return result(gross=empty, net=empty)

    key = np.where(np.isnan(score), np.inf, -score)  # highest score first, unscored stocks last
    order = np.argsort(key, axis=1, kind="stable")
    rows = np.arange(days)[:, None]
    longs = order[:, :k]
    shorts = np.take_along_axis(order, n_scored[:, None] - k + np.arange(k)[None, :], axis=1)
    weights = np.zeros((days, n_codes))
    weights[rows, longs] = 1.0 / (2 * k)
    weights[rows, shorts] = -1.0 / (2 * k)

    gross = np.sum(weights * ret, axis=1)
    trades = np.diff(weights, axis=0, prepend=np.zeros((1, n_codes)))
    turnover = np.sum(np.abs(trades), axis=1)
    sells = np.sum(np.maximum(-trades, 0.0), axis=1)
    costs = fee_per_side * turnover + sell_tax * sells
    net = gross - costs
    return result(
        gross_returns=gross,
        costs=costs,
        net_returns=net,
        turnover=turnover,
        gross=performance(gross, annualisation),
        net=performance(net, annualisation),
        mean_turnover=float(turnover[1:].mean()) if days > 1 else None,
    )
