"""API test fixtures: the app on a fresh database of each backend, Redis servers, seeded data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from stock_insights.settings import reset_settings_cache
from stock_insights_tests.api.helpers import SHARED_REDIS, Api, RedisServer, seed, set_api_env


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, database_url: str) -> Iterator[Api]:
    """The app (in-process cache) on a fresh, migrated database of each backend."""
    from api.main import create_app

    set_api_env(monkeypatch, database_url)
    with TestClient(create_app()) as client:
        yield Api(client=client, url=database_url)
    reset_settings_cache()


@pytest.fixture
def shared_redis() -> Iterator[str]:
    client = redis.Redis.from_url(SHARED_REDIS)
    client.flushdb()
    yield SHARED_REDIS
    client.flushdb()
    client.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def seeded(api: Api) -> Api:
    seed(api.url)
    return api
