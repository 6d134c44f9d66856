"""The text corpus as stored: news articles with their sources and stock links, DART disclosures and
financial statements, and the stocks' DART corp codes (writes, reads and quality figures).

It sits above ``stock_insights.clients`` (whose rows it writes) and ``stock_insights.text`` (the pure text
rules it applies: dedupe, linking, point in time), and below the Dagster assets and the API that call it.
"""
