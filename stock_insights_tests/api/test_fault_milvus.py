"""Semantic search comes back after a Milvus restart (issue "Hardening", defect 4).

A real Milvus standalone server of this test's own (not the session's shared one: it is stopped and
restarted here, on the same port and data folder). While it is away, search answers the lexical fallback,
which is never cached as the query's answer; readiness says Milvus is not ready. After the restart the
collection comes back unloaded: readiness says so, and the next search loads it and answers semantically.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stock_insights.embeddings import server as milvus_server
from stock_insights.embeddings.embedders import HashingEmbedder, collection_name
from stock_insights.embeddings.store import VectorRecord, VectorStore, vector_id
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine
from stock_insights.storage.models import NewsArticle
from stock_insights_tests.api.helpers import make_user, seed, set_api_env
from stock_insights_tests.conftest import free_port

QUERY = {"q": "삼성전자 뉴스", "limit": 5}


@pytest.fixture
def own_milvus(tmp_path: Path) -> Iterator[dict[str, object]]:
    port = free_port()
    box: dict[str, object] = {"port": port, "dir": tmp_path / "milvus", "uri": f"http://127.0.0.1:{port}"}
    box["server"] = milvus_server.start("standalone", box["dir"], port=port, timeout=180)  # type: ignore[arg-type]
    try:
        yield box
    finally:
        box["server"].stop(grace=10)  # type: ignore[attr-defined]


def _embed_news(url: str, uri: str) -> str:
    embedder = HashingEmbedder()
    name = collection_name(embedder.model, embedder.dimension)
    engine = make_engine(url)
    with engine.connect() as conn:
        articles = conn.execute(select(NewsArticle.id, NewsArticle.title, NewsArticle.first_seen_at)).all()
    engine.dispose()
    vectors = embedder.embed([title for _, title, _ in articles]).vectors
    store = VectorStore(uri, name, embedder.dimension)
    try:
        store.ensure_collection()
        store.upsert(
            [
                VectorRecord(
                    id=vector_id("news", str(article_id)),
                    vector=vector,
                    doc_type="news",
                    stock_codes=["005930"],
                    source="naver",
                    published_at=seen,
                    first_seen_at=seen,
                    content_hash=f"{article_id:064d}",
                    sql_id=str(article_id),
                )
                for (article_id, _, seen), vector in zip(articles, vectors, strict=True)
            ]
        )
    finally:
        store.close()
    return name


def test_semantic_search_returns_after_a_restart_and_readiness_tells_the_truth(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, own_milvus: dict[str, object]
) -> None:
    from api.main import create_app

    url = f"sqlite:///{tmp_path / 'api.db'}"
    set_api_env(monkeypatch, url)
    monkeypatch.setenv("MILVUS_URI", str(own_milvus["uri"]))
    monkeypatch.setenv("EMBEDDER", "hashing")
    reset_settings_cache()
    with TestClient(create_app()) as client:
        seed(url)
        name = _embed_news(url, str(own_milvus["uri"]))
        token = client.app.state.api.tokens.issue(make_user(url, "u@example.com"), "user", "")  # type: ignore[attr-defined]
        headers = {"Authorization": f"Bearer {token.access_token}"}

        def search(limit: int = 5) -> dict:
            answer = client.get("/api/v1/search", params={**QUERY, "limit": limit}, headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()

        def milvus_ready() -> dict:
            return client.get("/health/ready").json()["checks"]["milvus"]

        assert search()["mode"] == "semantic"
        assert milvus_ready()["ok"] is True and "loaded" in milvus_ready()["detail"]

        own_milvus["server"].stop(grace=10)  # type: ignore[attr-defined]
        assert search()["mode"] == "semantic"  # the answer cached while Milvus was there is still true
        down = search(limit=4)  # a query not answered before
        assert down["mode"] == "lexical-fallback" and down["items"]  # degraded, and says so
        assert milvus_ready()["ok"] is False
        # The degraded answer was not kept under the query's key: the same query asks Milvus again.
        cached = len(client.app.state.api.cache.memory)  # type: ignore[attr-defined]
        assert search(limit=4)["mode"] == "lexical-fallback"
        assert len(client.app.state.api.cache.memory) == cached  # type: ignore[attr-defined]

        # The stopped server's connections may hold the port in TIME_WAIT for a while: the launcher's check
        # (a plain bind) waits for it, as an operator restarting it would.
        for _ in range(600):
            if milvus_server._port_free(own_milvus["port"]):  # type: ignore[arg-type]
                break
            time.sleep(0.2)
        own_milvus["server"] = milvus_server.start(
            "standalone",
            own_milvus["dir"],  # type: ignore[arg-type]
            port=own_milvus["port"],  # type: ignore[arg-type]
            timeout=180,
        )
        # Deterministically unloaded (a restart leaves it unloaded or still loading, depending on the moment).
        store = VectorStore(str(own_milvus["uri"]), name, HashingEmbedder().dimension)
        store._client.release_collection(name)
        assert store.load_state() == "NotLoad"
        ready = milvus_ready()
        assert ready["ok"] is False and "NotLoad" in ready["detail"]  # not "reachable": the truth
        assert client.get("/health/ready").json()["status"] == "degraded"

        back = search(limit=4)  # the query that was answered by the fallback while Milvus was away
        assert back["mode"] == "semantic" and back["items"]  # loaded on demand, no restart of the API
        assert store.load_state() == "Loaded"
        store.close()
        assert milvus_ready()["ok"] is True
        assert client.get("/health/ready").json()["status"] in ("ready", "degraded")  # Redis is not configured
