"""The API's list routes over a full-scale PostgreSQL database, uncached, 64 connections (issue 15, item 5).

    python -m benchmarks.api_scale [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--stocks 2700] [--sessions 250] [--models 4] [--news-days 30] [--articles-per-day 20000]
        [--duration 6] [--connections 64] [--routes news,predictions,...] [--keep] [--database URL]

One command: it creates a scratch database on the server (``api_scale_<hex>``), migrates it with Alembic,
bulk-loads a whole market with COPY (2,700 stocks, a year of daily bars, 30 days of 20,000 articles with stock
links and sources, a year of filings, predictions and evaluations of every stock every session for ``--models``
models, leaderboard snapshots, a user's notifications), starts the API under uvicorn (one worker, uvloop +
httptools) with the **response cache switched off** (every answer is built from the database: the version read
still happens, the in-process and Redis tiers never hit), loads every list route in turn from a second process
over ``--connections`` keep-alive connections (closed loop, the raw HTTP/1.1 client of ``api_load.py``), prints
p50/p95/p99 per route with the load average beside it, and drops the database (``--keep`` leaves it;
``--database`` reuses one and skips the build).

Parameters vary per request (stock code, date, model, page cursor) so the database does not answer the same query
all the time either. Deep pages use cursors collected by walking the list before the load starts.
The baseline measured in the same run is the bare endpoint (a constant, same app and middleware): each route's
ratio is its requests/s over the bare endpoint's. Each route also gets the database's own execution time of its
main query (``EXPLAIN ANALYZE``, one sample, median of 5) so that index and query-shape effects are visible
apart from the server's Python cost and the queueing of 64 closed-loop connections (Little's law: p50 is about
64 / throughput whatever the query costs).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/api_scale.py` as well as `python -m benchmarks.api_scale`
    sys.path.insert(0, str(ROOT))

from benchmarks.api_load import _cpu_seconds, _free_port, _RawConnection  # noqa: E402

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SOURCES = ("naver", "hankyung", "maeil")


def load_average() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:  # pragma: no cover - not Linux
        return "?"


# ---------------------------------------------------------------------------------------------
# The app without its response cache (uvicorn --factory)
# ---------------------------------------------------------------------------------------------
def uncached_app():  # type: ignore[no-untyped-def]
    """The real app with both cache tiers switched off and the bare endpoint added.

    ``ResponseCache.get`` never finds anything and ``set`` keeps nothing, so every answer is built from the
    database (and the fast path, which serves from the memory tier, never hits either). Everything else,
    including the per-request read of ``dataset_versions``, is the production path.
    """
    from api.core.cache import ResponseCache
    from benchmarks.api_load import bench_app

    async def get(self: ResponseCache, key: str) -> None:
        return None

    async def set_(self: ResponseCache, key: str, answer: object) -> None:
        return None

    ResponseCache.get = get  # type: ignore[method-assign,assignment]
    ResponseCache.set = set_  # type: ignore[method-assign,assignment]
    return bench_app()


# ---------------------------------------------------------------------------------------------
# Building the database
# ---------------------------------------------------------------------------------------------
def trading_days(n: int, end: date) -> list[date]:
    days: list[date] = []
    day = end
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def _copy(conn: Any, table: str, columns: tuple[str, ...], lines: Iterator[str], batch: int = 200_000) -> int:
    """COPY text-format lines (tab-separated, newline-terminated) into ``table``; returns the rows sent."""
    n = 0
    quoted = ", ".join(f'"{c}"' for c in columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            n += 1
            if n % batch == 0:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())
    return n


def build(url: str, *, stocks: int, sessions: int, models: int, news_days: int, per_day: int) -> dict[str, Any]:
    """Migrate and bulk-load the whole market; returns row counts and timings."""
    import numpy as np
    import psycopg
    from sqlalchemy.engine import make_url

    from stock_insights.metrics.leaderboard import build_leaderboards, to_jsonable
    from stock_insights.sandbox.listings import simulated_listings
    from stock_insights.storage.migrate import upgrade

    started = time.perf_counter()
    upgrade(url)
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    rng = np.random.default_rng(15)
    listings = [item for item in simulated_listings() if len(item.code) == 6 and item.code.isdigit()][:stocks]
    codes = [item.code for item in listings]
    end = date.today() - timedelta(days=1)
    days = trading_days(sessions, end)
    now = datetime.now(UTC).isoformat()
    counts: dict[str, int] = {}
    timings: dict[str, float] = {}

    def stamp(label: str, t0: float) -> None:
        timings[label] = time.perf_counter() - t0

    with psycopg.connect(libpq, autocommit=False) as conn:
        t0 = time.perf_counter()
        counts["stocks"] = _copy(
            conn,
            "stocks",
            ("code", "name", "name_en", "market", "dart_corp_code", "aliases", "active", "created_at", "updated_at"),
            (
                f"{s.code}\t{s.name}\t{s.name_en}\t{s.market}\t{i:08d}\t"
                f"{json.dumps(list(s.aliases), ensure_ascii=False)}\tt\t{now}\t{now}\n"
                for i, s in enumerate(listings)
            ),
        )

        def bars() -> Iterator[str]:
            closes = rng.uniform(1_000, 200_000, len(codes))
            for day in days:
                closes = closes * np.exp(rng.normal(0, 0.02, len(codes)))
                volume = rng.integers(1_000, 5_000_000, len(codes))
                d = day.isoformat()
                for code, close, vol in zip(codes, closes.round(0), volume, strict=True):
                    yield (
                        f"{code}\t{d}\tt\t{close}\t{close * 1.02:.0f}\t{close * 0.98:.0f}\t{close}\t{vol}\t"
                        f"{int(vol * close)}\tf\tkis\t{now}\n"
                    )

        counts["daily_bars"] = _copy(
            conn,
            "daily_bars",
            (
                "code", "trading_date", "adjusted", "open", "high", "low", "close", "volume", "trade_value",
                "revised", "source", "fetched_at",
            ),
            bars(),
        )  # fmt: skip
        stamp("stocks + daily bars", t0)

        # News: per_day articles a day over the last news_days sessions, each with one to three sources and one
        # to three linked stocks (popular stocks more often: a Zipf-like draw).
        t0 = time.perf_counter()
        news_sessions = days[-news_days:]
        n_articles = len(news_sessions) * per_day
        weights = 1.0 / np.arange(1, len(codes) + 1) ** 0.8
        weights /= weights.sum()
        link_codes = rng.choice(len(codes), size=(n_articles, 3), p=weights)
        n_links = rng.integers(1, 4, n_articles)
        n_sources = rng.integers(1, 4, n_articles)
        published: list[str] = []
        for day in news_sessions:
            base = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=9)
            seconds = np.sort(rng.integers(0, 86_400, per_day))
            published.extend((base + timedelta(seconds=int(s))).isoformat() for s in seconds)

        def articles() -> Iterator[str]:
            for i, at in enumerate(published, start=1):
                yield (
                    f"{i}\thttps://news.example.com/a/{i}\t기사 {i} 제목 실적 발표\t\\N\t요약 {i}\tko\t{at}\t{at}\tf"
                    f"\t{i:064x}\n"
                )

        counts["news_articles"] = _copy(
            conn,
            "news_articles",
            (
                "id", "canonical_url", "title", "body", "summary", "language", "published_at", "first_seen_at",
                "first_seen_estimated", "content_hash",
            ),
            articles(),
        )  # fmt: skip

        def sources() -> Iterator[str]:
            for i, at in enumerate(published, start=1):
                for source in SOURCES[: n_sources[i - 1]]:
                    yield f"{i}\t{source}\thttps://{source}.example.com/{i}\t{i}\t{at}\t{at}\t{at}\n"

        counts["news_article_sources"] = _copy(
            conn,
            "news_article_sources",
            ("article_id", "source", "source_url", "source_item_id", "fetched_at", "published_at", "first_seen_at"),
            sources(),
        )

        def links() -> Iterator[str]:
            for i in range(n_articles):
                for j in sorted(set(link_codes[i, : n_links[i]].tolist())):
                    yield f"{i + 1}\t{codes[j]}\t{{}}\t0.9\talias\n"

        counts["news_stock_links"] = _copy(
            conn, "news_stock_links", ("article_id", "code", "evidence", "confidence", "method"), links()
        )
        conn.execute("SELECT setval(pg_get_serial_sequence('news_articles', 'id'), %s)", (n_articles,))
        stamp("news", t0)

        t0 = time.perf_counter()

        def filings() -> Iterator[str]:
            per = 1_000
            for day in days:
                d = day.strftime("%Y%m%d")
                picks = rng.choice(len(codes), size=per, p=weights)
                for k, j in enumerate(picks):
                    at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC).isoformat()
                    yield (
                        f"{d}{k:06d}\t{j:08d}\t{listings[j].name}\t{codes[j]}\tY\t주요사항보고서\t{listings[j].name}"
                        f"\t{day.isoformat()}\t\thttps://dart.example.com/{d}{k:06d}\t{at}\tf\tf\t{at}\n"
                    )

        counts["disclosures"] = _copy(
            conn,
            "disclosures",
            (
                "rcept_no", "corp_code", "corp_name", "code", "corp_cls", "report_name", "filer_name", "receipt_date",
                "remarks", "viewer_url", "first_seen_at", "first_seen_estimated", "is_correction", "updated_at",
            ),
            filings(),
        )  # fmt: skip
        stamp("disclosures", t0)

        # Predictions of every stock for every session by every model (horizon 1), each scored but the last day.
        t0 = time.perf_counter()
        model_names = [f"model-{m}" for m in range(models)]

        def predictions() -> Iterator[str]:
            i = 0
            for day in days:
                as_of = (datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=16)).isoformat()
                d = day.isoformat()
                for model in model_names:
                    probs = rng.uniform(0.3, 0.7, len(codes)).round(4)
                    for code, p in zip(codes, probs, strict=True):
                        i += 1
                        direction = "up" if p >= 0.5 else "down"
                        yield (
                            f"{i}\t{model}\t{code}\t{d}\t1\t{as_of}\t{direction}\t{p}\t{(p - 0.5) / 50:.5f}\t{{}}"
                            f"\t{{}}\tv1\t0\t0\t0\t0\tf\t{as_of}\n"
                        )

        counts["predictions"] = _copy(
            conn,
            "predictions",
            (
                "id", "model", "code", "target_date", "horizon", "as_of", "direction", "prob_up", "expected_return",
                "rationale", "cited_inputs", "prompt_version", "prompt_tokens", "completion_tokens", "cached_tokens",
                "cost_usd", "replay", "created_at",
            ),
            predictions(),
        )  # fmt: skip
        conn.execute("SELECT setval(pg_get_serial_sequence('predictions', 'id'), %s)", (counts["predictions"],))

        def evaluations() -> Iterator[str]:
            i = 0
            per_day = len(codes) * len(model_names)
            for n, day in enumerate(days):
                previous = days[n - 1] if n else day - timedelta(days=1)
                returns = rng.normal(0, 0.02, per_day).round(5)
                for r in returns:
                    i += 1
                    if n == len(days) - 1:
                        yield f"{i}\tpending\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{now}\n"
                        continue
                    up = "up" if r > 0 else "down"
                    yield (
                        f"{i}\tscored\t{previous}\t{day}\t100\t{100 * (1 + r):.2f}\t{r}\t0.001\t{r - 0.001:.5f}\t{up}"
                        f"\t{'t' if r > 0 else 'f'}\t0.25\t0.69\t{abs(r):.5f}\t{now}\n"
                    )

        counts["evaluations"] = _copy(
            conn,
            "evaluations",
            (
                "prediction_id", "status", "entry_date", "exit_date", "entry_price", "exit_price", "realized_return",
                "market_return", "excess_return", "realized_direction", "hit", "brier", "log_loss", "return_error",
                "scored_at",
            ),
            evaluations(),
        )  # fmt: skip
        stamp("predictions + evaluations", t0)

        # Leaderboard snapshots: a real board (computed on a sample: its size does not depend on the stock count)
        # stored for every session and window, as the asset stores them.
        t0 = time.perf_counter()
        from benchmarks.leaderboard import synthetic_rows

        boards = build_leaderboards(synthetic_rows(models, sessions, 60))
        payloads = {w: to_jsonable(b) for w, b in boards.items()}
        for p in payloads.values():
            p["horizon_5"] = json.loads(json.dumps(p))
        counts["leaderboards"] = _copy(
            conn,
            "leaderboards",
            ("as_of_date", "window", "payload", "markdown", "created_at"),
            (
                f"{day.isoformat()}\t{w}\t{json.dumps(payloads[w]).replace(chr(92), chr(92) * 2)}\t# board\t{now}\n"
                for day in days
                for w in payloads
            ),
        )
        conn.execute(
            "INSERT INTO dataset_versions (dataset, version, updated_at) SELECT d, 1, now() FROM unnest(%s::text[]) d "
            "ON CONFLICT (dataset) DO UPDATE SET version = dataset_versions.version + 1",
            (["stocks", "daily_bars", "news", "disclosures", "predictions", "evaluations", "leaderboard"],),
        )
        stamp("leaderboards", t0)
        conn.commit()
        t0 = time.perf_counter()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        stamp("vacuum analyze", t0)
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {
        "counts": counts,
        "timings": timings,
        "seconds": time.perf_counter() - started,
        "bytes": size,
        "codes": codes,
        "days": days,
        "news_days": news_sessions,
        "models": model_names,
    }


def seed_notifications(url: str, email: str, n: int) -> int:
    """``n`` notifications for the benchmark's user, a tenth of them unread, plus as many for other users."""
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        user_id = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()[0]  # type: ignore[index]
        others = conn.execute(
            "INSERT INTO users (email, password_hash, role, created_at) "
            "SELECT 'other' || g || '-' || %s || '@example.com', 'x', 'user', now() FROM generate_series(1, 20) g "
            "RETURNING id",
            (email,),
        ).fetchall()
        start = datetime.now(UTC) - timedelta(days=365)
        owners = [user_id] + [o[0] for o in others]

        def rows() -> Iterator[str]:
            for owner in owners:
                for k in range(n):
                    at = (start + timedelta(minutes=k * 5)).isoformat()
                    read = "\\N" if k % 10 == 0 else at
                    yield f"{owner}\tevent-{k}\tdisclosure\t005930\t알림 {k}\t본문\t{at}\t{read}\n"

        sent = _copy(
            conn, "notifications", ("user_id", "event_key", "kind", "code", "title", "body", "created_at", "read_at"),
            rows(),
        )  # fmt: skip
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE notifications")
    return sent


