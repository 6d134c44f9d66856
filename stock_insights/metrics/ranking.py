"""Ranking skill: daily IC and Rank IC of a score against realized returns, then mean, ICIR and t across dates.

Qlib's formula (``/work/shared/reference/forecasting-and-evaluation.md`` §2.2, from ``qlib/contrib/eva/alpha.py``
``calc_ic`` and ``qlib/workflow/record_temp.py`` ``SigAnaRecord``), which this module reproduces::

    ic  = df.groupby("datetime").apply(lambda d: d["pred"].corr(d["label"]))                     # Pearson
    ric = df.groupby("datetime").apply(lambda d: d["pred"].corr(d["label"], method="spearman"))  # Rank IC
    {"IC": ic.mean(), "ICIR": ic.mean() / ic.std(), "Rank IC": ric.mean(), "Rank ICIR": ric.mean() / ric.std()}

``ic.std()`` is pandas' sample standard deviation (ddof = 1) and the means skip the NaN IC of a date whose
score or return is constant. The t-statistic over dates is §5.6: t = mean(IC)/(sd(IC)/√T) = ICIR·√T.
Spearman is Pearson on average ranks (ties share their mean rank), as pandas and scipy compute it.

Differences from Qlib, both about which dates count: dates with fewer than ``min_stocks`` stocks are skipped
(a correlation over 3 stocks is noise), and dates with a constant score or return are skipped explicitly
rather than through NaN; both are counted in the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from stock_insights.metrics.classification import as_real

MIN_STOCKS_PER_DATE = 10


@dataclass(frozen=True)
class AcrossDates:
    """Qlib's summary of a per-date series: mean, std (ddof = 1), IR = mean/std, and t = mean/(std/√T) with
    its two-sided p-value from Student's t with T − 1 degrees of freedom (H0: the mean is zero)."""

    n_dates: int
    mean: float | None
    std: float | None
    ir: float | None
    t_stat: float | None
    p_value: float | None
    reason: str | None = None


def across_dates(values: ArrayLike) -> AcrossDates:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError("per-date values must be one-dimensional")
    if v.size == 0:
        return AcrossDates(0, None, None, None, None, None, reason="no usable dates")
    v = as_real(v, "per-date values")
    mean = float(v.mean())
    if v.size < 2:
        return AcrossDates(1, mean, None, None, None, None, reason="one date: no spread across dates")
    std = float(v.std(ddof=1))
    if std == 0:
        return AcrossDates(v.size, mean, 0.0, None, None, None, reason="identical on every date: IR undefined")
    ir = mean / std
    t_stat = ir * math.sqrt(v.size)
    return AcrossDates(v.size, mean, std, ir, t_stat, float(2 * stats.t.sf(abs(t_stat), v.size - 1)))


@dataclass(frozen=True)
class DailyIC:
    """Per-date figures; only the dates that were used (enough stocks, non-constant inputs)."""

    dates: list = field(default_factory=list)
    n_stocks: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    ic: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rank_ic: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_dates_too_few: int = 0  # skipped: fewer than min_stocks stocks
    n_dates_constant: int = 0  # skipped: constant score or constant return, correlation undefined
    min_stocks: int = MIN_STOCKS_PER_DATE


@dataclass(frozen=True)
class ICResult:
    daily: DailyIC
    ic: AcrossDates
    rank_ic: AcrossDates


