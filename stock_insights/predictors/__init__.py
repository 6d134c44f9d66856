"""Forecasting models (pure Python): baselines now, LLM predictors later. No Dagster, no I/O."""
