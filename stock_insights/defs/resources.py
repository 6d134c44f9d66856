"""Resources: the bridge from Dagster to the pure clients and storage.

No secret is Dagster config: keys are read from the settings (environment) at the moment a client
is built, so they never show in the UI, run config or metadata.
"""

from functools import cached_property

import dagster as dg
from sqlalchemy import Engine

from stock_insights.clients.kis import KisClient
from stock_insights.clients.ratelimit import shared_rate_limiter
from stock_insights.embeddings.embedders import Embedder, collection_name
from stock_insights.embeddings.factory import build_embedder
from stock_insights.embeddings.store import VectorStore
from stock_insights.settings import Settings, get_settings
from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.tokens import SqlTokenStore

_ENGINES: dict[str, Engine] = {}


class DatabaseResource(dg.ConfigurableResource):
    """The relational store (DATABASE_URL). Migrated once per process before first use."""

    @property
    def settings(self) -> Settings:
        return get_settings()

    @cached_property
    def engine(self) -> Engine:
        url = self.settings.DATABASE_URL
        if url not in _ENGINES:
            engine = make_engine(url)
            upgrade(url, engine)
            _ENGINES[url] = engine
        return _ENGINES[url]


class KisResource(dg.ConfigurableResource):
    """KIS Open API client with the shared SQL token cache and the per-key request budget."""

    def client(self, database: DatabaseResource) -> KisClient:
        settings = get_settings()
        fingerprint = KisClient.key_fingerprint(settings.KIS_BASE_URL, settings.KIS_APP_KEY)
        # One budget per app key, shared by every run and step (Redis if set, else a lock file).
        limiter = shared_rate_limiter(
            f"kis-{fingerprint}",
            settings.KIS_RATE_LIMIT_PER_SEC,
            redis_url=settings.REDIS_URL,
            lock_dir=settings.DATA_DIR / "locks",
            key_prefix=settings.REDIS_KEY_PREFIX,
            headroom=settings.KIS_RATE_HEADROOM,
        )
        return KisClient(
            settings.KIS_BASE_URL,
            settings.KIS_APP_KEY,
            settings.KIS_APP_SECRET,
            token_store=SqlTokenStore(database.engine),
            limiter=limiter,
        )


class EmbeddingsResource(dg.ConfigurableResource):
    """The embedder the settings choose and its Milvus collection (MILVUS_URI)."""

    def embedder(self) -> Embedder:
        return build_embedder(get_settings())

    def store(self, embedder: Embedder) -> VectorStore:
        name = collection_name(embedder.model, embedder.dimension)
        store = VectorStore(get_settings().MILVUS_URI, name, embedder.dimension)
        store.ensure_collection()
        return store


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(
        resources={"database": DatabaseResource(), "kis": KisResource(), "embeddings": EmbeddingsResource()}
    )
