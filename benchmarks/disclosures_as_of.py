"""The cost of ``as_of`` on the filings list (issue 17): one page of ``/disclosures`` (``api.queries.
disclosures_page_query``, 21 rows, the version in force), latest and as of a past moment, with and without a code.

    python benchmarks/disclosures_as_of.py [--filings 200000] [--runs 50]

A fresh SQLite file (migrated) holds ``--filings`` filings over 500 days (400 a day, 2,000 companies, one in 50 a
correction of the filing before it); ``as_of`` is 300 days before the newest filing. Printed: the mean time of a
page over ``--runs`` executions through the API's async driver, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from api.queries import disclosures_page_query
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import Disclosure

START = datetime(2025, 1, 1, tzinfo=UTC)


def _rows(count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n in range(count):
        day = date(2025, 1, 1) + timedelta(days=n // 400)
        rcept_no = f"{day:%Y%m%d}{n % 400:06d}"
        corrects = n % 50 == 1
        rows.append({
            "rcept_no": rcept_no, "corp_code": f"{n % 2000:08d}", "corp_name": "x", "code": f"{n % 2000:06d}",
            "corp_cls": "Y", "report_name": "r", "filer_name": "x", "receipt_date": day, "remarks": "",
            "viewer_url": "u", "first_seen_at": START + timedelta(days=n // 400), "version": 2 if corrects else 1,
            "original_rcept_no": rows[-1]["rcept_no"] if corrects else rcept_no,
            "amends_rcept_no": rows[-1]["rcept_no"] if corrects else None, "original_missing": False,
        })
    return rows


async def _measure(path: str, as_of: datetime, runs: int) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with AsyncSession(engine) as session:
        for label, when in (("latest", None), ("as_of", as_of)):
            for code in (None, "000123"):
                stmt = disclosures_page_query(code=code, since=None, after=None, limit=21, as_of=when)
                await session.execute(stmt)
                started = time.perf_counter()
                for _ in range(runs):
                    (await session.execute(stmt)).scalars().all()
                mean = (time.perf_counter() - started) / runs * 1000
                print(f"{label:6} code={code or '-':6} {mean:7.2f} ms/page  load {os.getloadavg()[0]:.2f}")
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--filings", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "filings.db")
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(url, engine)
        rows = _rows(args.filings)
        with session_scope(engine) as session:
            for start in range(0, len(rows), 5000):
                session.execute(insert(Disclosure), rows[start : start + 5000])
        engine.dispose()
        newest = rows[-1]["first_seen_at"]
        asyncio.run(_measure(path, newest - timedelta(days=300), args.runs))


if __name__ == "__main__":
    main()
