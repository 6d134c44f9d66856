"""Upstream clients: plain Python over HTTP, no Dagster. Each speaks its service's real protocol."""

from stock_insights.clients import logs as _logs

_logs.install()
