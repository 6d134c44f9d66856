"""Which predictors are active: the registry's enabled models (``models.yaml``) whose keys are set.

Baselines always run offline. An LLM model is active when its provider's key is configured
(OPENAI_API_KEY, OPENROUTER_API_KEY, or the entry's ``api_key_env``).
"""

from __future__ import annotations

import os

from sqlalchemy import Engine

from stock_insights.predictors.base import Predictor
from stock_insights.predictors.config import ModelEntry, load_registry
from stock_insights.predictors.momentum import MomentumPredictor
from stock_insights.predictors.news_tone import NewsTonePredictor
from stock_insights.settings import Settings, get_settings

BASELINES = {"momentum": MomentumPredictor, "news_tone": NewsTonePredictor}


def _has_key(entry: ModelEntry, settings: Settings) -> bool:
    if entry.provider == "openai":
        return bool(settings.OPENAI_API_KEY.get_secret_value())
    if entry.provider == "openrouter":
        return bool(settings.OPENROUTER_API_KEY.get_secret_value())
    if entry.provider == "openai_compatible":
        return bool(entry.api_key_env and os.environ.get(entry.api_key_env)) or entry.api_key_env is None
    return True


def baseline_predictors() -> dict[str, Predictor]:
    return {name: cls() for name, cls in BASELINES.items()}


def active_predictors(engine: Engine | None = None, settings: Settings | None = None) -> dict[str, Predictor]:
    """Every enabled model of the registry that can run now, by name (baselines first)."""
    from stock_insights.llm import SqlLLMCache, SqlSpendLedger
    from stock_insights.predictors.llm import LLMPredictor

    settings = settings or get_settings()
    out: dict[str, Predictor] = {}
    for entry in load_registry().enabled():
        if entry.provider == "baseline":
            if entry.name in BASELINES:
                out[entry.name] = BASELINES[entry.name]()
        elif _has_key(entry, settings):
            cache = SqlLLMCache(engine) if engine is not None else None
            spend = SqlSpendLedger(engine) if engine is not None else None
            out[entry.name] = LLMPredictor(entry, cache=cache, spend=spend)
    return out


def inactive_models(settings: Settings | None = None) -> dict[str, str]:
    """Registry models that will not run, and why (for metadata and the API)."""
    settings = settings or get_settings()
    out: dict[str, str] = {}
    for entry in load_registry().models:
        if not entry.enabled:
            out[entry.name] = "disabled in the registry"
        elif entry.provider != "baseline" and not _has_key(entry, settings):
            out[entry.name] = f"no key for provider {entry.provider}"
    return out
