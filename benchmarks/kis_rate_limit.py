"""KIS request budget: minute bars for 200 stocks with two runs collecting at once, against the sandbox
limited to 20 requests/s per app key.

    python benchmarks/kis_rate_limit.py [--stocks 200] [--limit 20] [--redis redis://127.0.0.1:6379/13]

Two OS processes (as two Dagster runs are) fetch a past session's minute bars (FHKST03010230, 120 bars a
call) for every stock, sharing one app key. Measured in the same run:
- window: both use the project's shared window limiter (a lock file; Redis with --redis): a request counts
  from its sending until one second after its answer;
- spacing: the previous shared limiter, evenly spaced slots at 0.95 of the limit;
- naive: each process limits itself to the full budget alone (what a per-process limiter does).
Prints achieved requests/s over the limit (goal: at least 0.95) and the number of EGW00201 answers
(goal: 0) for each, with the load average before and after each mode (the machine is shared).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

APP_KEY = "PSbenchAppKey0000000000000000000000000"
APP_SECRET = "bench-secret"
DAY = date(2026, 10, 6)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(base_url: str, codes: list[str], mode: str, limit: float, lock_dir: str, db_url: str, redis_url: str,
           start_at: float, out: mp.Queue) -> None:
    from pydantic import SecretStr

    from stock_insights.clients.kis import KisClient
    from stock_insights.clients.ratelimit import LocalRateLimiter, shared_rate_limiter, shared_window_limiter
    from stock_insights.market.tokens import SqlTokenStore
    from stock_insights.storage.db import make_engine

    if mode == "window":
        limiter = shared_window_limiter("kis-bench", int(limit), redis_url=redis_url, lock_dir=Path(lock_dir))
    elif mode == "spacing":
        limiter = shared_rate_limiter("kis-bench", limit, redis_url=redis_url, lock_dir=Path(lock_dir))
    else:
        limiter = LocalRateLimiter(limit)
    engine = make_engine(db_url)
    client = KisClient(base_url, SecretStr(APP_KEY), SecretStr(APP_SECRET), token_store=SqlTokenStore(engine),
                       limiter=limiter)
    client.access_token()
    time.sleep(max(0.0, start_at - time.time()))
    t0 = time.time()
    bars = sum(len(client.minute_chart_day(code, DAY)) for code in codes)
    out.put({"start": t0, "end": time.time(), "requests": client.stats["requests"],
             "rate_limited": client.stats["rate_limited"], "bars": bars})
    client.close()
    engine.dispose()


def run(mode: str, base_url: str, codes: list[str], limit: float, redis_url: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="kis-bench-"))
    db_url = f"sqlite:///{tmp / 'tokens.db'}"
    from stock_insights.storage.migrate import upgrade

    upgrade(db_url)
    httpx.post(f"{base_url}/_sandbox/expire_tokens").raise_for_status()
    before = httpx.get(f"{base_url}/_sandbox/stats").json()["kis"]
    load_before = os.getloadavg()[0]
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    start_at = time.time() + 8  # both processes import and get their token first, then start together
    procs = [ctx.Process(target=worker, args=(base_url, codes, mode, limit, str(tmp), db_url,
                                               redis_url if mode != "naive" else "", start_at, out))
             for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
    after = httpx.get(f"{base_url}/_sandbox/stats").json()["kis"]
    shutil.rmtree(tmp, ignore_errors=True)
    egw = after["per_msg_cd"].get("EGW00201", 0) - before["per_msg_cd"].get("EGW00201", 0)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    requests = sum(r["requests"] for r in results)
    answered = requests - egw
    return {"mode": mode, "load": (load_before, os.getloadavg()[0]),
            "wall": wall, "requests": requests, "answered": answered, "egw00201": egw,
            "rps": answered / wall, "bars": sum(r["bars"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stocks", type=int, default=200)
    parser.add_argument("--limit", type=float, default=20.0)
    parser.add_argument("--redis", default="", help="share the budget through this Redis instead of a lock file")
    args = parser.parse_args()
    codes = [f"{100000 + i:06d}" for i in range(args.stocks)]

    port = free_port()
    env = {**os.environ, "SANDBOX_KIS_RATE_LIMIT_PER_SEC": str(args.limit)}
    sandbox = subprocess.Popen([sys.executable, "-m", "stock_insights.sandbox", "--host", "127.0.0.1", "--port",
                                str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base_url}/_sandbox/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        results = [run(mode, base_url, codes, args.limit, args.redis) for mode in ("window", "spacing", "naive")]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=20)

    shared_via = "Redis" if args.redis else "lock file"
    print(f"{args.stocks} stocks x 2 concurrent runs, past-session minute bars, sandbox limit {args.limit:g} req/s")
    print(f"{'limiter':<36}{'wall s':>8}{'requests':>10}{'EGW00201':>10}{'answered/s':>12}{'/ limit':>9}"
          f"{'load 1m':>14}")
    labels = {"window": f"window, shared ({shared_via})", "spacing": f"spacing 0.95, shared ({shared_via})",
              "naive": "naive (each run alone at the limit)"}
    for r in results:
        load = f"{r['load'][0]:.1f}->{r['load'][1]:.1f}"
        print(f"{labels[r['mode']]:<36}{r['wall']:>8.1f}{r['requests']:>10}{r['egw00201']:>10}{r['rps']:>12.2f}"
              f"{r['rps'] / args.limit:>9.2f}{load:>14}")


if __name__ == "__main__":
    main()