@contextmanager
def scratch_database(server: str, keep: bool) -> Iterator[str]:
    import psycopg
    from sqlalchemy.engine import make_url

    parsed = make_url(server)
    libpq = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"api_scale_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            with psycopg.connect(libpq, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped database {name}")


# ---------------------------------------------------------------------------------------------
# Targets: what each route is asked
# ---------------------------------------------------------------------------------------------
def targets(data: dict[str, Any], cursors: dict[str, list[str]]) -> dict[str, Callable[[random.Random], str]]:
    codes: list[str] = data["codes"]
    days: list[date] = data["days"]
    news_days: list[date] = data["news_days"]
    models: list[str] = data["models"]
    hot = codes[:50]  # the most linked / most filed (the Zipf draw favours the first codes)

    def code(r: random.Random) -> str:
        return r.choice(codes)

    def cursor_of(name: str, r: random.Random) -> str:
        found = cursors.get(name) or [""]
        return r.choice(found)

    def quarter(r: random.Random) -> str:
        end = r.choice(days[len(days) // 4 :])
        return f"start={(end - timedelta(days=91)).isoformat()}&end={end.isoformat()}"

    return {
        "bare": lambda r: "/bench/bare",
        "stocks": lambda r: "/api/v1/stocks?limit=100",
        "stocks, page (cursor)": lambda r: f"/api/v1/stocks?limit=100&cursor={cursor_of('stocks', r)}",
        "stock detail": lambda r: f"/api/v1/stocks/{code(r)}",
        "prices 1d (quarter)": lambda r: f"/api/v1/stocks/{code(r)}/prices?interval=1d&{quarter(r)}",
        "news": lambda r: "/api/v1/news?limit=20",
        "news, page (cursor)": lambda r: f"/api/v1/news?limit=20&cursor={cursor_of('news', r)}",
        "news?code (any stock)": lambda r: f"/api/v1/news?limit=20&code={code(r)}",
        "news?code (hot stock)": lambda r: f"/api/v1/news?limit=20&code={r.choice(hot)}",
        "news?source": lambda r: f"/api/v1/news?limit=20&source={r.choice(SOURCES)}",
        "news?since": lambda r: f"/api/v1/news?limit=20&since={r.choice(news_days).isoformat()}T00:00:00%2B00:00",
        "disclosures": lambda r: "/api/v1/disclosures?limit=20",
        "disclosures, page (cursor)": lambda r: f"/api/v1/disclosures?limit=20&cursor={cursor_of('disclosures', r)}",
        "disclosures?code": lambda r: f"/api/v1/disclosures?limit=20&code={code(r)}",
        "predictions": lambda r: "/api/v1/predictions?limit=100&model=" + r.choice(models),
        "predictions, page (cursor)": lambda r: f"/api/v1/predictions?limit=100&cursor={cursor_of('predictions', r)}",
        "predictions?code": lambda r: f"/api/v1/predictions?limit=100&code={code(r)}",
        "predictions?date": lambda r: f"/api/v1/predictions?limit=100&date={r.choice(days).isoformat()}",
        "predictions?code&date": lambda r: f"/api/v1/predictions?code={code(r)}&date={r.choice(days).isoformat()}",
        "leaderboard": lambda r: (
            f"/api/v1/evaluations/leaderboard?window={r.choice((20, 60, 250))}&horizon={r.choice((1, 5))}"
        ),
        "leaderboard?date": lambda r: f"/api/v1/evaluations/leaderboard?window=20&date={r.choice(days).isoformat()}",
        "notifications": lambda r: "/api/v1/notifications?limit=20",
        "notifications, page (cursor)": lambda r: (
            f"/api/v1/notifications?limit=20&cursor={cursor_of('notifications', r)}"
        ),
        "notifications?unread": lambda r: "/api/v1/notifications?limit=20&unread=true",
    }


def collect_cursors(base: str, token: str, pages: int) -> dict[str, list[str]]:
    """Walk each cursor list ``pages`` pages deep (spread: every page kept) before the load starts."""
    import httpx

    lists = {
        "stocks": "/api/v1/stocks?limit=100",
        "news": "/api/v1/news?limit=20",
        "disclosures": "/api/v1/disclosures?limit=20",
        "predictions": "/api/v1/predictions?limit=100",
        "notifications": "/api/v1/notifications?limit=20",
    }
    out: dict[str, list[str]] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        for name, path in lists.items():
            found: list[str] = []
            cursor = None
            for _ in range(pages):
                answer = client.get(path + (f"&cursor={cursor}" if cursor else ""))
                if answer.status_code != 200:
                    break
                cursor = answer.json().get("next_cursor")
                if not cursor:
                    break
                found.append(cursor)
            out[name] = found
    return out


# ---------------------------------------------------------------------------------------------
# The load generator (its own process: `api_scale.py _generate ...`)
# ---------------------------------------------------------------------------------------------
async def generate(
    base: str, token: str, spec: dict[str, Any], route: str, duration: float, connections: int
) -> dict[str, Any]:
    paths = targets(spec["data"], spec["cursors"])[route]
    headers = {"Authorization": f"Bearer {token}"} if route != "bare" else {}
    host, port = base.removeprefix("http://").split(":")
    raw = [_RawConnection(host, int(port), headers) for _ in range(connections)]
    rng = random.Random(hash(route) & 0xFFFF)
    latencies: list[float] = []
    errors = 0
    sizes: list[int] = []
    statuses: dict[int, int] = {}

    async def one(i: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            status, length = await raw[i].get(paths(rng))
            statuses[status] = statuses.get(status, 0) + 1
            sizes.append(length)
            ok = status == 200
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            raw[i].close()
            raw[i] = _RawConnection(host, int(port), headers)
        latencies.append(time.perf_counter() - started)
        errors += not ok

    try:
        await asyncio.gather(*(one(i) for i in range(connections)))  # warm-up: connections open
        latencies.clear()
        sizes.clear()
        deadline = time.perf_counter() + duration

        async def worker(i: int) -> None:
            while time.perf_counter() < deadline:
                await one(i)

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - began
    finally:
        for connection in raw:
            connection.close()
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float | None:
        return latencies[min(n - 1, int(n * q))] * 1000 if n else None

    return {
        "route": route,
        "requests": n,
        "errors": errors,
        "statuses": statuses,
        "rps": n / elapsed,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "mean_bytes": statistics.mean(sizes) if sizes else 0,
        "load": load_average(),
    }


# ---------------------------------------------------------------------------------------------
# Database-side time of each route's main query
# ---------------------------------------------------------------------------------------------
def query_times(url: str, data: dict[str, Any], user_email: str) -> dict[str, float]:
    """EXPLAIN ANALYZE execution time (ms, median of 5) of the statement each route sends, as compiled by
    SQLAlchemy for PostgreSQL (bound literals)."""
    import psycopg
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.engine import make_url

    from api import queries as q
    from stock_insights.predictors import store as f

    codes: list[str] = data["codes"]
    days: list[date] = data["days"]
    rng = random.Random(1)
    statements: dict[str, Any] = {}
    if hasattr(q, "stocks_page_query"):
        statements["stocks"] = q.stocks_page_query(include_inactive=False, after=None, limit=101)
    statements["news"] = q.news_page_query(code=None, source=None, since=None, after=None, limit=21)
    statements["news?code (any stock)"] = q.news_page_query(
        code=codes[-1], source=None, since=None, after=None, limit=21
    )
    statements["news?code (hot stock)"] = q.news_page_query(
        code=codes[0], source=None, since=None, after=None, limit=21
    )
    statements["news?source"] = q.news_page_query(code=None, source="maeil", since=None, after=None, limit=21)
    statements["disclosures?code"] = q.disclosures_page_query(code=codes[-1], since=None, after=None, limit=21)
    statements["predictions (model)"] = f.latest_predictions_query(model=data["models"][-1]).limit(101)
    statements["predictions"] = f.latest_predictions_query().limit(101)
    statements["predictions?code"] = f.latest_predictions_query(code=codes[-1]).limit(101)
    statements["predictions?date"] = f.latest_predictions_query(target_date=rng.choice(days)).limit(101)
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    out: dict[str, float] = {}
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    with psycopg.connect(libpq, autocommit=True) as conn:
        for name, stmt in statements.items():
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            samples = []
            for _ in range(5):
                plan = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}").fetchone()[0]  # type: ignore[index]
                samples.append(float(plan[0]["Execution Time"]))
            out[name] = statistics.median(samples)
    return out


# ---------------------------------------------------------------------------------------------
# The orchestrator
# ---------------------------------------------------------------------------------------------
def serve(url: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "benchmarks.api_scale:uncached_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--log-level", "warning", "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.terminate()
            raise RuntimeError("the API did not start")
        time.sleep(0.2)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "codes": data["codes"],
        "days": [d.isoformat() for d in data["days"]],
        "news_days": [d.isoformat() for d in data["news_days"]],
        "models": data["models"],
    }


def _from_jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "codes": data["codes"],
        "days": [date.fromisoformat(d) for d in data["days"]],
        "news_days": [date.fromisoformat(d) for d in data["news_days"]],
        "models": data["models"],
    }


def describe(url: str) -> dict[str, Any]:
    """What an existing database holds (``--database``): codes, sessions, news days, models."""
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM stocks ORDER BY code")]
        days = [r[0] for r in conn.execute("SELECT DISTINCT trading_date FROM daily_bars ORDER BY 1")]
        news_days = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT (published_at AT TIME ZONE 'Asia/Seoul')::date FROM news_articles ORDER BY 1"
            )
        ]
        models = [r[0] for r in conn.execute("SELECT DISTINCT model FROM predictions ORDER BY 1")]
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in (
                "stocks", "daily_bars", "news_articles", "news_article_sources", "news_stock_links", "disclosures",
                "predictions", "evaluations", "leaderboards",
            )
        }  # fmt: skip
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {"codes": codes, "days": days, "news_days": news_days, "models": models, "counts": counts, "bytes": size}


