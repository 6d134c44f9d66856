"""``dart/*``: OpenDART corp codes, filings (trading-day partitions, a one-minute sensor) and financials."""
