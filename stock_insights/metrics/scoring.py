"""Scoring one prediction against what the market did.

Entry and exit: the close of the session before the target day (the last price the predictor
could know) to the close ``horizon`` sessions later; for horizon 1, previous close to target close.

The outcome, the call and the hit follow ``stock_insights.metrics.outcome`` (binary: up iff the realized
return is > 0; a call is up iff its direction is "up"; no flat band), the same event Brier and log loss score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stock_insights.metrics.outcome import RealizedDirection, is_hit, realized_direction, went_up

__all__ = ["Score", "realized_direction", "score"]

_EPS = 1e-6


@dataclass(frozen=True)
class Score:
    realized_return: float
    realized_direction: RealizedDirection
    hit: bool
    brier: float
    log_loss: float
    return_error: float


def score(
    *, direction: str, prob_up: float, expected_return: float, entry_price: float, exit_price: float
) -> Score:
    if entry_price <= 0 or exit_price <= 0:
        raise ValueError("prices must be positive")
    realized = exit_price / entry_price - 1.0
    up = 1.0 if went_up(realized) else 0.0
    p = min(max(prob_up, _EPS), 1.0 - _EPS)
    return Score(
        realized_return=realized,
        realized_direction=realized_direction(realized),
        hit=is_hit(direction, realized),
        brier=(prob_up - up) ** 2,
        log_loss=-(up * math.log(p) + (1.0 - up) * math.log(1.0 - p)),
        return_error=expected_return - realized,
    )