def _grouped_pearson(group: np.ndarray, x: np.ndarray, y: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Pearson correlation per group, two-pass (centre first) for the same rounding as np.corrcoef."""
    size = len(n)
    x_centred = x - (np.bincount(group, weights=x, minlength=size) / n)[group]
    y_centred = y - (np.bincount(group, weights=y, minlength=size) / n)[group]
    sxy = np.bincount(group, weights=x_centred * y_centred, minlength=size)
    sxx = np.bincount(group, weights=x_centred * x_centred, minlength=size)
    syy = np.bincount(group, weights=y_centred * y_centred, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    return np.clip(r, -1.0, 1.0)


def daily_ic(dates: ArrayLike, scores: ArrayLike, returns: ArrayLike, min_stocks: int = MIN_STOCKS_PER_DATE) -> DailyIC:
    """IC (Pearson) and Rank IC (Spearman) of ``scores`` against ``returns`` on each date, vectorised.

    One row per (stock, date); ``dates`` are any sortable labels. NaN in scores or returns raises
    ValueError (drop pending rows before calling).
    """
    return _daily_ic(dates, scores, returns, min_stocks, None)


def _daily_ic(
    dates: ArrayLike,
    scores: ArrayLike,
    returns: ArrayLike,
    min_stocks: int,
    ranks: tuple[np.ndarray, np.ndarray] | None,
) -> DailyIC:
    """:func:`daily_ic`; ``ranks``, when given, are the average ranks of scores and returns within each date
    (:func:`grouped_average_rank`), computed once by a caller that needs them for several calls."""
    if min_stocks < 3:
        raise ValueError("min_stocks must be at least 3: a correlation over two points is always ±1")
    x = as_real(scores, "scores")
    y = as_real(returns, "returns")
    d = np.asarray(dates)
    if not len(d) == len(x) == len(y):
        raise ValueError(f"inputs differ in length: dates {len(d)}, scores {len(x)}, returns {len(y)}")
    group, labels = pd.factorize(d, sort=True)
    if (group < 0).any():
        raise ValueError("dates has missing values")
    size = len(labels)
    n = np.bincount(group, minlength=size)
    # Constant means min == max exactly; testing the variance instead would let rounding in the mean of
    # identical values (0.1 three times) pass for a spread and produce a spurious correlation.
    x_const = _grouped_min(group, x, size) == _grouped_max(group, x, size)
    y_const = _grouped_min(group, y, size) == _grouped_max(group, y, size)
    too_few = n < min_stocks
    constant = ~too_few & (x_const | y_const)
    use = ~too_few & ~constant
    keep = use[group]
    g_used, used_labels = pd.factorize(group[keep], sort=True)
    x_used, y_used = x[keep], y[keep]
    n_used = np.bincount(g_used)
    ic = _grouped_pearson(g_used, x_used, y_used, n_used)
    # Average ranks within each date, then Pearson on ranks = Spearman.
    # A date's ranks do not depend on the other dates, so ranks over all rows, restricted to the used
    # dates, are the ranks within the used dates.
    if ranks is None:
        x_rank, y_rank = grouped_average_rank(g_used, x_used), grouped_average_rank(g_used, y_used)
    else:
        if not len(ranks[0]) == len(ranks[1]) == len(x):
            raise ValueError("ranks differ in length from the scores")
        x_rank, y_rank = np.asarray(ranks[0], dtype=float)[keep], np.asarray(ranks[1], dtype=float)[keep]
    rank_ic = _grouped_pearson(g_used, x_rank, y_rank, n_used)
    return DailyIC(
        dates=[plain_label(labels[i]) for i in used_labels],
        n_stocks=n_used.astype(np.int64),
        ic=ic,
        rank_ic=rank_ic,
        n_dates_too_few=int(too_few.sum()),
        n_dates_constant=int(constant.sum()),
        min_stocks=min_stocks,
    )


def information_coefficient(
    dates: ArrayLike, scores: ArrayLike, returns: ArrayLike, min_stocks: int = MIN_STOCKS_PER_DATE
) -> ICResult:
    """Daily IC and Rank IC, then Qlib's mean, std, ICIR and the t-statistic across the used dates."""
    return information_coefficient_ranked(dates, scores, returns, None, min_stocks)


def information_coefficient_ranked(
    dates: ArrayLike,
    scores: ArrayLike,
    returns: ArrayLike,
    ranks: tuple[np.ndarray, np.ndarray] | None,
    min_stocks: int = MIN_STOCKS_PER_DATE,
) -> ICResult:
    """:func:`information_coefficient` with the within-date average ranks of scores and returns precomputed
    (``ranks``, as :func:`grouped_average_rank` gives them; None computes them here)."""
    daily = _daily_ic(dates, scores, returns, min_stocks, ranks)
    return ICResult(daily=daily, ic=across_dates(daily.ic), rank_ic=across_dates(daily.rank_ic))


def grouped_average_rank(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """1-based average ranks of ``values`` within each group (ties share the mean of their ranks), in the
    input's order: pandas' ``groupby(...).rank(method="average")`` for finite values, with one sort.

    A tie run at 0-based positions i..j of its group gets (i + j)/2 + 1, the same half-integer that pandas
    gets as the sum of ranks i+1..j+1 over j − i + 1 (both exact in floating point).
    """
    n = len(values)
    out = np.empty(n)
    if n == 0:
        return out
    if len(group) and group.min() >= 0 and group.max() < 2**16:
        # Sort by value, then a stable (radix) sort by group: the same grouping as a lexsort, faster. The
        # order inside a run of ties is irrelevant, as every member gets the run's average rank.
        by_value = np.argsort(values)
        order = by_value[np.argsort(group[by_value].astype(np.uint16), kind="stable")]
    else:
        order = np.lexsort((values, group))
    g, v = group[order], values[order]
    new_group = np.r_[True, g[1:] != g[:-1]]
    new_run = new_group | np.r_[True, v[1:] != v[:-1]]
    position = np.arange(n)
    group_start = np.maximum.accumulate(np.where(new_group, position, 0))
    run_id = np.cumsum(new_run) - 1
    run_start = position[new_run]
    run_stop = np.r_[run_start[1:], n] - 1  # last position of each run (runs never cross groups)
    first, last = run_start[run_id] - group_start, run_stop[run_id] - group_start
    out[order] = (first + last) / 2.0 + 1.0
    return out


def _grouped_min(group: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    out = np.full(size, np.inf)
    np.minimum.at(out, group, values)
    return out


def _grouped_max(group: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    out = np.full(size, -np.inf)
    np.maximum.at(out, group, values)
    return out


def plain_label(label: object) -> object:
    """Date labels back as plain Python objects (pandas Timestamps become datetime.date)."""
    if isinstance(label, pd.Timestamp):
        return label.date()
    if isinstance(label, np.datetime64):
        return pd.Timestamp(label).date()
    if isinstance(label, np.generic):
        return label.item()
    return label
