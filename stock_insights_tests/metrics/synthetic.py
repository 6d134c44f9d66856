"""Synthetic scored predictions with a planted relation, for the metrics tests."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd


def trading_days(n: int, start: date = date(2025, 1, 2)) -> list[date]:
    days, day = [], start
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def direction_of(prob_up: np.ndarray, band: float = 0.02) -> np.ndarray:
    return np.where(prob_up > 0.5 + band, "up", np.where(prob_up < 0.5 - band, "down", "flat"))


def hit_of(direction: np.ndarray, realized: np.ndarray) -> np.ndarray:
    """The binary rule, spelled out here so the tests do not lean on metrics.outcome: a call is up iff its
    direction is "up", the outcome is up iff the return is > 0, a hit is the two agreeing."""
    return (direction == "up") == (realized > 0)


def panel(
    seed: int,
    n_dates: int,
    n_stocks: int,
    signal: dict[str, float],
    shuffle_outcomes: bool = False,
    gamma: float = 0.004,
) -> pd.DataFrame:
    """Rows (model, code, date, direction, prob_up, expected_return, realized_return, hit).

    Returns: r = market_t + gamma·s + noise, with s ~ N(0, 1) per stock and date. A model with
    ``signal[name] = 1`` sees s; one with 0 sees an independent copy with the same distribution, so the two
    models' forecasts have identical marginals and differ only in skill. ``shuffle_outcomes`` reassigns
    each date's returns to another date (a permutation of whole dates), which keeps the market move and
    the cross-section but breaks every relation to the forecasts.
    """
    rng = np.random.default_rng(seed)
    days = trading_days(n_dates)
    codes = [f"{i:06d}" for i in range(n_stocks)]
    s = rng.standard_normal((n_dates, n_stocks))
    market = rng.normal(0.0, 0.01, (n_dates, 1))
    realized = market + gamma * s + rng.normal(0.0, 0.015, (n_dates, n_stocks))
    if shuffle_outcomes:
        realized = realized[rng.permutation(n_dates)]
    frames = []
    for model, weight in signal.items():
        seen = weight * s + np.sqrt(1 - weight**2) * rng.standard_normal((n_dates, n_stocks))
        prob = 1 / (1 + np.exp(-0.4 * seen))
        direction = direction_of(prob)
        frames.append(
            pd.DataFrame(
                {
                    "model": model,
                    "code": np.tile(codes, n_dates),
                    "date": np.repeat(np.array(days, dtype=object), n_stocks),
                    "direction": direction.ravel(),
                    "prob_up": prob.ravel(),
                    "expected_return": (0.01 * (prob - 0.5)).ravel(),
                    "realized_return": realized.ravel(),
                    "hit": hit_of(direction, realized).ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
