"""Embeddings and search at 100,000 documents, against a Milvus server this script starts.

    python benchmarks/embeddings_search.py [--docs 100000] [--queries 200] [--server standalone|lite]

Measures, in one run:
- offline embedding (HashingEmbedder) plus Milvus upsert throughput, documents/s, beside embedding alone;
- search latency p50/p95 with a stock filter and a first_seen_at cutoff (the retrieval predictions use);
- recall@10 of those searches against an exact numpy search over the same vectors with the same filter
  (goal: 1.0 on FLAT, which Milvus Lite uses; at least 0.95 on HNSW, which Milvus standalone uses).
Search at market scale (2,700 stocks, 1,000,000 vectors, Lite as the baseline) is benchmarks/vector_search.py.
The "re-materializing an unchanged day makes 0 embedding calls" figure comes from the test suite
(stock_insights_tests/embeddings/test_documents_asset.py), which asserts it through the sandbox's counters.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from stock_insights.embeddings import server as milvus_server
from stock_insights.embeddings.embedders import HashingEmbedder
from stock_insights.embeddings.store import VectorRecord, VectorStore, vector_id

CODES = [f"{i:06d}" for i in range(100, 300)]
positive = ["호실적", "수주", "상향", "급등", "신고가", "흑자전환", "최대실적", "매수", "성장", "배당확대"]
negative = ["부진", "하향", "소송", "급락", "적자", "리콜", "매도", "감산", "제재", "손실"]
neutral = ["보합", "관망", "발표", "공시", "시장", "투자자", "전망", "분기", "거래", "업종"]


def corpus(n: int, rng: np.random.Generator) -> list[tuple[str, list[str], datetime]]:
    words = positive + negative + neutral
    base = datetime(2025, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        code = CODES[i % len(CODES)]
        picked = rng.choice(len(words), size=6)
        text = f"종목{code} " + " ".join(words[j] for j in picked)
        docs.append((text, [code], base + timedelta(minutes=5 * i)))
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--server", choices=milvus_server.KINDS, default="standalone")
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    docs = corpus(args.docs, rng)
    embedder = HashingEmbedder()

    data = Path(tempfile.mkdtemp(prefix="milvus-bench-"))
    server = milvus_server.start(args.server, data, timeout=300)
    try:
        store = VectorStore(server.uri, "bench", embedder.dimension, timeout=120)
        store.ensure_collection()

        t0 = time.perf_counter()
        vectors = np.vstack(
            [embedder.embed([t for t, _, _ in docs[i : i + 2000]]).vectors for i in range(0, len(docs), 2000)]
        )
        embed_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        records = [
            VectorRecord(
                id=vector_id("news", str(i)),
                vector=vectors[i],
                doc_type="news",
                stock_codes=codes,
                source="bench",
                published_at=seen,
                first_seen_at=seen,
                content_hash="h",
                sql_id=str(i),
            )
            for i, (_, codes, seen) in enumerate(docs)
        ]
        store.upsert(records)
        upsert_s = time.perf_counter() - t0
        assert store.count() == len(docs)
        n = len(docs)
        # Printed as soon as known: the search phase on a loaded Milvus Lite can take minutes.
        kind = f"Milvus {store.plan.server} {store.plan.vector_index}"
        print(f"documents: {n:,}  (offline hashing embedder, {embedder.dimension} dims, {kind}, COSINE)")
        print(f"embedding alone            {embed_s:8.2f} s  {n / embed_s:10,.0f} docs/s", flush=True)
        print(f"embedding + Milvus upsert  {embed_s + upsert_s:8.2f} s  {n / (embed_s + upsert_s):10,.0f} docs/s "
              f"(upsert share {upsert_s / (embed_s + upsert_s):.0%})", flush=True)
        if not store.lite:
            print(f"flush and HNSW index build      {store.flush_and_wait_indexed():8.2f} s", flush=True)

        latencies, recalls = [], []
        seen_epochs = np.array([int(s.timestamp()) for _, _, s in docs])
        doc_codes = np.array([c[0] for _, c, _ in docs])
        for q in range(args.queries):
            code = CODES[int(rng.integers(len(CODES)))]
            cutoff = docs[int(rng.integers(len(docs) // 4, len(docs)))][2]
            query = embedder.embed([f"종목{code} " + " ".join(rng.choice(positive, 3))]).vectors[0]
            t0 = time.perf_counter()
            hits = store.search(query, limit=10, codes=[code], before=cutoff)
            latencies.append(time.perf_counter() - t0)
            mask = (doc_codes == code) & (seen_epochs < int(cutoff.timestamp()))
            candidates = np.flatnonzero(mask)
            scores = vectors[candidates] @ query
            exact = set(candidates[np.argsort(-scores, kind="stable")[:10]].tolist())
            # Ties at the 10th score may order differently; count a hit as found if its score ties.
            kth = np.sort(scores)[-10] if len(scores) >= 10 else -np.inf
            found = sum(1 for h in hits if int(h.sql_id) in exact or vectors[int(h.sql_id)] @ query >= kth - 1e-6)
            recalls.append(found / max(1, min(10, len(candidates))))
            del q
        store.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)

    p50, p95 = np.percentile(np.array(latencies) * 1000, [50, 95])
    print(f"search (stock + cutoff filter, k=10) over {args.queries} queries: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    print(f"recall@10 against exact numpy search: {np.mean(recalls):.4f} (min {np.min(recalls):.2f})")


if __name__ == "__main__":
    main()