def measure(
    url: str, data: dict[str, Any], routes: list[str], duration: float, connections: int
) -> list[dict[str, Any]]:
    import httpx

    server, base = serve(url)
    try:
        suffix = secrets.token_hex(3)
        account = {"email": f"bench-{suffix}@example.com", "password": "benchmark-password"}
        httpx.post(f"{base}/api/v1/auth/register", json=account, timeout=30).raise_for_status()
        seed_notifications(url, account["email"], 20_000)
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": account["email"], "password": account["password"]},
            timeout=30,
        ).json()["access_token"]
        cursors = collect_cursors(base, token, pages=30)
        spec = {"data": _jsonable(data), "cursors": cursors}
        spec_file = Path(f"/tmp/api_scale_{suffix}.json")
        spec_file.write_text(json.dumps(spec))
        results = []
        for route in ["bare", *routes]:
            cpu_before = _cpu_seconds(server.pid)
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.api_scale", "_generate", base, token, str(spec_file), route,
                 str(duration), str(connections)],
                capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            result = json.loads(done.stdout)
            result["server_cpu_ms"] = (
                (_cpu_seconds(server.pid) - cpu_before) / max(1, int(result["requests"]) + connections) * 1e3
            )
            results.append(result)
            print(_line(result, results[0]), flush=True)
        spec_file.unlink(missing_ok=True)
        return results
    finally:
        server.terminate()
        server.wait(timeout=20)


