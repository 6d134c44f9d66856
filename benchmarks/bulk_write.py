"""Bulk write: 1,000,000 minute-bar rows into PostgreSQL through the project's write path
(``stock_insights.storage.db.bulk_upsert``: COPY into a staging table, then one INSERT ... ON CONFLICT),
against a plain ``COPY`` of the same rows into the same table, in the same run.

    python benchmarks/bulk_write.py [--rows 1000000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Prints seconds and rows/s for each path and the ratio to plain COPY (goal: within 2x).
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from stock_insights.storage.db import bulk_upsert, make_engine, session_scope, upsert
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import MinuteBar, Stock

COLUMNS = [
    "code",
    "bar_time",
    "trading_date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "cum_trade_value",
    "source",
    "fetched_at",
]


def make_rows(n: int) -> list[dict]:
    codes = [f"9{i:05d}" for i in range(200)]
    per_code = -(-n // len(codes))
    fetched = datetime.now(UTC)
    start = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)
    rows = []
    for code in codes:
        for i in range(per_code):
            if len(rows) == n:
                return rows
            t = start + timedelta(minutes=i)
            price = 10_000 + (i % 500)
            rows.append(
                {
                    "code": code,
                    "bar_time": t,
                    "trading_date": t.date(),
                    "open": price,
                    "high": price + 10,
                    "low": price - 10,
                    "close": price + 5,
                    "volume": 100 + i % 7,
                    "cum_trade_value": i * 1000,
                    "source": "kis",
                    "fetched_at": fetched,
                }
            )
    return rows


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    name = f"si_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(args.postgres), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        engine = make_engine(url)
        rows = make_rows(args.rows)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            upsert(
                session,
                Stock.__table__,
                [
                    {
                        "code": c,
                        "name": c,
                        "market": "KOSPI",
                        "aliases": [],
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for c in sorted({r["code"] for r in rows})
                ],
            )

        def truncate() -> None:
            with session_scope(engine) as session:
                session.execute(text("TRUNCATE minute_bars"))

        # Baseline: plain COPY of the same rows into the empty table.
        truncate()
        t0 = time.perf_counter()
        with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
            with cur.copy(
                sql.SQL("COPY minute_bars ({}) FROM STDIN").format(sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))
            ) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in COLUMNS])
            conn.commit()
        copy_s = time.perf_counter() - t0

        truncate()
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            bulk_upsert(session, MinuteBar.__table__, rows)
        insert_s = time.perf_counter() - t0

        # The same rows again: every one conflicts and is updated (a re-run of the same partitions).
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            bulk_upsert(session, MinuteBar.__table__, rows)
        rerun_s = time.perf_counter() - t0

        with session_scope(engine) as session:
            count = session.execute(text("SELECT count(*) FROM minute_bars")).scalar_one()
        assert count == len(rows), (count, len(rows))
        engine.dispose()
    finally:
        with psycopg.connect(libpq(args.postgres), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    n = len(rows)
    print(f"rows: {n:,} minute bars ({date.today().isoformat()})")
    print(f"{'path':<42}{'seconds':>9}{'rows/s':>12}{'vs COPY':>9}")
    for label, seconds in (
        ("plain COPY (baseline)", copy_s),
        ("bulk_upsert into an empty table", insert_s),
        ("bulk_upsert re-run (all rows conflict)", rerun_s),
    ):
        print(f"{label:<42}{seconds:>9.2f}{n / seconds:>12,.0f}{seconds / copy_s:>8.2f}x")


if __name__ == "__main__":
    main()
