"""Load test of the API: a cached prices answer, an uncached one, and a bare endpoint, in one run.

    python benchmarks/api_load.py [--duration 10] [--connections 64] [--redis redis://127.0.0.1:6379/13]
                                  [--postgres URL] [--client raw|httpx]

The API runs under uvicorn in a subprocess on loopback (one worker, uvloop + httptools) against a
fresh SQLite file (or PostgreSQL database) seeded with ten years of daily bars; the load generator is a
second process holding 64 keep-alive connections, closed loop: by default a minimal HTTP/1.1 client on
asyncio streams (``raw``), cheap enough that the server saturates first; ``httpx`` (one AsyncClient
per connection) saturates the client's own core first. Four targets, ``--duration`` seconds
each, one after the other:

  (c) bare      GET /bench/bare: a plain FastAPI route returning a constant, same app and middleware
  (a) cached    GET /api/v1/stocks/005930/prices for the last quarter (about 64 bars, 8 KB),
                authenticated: every request is a hit, served by the fast path (``api/core/fastpath.py``:
                same token, same request line, same dataset versions)
  (a') routed   the same cached answer behind a request line never seen before (an ignored ``n=``
                parameter): the normal path through FastAPI's routing and validation to the memory tier
  (b) uncached  the same route, a quarter ending on a different day each request: every request
                misses and reads the database (versions are read per request, as always)

Printed per target: requests/s, p50/p99 latency, errors, the server's CPU time per request (from
/proc, so it does not depend on whether the client or the server saturates first), and the ratio
of requests/s to the bare endpoint's. Goal (issue 8): cached >= 0.7 of bare, cached p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRICES = "/api/v1/stocks/005930/prices"
log = logging.getLogger("api_load")


def bench_app():  # type: ignore[no-untyped-def]
    """The real app plus the bare endpoint (uvicorn --factory)."""
    from api.main import create_app

    app = create_app()

    @app.get("/bench/bare", include_in_schema=False)
    async def bare() -> dict[str, bool]:
        return {"ok": True}

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(url: str) -> None:
    from stock_insights.clients.kis import DailyBarRow
    from stock_insights.market.store import upsert_daily_bars, upsert_stocks
    from stock_insights.storage.datasets import Dataset
    from stock_insights.storage.db import bump_dataset_version, make_engine, session_scope
    from stock_insights.storage.migrate import upgrade
    from stock_insights.universe import KNOWN_LISTINGS

    upgrade(url)
    engine = make_engine(url)
    # Ten years of weekdays up to today, so that every range the load asks for has bars.
    days = [date.today() - timedelta(days=i) for i in range(3660)][::-1]
    days = [d for d in days if d.weekday() < 5]
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"]])
        bars = [
            DailyBarRow(
                trading_date=d,
                open=70000,
                high=71000,
                low=69000,
                close=70000 + (i % 50) * 10,
                volume=10**6,
                trade_value=7 * 10**10,
            )
            for i, d in enumerate(days)
        ]
        upsert_daily_bars(session, "005930", bars, adjusted=True, source="kis")
        bump_dataset_version(session, Dataset.DAILY_BARS)
    engine.dispose()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


# ---------------------------------------------------------------------------------------------
# The load generator (runs in its own process: `api_load.py _generate ...`)
# ---------------------------------------------------------------------------------------------
class _RawConnection:
    """A minimal keep-alive HTTP/1.1 GET client on asyncio streams (the ``raw`` load generator).

    It costs the generator a fraction of what httpx does per request, so that with two processes on
    two cores it is the server, not the client, that saturates. Enough HTTP for these answers:
    status line, headers, a Content-Length body.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, int]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
        await self.reader.readexactly(length)
        return status, length

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _generate(
    base: str, target: str, token: str, duration: float, connections: int, client_kind: str
) -> dict[str, object]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if target != "bare" else {}
    latencies: list[float] = []
    errors = 0
    body_bytes = 0
    counter = 0
    today = date.today()
    # A quarter of daily bars (about 64 bars, 8 KB of JSON): what a chart asks for.
    quarter = f"{PRICES}?interval=1d&start={(today - timedelta(days=91)).isoformat()}&end={today.isoformat()}"

    def path() -> str:
        nonlocal counter
        counter += 1
        if target == "bare":
            return "/bench/bare"
        if target == "cached":
            return quarter
        if target == "routed":
            # The same answer (an unknown query parameter is ignored, so the cache key is the same) but
            # a request line never seen before: the fast path misses and FastAPI routes, validates and
            # serves it from the memory tier.
            return f"{quarter}&n={counter}"
        # A distinct (start, end) each time, also a quarter: a key nobody asked for before, so a miss.
        end = today - timedelta(days=counter % 3000)
        start = end - timedelta(days=91 + counter // 3000)
        return f"{PRICES}?interval=1d&start={start.isoformat()}&end={end.isoformat()}"

    # One client per connection: a single httpx client sharing a 64-connection pool spends more time
    # in its pool than the server spends answering (measured: ~160 req/s against ~1000 this way).
    if client_kind == "httpx":
        clients = [httpx.AsyncClient(base_url=base, headers=headers, timeout=30) for _ in range(connections)]

        async def get(i: int) -> tuple[int, int]:
            answer = await clients[i].get(path())
            return answer.status_code, len(answer.content)
    else:
        host, port = base.removeprefix("http://").split(":")
        raw = [_RawConnection(host, int(port), headers) for _ in range(connections)]

        async def get(i: int) -> tuple[int, int]:
            return await raw[i].get(path())

    try:
        # Warm up: connections open, the cached answer stored.
        await asyncio.gather(*(get(i) for i in range(connections)))
        deadline = time.perf_counter() + duration

        async def worker(i: int) -> None:
            nonlocal errors, body_bytes
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status, body_bytes = await get(i)
                    ok = status == 200
                except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

        began = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(connections)))
        elapsed = time.perf_counter() - began
    finally:
        if client_kind == "httpx":
            await asyncio.gather(*(c.aclose() for c in clients))
        else:
            for connection in raw:
                connection.close()
    latencies.sort()
    n = len(latencies)
    return {
        "target": target,
        "requests": n,
        "errors": errors,
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000 if n else None,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "body_bytes": body_bytes,
    }


