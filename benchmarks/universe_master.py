"""KIS stock master: parse time of a full kospi_code.mst and kosdaq_code.mst, and the listing-history write.

    python benchmarks/universe_master.py [--repeat 5] [--day 2026-12-04]

The sandbox writes both files for ``--day`` (the simulated market's ~2,700 listings, the real layouts).
Timed: ``parse_master`` of each unzipped file (best and median of ``--repeat``), and, on a fresh SQLite
file, ``record_listing_states`` for the first day and again for the next day (only changes are
written). Baseline in the same run: splitting the same bytes into lines and decoding them as cp949,
the least any parser does. Each timing is printed with the 1-minute load average beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from stock_insights.clients.kis.master import parse_master
from stock_insights.market.store import record_listing_states
from stock_insights.sandbox.master import master_file
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return min(runs), statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 12, 4))
    args = parser.parse_args()
    files = {m: master_file(m, args.day) for m in ("KOSPI", "KOSDAQ")}
    rows = {}
    for market, content in files.items():
        rows[market] = parse_master(content, market)
        lines = content.count(b"\n")
        base = timed(lambda c=content: [line.decode("cp949") for line in c.split(b"\n")], args.repeat)
        best, median = timed(lambda c=content, m=market: parse_master(c, m), args.repeat)
        print(f"{market}: {lines} lines, {len(content) / 1e6:.2f} MB; parse best {best * 1e3:.1f} ms, median "
              f"{median * 1e3:.1f} ms ({lines / median:,.0f} rows/s); baseline split+decode median "
              f"{base[1] * 1e3:.1f} ms; ratio {median / base[1]:.1f}x; load {load()}")
    both = rows["KOSPI"] + rows["KOSDAQ"]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(url, engine)
        start = time.perf_counter()
        with session_scope(engine) as session:
            first = record_listing_states(session, both, args.day)
        t_first = time.perf_counter() - start
        nxt = args.day + timedelta(days=1)
        rows_next = parse_master(master_file("KOSPI", nxt), "KOSPI") + parse_master(master_file("KOSDAQ", nxt),
                                                                                    "KOSDAQ")
        start = time.perf_counter()
        with session_scope(engine) as session:
            second = record_listing_states(session, rows_next, nxt)
        t_next = time.perf_counter() - start
        start = time.perf_counter()
        with session_scope(engine) as session:
            third = record_listing_states(session, rows_next, nxt)
        t_again = time.perf_counter() - start
        engine.dispose()
    print(f"listing history (SQLite): first day {len(both)} rows in {t_first * 1e3:.0f} ms ({dict(first)}); "
          f"next day {t_next * 1e3:.0f} ms ({dict(second) or 'no change'}); same day again {t_again * 1e3:.0f} ms "
          f"({dict(third) or 'no change'}); ratio next/first {t_next / t_first:.2f}; load {load()}")


if __name__ == "__main__":
    main()
