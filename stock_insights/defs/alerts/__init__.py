"""``alerts/notifications``: per-user alerts (filings, price moves, forecast flips, news bursts) and webhooks."""
