"""Shared fixtures: one fixed "today", real PostgreSQL and Redis, SQLite files, and the sandbox over HTTP.

Every test runs with the project's one clock (``stock_insights.clock``) set to ``FROZEN_NOW`` and
ticking on from there, so the sandbox, the pipeline and the API agree on "now" and the suite gives the
same answer on any date. A test that needs another moment, or a stopped clock, nests
``clock.frozen(...)`` inside it.

PostgreSQL: the server on 127.0.0.1:5432 when one answers (CI and this machine); otherwise the
tests start their own with ``pgserver``. They never skip it. Each test gets a fresh database.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from stock_insights import clock
from stock_insights.settings import reset_settings_cache

LOCAL_PG = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SANDBOX_APP_KEY = "PStestAppKey000000000000000000000000"
SANDBOX_APP_SECRET = "test-app-secret-that-must-never-be-logged"
SANDBOX_DART_KEY = "d" * 32 + "secret00"  # 40 characters, like a real crtfc_key
SANDBOX_NAVER_ID, SANDBOX_NAVER_SECRET = "naver-test-client-id", "naver-test-client-secret-never-logged"
SANDBOX_REDDIT_ID, SANDBOX_REDDIT_SECRET = "reddit-test-id", "reddit-test-secret-never-logged"


# A Friday after the close: the last closed session is 2026-12-04 whatever the real date is.
FROZEN_NOW = datetime(2026, 12, 4, 17, 0, tzinfo=clock.KST)


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[datetime]:
    """The sandbox's and the pipeline's "now" for this test (see the module docstring)."""
    with clock.frozen(FROZEN_NOW, ticking=True) as moment:
        yield moment


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL maintenance database we may create databases from."""
    if _reachable(LOCAL_PG):
        yield LOCAL_PG
        return
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    uri = server.get_uri()
    yield uri.replace("postgresql://", "postgresql+psycopg://", 1)
    server.cleanup()


def _create_pg_database(server_url: str) -> tuple[str, str]:
    name = f"si_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(server_url: str, name: str) -> None:
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name, url = _create_pg_database(server)
    try:
        yield url
    finally:
        _drop_pg_database(server, name)  # WITH (FORCE): connections a test left open do not hold it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs an ASGI app with uvicorn in a thread: real HTTP on loopback."""

    def __init__(self, app, port: int | None = None) -> None:  # type: ignore[no-untyped-def]
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def sandbox() -> Iterator[ServerThread]:
    """A fresh sandbox (simulated market) over real HTTP, with its own state."""
    from stock_insights.sandbox.app import create_app

    with ServerThread(create_app()) as server:
        yield server


def sandbox_resources(url: str, database_url: str, data_dir: Path, **overrides: Any) -> dict[str, Any]:
    """Every resource of the code location, configured for the sandbox at ``url`` and the store at
    ``database_url`` (test keys; the embedder offline); ``overrides`` replace resources by name."""
    from stock_insights.defs.dart.resources import DartResource
    from stock_insights.defs.news.resources import NaverResource, NewsFeedsResource, RedditResource
    from stock_insights.defs.resources import DatabaseResource, EmbeddingsResource, KisResource
    from stock_insights.defs.universe.resources import KisMasterResource

    database = overrides.pop("database", None) or DatabaseResource(url=database_url)
    resources: dict[str, Any] = {
        "database": database,
        "kis": KisResource(database=database, base_url=url, app_key=SANDBOX_APP_KEY, app_secret=SANDBOX_APP_SECRET,
                           rate_limit_per_sec=50, lock_dir=str(data_dir / "locks")),
        "kis_master": KisMasterResource(base_url=url),
        "dart": DartResource(base_url=url, api_key=SANDBOX_DART_KEY, requests_per_second=50),
        "naver": NaverResource(base_url=url, client_id=SANDBOX_NAVER_ID, client_secret=SANDBOX_NAVER_SECRET),
        "news_feeds": NewsFeedsResource(hankyung_feed_urls=[f"{url}/feed/finance", f"{url}/feed/economy"],
                                        maeil_feed_urls=[f"{url}/rss/50200011/", f"{url}/rss/30100041/"]),
        "reddit": RedditResource(auth_url=f"{url}/api/v1/access_token", base_url=url, client_id=SANDBOX_REDDIT_ID,
                                 client_secret=SANDBOX_REDDIT_SECRET),
        "embeddings": EmbeddingsResource(embedder_choice="hashing", openai_base_url=f"{url}/v1"),
    }
    return {**resources, **overrides}


def rebuild_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Builds ``stock_insights.definitions.defs`` again from the settings of now (the environment a fixture
    has just set), for the tests that still run the code location's own resources; restored afterwards."""
    import stock_insights.definitions

    monkeypatch.setattr(stock_insights.definitions, "defs", stock_insights.definitions.build_defs())


@pytest.fixture
def sandbox_env(
    monkeypatch: pytest.MonkeyPatch, sandbox: ServerThread, database_url: str, tmp_path: Path
) -> Iterator[str]:
    """Settings pointing every client at the sandbox and the relational store at ``database_url``.

    The assets' own settings (the universe, the data mode, the data folder) come from here; resources are
    better passed explicitly (``sandbox_resources``); the code location's own are rebuilt from these settings.
    """
    env = {
        "DATA_MODE": "simulated",
        "DATABASE_URL": database_url,
        "KIS_BASE_URL": sandbox.url,
        "KIS_MASTER_BASE_URL": sandbox.url,
        "KIS_APP_KEY": SANDBOX_APP_KEY,
        "KIS_APP_SECRET": SANDBOX_APP_SECRET,
        "KIS_RATE_LIMIT_PER_SEC": "50",
        "STOCK_UNIVERSE": "005930,000660,035420,035720",
        "REDIS_URL": "",
        "HISTORY_START": "2024-01-02",
        "DATA_DIR": str(tmp_path / "data"),  # lock files and plots stay inside the test
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    rebuild_definitions(monkeypatch)
    yield database_url
    reset_settings_cache()


@pytest.fixture
def resources(sandbox_env: str, sandbox: ServerThread, tmp_path: Path) -> dict[str, Any]:
    """The code location's resources for this test's sandbox and database (see ``sandbox_resources``)."""
    return sandbox_resources(sandbox.url, sandbox_env, tmp_path / "data")


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus server for the session: standalone 2.3 (HNSW) from the ``milvus`` package, on free
    ports with its own data folder; ``TEST_MILVUS_SERVER=lite`` runs Milvus Lite instead. The server
    leads its own process group, stopped as a whole at the end of the session."""
    from stock_insights.embeddings import server as milvus_server

    kind = os.environ.get("TEST_MILVUS_SERVER", "standalone")
    local = milvus_server.start(kind, tmp_path_factory.mktemp("milvus"), timeout=180)
    try:
        yield local.uri
    finally:
        local.stop(grace=10)
