"""Leaderboard: every model-level metric over the 20, 60 and 250-date windows for 3 models x 250 dates x
200 stocks of synthetic scored predictions (``stock_insights.metrics.leaderboard.build_leaderboards``), against
a baseline measured in the same run: one pass that only groups the frame by (model, date) and averages the hits.

    python benchmarks/leaderboard.py [--models 3] [--dates 250] [--stocks 200] [--top-k 20] [--repeat 5]

Prints the wall time (best and median of ``--repeat`` runs), the ratio to the baseline, the peak memory that
tracemalloc sees during one run (Python and numpy allocations), and the time and size of the JSON document.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd

from stock_insights.metrics.leaderboard import Settings, build_leaderboards, to_jsonable


def synthetic_rows(n_models: int, n_dates: int, n_stocks: int, seed: int = 0) -> pd.DataFrame:
    """Scored predictions shaped like the evaluations table: returns with a market move and a stock signal
    that each model sees with a different strength."""
    rng = np.random.default_rng(seed)
    days: list[date] = []
    day = date(2025, 1, 2)
    while len(days) < n_dates:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    codes = np.array([f"{i:06d}" for i in range(n_stocks)])
    signal = rng.standard_normal((n_dates, n_stocks))
    realized = rng.normal(0, 0.01, (n_dates, 1)) + 0.002 * signal + rng.normal(0, 0.015, (n_dates, n_stocks))
    frames = []
    for m in range(n_models):
        weight = 1.0 - m / max(n_models - 1, 1)
        seen = weight * signal + np.sqrt(1 - weight**2) * rng.standard_normal((n_dates, n_stocks))
        prob = 1 / (1 + np.exp(-0.4 * seen))
        direction = np.where(prob > 0.52, "up", np.where(prob < 0.48, "down", "flat"))
        frames.append(
            pd.DataFrame(
                {
                    "model": f"model-{m}",
                    "code": np.tile(codes, n_dates),
                    "date": np.repeat(np.array(days, dtype=object), n_stocks),
                    "direction": direction.ravel(),
                    "prob_up": prob.ravel(),
                    "expected_return": (0.01 * (prob - 0.5)).ravel(),
                    "realized_return": realized.ravel(),
                    "hit": ((direction == "up") == (realized > 0)).ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: imports, first-call caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--dates", type=int, default=250)
    parser.add_argument("--stocks", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    rows = synthetic_rows(args.models, args.dates, args.stocks)
    settings = Settings(top_k=args.top_k)
    print(f"{len(rows):,} scored predictions: {args.models} models x {args.dates} dates x {args.stocks} stocks")

    baseline = timed(lambda: rows.groupby(["model", "date"], sort=True)["hit"].mean(), args.repeat)
    board = timed(lambda: build_leaderboards(rows, settings=settings), args.repeat)

    tracemalloc.start()
    boards = build_leaderboards(rows, settings=settings)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    start = time.perf_counter()
    document = json.dumps(to_jsonable(boards), allow_nan=False)
    json_seconds = time.perf_counter() - start

    best, median = min(board), statistics.median(board)
    base_best, base_median = min(baseline), statistics.median(baseline)
    for label, low, mid in (
        ("baseline (group by model and date, mean hit)", base_best, base_median),
        ("leaderboard (3 windows, every metric)", best, median),
    ):
        print(f"{label:<46} best {low * 1e3:8.1f} ms  median {mid * 1e3:8.1f} ms")
    print(f"ratio leaderboard / baseline (medians): {median / base_median:.1f}x")
    print(f"peak traced memory during one leaderboard run: {peak / 2**20:.1f} MiB")
    print(f"JSON document: {len(document) / 2**20:.2f} MiB in {json_seconds * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
