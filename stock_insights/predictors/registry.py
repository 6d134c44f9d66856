"""Which predictors exist. Baselines always run offline; LLM models join when their key is set."""

from __future__ import annotations

from stock_insights.predictors.base import Predictor
from stock_insights.predictors.momentum import MomentumPredictor
from stock_insights.predictors.news_tone import NewsTonePredictor


def baseline_predictors() -> dict[str, Predictor]:
    return {p.name: p for p in (MomentumPredictor(), NewsTonePredictor())}