# ---------------------------------------------------------------------------------------------
# The orchestrator
# ---------------------------------------------------------------------------------------------
@contextmanager
def _database(postgres: str) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the given PostgreSQL server (dropped after)."""
    if not postgres:
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='api_load_')) / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres)
    libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"api_load_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(
    duration: float, connections: int, redis_url: str, postgres: str = "", client: str = "raw"
) -> list[dict[str, object]]:
    with _database(postgres) as url:
        return _run(url, duration, connections, redis_url, client)


def _run(url: str, duration: float, connections: int, redis_url: str, client: str) -> list[dict[str, object]]:
    import httpx

    _seed(url)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "benchmarks.api_load:bench_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--log-level", "warning", "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the API did not start")
            time.sleep(0.2)
        account = {"email": "bench@example.com", "password": "benchmark-password"}
        httpx.post(f"{base}/api/v1/auth/register", json=account, timeout=30)
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"username": account["email"], "password": account["password"]},
            timeout=30,
        ).json()["access_token"]

        results = []
        for target in ("bare", "cached", "routed", "uncached"):
            cpu_before = _cpu_seconds(server.pid)
            done = subprocess.run(
                [sys.executable, __file__, "_generate", base, target, token, str(duration), str(connections), client],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env=env,
            )
            result = json.loads(done.stdout)
            result["server_cpu_us_per_request"] = (
                (_cpu_seconds(server.pid) - cpu_before) / max(1, int(result["requests"]) + connections) * 1e6
            )
            results.append(result)
        return results
    finally:
        server.terminate()
        server.wait(timeout=20)


def report(results: list[dict[str, object]], label: str) -> None:
    bare = next(r for r in results if r["target"] == "bare")
    print(f"\n{label}")
    print(
        f"{'target':<10} {'req/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'body B':>7} "
        f"{'server CPU us/req':>18}"
    )
    for r in results:
        ratio = float(r["rps"]) / float(bare["rps"])  # type: ignore[arg-type]
        print(
            f"{r['target']:<10} {r['rps']:>8.0f} {ratio:>6.2f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
            f"{r['errors']:>6} {r['body_bytes']:>7} {r['server_cpu_us_per_request']:>18.0f}"
        )


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        base, target, token, duration, connections, client = sys.argv[2:8]
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover - uvloop is a uvicorn[standard] dependency
            pass
        result = asyncio.run(_generate(base, target, token, float(duration), int(connections), client))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per target")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--redis", default="", help="REDIS_URL for the API (default: in-process cache only)")
    parser.add_argument(
        "--postgres", default="", help="a PostgreSQL server URL to create a scratch database on (default: SQLite)"
    )
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="raw",
        help="load generator: httpx (one AsyncClient per connection) or raw (minimal HTTP/1.1 on asyncio streams, "
        "cheap enough that the server saturates first)",
    )
    args = parser.parse_args()
    started = datetime.now(UTC)
    results = run(args.duration, args.connections, args.redis, args.postgres, args.client)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    label = (
        f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs (load {load} after the run), "
        f"{args.connections} connections ({args.client} client), {'PostgreSQL' if args.postgres else 'SQLite'}, "
        + (f"REDIS_URL={args.redis}" if args.redis else "no Redis (in-process cache)")
    )
    report(results, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
