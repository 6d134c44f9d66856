"""What the app holds for its lifetime: engine, sessions, cache, limiter and token service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.core.cache import ResponseCache, VersionReader
from api.core.config import ApiConfig, api_config
from api.core.fastpath import FastPathIndex
from api.core.outage import DatabaseHealth
from api.core.ratelimit import SlidingWindowLimiter
from api.core.redis import RedisGate
from api.core.revocation import TokenGenerations
from api.core.security import TokenService
from stock_insights.settings import Settings
from stock_insights.storage.db import connect_timeout_seconds, make_async_engine, redact_url
from stock_insights.storage.models import DatasetVersion

log = logging.getLogger(__name__)

# Part of every cache key: a release that changes an answer's shape must not read older entries
# from a Redis shared with the previous release.
CACHE_FORMAT = "1"


class VectorSearchHealth:
    """Semantic search up or down, as the last search that asked Milvus found it.

    While Milvus is away every uncached search answers the lexical fallback; the first failure logs one warning
    (the error's kind, no traceback) and the first semantic answer afterwards logs the recovery, with how long
    it lasted and how many answers were degraded. Nothing in between: an outage is two lines, not one per request.
    (pymilvus's own per-call records of an unreachable server are filtered in ``stock_insights.embeddings.store``.)
    """

    def __init__(self) -> None:
        self.down_since: float | None = None  # monotonic time of the first failure of the current outage
        self.degraded_answers = 0  # lexical fallbacks since then

    def failed(self, exc: BaseException) -> None:
        self._observe(exc)

    def ok(self) -> None:
        self._observe(None)

    def _observe(self, exc: BaseException | None) -> None:
        if exc is not None:
            if self.down_since is None:
                self.down_since, self.degraded_answers = time.monotonic(), 0
                log.warning("semantic search unavailable (%s); lexical fallback until Milvus answers",
                            type(exc).__name__)
            self.degraded_answers += 1
        elif self.down_since is not None:
            log.warning("semantic search available again after %.1f s (%d answer(s) were the lexical fallback)",
                        time.monotonic() - self.down_since, self.degraded_answers)
            self.down_since = None


@dataclass
class ApiState:
    settings: Settings
    config: ApiConfig
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: RedisGate
    cache: ResponseCache
    versions: VersionReader
    limiter: SlidingWindowLimiter
    tokens: TokenService
    fastpath: FastPathIndex
    generations: TokenGenerations

    sqlite_versions: SqliteVersions | None = None
    db_health: DatabaseHealth = field(default_factory=DatabaseHealth)
    vector_health: VectorSearchHealth = field(default_factory=VectorSearchHealth)
    # Cache misses hold one of these while they read: no more at once than the pool keeps open,
    # otherwise every burst opens overflow connections that are closed again on return (for SQLite
    # that is a new thread and file handle per query) and a miss costs several times more.
    db_slots: asyncio.Semaphore | None = None

    async def aclose(self) -> None:
        await self.redis.aclose()
        fetch = self.versions.fetch
        if isinstance(fetch, PostgresVersions):
            await fetch.close()
        await self.engine.dispose()
        if self.sqlite_versions is not None:
            self.sqlite_versions.close()


class SqliteVersions:
    """A synchronous read of ``dataset_versions`` on a dedicated SQLite connection.

    Autocommit (no transaction stays open, so every read sees the latest commit) and a 50 ms busy
    timeout: in WAL mode a reader is practically never blocked, and if it ever is, the call fails
    fast and the caller falls back to the async path instead of stalling the event loop.
    """

    SQL = "SELECT dataset, version FROM dataset_versions"

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._seen: tuple[int, dict[str, int]] | None = None

    def __call__(self) -> dict[str, int]:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=0.05, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=50")
            self._conn = conn
        # data_version changes whenever another connection commits: until it does, the versions
        # read last time are still the committed ones (cheaper than reading the table again).
        (data_version,) = self._conn.execute("PRAGMA data_version").fetchone()
        if self._seen is not None and self._seen[0] == data_version:
            return self._seen[1]
        versions = {dataset: int(version) for dataset, version in self._conn.execute(self.SQL)}
        self._seen = (data_version, versions)
        return versions

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresVersions:
    """Reads ``dataset_versions`` on one dedicated autocommit psycopg connection (prepared statement).

    Several times cheaper than a pooled SQLAlchemy session (no pool checkout, pre-ping, greenlet or
    rollback), which matters because every cached answer starts with this read. The coalescing
    reader runs at most one at a time. On any error it reconnects next time and this read falls
    back to the engine, whose errors the app turns into a 503.
    """

    SQL = "SELECT dataset, version FROM dataset_versions"
    TIMEOUT_SECONDS = 5.0

    def __init__(self, url: str, fallback: Callable[[], Awaitable[dict[str, int]]]) -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.fallback = fallback
        self._conn: psycopg.AsyncConnection | None = None
        self._failing = False

    async def __call__(self) -> dict[str, int]:
        try:
            # Bounded: every request waits on this read, a hung connection must not hold them all.
            async with asyncio.timeout(self.TIMEOUT_SECONDS):
                if self._conn is None or self._conn.closed:
                    self._conn = await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True, connect_timeout=connect_timeout_seconds()
                    )
                cursor = await self._conn.execute(self.SQL, prepare=True)
                versions = {dataset: int(version) for dataset, version in await cursor.fetchall()}
        except (psycopg.Error, TimeoutError) as exc:
            if not self._failing:  # once per failure streak: an outage must not log a line per request
                log.warning("dedicated dataset version read failed (%s); using the pool", type(exc).__name__)
            self._failing = True
            await self.close()
            return await self.fallback()
        self._failing = False
        return versions

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None


def _database_id(url: str) -> str:
    # Two deployments sharing one Redis must not share answers: versions are per database.
    return hashlib.blake2b(redact_url(url).encode(), digest_size=4).hexdigest()


def build_state(settings: Settings, version: str) -> ApiState:
    config = api_config(settings)
    engine = make_async_engine(settings.DATABASE_URL)
    gate = RedisGate(settings.REDIS_URL)

    async def read_versions() -> dict[str, int]:
        async with engine.connect() as conn:
            rows = await conn.execute(select(DatasetVersion.dataset, DatasetVersion.version))
            return {dataset: int(number) for dataset, number in rows}

    health = DatabaseHealth()
    sqlite_versions = None
    fetch: Callable[[], Awaitable[dict[str, int]]] = read_versions
    parsed = make_url(settings.DATABASE_URL)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        sqlite_versions = SqliteVersions(parsed.database)
    elif parsed.get_backend_name() == "postgresql":
        fetch = PostgresVersions(settings.DATABASE_URL, read_versions)

    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return ApiState(
        settings=settings,
        config=config,
        engine=engine,
        sessions=sessions,
        redis=gate,
        cache=ResponseCache(
            gate,
            ttl_seconds=config.cache_ttl_seconds,
            namespace=f"{settings.REDIS_KEY_PREFIX}:api:{version}.{CACHE_FORMAT}:{settings.DATA_MODE}:{_database_id(settings.DATABASE_URL)}",
        ),
        versions=VersionReader(fetch, sqlite_versions, health),
        limiter=SlidingWindowLimiter(gate, namespace=f"{settings.REDIS_KEY_PREFIX}:api:limit"),
        tokens=TokenService(
            config.jwt_secret, access_minutes=config.access_token_minutes, refresh_days=config.refresh_token_days
        ),
        fastpath=FastPathIndex(),
        generations=TokenGenerations(sessions),
        sqlite_versions=sqlite_versions,
        db_health=health,
        db_slots=asyncio.Semaphore(_pool_size(engine)),
    )


def _pool_size(engine: AsyncEngine) -> int:
    size = getattr(engine.sync_engine.pool, "size", None)
    return max(1, size()) if callable(size) else 5
