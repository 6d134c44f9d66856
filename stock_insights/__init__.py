"""stock_insights: open data platform for AI stock insights on the Korean market.

Pure code (clients, storage, predictors, metrics, sandbox) lives beside the Dagster layer in
``stock_insights.defs``; only ``defs`` and ``definitions`` import Dagster.
"""
