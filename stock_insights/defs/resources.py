"""Resources: the bridge from Dagster to the pure clients and storage.

No secret is Dagster config: keys are read from the settings (environment) at the moment a client
is built, so they never show in the UI, run config or metadata.
"""

import math

import dagster as dg
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from stock_insights.clients.kis import KisClient
from stock_insights.clients.ratelimit import shared_window_limiter
from stock_insights.embeddings.embedders import Embedder, collection_name
from stock_insights.embeddings.factory import build_embedder
from stock_insights.embeddings.store import VectorStore
from stock_insights.market.tokens import SqlTokenStore
from stock_insights.settings import get_settings
from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import upgrade

_MIGRATED: set[str] = set()  # URLs this process has brought to the head revision


class DatabaseResource(dg.ConfigurableResource):
    """The relational store. ``url`` empty means DATABASE_URL (the embedded SQLite file by default); a URL
    with a password belongs in the environment, not in run config, where the UI would show it.

    The engine lives for one execution (a run's step, a sensor tick): made and migrated (once per process
    and URL) in ``setup_for_execution``, disposed in ``teardown_after_execution``.
    """

    url: str = Field(default="", description="SQLAlchemy URL; empty = DATABASE_URL from the environment.")
    _engine: Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.url or get_settings().DATABASE_URL

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = self._connect()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _connect(self) -> Engine:
        url = self.resolved_url()
        engine = make_engine(url)
        if url not in _MIGRATED:
            upgrade(url, engine)
            _MIGRATED.add(url)
        return engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # used outside an execution (a script, a direct call in a test)
            self._engine = self._connect()
        return self._engine


class KisResource(dg.ConfigurableResource):
    """KIS Open API client with the shared SQL token cache (in ``database``) and the per-key request budget."""

    database: dg.ResourceDependency[DatabaseResource]

    def client(self) -> KisClient:
        settings = get_settings()
        fingerprint = KisClient.key_fingerprint(settings.KIS_BASE_URL, settings.KIS_APP_KEY)
        # One budget per app key, shared by every run and step (Redis if set, else a lock file).
        # A request counts until one second after its answer, so no KIS second ever sees more than the limit.
        limiter = shared_window_limiter(
            f"kis-{fingerprint}",
            max(1, math.floor(settings.KIS_RATE_LIMIT_PER_SEC)),
            redis_url=settings.REDIS_URL,
            lock_dir=settings.DATA_DIR / "locks",
            key_prefix=settings.REDIS_KEY_PREFIX,
        )
        return KisClient(
            settings.KIS_BASE_URL,
            settings.KIS_APP_KEY,
            settings.KIS_APP_SECRET,
            token_store=SqlTokenStore(self.database.engine),
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
    database = DatabaseResource()
    return dg.Definitions(
        resources={"database": database, "kis": KisResource(database=database), "embeddings": EmbeddingsResource()}
    )