HEADER = (
    f"{'route':<30} {'req/s':>7} {'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} "
    f"{'mean B':>8} {'CPU ms/req':>10} {'load':>5}"
)


def _line(r: dict[str, Any], bare: dict[str, Any]) -> str:
    ratio = r["rps"] / bare["rps"] if bare["rps"] else float("nan")
    flag = "" if r["errors"] == 0 else f"  statuses {r['statuses']}"
    return (
        f"{r['route']:<30} {r['rps']:>7.0f} {ratio:>6.2f} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} "
        f"{r['errors']:>6} {r['mean_bytes']:>8.0f} {r['server_cpu_ms']:>10.2f} {r['load']:>5}{flag}"
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        base, token, spec_path, route, duration, connections = sys.argv[2:8]
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover
            pass
        spec = json.loads(Path(spec_path).read_text())
        spec["data"] = _from_jsonable(spec["data"])
        print(json.dumps(asyncio.run(generate(base, token, spec, route, float(duration), int(connections)))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=DEFAULT_SERVER, help="server URL to create the scratch database on")
    parser.add_argument("--database", default="", help="an already built database to measure (no build, no drop)")
    parser.add_argument("--keep", action="store_true", help="leave the scratch database")
    parser.add_argument("--stocks", type=int, default=2700)
    parser.add_argument("--sessions", type=int, default=250)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--news-days", type=int, default=30)
    parser.add_argument("--articles-per-day", type=int, default=20_000)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of load per route")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--routes", default="", help="comma-separated route names (default: all)")
    args = parser.parse_args()
    routes = [r for r in targets({"codes": [], "days": [], "news_days": [], "models": []}, {}) if r != "bare"]
    if args.routes:
        routes = [r for r in routes if r in {x.strip() for x in args.routes.split(",")}]

    def run(url: str, built: dict[str, Any] | None) -> None:
        data = built or describe(url)
        if built is not None:
            print(f"built in {built['seconds']:.0f} s (load {load_average()}): "
                  + ", ".join(f"{k} {v:.0f} s" for k, v in built["timings"].items()))  # fmt: skip
        info = describe(url)
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in info["counts"].items()))
        print(f"database size: {info['bytes'] / 2**30:.2f} GiB")
        print(f"\ndatabase execution time of the main query (EXPLAIN ANALYZE, median of 5; load {load_average()}):")
        for name, ms in query_times(url, data, "").items():
            print(f"  {name:<28} {ms:8.2f} ms")
        print(
            f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, {args.connections} connections "
            f"(closed loop, raw client), one uvicorn worker, response cache off, {args.duration:.0f} s per route; "
            "ratio = req/s over the bare endpoint's"
        )
        print(HEADER)
        measure(url, data, routes, args.duration, args.connections)

    if args.database:
        run(args.database, None)
        return 0
    with scratch_database(args.postgres, args.keep) as url:
        built = build(
            url,
            stocks=args.stocks,
            sessions=args.sessions,
            models=args.models,
            news_days=args.news_days,
            per_day=args.articles_per_day,
        )
        run(url, built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
