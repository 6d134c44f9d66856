"""Which predictors exist. Baselines always run offline; LLM models join in a later issue."""

from __future__ import annotations

from stock_insights.predictors.base import Predictor
from stock_insights.predictors.momentum import MomentumPredictor


def baseline_predictors() -> dict[str, Predictor]:
    return {p.name: p for p in (MomentumPredictor(),)}
