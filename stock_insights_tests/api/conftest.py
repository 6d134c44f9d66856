"""API test fixtures: the app on a fresh database of each backend, Redis servers, seeded data."""

from __future__ import annotations

import uuid
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
def shared_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The machine's shared Redis, used under a key prefix of this test's own (REDIS_KEY_PREFIX).

    Someone else may keep data in that server: the test reads, writes and deletes only keys under its
    prefix, never flushes a database.
    """
    prefix = f"si-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    reset_settings_cache()
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        yield SHARED_REDIS
    finally:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)
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
