"""Predictions: baseline throughput over a year of sandbox history, and what a re-run of a day costs.

    python benchmarks/predictions.py [--stocks 8]

Runs the real assets in process against the sandbox (started here, on loopback) and a fresh SQLite file:
1. daily bars for a year, then ``predictions/daily`` for the whole year with the offline baselines
   (momentum, news_tone): predictions per second (baseline: the same year's bars fetched, in the same run);
2. ``predictions/daily`` for one day with every model active (the two LLMs answer from the sandbox's
   OpenAI-compatible API), then the same day again: LLM calls made by each run and the wall time of the
   re-run against the first.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stocks", type=int, default=8)
    args = parser.parse_args()
    from stock_insights.settings import DEFAULT_UNIVERSE

    tmp = Path(tempfile.mkdtemp(prefix="pred-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update({
        "DATA_MODE": "simulated", "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "DATA_DIR": str(tmp),
        "KIS_BASE_URL": base, "KIS_APP_KEY": "PSbenchAppKey0000000000000000000000000", "KIS_APP_SECRET": "s",
        "KIS_RATE_LIMIT_PER_SEC": "1000", "STOCK_UNIVERSE": ",".join(DEFAULT_UNIVERSE.split(",")[: args.stocks]),
        "OPENAI_API_KEY": "", "OPENROUTER_API_KEY": "", "OPENAI_BASE_URL": f"{base}/v1",
        "OPENROUTER_BASE_URL": f"{base}/openrouter/v1", "EMBEDDER": "hashing", "MILVUS_URI": "http://127.0.0.1:1",
        "SANDBOX_KIS_RATE_LIMIT_PER_SEC": "1000",
    })
    import dagster as dg

    from stock_insights import calendar
    from stock_insights.definitions import defs
    from stock_insights.sandbox.app import create_app
    from stock_insights.settings import reset_settings_cache

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    job = defs.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()

    def run(keys: list[list[str]], start: date, end: date) -> float:
        t0 = time.perf_counter()
        result = job.execute_in_process(
            asset_selection=[dg.AssetKey(k) for k in keys], instance=instance, raise_on_error=True,
            tags={"dagster/asset_partition_range_start": start.isoformat(),
                  "dagster/asset_partition_range_end": end.isoformat()} if start else {},
        )
        assert result.success
        return time.perf_counter() - t0

    def chat_calls() -> int:
        return httpx.get(f"{base}/_sandbox/stats").json()["openai"].get("chat_requests", 0)

    end = date(2026, 10, 30)
    year = calendar.sessions(date(2025, 10, 31), end)
    job.execute_in_process(asset_selection=[dg.AssetKey(["universe", "stocks"])], instance=instance)
    bars_s = run([["kis", "daily_bars"]], date(2025, 9, 1), end)
    baseline_s = run([["predictions", "daily"]], year[0], year[-1])
    n_baseline = len(year) * args.stocks * 2

    os.environ.update({"OPENAI_API_KEY": "sk-bench", "OPENROUTER_API_KEY": "sk-bench"})
    reset_settings_cache()
    day = year[-1]
    calls0 = chat_calls()
    first_s = run([["predictions", "daily"]], day, day)
    calls1 = chat_calls()
    rerun_s = run([["predictions", "daily"]], day, day)
    calls2 = chat_calls()
    server.should_exit = True

    print(f"{args.stocks} stocks, {len(year)} sessions ({year[0]}..{year[-1]}), SQLite, sandbox on loopback")
    print(f"baselines (momentum, news_tone) over a year: {n_baseline:,} predictions in {baseline_s:.1f} s "
          f"= {n_baseline / baseline_s:,.0f} predictions/s (the year's bars fetched and written: {bars_s:.1f} s)")
    print(f"one day, all 4 models: first run {first_s:.2f} s with {calls1 - calls0} LLM calls; "
          f"re-run {rerun_s:.2f} s with {calls2 - calls1} LLM calls ({rerun_s / first_s:.2f}x the first run's time)")


if __name__ == "__main__":
    main()
