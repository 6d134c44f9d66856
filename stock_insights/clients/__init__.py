"""Upstream clients: plain Python over HTTP, no Dagster. Each speaks its service's real protocol."""
