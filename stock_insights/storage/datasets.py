"""The datasets whose versions key the API's cache: one name per group of tables, bumped by their writers.

Every writer of a table bumps its dataset (``storage.db.bump_dataset_version``) in the same transaction
as the write, so a cached answer that read the table is never served after it changed. ``TABLE_DATASETS``
maps every table to the dataset(s) its writers bump; ``UNVERSIONED_TABLES`` are the tables no cached
answer reads (a test holds both against the schema, so a new table must be placed in one of them).
"""

from __future__ import annotations

from enum import StrEnum


class Dataset(StrEnum):
    STOCKS = "stocks"
    LISTINGS = "listing_states"
    DAILY_BARS = "daily_bars"
    INDEX_BARS = "index_bars"
    MINUTE_BARS = "minute_bars"
    ORDERBOOK = "orderbook"
    FINANCIALS = "financials"  # KIS and DART statements (one table, financial_statements)
    NEWS = "news"
    DISCLOSURES = "disclosures"
    EMBEDDINGS = "embeddings"
    PREDICTIONS = "predictions"
    EVALUATIONS = "evaluations"
    LEADERBOARD = "leaderboard"
    EXPERIMENTS = "experiments"
    REPORTS = "reports"
    TOKEN_GENERATIONS = "token_generations"  # users.token_generation: revocation of access tokens
    LEDGER = "ledger"  # sealed forecast days (ledger_seals)


TABLE_DATASETS: dict[str, tuple[Dataset, ...]] = {
    "stocks": (Dataset.STOCKS,),
    "watchlist_items": (Dataset.STOCKS,),  # the API's watchlist writes bump the stocks' answers
    "listing_states": (Dataset.LISTINGS,),
    "daily_bars": (Dataset.DAILY_BARS,),
    "index_bars": (Dataset.INDEX_BARS,),
    "minute_bars": (Dataset.MINUTE_BARS,),
    "orderbook_snapshots": (Dataset.ORDERBOOK,),
    "financial_statements": (Dataset.FINANCIALS,),
    "news_articles": (Dataset.NEWS,),
    "news_article_sources": (Dataset.NEWS,),
    "news_stock_links": (Dataset.NEWS,),
    "disclosures": (Dataset.DISCLOSURES,),
    "embedding_records": (Dataset.EMBEDDINGS,),
    "predictions": (Dataset.PREDICTIONS,),
    "evaluations": (Dataset.EVALUATIONS,),
    "leaderboards": (Dataset.LEADERBOARD,),
    "experiments": (Dataset.EXPERIMENTS,),
    "experiment_arms": (Dataset.EXPERIMENTS,),
    "reports": (Dataset.REPORTS,),
    "users": (Dataset.TOKEN_GENERATIONS,),  # only the generation is read through a version; the rest per user
    "ledger_seals": (Dataset.LEDGER,),
}

# Read per user or per process, never through the dataset-versioned cache.
UNVERSIONED_TABLES = frozenset(
    {
        "dataset_versions",
        "refresh_tokens",
        "api_keys",
        "notifications",
        "webhook_deliveries",
        "llm_cache",
        "provider_tokens",
    }
)
