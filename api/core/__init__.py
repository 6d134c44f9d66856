"""Cross-cutting machinery of the API: configuration, security, cache, rate limits, pagination."""
