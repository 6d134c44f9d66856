"""Resources: the bridge from Dagster to the pure clients and storage.

Every resource is configured by its fields; ``@dg.definitions`` below (and in each area's
``resources.py``) fills them from the settings (``stock_insights/settings.py``: the same environment
variables and defaults). A secret is never a plain value there: it is ``dg.EnvVar("NAME")``, so the UI,
the run config and the metadata show the variable's name only (``from_env``), and a secret field
is left out of the resource's repr. Tests pass resources built for their sandbox to ``dg.materialize``.
"""


import math
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from pydantic import Field, PrivateAttr, SecretStr
from sqlalchemy import Engine

from stock_insights.clients.kis import KisClient
from stock_insights.clients.ratelimit import shared_window_limiter
from stock_insights.embeddings.embedders import Embedder, collection_name
from stock_insights.embeddings.factory import make_embedder
from stock_insights.embeddings.store import VectorStore
from stock_insights.market.tokens import SqlTokenStore
from stock_insights.settings import Settings, get_settings
from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import upgrade

_MIGRATED: set[str] = set()  # URLs this process has brought to the head revision


def secret(description: str, default: Any = "") -> Any:
    """A secret field (a key, or a URL that may carry a password): hidden from the resource's repr and marked
    secret for the UI. Empty by default: an unset key is an empty key, as in the settings."""
    return Field(default=default, repr=False, description=description, json_schema_extra={"dagster__is_secret": True})


def from_env(settings: Settings, name: str, default: str = "") -> str:
    """The value of setting ``name`` as Dagster config: ``dg.EnvVar(name)`` when the environment (or the
    ``.env`` file, which Dagster's processes load as well) sets it, so that only the name is ever shown;
    otherwise ``default`` (the setting's default).

    ``dg.EnvVar`` of an unset variable fails the run ("You have attempted to fetch the environment variable
    ... which is not set"), hence the default: the embedded sandbox runs with nothing set.
    """
    return dg.EnvVar(name) if name in settings.model_fields_set else default


class DatabaseResource(dg.ConfigurableResource):
    """The relational store at ``url`` (DATABASE_URL in the definitions: a URL may carry a password).

    The engine lives for one execution (a run's step, a sensor tick): made and migrated (once per process
    and URL) in ``setup_for_execution``, disposed in ``teardown_after_execution``.
    """

    url: str = secret("SQLAlchemy URL (sqlite:///... or postgresql+psycopg://...).", default=...)
    _engine: Engine | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._engine = self._connect()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def _connect(self) -> Engine:
        engine = make_engine(self.url)
        if self.url not in _MIGRATED:
            upgrade(self.url, engine)
            _MIGRATED.add(self.url)
        return engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:  # used outside an execution (a script, a direct call in a test)
            self._engine = self._connect()
        return self._engine


class KisResource(dg.ConfigurableResource):
    """KIS Open API client with the shared SQL token cache (in ``database``) and the per-key request budget."""

    database: dg.ResourceDependency[DatabaseResource]
    base_url: str = Field(description="KIS_BASE_URL: the real or the paper (모의투자) host.")
    app_key: str = secret("KIS_APP_KEY.")
    app_secret: str = secret("KIS_APP_SECRET.")
    rate_limit_per_sec: float = Field(default=20.0, gt=0, le=1000, description="KIS_RATE_LIMIT_PER_SEC, per app key.")
    redis_url: str = secret("REDIS_URL: the budget shared across processes and hosts; empty: lock files.")
    redis_key_prefix: str = Field(default="si", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="REDIS_KEY_PREFIX.")
    lock_dir: str = Field(description="Folder of the budget's lock files without Redis (DATA_DIR/locks).")

    def client(self) -> KisClient:
        app_key = SecretStr(self.app_key)
        fingerprint = KisClient.key_fingerprint(self.base_url, app_key)
        # One budget per app key, shared by every run and step (Redis if set, else a lock file).
        # A request counts until one second after its answer, so no KIS second ever sees more than the limit.
        limiter = shared_window_limiter(
            f"kis-{fingerprint}",
            max(1, math.floor(self.rate_limit_per_sec)),
            redis_url=self.redis_url,
            lock_dir=Path(self.lock_dir),
            key_prefix=self.redis_key_prefix,
        )
        return KisClient(
            self.base_url,
            app_key,
            SecretStr(self.app_secret),
            token_store=SqlTokenStore(self.database.engine),
            limiter=limiter,
        )


class EmbeddingsResource(dg.ConfigurableResource):
    """The embedder (EMBEDDER, EMBEDDING_MODEL, EMBEDDING_DIMENSIONS, OPENAI_*) and its Milvus collection."""

    embedder_choice: Literal["auto", "openai", "hashing"] = Field(
        default="auto", description="EMBEDDER: auto = the OpenAI-compatible API when a key is set, else hashing."
    )
    model: str = Field(default="text-embedding-3-small", description="EMBEDDING_MODEL.")
    dimensions: int = Field(default=1536, ge=8, le=4096, description="EMBEDDING_DIMENSIONS.")
    openai_api_key: str = secret("OPENAI_API_KEY (any OpenAI-compatible server's key).")
    openai_base_url: str = Field(default="https://api.openai.com/v1", description="OPENAI_BASE_URL.")
    milvus_uri: str = Field(default="http://127.0.0.1:19530", description="MILVUS_URI.")

    def embedder(self) -> Embedder:
        return make_embedder(
            self.embedder_choice,
            api_key=self.openai_api_key,
            base_url=self.openai_base_url,
            model=self.model,
            dimension=self.dimensions,
        )

    def store(self, embedder: Embedder) -> VectorStore:
        name = collection_name(embedder.model, embedder.dimension)
        store = VectorStore(self.milvus_uri, name, embedder.dimension)
        store.ensure_collection()
        return store


def database_resource(settings: Settings) -> DatabaseResource:
    return DatabaseResource(url=from_env(settings, "DATABASE_URL", settings.DATABASE_URL))


def kis_resource(settings: Settings, database: DatabaseResource) -> KisResource:
    return KisResource(
        database=database,
        base_url=settings.KIS_BASE_URL,
        app_key=from_env(settings, "KIS_APP_KEY"),
        app_secret=from_env(settings, "KIS_APP_SECRET"),
        rate_limit_per_sec=settings.KIS_RATE_LIMIT_PER_SEC,
        redis_url=from_env(settings, "REDIS_URL", settings.REDIS_URL),  # redis://:password@host
        redis_key_prefix=settings.REDIS_KEY_PREFIX,
        lock_dir=str(settings.DATA_DIR / "locks"),
    )


def embeddings_resource(settings: Settings) -> EmbeddingsResource:
    return EmbeddingsResource(
        embedder_choice=settings.EMBEDDER,
        model=settings.EMBEDDING_MODEL,
        dimensions=settings.EMBEDDING_DIMENSIONS,
        openai_api_key=from_env(settings, "OPENAI_API_KEY"),
        openai_base_url=settings.OPENAI_BASE_URL,
        milvus_uri=settings.MILVUS_URI,
    )


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    database = database_resource(settings)
    return dg.Definitions(
        resources={
            "database": database,
            "kis": kis_resource(settings, database),
            "embeddings": embeddings_resource(settings),
        }
    )
