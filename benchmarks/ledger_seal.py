"""The cost of sealing a full-market day (``stock_insights.ledger``): time and bytes.

    python benchmarks/ledger_seal.py [--stocks 2700] [--baselines 3] [--llms 2] [--repeat 3]
                                     [--backends sqlite,postgresql] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Synthetic forecasts shaped like the pipeline's: every stock forecast by ``--baselines`` baselines at horizons 1 and
5 (momentum-like: the last 6 closes cited; news-tone-like: 5 documents) and by ``--llms`` LLM models at horizon 1
(20 closes, 12 documents, financials, a rationale of ~400 characters), all stored before the open. For each
backend (a scratch SQLite file, a scratch PostgreSQL database dropped after), it times ``seal_day`` (read the
day's forecasts, canonical form, SHA-256, zlib, insert; on a fresh seal each repeat) and ``verify`` of that day
(decompress, hash, recompute from the database, compare), and, without a database, the canonical form and hash
alone. Bytes: the canonical form, per row, and as stored (zlib). ``os.getloadavg()`` is printed beside every
timing: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from stock_insights.clock import KST
from stock_insights.ledger.canonical import canonical_bytes, digest_of, forecast_record
from stock_insights.ledger.store import seal_day
from stock_insights.ledger.verify import verify
from stock_insights.storage.db import bulk_upsert, make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import LedgerSeal, Prediction, Stock

DAY = date(2026, 12, 3)
AS_OF = datetime(2026, 12, 3, 8, 0, tzinfo=KST)
SEAL_AT = datetime(2026, 12, 3, 8, 5, tzinfo=KST)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def synthetic_day(stocks: int, baselines: int, llms: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    created = AS_OF + timedelta(seconds=40)
    for s in range(stocks):
        code = f"{s:06d}"
        closes = [{"trading_date": (DAY - timedelta(days=30 - i)).isoformat(), "close": 10_000.0 + 37 * i + s}
                  for i in range(20)]  # fmt: skip
        docs = [{"doc_type": "news", "doc_id": str(1_000_000 + s * 20 + i),
                 "first_seen_at": (AS_OF - timedelta(hours=i + 1)).isoformat()} for i in range(12)]  # fmt: skip
        specs = [(f"baseline-{b}", h) for b in range(baselines) for h in (1, 5)]
        specs += [(f"llm-{m}", 1) for m in range(llms)]
        for model, horizon in specs:
            llm = model.startswith("llm")
            prob = 0.3 + ((s * 7919 + len(model) * 31 + horizon) % 400) / 1000
            if llm:
                cited = {"prices": closes, "documents": docs, "financials": ["IS:202609", "BS:202609"]}
                rationale = {"positive": [f"[news:{docs[0]['doc_id']}] 수주 확대로 실적 개선 기대"] * 3,
                             "concerns": ["환율 변동성 확대와 업황 둔화 우려가 남아 있다"] * 2,
                             "summary": "단기 모멘텀은 긍정적이나 업황 리스크가 남아 있다. " * 3}  # fmt: skip
            elif model.endswith("1"):
                cited = {"prices": [], "documents": docs[:5], "financials": []}
                rationale = {"positive": ["tone +0.31"], "concerns": [], "summary": "news tone"}
            else:
                cited = {"prices": closes[-6:], "documents": []}
                rationale = {"positive": ["5-session return +2.10%"], "concerns": [], "summary": "momentum"}
            rows.append({
                "model": model, "code": code, "target_date": DAY, "horizon": horizon, "as_of": AS_OF,
                "direction": "up" if prob > 0.5 else "down", "prob_up": prob, "expected_return": (prob - 0.5) / 50,
                "rationale": rationale, "cited_inputs": cited, "prompt_version": "v1" if llm else None,
                "prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0, "cost_usd": 0.0, "replay": False,
                "created_at": created,
            })  # fmt: skip
    return rows


@contextmanager
def database(backend: str, postgres: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='ledger_seal_')) / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    server = make_url(postgres)
    libpq = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"ledger_seal_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(label: str, runs: list[float]) -> str:
    return f"{label} median {statistics.median(runs) * 1000:,.0f} ms (best {min(runs) * 1000:,.0f} ms)"


def bench_backend(backend: str, postgres: str, rows: list[dict[str, Any]], stocks: int, repeat: int) -> None:
    with database(backend, postgres) as url:
        upgrade(url)
        engine = make_engine(url)
        now = datetime.now(UTC)
        with session_scope(engine) as session:
            bulk_upsert(session, Stock.__table__, [
                {"code": f"{s:06d}", "name": f"종목{s}", "name_en": None, "market": "KOSPI", "dart_corp_code": None,
                 "aliases": [], "active": True, "created_at": now, "updated_at": now} for s in range(stocks)
            ])  # fmt: skip
            bulk_upsert(session, Prediction.__table__, rows, key=("model", "code", "target_date", "horizon", "as_of"))
        seal_runs, verify_runs, loads = [], [], []
        seal = None
        for _ in range(repeat):
            with session_scope(engine) as session:
                session.execute(delete(LedgerSeal))
            loads.append(load())
            began = time.perf_counter()
            with session_scope(engine) as session:
                outcome = seal_day(session, DAY, SEAL_AT)
            seal_runs.append(time.perf_counter() - began)
            seal = outcome.seal
            began = time.perf_counter()
            with session_scope(engine) as session:
                report = verify(session, DAY, DAY)
            verify_runs.append(time.perf_counter() - began)
            assert report.ok, report.as_dict()
        engine.dispose()
        assert seal is not None
        print(f"{backend:10s} {timed('seal_day', seal_runs)}; {timed('verify', verify_runs)}; "
              f"{seal.row_count:,} rows; load {' | '.join(loads)} -> {load()}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stocks", type=int, default=2700)
    parser.add_argument("--baselines", type=int, default=3)
    parser.add_argument("--llms", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    rows = synthetic_day(args.stocks, args.baselines, args.llms)
    print(f"{len(rows):,} forecasts: {args.stocks:,} stocks x ({args.baselines} baselines x horizons 1, 5 "
          f"+ {args.llms} LLM models x horizon 1); load {load()}")  # fmt: skip

    # Canonical form and hash alone (no database): records from the stored values, bytes, SHA-256, zlib.
    runs, loads = [], []
    data = b""
    for _ in range(args.repeat):
        loads.append(load())
        began = time.perf_counter()
        records = [
            forecast_record(model=r["model"], code=r["code"], horizon=r["horizon"], as_of=r["as_of"],
                            created_at=r["created_at"], direction=r["direction"], prob_up=r["prob_up"],
                            expected_return=r["expected_return"], cited_inputs=r["cited_inputs"],
                            rationale=r["rationale"], prompt_version=r["prompt_version"])
            for r in rows
        ]  # fmt: skip
        data = canonical_bytes(DAY, SEAL_AT, records)
        digest_of(data)
        runs.append(time.perf_counter() - began)
    began = time.perf_counter()
    packed = zlib.compress(data, 6)
    zlib_ms = (time.perf_counter() - began) * 1000
    print(f"canonical  {timed('records + bytes + SHA-256', runs)}, zlib {zlib_ms:,.0f} ms; load {' | '.join(loads)}")
    year = 250 * len(packed) / 2**20
    print(f"bytes      canonical {len(data):,} ({len(data) / len(rows):,.0f} per row), stored (zlib) {len(packed):,} "
          f"({len(packed) / len(data):.1%}); a year of 250 sessions stored: {year:,.0f} MiB")  # fmt: skip
    for backend in args.backends.split(","):
        bench_backend(backend.strip(), args.postgres, rows, args.stocks, args.repeat)


if __name__ == "__main__":
    main()
