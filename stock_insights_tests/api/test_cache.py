"""The answer cache: never stale after a pipeline write, ETag/304, Redis optional and allowed to die."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from api.core.cache import VersionReader
from api.core.security import TokenService
from stock_insights.market.store import upsert_daily_bars
from stock_insights.storage.db import bulk_upsert, make_engine, session_scope, utcnow
from stock_insights.storage.models import DailyBar
from stock_insights_tests.api.helpers import PASSWORD, RedisServer, bar, make_user, seed, set_api_env

PRICES = "/api/v1/stocks/005930/prices"
RANGE = {"interval": "1d", "start": "2026-10-01", "end": "2026-10-31"}
NEW_DAY = date(2026, 10, 15)


def write_bar(url: str, close: float, *, bump: bool = True) -> None:
    """What ``kis/daily_bars`` does: the store's writer upserts the bars and moves the dataset version in one
    transaction. ``bump=False`` writes the row around the writer, as no code of the project does."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        if bump:
            upsert_daily_bars(session, "005930", [bar(NEW_DAY, close)], adjusted=True, source="kis")
        else:
            row = {"code": "005930", "trading_date": NEW_DAY, "adjusted": True, "open": close, "high": close,
                   "low": close, "close": close, "volume": 1, "trade_value": int(close), "revised": False,
                   "source": "kis", "fetched_at": utcnow()}
            bulk_upsert(session, DailyBar.__table__, [row])
    engine.dispose()


