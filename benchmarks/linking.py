"""Stock linking at market scale: precision and recall over the simulated market's ~2,400 tracked names,
and news ingest throughput at 20,000 articles a day.

    python benchmarks/linking.py [--articles 20000] [--day 2026-12-04] [--repeat 3]

The sandbox's newsroom writes ``--articles`` labelled articles for ``--day`` (``labelled_articles``:
names, former names, codes, real aliases, and traps: preferred shares, the common word 대상, delisted
names, unknown codes, names that prefix longer names). ``StockLinker`` is built over what
``universe/stocks`` tracks that day (``market_targets``). Printed: build time, precision and recall
(micro, over article-code pairs; goals P >= 0.98, R >= 0.95), the errors by trap, linking articles/s,
and ``corpus.store.ingest_news`` of the whole day on a fresh SQLite file in batches of 1,000 (one
transaction each, like asset runs) with the stocks table holding the same universe. Baseline in the
same run: the linker over the 32 real listings only (``KNOWN_LISTINGS``), on the same articles. Load
average beside each timing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from stock_insights.corpus.store import ingest_news, linker_for_stocks
from stock_insights.market.store import upsert_stocks
from stock_insights.sandbox.newsroom import labelled_articles, market_targets
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.text.items import NewsItem
from stock_insights.text.linking import LinkTarget, StockLinker
from stock_insights.universe import KNOWN_LISTINGS, Listing


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 12, 4))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    articles = labelled_articles(args.day, args.articles)
    targets = market_targets(args.day)
    print(f"workload: {len(articles)} articles over {len(targets)} tracked names "
          f"({time.perf_counter() - start:.1f} s to generate, not timed)")
    start = time.perf_counter()
    linker = StockLinker(LinkTarget(code, name, None, aliases) for code, name, aliases in targets)
    print(f"linker build: {(time.perf_counter() - start) * 1e3:.0f} ms; load {load()}")
    small = StockLinker(LinkTarget(x.code, x.name, x.name_en, x.aliases) for x in KNOWN_LISTINGS.values())

    def run(link: StockLinker) -> tuple[float, list[set[str]]]:
        times, out = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            out = [set(link.link({"title": a.title, "body": a.body}).codes) for a in articles]
            times.append(time.perf_counter() - t0)
        return statistics.median(times), out

    base_time, _ = run(small)
    full_time, found = run(linker)
    tp = fp = fn = 0
    errors: Counter[str] = Counter()
    for article, got in zip(articles, found, strict=True):
        want = set(article.codes)
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        if got != want:
            errors[",".join(article.traps) or "plain"] += 1
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    print(f"precision {precision:.4f} (goal 0.98), recall {recall:.4f} (goal 0.95): tp {tp} fp {fp} fn {fn}; "
          f"articles with an error by trap: {dict(errors) or 'none'}")
    print(f"linking: {len(articles) / full_time:,.0f} articles/s over {len(targets)} names (median of "
          f"{args.repeat}); baseline 32 names {len(articles) / base_time:,.0f} articles/s; ratio "
          f"{full_time / base_time:.1f}x; a day of {args.articles} articles links in {full_time:.1f} s; load {load()}")

    fetched = datetime.combine(args.day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    items = [
        NewsItem.build(source="naver", url=f"https://news.example.com/{a.article_id}", title=a.title, body=a.body,
                       published_at=fetched - timedelta(seconds=i), fetched_at=fetched)
        for i, a in enumerate(articles)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        upgrade(url, engine)
        with session_scope(engine) as session:
            upsert_stocks(session, [Listing(code, name, "", "KOSPI", None, (name, *aliases))
                                    for code, name, aliases in targets])
        start = time.perf_counter()
        with session_scope(engine) as session:
            db_linker = linker_for_stocks(session)
        t_build = time.perf_counter() - start
        stored = 0
        start = time.perf_counter()
        for i in range(0, len(items), 1000):
            with session_scope(engine) as session:
                stored += ingest_news(session, items[i:i + 1000], db_linker).new_articles
        elapsed = time.perf_counter() - start
        engine.dispose()
    print(f"ingest_news (SQLite, batches of 1,000): {len(items)} articles in {elapsed:.1f} s "
          f"({len(items) / elapsed:,.0f} articles/s, {stored} new; linker from the stocks table "
          f"{t_build * 1e3:.0f} ms); "
          f"linking share {full_time / elapsed:.0%}; a 20,000-article day is {20_000 / (len(items) / elapsed):.0f} s; "
          f"load {load()}")


if __name__ == "__main__":
    main()
