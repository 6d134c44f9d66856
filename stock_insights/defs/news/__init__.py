"""``news/*``: Naver news search, Hankyung and Maeil RSS, Reddit — every 10 minutes, deduplicated."""