def admin_headers(client: TestClient, url: str) -> dict[str, str]:
    user_id = make_user(url, "admin@example.com", "admin")
    return {"Authorization": f"Bearer {client.app.state.api.tokens.issue(user_id, 'admin', '').access_token}"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("cache", ["memory", "redis"])
def test_new_bars_are_in_the_next_answer(
    monkeypatch: pytest.MonkeyPatch, database_url: str, cache: str, request: pytest.FixtureRequest
) -> None:
    from api.main import create_app

    redis_url = request.getfixturevalue("shared_redis") if cache == "redis" else ""
    set_api_env(monkeypatch, database_url, redis_url)
    with TestClient(create_app()) as client:
        state = client.app.state.api  # type: ignore[attr-defined]
        seed(database_url)
        headers = admin_headers(client, database_url)

        first = client.get(PRICES, params=RANGE, headers=headers)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "private, no-cache" and first.headers["etag"]
        days = [b["trading_date"] for b in first.json()["items"]]
        assert NEW_DAY.isoformat() not in days
        again = client.get(PRICES, params=RANGE, headers=headers)
        assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
        if cache == "redis":
            assert state.redis.available
            # The memory tier forgets; the shared tier (another worker's view) still has it.
            state.cache.memory.clear()
            assert client.get(PRICES, params=RANGE, headers=headers).content == first.content
            assert len(state.cache.memory) == 1

        # A write without a version bump is invisible to the cache: that is the writers' contract.
        write_bar(database_url, 1234.0, bump=False)
        assert client.get(PRICES, params=RANGE, headers=headers).content == first.content

        # The pipeline's write path (upsert + bump in one transaction): the very next answer has it.
        write_bar(database_url, 1250.0)
        after = client.get(PRICES, params=RANGE, headers=headers)
        assert after.status_code == 200 and after.headers["etag"] != first.headers["etag"]
        by_day = {b["trading_date"]: b["close"] for b in after.json()["items"]}
        assert by_day[NEW_DAY.isoformat()] == 1250.0
        detail = client.get("/api/v1/stocks/005930", headers=headers).json()
        assert detail["last_trading_date"] == NEW_DAY.isoformat() and detail["last_close"] == 1250.0

        # And again with a changed value: never the previous answer.
        write_bar(database_url, 1260.0)
        latest = client.get(PRICES, params=RANGE, headers=headers).json()
        assert {b["trading_date"]: b["close"] for b in latest["items"]}[NEW_DAY.isoformat()] == 1260.0


def test_etag_and_not_modified(seeded) -> None:  # type: ignore[no-untyped-def]
    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    first = api.client.get(PRICES, params=RANGE, headers=headers)
    etag = first.headers["etag"]

    not_modified = api.client.get(PRICES, params=RANGE, headers={**headers, "If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    weak = api.client.get(PRICES, params=RANGE, headers={**headers, "If-None-Match": f'"x", W/{etag}'})
    assert weak.status_code == 304
    other = api.client.get(PRICES, params=RANGE, headers={**headers, "If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content

    # Same answer for every caller: the ETag does not depend on who asks.
    analyst = api.headers_for(make_user(api.url, "a@example.com", "analyst"), "analyst")
    assert api.client.get(PRICES, params=RANGE, headers=analyst).headers["etag"] == etag

    write_bar(api.url, 1300.0)
    changed = api.client.get(PRICES, params=RANGE, headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag

    # Errors and per-user answers are never stored by a browser.
    assert api.client.get("/api/v1/users/me", headers=headers).headers["cache-control"] == "no-store"
    assert api.client.get("/api/v1/stocks/999999", headers=headers).headers["cache-control"] == "no-store"


def test_repeated_requests_take_the_fast_path_and_nothing_stale(seeded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    api = seeded
    state = api.state
    headers = api.headers_for(make_user(api.url, "fast@example.com"), "user")

    first = api.client.get(PRICES, params=RANGE, headers=headers)  # the normal path, which records the route
    assert first.status_code == 200 and state.fastpath.hits == 0 and len(state.fastpath) == 1
    again = api.client.get(PRICES, params=RANGE, headers=headers)
    assert state.fastpath.hits == 1
    # Byte for byte the normal path's answer, headers included (CORS and the default policy still wrap it).
    assert again.content == first.content
    assert {k: again.headers[k] for k in ("etag", "cache-control", "vary", "content-type", "content-length")} == {
        k: first.headers[k] for k in ("etag", "cache-control", "vary", "content-type", "content-length")
    }
    cors = api.client.get(PRICES, params=RANGE, headers={**headers, "Origin": "http://localhost:5173"})
    assert state.fastpath.hits == 2 and cors.headers["access-control-allow-origin"] == "http://localhost:5173"
    revalidated = api.client.get(PRICES, params=RANGE, headers={**headers, "If-None-Match": first.headers["etag"]})
    assert revalidated.status_code == 304 and state.fastpath.hits == 3

    # A new version of a dataset the answer read: the fast path steps aside and the new data shows.
    write_bar(api.url, 1400.0)
    fresh = api.client.get(PRICES, params=RANGE, headers=headers)
    assert state.fastpath.hits == 3 and fresh.headers["etag"] != first.headers["etag"]
    assert {b["trading_date"]: b["close"] for b in fresh.json()["items"]}[NEW_DAY.isoformat()] == 1400.0
    assert api.client.get(PRICES, params=RANGE, headers=headers).content == fresh.content
    assert state.fastpath.hits == 4

    # Another token (even of the same user) is checked the normal way first.
    other = api.headers_for(make_user(api.url, "other@example.com", "analyst"), "analyst")
    assert api.client.get(PRICES, params=RANGE, headers=other).content == fresh.content
    assert state.fastpath.hits == 4
    # A recorded route of another day (parameters may default to today) is not served.
    key = next(iter(state.fastpath._routes))
    state.fastpath._routes[key] = dataclasses.replace(state.fastpath._routes[key], day=date(2000, 1, 3))
    api.client.get(PRICES, params=RANGE, headers=headers)
    assert state.fastpath.hits == 4
    # An evicted memory entry: the normal path again (Redis or the database), never an error.
    state.cache.memory.clear()
    assert api.client.get(PRICES, params=RANGE, headers=headers).content == fresh.content
    # Errors are not recorded.
    missing = api.client.get("/api/v1/reports/daily/2026-10-14", headers=headers)
    assert missing.status_code == 404
    assert api.client.get("/api/v1/reports/daily/2026-10-14", headers=headers).status_code == 404

    # A token that expired after its route was recorded is refused, as on the normal path.
    monkeypatch.setattr(TokenService, "LEEWAY_SECONDS", 0)
    monkeypatch.setattr(state.tokens, "access_ttl", timedelta(seconds=1))
    short = {"Authorization": f"Bearer {state.tokens.issue(1, 'user', '').access_token}"}
    assert api.client.get(PRICES, params=RANGE, headers=short).status_code == 200
    hits = state.fastpath.hits
    time.sleep(2.1)
    expired = api.client.get(PRICES, params=RANGE, headers=short)
    assert expired.status_code == 401 and state.fastpath.hits == hits


def test_redis_stopped_mid_test(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    from api.main import create_app

    server = RedisServer()
    try:
        set_api_env(monkeypatch, database_url, server.url)
        with TestClient(create_app()) as client:
            state = client.app.state.api  # type: ignore[attr-defined]
            seed(database_url)
            headers = admin_headers(client, database_url)
            make_user(database_url, "user@example.com")

            ready = client.get("/health/ready").json()
            assert ready["checks"]["redis"] == {"ok": True, "detail": "reachable"}
            first = client.get(PRICES, params=RANGE, headers=headers)
            assert first.status_code == 200
            assert any(key.startswith(b"si:api:") for key in server.stored_keys()), "answers are shared through Redis"

            server.stop()

            # Served from memory, then (memory cleared) from the database: the same answer, no 5xx.
            started = time.monotonic()
            assert client.get(PRICES, params=RANGE, headers=headers).content == first.content
            state.cache.memory.clear()
            for _ in range(20):
                answer = client.get(PRICES, params=RANGE, headers=headers)
                assert answer.status_code == 200 and answer.content == first.content
            # Short timeouts and the circuit breaker: a dead Redis costs little.
            assert time.monotonic() - started < 5

            ready = client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"]["ok"] is False
            assert "serving from the database" in ready.json()["checks"]["redis"]["detail"]

            # New data still shows at once.
            write_bar(database_url, 1400.0)
            after = client.get(PRICES, params=RANGE, headers=headers).json()
            assert {b["trading_date"]: b["close"] for b in after["items"]}[NEW_DAY.isoformat()] == 1400.0

            # Logins still work, and the limiter still limits (in process) instead of failing.
            ok = client.post("/api/v1/auth/token", data={"username": "user@example.com", "password": PASSWORD})
            assert ok.status_code == 200
            codes = [
                client.post("/api/v1/auth/token", data={"username": "user@example.com", "password": "bad"}).status_code
                for _ in range(6)
            ]
            assert codes == [401] * 5 + [429]
            for path in ("/api/v1/dashboard/stats", "/api/v1/news", "/api/v1/predictions", "/api/v1/stocks"):
                assert client.get(path, headers=headers).status_code == 200, path
    finally:
        server.stop()


def test_version_reads_coalesce_but_never_answer_from_an_earlier_read() -> None:
    async def scenario() -> None:
        current = {"daily_bars": 1}
        gate, started = asyncio.Event(), asyncio.Event()

        async def fetch() -> dict[str, int]:
            seen = dict(current)  # the snapshot is taken when the query starts
            started.set()
            await gate.wait()
            return seen

        reader = VersionReader(fetch)
        early = asyncio.create_task(reader.read())
        await started.wait()
        current["daily_bars"] = 2  # a bump commits while the first read is in flight
        late = [asyncio.create_task(reader.read()) for _ in range(50)]
        await asyncio.sleep(0)
        gate.set()
        assert (await early) == {"daily_bars": 1}
        # Every request that arrived after the bump sees it, and they shared one query.
        assert {v["daily_bars"] for v in await asyncio.gather(*late)} == {2}
        assert reader.reads == 2

        # Failures reach the waiting requests, and the next read starts afresh.
        async def broken() -> dict[str, int]:
            raise RuntimeError("database down")

        failing = VersionReader(broken)
        with pytest.raises(RuntimeError):
            await failing.read()
        failing.fetch = fetch
        assert await failing.read() == {"daily_bars": 2}

    asyncio.run(scenario())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_dedicated_version_connection_loss_is_survived(seeded) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the versions are read on a dedicated connection; if it dies, answers stay correct."""
    import psycopg

    from api.core.state import PostgresVersions
    from stock_insights_tests.conftest import _libpq

    api = seeded
    headers = api.headers_for(make_user(api.url, "u@example.com"), "user")
    assert isinstance(api.state.versions.fetch, PostgresVersions)
    assert api.client.get(PRICES, params=RANGE, headers=headers).status_code == 200
    with psycopg.connect(_libpq(api.url), autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query = %s AND pid <> pg_backend_pid()",
            (PostgresVersions.SQL,),
        ).fetchall()
    assert killed, "the dedicated version connection was found"
    write_bar(api.url, 1500.0)
    after = api.client.get(PRICES, params=RANGE, headers=headers)
    assert after.status_code == 200
    assert {b["trading_date"]: b["close"] for b in after.json()["items"]}[NEW_DAY.isoformat()] == 1500.0
    write_bar(api.url, 1510.0)  # and the next read reconnects
    latest = api.client.get(PRICES, params=RANGE, headers=headers).json()
    assert {b["trading_date"]: b["close"] for b in latest["items"]}[NEW_DAY.isoformat()] == 1510.0
