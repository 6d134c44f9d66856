"""Momentum baseline: the last ``lookback`` sessions' return, squashed into a probability.

Cheap, offline, deterministic. It exists so that the A/B machinery and the evaluation have a
floor to beat, not because it is expected to be good.
"""

from __future__ import annotations

import math

from stock_insights.predictors.base import (
    PredictionInput,
    PredictionOutput,
    Rationale,
    direction_from_probability,
)


class MomentumPredictor:
    def __init__(self, name: str = "momentum", lookback: int = 5, steepness: float = 8.0, shrink: float = 0.1):
        self.name = name
        self.lookback = lookback
        self.steepness = steepness
        self.shrink = shrink

    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        closes = data.prices[-(self.lookback + 1) :]
        if len(closes) < self.lookback + 1:
            return None
        past, last = closes[0], closes[-1]
        momentum = last.close / past.close - 1.0
        prob_up = 1.0 / (1.0 + math.exp(-self.steepness * momentum))
        expected = self.shrink * momentum / self.lookback * data.horizon
        pct = f"{momentum * 100:+.2f}%"
        window = f"{past.trading_date.isoformat()}..{last.trading_date.isoformat()}"
        rationale = Rationale(
            positive=[f"{self.lookback}-session return {pct} ({window})"] if momentum > 0 else [],
            concerns=[f"{self.lookback}-session return {pct} ({window})"] if momentum <= 0 else [],
            summary=f"Momentum over {self.lookback} sessions is {pct}; trends tend to persist a little.",
        )
        return PredictionOutput(
            direction=direction_from_probability(prob_up),
            prob_up=prob_up,
            expected_return=expected,
            rationale=rationale,
            cited_inputs={
                "prices": [{"trading_date": bar.trading_date.isoformat(), "close": bar.close} for bar in closes],
                "documents": [],
            },
        )
