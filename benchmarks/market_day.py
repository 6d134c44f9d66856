"""A full trading day for the whole simulated market, through the real assets, on PostgreSQL.

    python benchmarks/market_day.py [--limit 20] [--watched 100] [--history 20] [--stocks 0]

The universe is the sandbox's simulated master (``sandbox.listings.simulated_listings(seed=7)``, every common
stock listed on the day; ``--stocks N`` keeps the first N), written straight into ``stocks``. A sandbox (KIS
limited to ``--limit`` req/s per app key, and the OpenAI/OpenRouter-compatible LLMs) runs as a subprocess; a
scratch PostgreSQL database ``si_bench_market_day_<pid>`` is created and dropped. Each stage runs as its own
process (as a Dagster run does), so its peak RSS is that run's:

  bars         kis/daily_bars + kis/index_bars over the last ``--history`` sessions up to the day (one KIS
               request per stock, the same as the day alone: a chart page holds 100 sessions)
  predictions  predictions/daily for the next session (pre-open): baselines for every stock, gpt-4o and
               deepseek-v3 (sandbox) for the LLM subset (``--watched`` stocks on a watchlist; no news is
               fetched here, so the news part of the subset is empty)
  evaluations  evaluations/daily + evaluations/leaderboard for the day
  reports      reports/daily for the day (template; no report model key)

Predictions for the day itself are made too (before the evaluation stage, not timed as pre-open) so that
evaluation has something to score. Prints wall time, peak RSS, KIS requests/utilisation/EGW00201, LLM calls
and cost per stage, the load average beside each, and the goals.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
APP_KEY = "PSbenchAppKey0000000000000000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------------------------------------
# One stage, in its own process
# ------------------------------------------------------------------------------------------------
def run_stage(stage: str, day: date, history: int) -> dict:
    import dagster as dg

    from stock_insights import calendar
    from stock_insights.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()

    def materialize(keys: list[list[str]], start: date, end: date) -> dict:
        tags = {"dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat()}
        result = job.execute_in_process(asset_selection=[dg.AssetKey(k) for k in keys], tags=tags,
                                        instance=dg.DagsterInstance.ephemeral())
        out: dict = {}
        for event in result.get_asset_materialization_events():
            m = event.event_specific_data.materialization  # type: ignore[union-attr]
            out["/".join(m.asset_key.path)] = {k: v.value for k, v in m.metadata.items()
                                               if isinstance(v.value, (int, float, str, dict))}
        return out

    t0 = time.perf_counter()
    if stage == "bars":
        sessions = calendar.sessions(date(day.year - 1, 1, 1), day)[-history:]
        meta = materialize([["kis", "daily_bars"], ["kis", "index_bars"]], sessions[0], day)
    elif stage == "predictions_day":
        meta = materialize([["predictions", "daily"]], day, day)
    elif stage == "predictions":
        nxt = calendar.next_session(day)
        meta = materialize([["predictions", "daily"]], nxt, nxt)
        from sqlalchemy import func, select

        from stock_insights.settings import get_settings
        from stock_insights.storage.db import make_engine, session_scope
        from stock_insights.storage.models import Prediction

        engine = make_engine(get_settings().DATABASE_URL)
        with session_scope(engine) as session:
            meta["llm_by_model"] = {
                model: [n, float(cost)]
                for model, n, cost in session.execute(
                    select(Prediction.model, func.count(), func.sum(Prediction.cost_usd))
                    .where(Prediction.target_date == nxt, Prediction.prompt_tokens > 0)
                    .group_by(Prediction.model)
                )
            }
        engine.dispose()
    elif stage == "evaluations":
        meta = materialize([["evaluations", "daily"], ["evaluations", "leaderboard"]], day, day)
    elif stage == "reports":
        meta = materialize([["reports", "daily"]], day, day)
    else:
        raise SystemExit(f"unknown stage {stage}")
    wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"stage": stage, "wall": wall, "rss_mib": rss_mib, "meta": meta}


# ------------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------------
def seed_universe(db_url: str, day: date, n: int, watched: int) -> int:
    from sqlalchemy import insert

    from stock_insights.sandbox.listings import simulated_listings
    from stock_insights.storage.db import make_engine, session_scope
    from stock_insights.storage.migrate import upgrade
    from stock_insights.storage.models import Stock, User, WatchlistItem

    upgrade(db_url)
    listings = [x for x in simulated_listings(seed=7) if x.security_type == "common" and x.listed_on <= day
                and (x.delisted_on is None or x.delisted_on > day)]
    if n:
        listings = listings[:n]
    now = datetime.now(UTC)
    engine = make_engine(db_url)
    with session_scope(engine) as session:
        session.execute(insert(Stock), [
            {"code": x.code, "name": x.name, "name_en": x.name_en, "market": x.market, "aliases": list(x.aliases),
             "active": True, "created_at": now, "updated_at": now} for x in listings])
        user = User(email="bench@example.com", password_hash="x", role="user", created_at=now)
        session.add(user)
        session.flush()
        session.execute(insert(WatchlistItem), [{"user_id": user.id, "code": x.code, "added_at": now}
                                                for x in listings[:watched]])
    engine.dispose()
    return len(listings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=float, default=20.0)
    parser.add_argument("--watched", type=int, default=100)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--stocks", type=int, default=0, help="0: every common listing of the simulated master")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--day", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        result = run_stage(args.stage, date.fromisoformat(args.day), args.history)
        print("RESULT " + json.dumps(result, default=str))
        return

    from sqlalchemy import create_engine, text

    from stock_insights import calendar, clock

    day = calendar.last_closed_session(clock.now())
    db = f"si_bench_market_day_{os.getpid()}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    db_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
    tmp = Path(f"/tmp/{db}")
    tmp.mkdir(exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATA_MODE": "simulated", "DATABASE_URL": db_url, "DATA_DIR": str(tmp), "REDIS_URL": "",
           "KIS_BASE_URL": base, "KIS_APP_KEY": APP_KEY, "KIS_APP_SECRET": "s",
           "KIS_RATE_LIMIT_PER_SEC": str(args.limit), "SANDBOX_KIS_RATE_LIMIT_PER_SEC": str(args.limit),
           "OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": f"{base}/v1", "OPENROUTER_API_KEY": "sk-or-bench",
           "OPENROUTER_BASE_URL": f"{base}/openrouter/v1", "EMBEDDER": "hashing",
           "MILVUS_URI": "http://127.0.0.1:1", "REPORT_MODEL": "", "LLM_SUBSET_WATCHED": "true"}
    sandbox = subprocess.Popen([sys.executable, "-m", "stock_insights.sandbox", "--host", "127.0.0.1", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: list[dict] = []
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/_sandbox/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        t0 = time.perf_counter()
        stocks = seed_universe(db_url, day, args.stocks, args.watched)
        results.append({"stage": "universe", "wall": time.perf_counter() - t0, "rss_mib": 0, "meta": {},
                        "load": load()})
        print(f"{stocks} listings on {day}; sandbox KIS limit {args.limit:g} req/s", flush=True)
        for stage in ("bars", "predictions_day", "evaluations", "reports", "predictions"):
            before = httpx.get(f"{base}/_sandbox/stats").json()
            proc = subprocess.run([sys.executable, __file__, "--stage", stage, "--day", day.isoformat(),
                                   "--history", str(args.history)], env=env, capture_output=True, text=True)
            lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not lines:
                print(proc.stderr[-3000:])
                raise SystemExit(f"stage {stage} failed")
            after = httpx.get(f"{base}/_sandbox/stats").json()
            r = json.loads(lines[-1][7:])
            r["load"] = load()
            r["egw00201"] = (after["kis"]["per_msg_cd"].get("EGW00201", 0)
                             - before["kis"]["per_msg_cd"].get("EGW00201", 0))
            r["chat"] = (after["openai"].get("chat_requests", 0) - before["openai"].get("chat_requests", 0))
            results.append(r)
            print(f"  {stage}: {r['wall']:.1f} s, peak RSS {r['rss_mib']:.0f} MiB, load {r['load']}", flush=True)
        with create_engine(db_url).connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=20)
        admin.dispose()
        with create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))

    print(f"\nA trading day for {stocks} stocks ({day}), PostgreSQL, sandbox at {args.limit:g} req/s")
    print(f"{'stage':<16}{'wall s':>8}{'peak RSS MiB':>14}{'load avg':>18}  details")
    for r in results:
        m = r["meta"]
        detail = ""
        if r["stage"] == "bars":
            bars = m.get("kis/daily_bars", {})
            reqs, fetch = bars.get("kis_requests", 0), bars.get("kis_fetch_seconds", 0.0)
            util = reqs / fetch / args.limit if fetch else 0.0
            detail = (f"{reqs} KIS requests in {fetch:.1f} s = {reqs / fetch if fetch else 0:.2f} req/s = "
                      f"{util:.3f} of the limit; EGW00201 {r['egw00201']}; {bars.get('dagster/row_count', '?')} bars")
        elif r["stage"].startswith("predictions"):
            p = m.get("predictions/daily", {})
            detail = (f"{p.get('dagster/row_count', '?')} predictions {p.get('models')}; "
                      f"LLM calls {p.get('llm_calls')} "
                      f"(sandbox chat requests {r['chat']}), cost ${p.get('cost_usd', 0):.4f}")
        elif r["stage"] == "evaluations":
            detail = f"{m.get('evaluations/daily', {}).get('dagster/row_count', '?')} evaluations"
        elif r["stage"] == "reports":
            detail = f"{m.get('reports/daily', {}).get('dagster/row_count', '?')} reports"
        print(f"{r['stage']:<16}{r['wall']:>8.1f}{r['rss_mib']:>14.0f}{r['load']:>18}  {detail}")
    walls = {r["stage"]: r["wall"] for r in results}
    post_close = walls["bars"] + walls["evaluations"] + walls["reports"]
    print(f"post-close cycle (bars + evaluations + reports): {post_close:.0f} s (goal < 600 s)")
    print(f"pre-open predictions: {walls['predictions']:.0f} s (goal < 300 s)")
    print(f"every run under 2 GB: {max(r['rss_mib'] for r in results) < 2048} "
          f"(max {max(r['rss_mib'] for r in results):.0f} MiB)")
    print(f"database size after the day: {size / 2**20:.0f} MiB")
    monthly_llm_cost(results)


def monthly_llm_cost(results: list[dict]) -> None:
    """Expected monthly LLM cost of the subset at the registry's list prices: the pre-open run's cost per call
    (the sandbox answers with realistic token counts, priced by predictors/config.py) x calls a day x 21."""
    from stock_insights.predictors.config import load_registry
    from stock_insights.predictors.subset import SESSIONS_PER_MONTH, capped_stocks_per_day

    by_model = next(r["meta"] for r in results if r["stage"] == "predictions").get("llm_by_model", {})
    if not by_model:
        print("no LLM call in the pre-open run")
        return
    registry = load_registry()
    total, cost = 0.0, 0.0
    for name, (n, spent) in sorted(by_model.items()):
        per_call = spent / n
        monthly = spent * SESSIONS_PER_MONTH
        total, cost = total + monthly, cost + spent
        cap = registry.get(name).daily_cost_cap_usd or 0.0
        print(f"{name}: {n} calls a day, ${per_call:.4f} a call -> ${monthly:.2f} a month at list prices "
              f"(cap ${cap:.2f}/day allows {capped_stocks_per_day(cap, per_call)} calls a day)")
    print(f"LLM subset, all models: ${cost:.4f} a day, ${total:.2f} a month ({SESSIONS_PER_MONTH} sessions)")


if __name__ == "__main__":
    main()
