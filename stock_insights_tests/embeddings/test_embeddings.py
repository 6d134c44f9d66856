"""Embedders and the Milvus store: offline tokens, the real openai SDK against the sandbox, Milvus Lite."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import openai
import pytest

from stock_insights.embeddings.embedders import HashingEmbedder, OpenAIEmbedder, collection_name
from stock_insights.embeddings.store import VectorRecord, VectorStore, index_plan, vector_id
from stock_insights.embeddings.tokens import chunk_by_tokens, count_tokens

KEY = "sk-test-sandbox-key"


def test_tokens_are_counted_offline_with_the_official_vocabulary() -> None:
    import bpe_openai

    text = "삼성전자, 3분기 영업이익 10조원 돌파 — Samsung beats estimates"
    assert count_tokens(text) == len(bpe_openai.get_encoding("cl100k_base").encode(text))
    pieces = chunk_by_tokens("가나다 " * 6000, 8191)
    assert next(n for _, n in pieces) == 8191 and sum(n for _, n in pieces) == count_tokens("가나다 " * 6000)


def test_hashing_embedder_is_deterministic_unit_and_lexical() -> None:
    embedder = HashingEmbedder()
    texts = ["삼성전자 3분기 호실적 발표", "삼성전자 실적 호조 전망", "카카오 소송 악재로 급락"]
    a, b = embedder.embed(texts).vectors, HashingEmbedder().embed(texts).vectors
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    similarity = a @ a.T
    assert similarity[0, 1] > 0.3 > similarity[0, 2]
    assert collection_name(embedder.model, embedder.dimension) == "documents__hashing_char123gram_v1__512"


def _embedder(sandbox, **kwargs) -> OpenAIEmbedder:  # type: ignore[no-untyped-def]
    return OpenAIEmbedder(api_key=KEY, base_url=f"{sandbox.url}/v1", **kwargs)


def test_openai_embedder_batches_within_the_request_limits(sandbox) -> None:  # type: ignore[no-untyped-def]
    texts = [f"뉴스 {i} 삼성전자 반도체" for i in range(2500)]
    batch = _embedder(sandbox).embed(texts)
    assert batch.vectors.shape == (2500, 1536) and batch.requests == 2  # 2048 + 452
    assert batch.tokens == sum(count_tokens(t) for t in texts)
    assert batch.cost_usd == pytest.approx(batch.tokens / 1e6 * 0.02)
    # The sandbox answers the offline embedder's vectors: the SDK path returns exactly them.
    assert np.allclose(batch.vectors[:3], HashingEmbedder(dimension=1536).embed(texts[:3]).vectors, atol=1e-5)


def test_the_api_refuses_more_than_2048_inputs_as_openai_does(sandbox) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(api_key=KEY, base_url=f"{sandbox.url}/v1", max_retries=0)
    with pytest.raises(openai.BadRequestError, match=r"'\$.input' is invalid"):
        client.embeddings.create(model="text-embedding-3-small", input=["x"] * 2049)


def test_long_inputs_are_chunked_and_averaged(sandbox) -> None:  # type: ignore[no-untyped-def]
    long_text = "삼성전자 반도체 실적 " * 3000  # well over 8191 tokens
    assert count_tokens(long_text) > 8191
    batch = _embedder(sandbox).embed([long_text, "짧은 글"])
    assert batch.vectors.shape == (2, 1536)
    assert np.allclose(np.linalg.norm(batch.vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["openai_429", "openai_500"])
def test_rate_limits_and_server_errors_are_retried(sandbox, kind: str) -> None:  # type: ignore[no-untyped-def]
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"path_contains": "/v1/embeddings", "kind": kind, "count": 2}
    ).raise_for_status()
    batch = _embedder(sandbox).embed(["재시도"])
    assert batch.vectors.shape == (1, 1536)
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]
    assert stats["embedding_requests"] == 1  # two refused, the third answered


def test_a_bad_key_is_a_clear_error_that_does_not_echo_it(sandbox) -> None:  # type: ignore[no-untyped-def]
    embedder = OpenAIEmbedder(api_key="not-a-real-key-123456", base_url=f"{sandbox.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        embedder.embed(["x"])
    assert "not-a-real-key-123456" not in str(error.value)


def _records(vectors: np.ndarray, base: datetime) -> list[VectorRecord]:
    return [
        VectorRecord(
            id=vector_id("news", str(i)),
            vector=v,
            doc_type="news",
            stock_codes=["005930"] if i % 2 == 0 else ["000660", "005930"] if i % 3 == 0 else ["000660"],
            source="naver",
            published_at=base + timedelta(minutes=i),
            first_seen_at=base + timedelta(minutes=i),
            content_hash=f"h{i}",
            sql_id=str(i),
        )
        for i, v in enumerate(vectors)
    ]


def test_milvus_store_filters_inside_milvus_and_matches_exact_search(milvus_uri: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(400, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = VectorStore(milvus_uri, f"test_{uuid.uuid4().hex[:8]}", 64)
    store.ensure_collection()
    base = datetime(2026, 10, 1, tzinfo=UTC)
    records = _records(vectors, base)
    assert store.upsert(records) == 400 and store.upsert(records[:10]) == 10  # re-upsert replaces
    assert store.count() == 400

    cutoff = base + timedelta(minutes=200)
    query = rng.normal(size=64).astype(np.float32)
    hits = store.search(query, limit=10, codes=["005930"], before=cutoff)
    allowed = [i for i, r in enumerate(records) if "005930" in r.stock_codes and r.first_seen_at < cutoff]
    exact = sorted(allowed, key=lambda i: -float(vectors[i] @ (query / np.linalg.norm(query))))[:10]
    assert [int(h.sql_id) for h in hits] == exact  # unsealed rows are searched exactly: recall 1.0
    assert all(h.first_seen_at < int(cutoff.timestamp()) and "005930" in h.stock_codes for h in hits)
    store.close()


def test_collection_creation_is_safe_when_processes_race(milvus_uri: str) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    errors: list[Exception] = []
    barrier = threading.Barrier(4)

    def create() -> None:
        try:
            store = VectorStore(milvus_uri, name, 32)
            barrier.wait()
            store.ensure_collection()
            store.close()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, [str(e) for e in errors]
    with pytest.raises(ValueError, match="32-dimension"):
        VectorStore(milvus_uri, name, 64).ensure_collection()


def test_index_plan_follows_the_server_version() -> None:
    lite = index_plan("milvus_lite-3.2.2")
    assert lite.lite and lite.vector_index == "FLAT" and lite.search_params(10) == {"metric_type": "COSINE"}
    v23 = index_plan("v2.3.5-lite")  # the `milvus` package's standalone server: not Milvus Lite
    assert not v23.lite and v23.version == (2, 3, 5)
    assert v23.vector_index == "HNSW" and v23.vector_params == {"M": 16, "efConstruction": 200}
    assert v23.scalar_indexes == {"first_seen_at": "STL_SORT"}  # 2.3 has no INVERTED index
    assert v23.search_params(100) == {"metric_type": "COSINE", "params": {"ef": 100}}
    assert index_plan("v2.4.15").scalar_indexes == {"first_seen_at": "INVERTED"}
    assert index_plan("2.5.4").vector_index == "HNSW"
    with pytest.raises(ValueError, match="too old"):
        index_plan("v2.2.16")
    with pytest.raises(ValueError, match="cannot read a version"):
        index_plan("unknown")


def test_a_real_server_gets_the_hnsw_index_its_version_supports_and_finds_the_exact_top(milvus_uri: str) -> None:
    """Sealed and indexed (HNSW) segments, filtered by stock and cutoff, against numpy's exact answer."""
    rng = np.random.default_rng(5)
    n, dim = 6000, 64  # above Milvus's 1,024-row threshold for indexing a segment
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    base = datetime(2026, 10, 1, tzinfo=UTC)
    codes = [f"{c:06d}" for c in range(1, 41)]
    records = [
        VectorRecord(
            id=vector_id("news", str(i)),
            vector=v,
            doc_type="news",
            stock_codes=[codes[i % len(codes)], codes[(i * 7) % len(codes)]],
            source="test",
            published_at=base + timedelta(minutes=i),
            first_seen_at=base + timedelta(minutes=i),
            content_hash=f"h{i}",
            sql_id=str(i),
        )
        for i, v in enumerate(vectors)
    ]
    store = VectorStore(milvus_uri, f"hnsw_{uuid.uuid4().hex[:8]}", dim)
    try:
        store.ensure_collection()
        server = str(store._client.get_server_version())
        plan = index_plan(server)
        assert store.plan == plan
        if plan.lite:
            pytest.fail(f"the suite must run against a Milvus server, not Milvus Lite ({server})")
        index = store.describe_index()
        assert index["index_type"] == "HNSW" and index["metric_type"] == "COSINE"
        assert int(index["M"]) == 16 and int(index["efConstruction"]) == 200
        scalar = store._client.describe_index(store.collection, index_name="first_seen_at")
        assert scalar["index_type"] == ("INVERTED" if plan.version >= (2, 4, 0) else "STL_SORT")

        store.upsert(records)
        store.flush_and_wait_indexed(timeout=300)
        assert store.index_progress() == (n, n)
        for q in range(20):
            code = codes[q % len(codes)]
            cutoff = base + timedelta(minutes=int(rng.integers(n // 4, n)))
            query = rng.normal(size=dim).astype(np.float32)
            query /= np.linalg.norm(query)
            hits = store.search(query, limit=10, codes=[code], before=cutoff)
            allowed = np.array([i for i, r in enumerate(records) if code in r.stock_codes and r.first_seen_at < cutoff])
            exact = allowed[np.argsort(-(vectors[allowed] @ query), kind="stable")[:10]].tolist()
            assert [int(h.sql_id) for h in hits] == exact, (code, cutoff)
    finally:
        store._client.drop_collection(store.collection)
        store.close()
