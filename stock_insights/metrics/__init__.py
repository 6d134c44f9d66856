"""Evaluation metrics (pure Python): per-prediction scores now, model-level statistics later."""
