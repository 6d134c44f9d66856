"""MCP tool call latency (p50/p95 per tool) over Streamable HTTP, and the size of the tool list in tokens.

    python benchmarks/mcp_latency.py [--database sqlite:///data/stock_insights.db] [--calls 40]

The database is the 20-trading-day sandbox database that ``scripts/run.sh`` fills (its default SQLite file);
a SQLite database is copied to a scratch folder first (the benchmark adds a user and an API key to what it reads),
a PostgreSQL URL is used as it is. The API (with ``/mcp``) runs under uvicorn in a subprocess on loopback, one
worker; the SDK's own client calls each tool ``--calls`` times, one call at a time, with arguments drawn from the
database (its stocks, trading days and models), after two warm-up calls. Printed per tool: p50 and p95 in ms, the
largest answer in characters, and the load average beside it; then the tool list (``tools/list`` result, JSON) in
cl100k_base tokens, counted offline with tiktoken (``stock_insights.embeddings.tokens``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = f"sqlite:///{ROOT / 'data' / 'stock_insights.db'}"
PASSWORD = "benchmark-password-0123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def prepare(database: str, scratch: Path) -> tuple[str, dict[str, Any]]:
    """(the URL to serve, what the calls draw their arguments from); adds the benchmark's analyst account."""
    from sqlalchemy import func, select

    from api.core.security import hash_password_sync
    from stock_insights.storage.db import make_engine, session_scope
    from stock_insights.storage.migrate import upgrade
    from stock_insights.storage.models import ApiKey, DailyBar, Prediction, Report, Stock, User

    if database.startswith("sqlite:///"):
        source = Path(database.removeprefix("sqlite:///"))
        if not source.exists():
            raise SystemExit(f"{source} does not exist: run scripts/run.sh first (it fills 20 trading days)")
        shutil.copy(source, scratch / "bench.db")
        database = f"sqlite:///{scratch / 'bench.db'}"
    upgrade(database)
    engine = make_engine(database)
    # A database migrated while 0012 was still an empty placeholder records 0012 without the table.
    ApiKey.__table__.create(engine, checkfirst=True)
    with session_scope(engine) as session:
        email = f"mcp-bench-{os.getpid()}@example.com"
        session.add(User(email=email, password_hash=hash_password_sync(PASSWORD), role="analyst",
                         created_at=datetime.now(UTC)))
        days = list(session.scalars(select(DailyBar.trading_date).distinct().order_by(DailyBar.trading_date)))
        data = {
            "email": email,
            "codes": list(session.scalars(select(Stock.code).where(Stock.active.is_(True)).order_by(Stock.code))),
            "names": list(session.scalars(select(Stock.name).where(Stock.active.is_(True)).order_by(Stock.code))),
            "days": [d.isoformat() for d in days],
            "models": list(session.scalars(select(Prediction.model).distinct().order_by(Prediction.model))),
            "report_days": [d.isoformat() for d in session.scalars(select(Report.trading_date).distinct())],
            "counts": {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                       for m in (Stock, DailyBar, Prediction, Report)},
        }
    engine.dispose()
    if not data["codes"] or not data["days"]:
        raise SystemExit("the database has no stocks or bars: run scripts/run.sh first")
    return database, data


def calls_for(tool: str, n: int, data: dict[str, Any]) -> list[dict[str, Any]]:
    codes, days, names = data["codes"], data["days"], data["names"]
    models = data["models"] or [None]
    report_days = data["report_days"] or days

    def pick(seq: list[Any], i: int) -> Any:
        return seq[i % len(seq)]

    makers = {
        "find_stock": lambda i: {"query": pick(names, i) if i % 2 else pick(codes, i)},
        "stock_snapshot": lambda i: {"code": pick(codes, i),
                                     "as_of": f"{pick(days, -1 - i)}T16:00:00+09:00" if i % 2 else None},
        "forecasts": lambda i: {"code": pick(codes, i), "model": pick(models, i), "limit": 10},
        "track_record": lambda i: {"window": (20, 60)[i % 2], "horizon": 1},
        "search_documents": lambda i: {"query": pick(names, i) + (" 실적" if i % 2 else ""), "limit": 10},
        "daily_report": lambda i: {"date": pick(report_days, i)},
        "experiments": lambda i: {},
    }
    return [{k: v for k, v in makers[tool](i).items() if v is not None} for i in range(n)]


async def measure(url: str, key: str, data: dict[str, Any], n: int) -> tuple[list[dict[str, Any]], str]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    rows = []
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), cache=None) as client,
    ):
        listed = await client.list_tools()
        tool_list = json.dumps(listed.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False)
        for tool in [t.name for t in listed.tools]:
            arguments = calls_for(tool, n + 2, data)
            times, largest, errors = [], 0, 0
            for i, args in enumerate(arguments):
                t0 = time.perf_counter()
                result = await client.call_tool(tool, args)
                elapsed = time.perf_counter() - t0
                text = "".join(getattr(c, "text", "") for c in result.content)
                errors += bool(result.is_error)
                largest = max(largest, len(text))
                if i >= 2:  # two warm-up calls
                    times.append(elapsed * 1000)
            times.sort()
            rows.append({"tool": tool, "n": len(times), "p50": statistics.median(times),
                         "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
                         "largest": largest, "errors": errors, "load": load()})
    return rows, tool_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    import anyio
    import httpx

    from stock_insights.embeddings.tokens import count_tokens

    with tempfile.TemporaryDirectory() as scratch:
        database, data = prepare(args.database, Path(scratch))
        print(f"database: {data['counts']}, {len(data['days'])} trading days of bars "
              f"({data['days'][0]}..{data['days'][-1]}), models {data['models']}; load {load()}", flush=True)
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database, "REDIS_URL": "", "DATA_MODE": "simulated",
               "API_JWT_SECRET": "mcp-latency-benchmark-key-0123456789abcdef",
               "MILVUS_URI": os.environ.get("MILVUS_URI", f"http://127.0.0.1:{free_port()}")}
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            cwd=ROOT, env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=url, timeout=60) as rest:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if rest.get("/health").status_code < 500:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("the API did not start")
                    time.sleep(0.2)
                token = rest.post("/api/v1/auth/token", data={"username": data["email"], "password": PASSWORD})
                token.raise_for_status()
                auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
                key = rest.post("/api/v1/users/me/api-keys", json={"name": "bench"}, headers=auth).json()["key"]
            rows, tool_list = anyio.run(measure, url, key, data, args.calls)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"\n{'tool':<18}{'calls':>6}{'p50 ms':>9}{'p95 ms':>9}{'largest chars':>15}{'errors':>8}  load avg")
    for r in rows:
        print(f"{r['tool']:<18}{r['n']:>6}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['largest']:>15}{r['errors']:>8}"
              f"  {r['load']}")
    print(f"\ntool list: {len(rows)} tools, {len(tool_list):,} characters of JSON, {count_tokens(tool_list):,} "
          f"cl100k_base tokens; load {load()}")


if __name__ == "__main__":
    main()
