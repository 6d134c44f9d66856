"""Scoring one prediction against what the market did.

Entry and exit: the close of the session before the target day (the last price the predictor
could know) to the close ``horizon`` sessions later; for horizon 1, previous close to target close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stock_insights.predictors.base import Direction

# A realized move smaller than this counts as flat (0.3% is about a seventh of a typical day's move).
FLAT_BAND = 0.003
_EPS = 1e-6


@dataclass(frozen=True)
class Score:
    realized_return: float
    realized_direction: Direction
    hit: bool
    brier: float
    log_loss: float
    return_error: float


def realized_direction(realized_return: float, band: float = FLAT_BAND) -> Direction:
    if realized_return > band:
        return "up"
    if realized_return < -band:
        return "down"
    return "flat"


def score(
    *, direction: Direction, prob_up: float, expected_return: float, entry_price: float, exit_price: float
) -> Score:
    if entry_price <= 0 or exit_price <= 0:
        raise ValueError("prices must be positive")
    realized = exit_price / entry_price - 1.0
    went_up = 1.0 if realized > 0 else 0.0
    p = min(max(prob_up, _EPS), 1.0 - _EPS)
    return Score(
        realized_return=realized,
        realized_direction=realized_direction(realized),
        hit=direction == realized_direction(realized),
        brier=(prob_up - went_up) ** 2,
        log_loss=-(went_up * math.log(p) + (1.0 - went_up) * math.log(1.0 - p)),
        return_error=expected_return - realized,
    )
