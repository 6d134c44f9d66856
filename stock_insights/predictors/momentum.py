"""Momentum baseline: the direction of the last ``lookback`` sessions' move, with a modest, stated edge.

Cheap, offline, deterministic. It exists so that the A/B machinery and the evaluation have a floor to
beat, not because it is expected to be good.

It calls the sign of the last ``lookback`` sessions' return (no move, no view: no forecast) and claims
the same edge per call as a news-tone reading of ±1: P(up) = Φ(±PROBIT_SLOPE / √horizon) = 0.5 ± 0.08
for one session. The edge is stated, not fitted: in the sandbox momentum has no skill at all (sessions'
returns are independent), so a fitted edge would be zero. Claiming the same edge as ``news_tone`` is what
makes a paired test between the two baselines a test of what they read rather than of how loudly they
say it: a sharper forecast without skill loses on Brier by its confidence alone, a forecast that says
"flat" more often loses three-class hits by that alone, and a shuffled-outcome control would (rightly)
report those differences. The old steepness (8 on the raw return, P(up) 0.41..0.59 for a ±1 sd week)
was such a case.

The expected return keeps a tenth of the past daily drift per session (``shrink``), for ranking.
"""

from __future__ import annotations

import math

from stock_insights.predictors.base import (
    PredictionInput,
    PredictionOutput,
    Rationale,
    direction_from_probability,
)
from stock_insights.predictors.news_tone import PROBIT_SLOPE, normal_cdf


class MomentumPredictor:
    def __init__(self, name: str = "momentum", lookback: int = 5, edge: float = PROBIT_SLOPE, shrink: float = 0.1):
        self.name = name
        self.lookback = lookback
        self.edge = edge  # probit units per call, one session
        self.shrink = shrink

    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        closes = data.prices[-(self.lookback + 1) :]
        if len(closes) < self.lookback + 1:
            return None
        past, last = closes[0], closes[-1]
        momentum = last.close / past.close - 1.0
        if momentum == 0.0:
            return None  # no move: no view
        sign = 1.0 if momentum > 0 else -1.0
        prob_up = normal_cdf(sign * self.edge / math.sqrt(data.horizon))
        expected = self.shrink * momentum / self.lookback * data.horizon
        pct = f"{momentum * 100:+.2f}%"
        window = f"{past.trading_date.isoformat()}..{last.trading_date.isoformat()}"
        rationale = Rationale(
            positive=[f"{self.lookback}-session return {pct} ({window})"] if momentum > 0 else [],
            concerns=[f"{self.lookback}-session return {pct} ({window})"] if momentum < 0 else [],
            summary=f"Momentum over {self.lookback} sessions is {pct}; trends tend to persist a little.",
        )
        return PredictionOutput(
            direction=direction_from_probability(prob_up, band=0.0),
            prob_up=prob_up,
            expected_return=expected,
            rationale=rationale,
            cited_inputs={
                "prices": [{"trading_date": bar.trading_date.isoformat(), "close": bar.close} for bar in closes],
                "documents": [],
            },
        )
