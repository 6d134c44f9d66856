"""Filtered vector search at market scale: Milvus standalone (HNSW) against Milvus Lite (FLAT) and numpy.

    python benchmarks/vector_search.py [--sizes 100000,1000000] [--dim 512] [--stocks 2700] [--queries 300]
                                       [--lite-size 100000] [--lite-queries 20] [--market-day]

For each size: random unit vectors (the hardest case for an ANN index) about 2,700 stocks with a skewed
share of the news (a few stocks hold most documents, as on the real market; 20% of documents name a
second stock), first seen over a year. Each size gets a fresh Milvus standalone server (the ``milvus``
package's 2.3.5 binary, started by ``stock_insights.embeddings.server``), loaded through
``VectorStore.upsert`` and indexed (HNSW M 16, efConstruction 200; ef 64 at search). Measured:

- server start-up, load (upsert) and index build time, server RSS once loaded, this process's peak RSS;
- ``VectorStore.search`` filtered by one stock and a ``first_seen_at`` cutoff, k=10: p50/p95 over
  ``--queries`` random (stock, cutoff) pairs, and recall@10 against exact numpy over the same filtered set;
- a whole market day: one query per stock (every one of ``--stocks``), cutoff 08:00 of the last day,
  one after the other as ``predictions/daily`` runs them: total wall time and recall@10;
- the baseline in the same run: Milvus Lite (``milvus-lite server``, FLAT) at ``--lite-size`` on the same
  data and queries (fewer of them: a filtered search there takes seconds); the ratio is Lite / standalone.

The load average is printed beside every timing: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

from stock_insights.embeddings import server as milvus_server
from stock_insights.embeddings.store import VectorRecord, VectorStore

BASE = datetime(2025, 12, 1, tzinfo=UTC)
SPAN_SECONDS = 365 * 86400


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"[load {one:.2f}/{five:.2f}]"


@dataclass
class Corpus:
    vectors: np.ndarray  # (n, dim) float32, unit
    primary: np.ndarray  # (n,) stock index
    secondary: np.ndarray  # (n,) stock index or -1
    seen: np.ndarray  # (n,) epoch seconds
    codes: list[str]
    by_stock: list[np.ndarray]  # document indices naming each stock

    def record(self, i: int) -> VectorRecord:
        names = [self.codes[self.primary[i]]]
        if self.secondary[i] >= 0 and self.secondary[i] != self.primary[i]:
            names.append(self.codes[self.secondary[i]])
        at = datetime.fromtimestamp(int(self.seen[i]), UTC)
        return VectorRecord(
            id=i + 1, vector=self.vectors[i], doc_type="news", stock_codes=names, source="bench",
            published_at=at, first_seen_at=at, content_hash="h", sql_id=str(i),
        )


def make_corpus(n: int, dim: int, stocks: int, seed: int = 7) -> Corpus:
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        chunk = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        vectors[start : start + len(chunk)] = chunk
    weights = 1.0 / np.arange(1, stocks + 1) ** 0.9  # Zipf-like: the top stock ~ 6% of the news
    weights /= weights.sum()
    primary = rng.choice(stocks, size=n, p=weights)
    secondary = np.where(rng.random(n) < 0.2, rng.choice(stocks, size=n, p=weights), -1)
    seen = int(BASE.timestamp()) + np.sort(rng.integers(0, SPAN_SECONDS, size=n))
    codes = [f"{100000 + 37 * s:06d}" for s in range(stocks)]
    members: list[list[int]] = [[] for _ in range(stocks)]
    for i, (p, s) in enumerate(zip(primary.tolist(), secondary.tolist(), strict=True)):
        members[p].append(i)
        if s >= 0 and s != p:
            members[s].append(i)
    by_stock = [np.array(m, dtype=np.int64) for m in members]
    return Corpus(vectors, primary, secondary, seen, codes, by_stock)


def exact_top(corpus: Corpus, stock: int, cutoff: int, query: np.ndarray, k: int = 10) -> tuple[set[int], float]:
    """Ids of the exact top k over the filtered set, and the k-th score (for ties)."""
    candidates = corpus.by_stock[stock]
    candidates = candidates[corpus.seen[candidates] < cutoff]
    if len(candidates) == 0:
        return set(), np.inf
    scores = corpus.vectors[candidates] @ query
    order = np.argsort(-scores, kind="stable")[:k]
    return set(candidates[order].tolist()), float(scores[order[-1]])


def recall(corpus: Corpus, hits: list, exact: set[int], kth: float, query: np.ndarray) -> float:
    if not exact:
        return 1.0 if not hits else 0.0
    found = sum(1 for h in hits if int(h.sql_id) in exact or float(corpus.vectors[int(h.sql_id)] @ query) >= kth - 1e-5)
    return min(found, len(exact)) / len(exact)


def queries(corpus: Corpus, count: int, seed: int) -> list[tuple[int, int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    dim = corpus.vectors.shape[1]
    out = []
    lo, hi = int(corpus.seen.min()) + SPAN_SECONDS // 4, int(corpus.seen.max())
    for _ in range(count):
        q = rng.standard_normal(dim).astype(np.float32)
        out.append((int(rng.integers(len(corpus.codes))), int(rng.integers(lo, hi)), q / np.linalg.norm(q)))
    return out


def run_queries(store: VectorStore, corpus: Corpus, qs: list[tuple[int, int, np.ndarray]]) -> tuple[np.ndarray, float]:
    latencies, recalls = [], []
    for stock, cutoff, q in qs:
        before = datetime.fromtimestamp(cutoff, UTC)
        t0 = time.perf_counter()
        hits = store.search(q, limit=10, codes=[corpus.codes[stock]], before=before)
        latencies.append(time.perf_counter() - t0)
        exact, kth = exact_top(corpus, stock, cutoff, q)
        recalls.append(recall(corpus, hits, exact, kth, q))
    return np.array(latencies) * 1000, float(np.mean(recalls))


def rss_mib(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except psutil.Error:
        return float("nan")


def load_store(store: VectorStore, corpus: Corpus, batch: int = 5000) -> float:
    t0 = time.perf_counter()
    n = len(corpus.vectors)
    for start in range(0, n, batch):
        store.upsert([corpus.record(i) for i in range(start, min(n, start + batch))])
    return time.perf_counter() - t0


def bench(kind: str, corpus: Corpus, qs, market_day: bool, index_timeout: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    n, dim = corpus.vectors.shape
    data = Path(tempfile.mkdtemp(prefix=f"milvus-{kind}-bench-"))
    result: dict[str, float] = {}
    server = milvus_server.start(kind, data, timeout=300)
    try:
        print(f"  {kind}: server ready in {server.startup_seconds:.1f} s {load()}", flush=True)
        store = VectorStore(server.uri, "bench", dim, timeout=120)
        store.ensure_collection()
        load_s = load_store(store, corpus)
        print(f"  {kind}: {n:,} vectors upserted in {load_s:.0f} s ({n / load_s:,.0f}/s) {load()}", flush=True)
        if not store.lite:
            index_s = store.flush_and_wait_indexed(timeout=index_timeout)
            print(f"  {kind}: flushed and HNSW-indexed in {index_s:.0f} s {load()}", flush=True)
            result["index_s"] = index_s
        result["server_rss_mib"] = rss_mib(server.process.pid)
        ms, rec = run_queries(store, corpus, qs)
        p50, p95 = np.percentile(ms, [50, 95])
        result.update(p50=p50, p95=p95, recall=rec, load_s=load_s, startup_s=server.startup_seconds)
        print(
            f"  {kind}: filtered search k=10 over {len(qs)} queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
            f"max {ms.max():.1f} ms; recall@10 {rec:.4f} {load()}",
            flush=True,
        )
        if market_day:
            cutoff = int(corpus.seen.max())
            rng = np.random.default_rng(99)
            day = []
            for stock in range(len(corpus.codes)):
                q = rng.standard_normal(dim).astype(np.float32)
                day.append((stock, cutoff, q / np.linalg.norm(q)))
            t0 = time.perf_counter()
            ms_day, rec_day = run_queries(store, corpus, day)
            wall = time.perf_counter() - t0
            result.update(day_s=float(ms_day.sum() / 1000), day_recall=rec_day)
            print(
                f"  {kind}: market day, {len(day):,} queries (one per stock, cutoff at the end): searches "
                f"{ms_day.sum() / 1000:.1f} s (p50 {np.median(ms_day):.1f} ms, "
                f"p95 {np.percentile(ms_day, 95):.1f} ms), "
                f"wall with exact checks {wall:.1f} s; recall@10 {rec_day:.4f} {load()}",
                flush=True,
            )
        result["server_rss_mib"] = max(result["server_rss_mib"], rss_mib(server.process.pid))
        print(f"  {kind}: server RSS {result['server_rss_mib']:,.0f} MiB", flush=True)
        store.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dim", type=int, default=512, help="the offline embedder's dimension (store.py)")
    parser.add_argument("--stocks", type=int, default=2700)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--lite-size", type=int, default=100_000, help="0: no Milvus Lite baseline")
    parser.add_argument("--lite-queries", type=int, default=20)
    parser.add_argument("--no-market-day", dest="market_day", action="store_false")
    parser.add_argument("--index-timeout", type=float, default=3600.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]

    print(f"vector search, {args.dim} dims, {args.stocks:,} stocks, k=10, COSINE; {os.cpu_count()} CPUs {load()}")
    summary: dict[int, dict[str, float]] = {}
    lite: dict[str, float] | None = None
    for n in sizes:
        t0 = time.perf_counter()
        corpus = make_corpus(n, args.dim, args.stocks)
        sizes_per_stock = np.array([len(m) for m in corpus.by_stock])
        print(
            f"\n{n:,} vectors ({corpus.vectors.nbytes / 2**20:,.0f} MiB raw) generated in "
            f"{time.perf_counter() - t0:.0f} s; documents per stock: median {np.median(sizes_per_stock):.0f}, "
            f"max {sizes_per_stock.max():,} {load()}",
            flush=True,
        )
        qs = queries(corpus, args.queries, seed=n)
        summary[n] = bench("standalone", corpus, qs, args.market_day, args.index_timeout)
        if n == args.lite_size:
            lite = bench("lite", corpus, qs[: args.lite_queries], False, args.index_timeout)
        del corpus

    print("\nsummary (standalone HNSW; goals: p95 < 50 ms at 100,000, recall@10 >= 0.95)")
    for n, r in summary.items():
        day = f", market day {r['day_s']:.1f} s (recall {r['day_recall']:.4f})" if "day_s" in r else ""
        print(
            f"  {n:>9,}: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, recall@10 {r['recall']:.4f}{day}; "
            f"start {r['startup_s']:.1f} s, upsert {r['load_s']:.0f} s, index {r.get('index_s', 0):.0f} s, "
            f"server RSS {r['server_rss_mib']:,.0f} MiB"
        )
    if lite is not None and args.lite_size in summary:
        base = summary[args.lite_size]
        print(
            f"  Milvus Lite (FLAT) at {args.lite_size:,}, {args.lite_queries} queries: p50 {lite['p50']:.0f} ms, "
            f"p95 {lite['p95']:.0f} ms, recall@10 {lite['recall']:.4f}; Lite / standalone p50 "
            f"{lite['p50'] / base['p50']:.0f}x, p95 {lite['p95'] / base['p95']:.0f}x"
        )
    print(f"  this process's peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
