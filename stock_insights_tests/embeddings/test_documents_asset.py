"""embeddings/documents end to end: SQL documents -> embedder -> Milvus Lite, incremental by content hash."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import update

from stock_insights.defs.embeddings.assets import documents
from stock_insights.defs.resources import DatabaseResource, EmbeddingsResource
from stock_insights.embeddings.embedders import collection_name
from stock_insights.embeddings.retrieval import retrieve
from stock_insights.embeddings.store import VectorStore
from stock_insights.market.store import upsert_stocks
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import Disclosure, NewsArticle, NewsArticleSource, NewsStockLink
from stock_insights.universe import KNOWN_LISTINGS

DAY = date(2026, 10, 6)  # a Tuesday session
T0 = datetime(2026, 10, 6, 1, 0, tzinfo=UTC)  # 10:00 KST


def _seed(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"], KNOWN_LISTINGS["035720"]])
        titles = [
            "삼성전자 3분기 호실적, 반도체 수주 급증",
            "카카오 소송 악재에 급락",
            "삼성전자 HBM 공급 확대",
            "카카오 신사업 관망세",
        ]
        for i, title in enumerate(titles):
            session.add(
                NewsArticle(
                    id=i + 1,
                    canonical_url=f"https://news.example/{i}",
                    title=title,
                    body=None,
                    summary=title + " 기사 요약",
                    published_at=T0 + timedelta(hours=i),
                    first_seen_at=T0 + timedelta(hours=i),
                    content_hash=f"h{i}",
                )
            )
        session.flush()
        for i in range(4):
            session.add(
                NewsStockLink(
                    article_id=i + 1,
                    code="005930" if i % 2 == 0 else "035720",
                    evidence={"alias": "test"},
                    confidence=1.0,
                )
            )
            session.add(
                NewsArticleSource(
                    article_id=i + 1, source="naver", source_url=f"https://n/{i}", fetched_at=T0 + timedelta(hours=i)
                )
            )
        session.add(
            Disclosure(
                rcept_no="20261006000123",
                corp_code="00126380",
                corp_name="삼성전자",
                code="005930",
                corp_cls="Y",
                report_name="주요사항보고서(자기주식취득결정)",
                filer_name="삼성전자",
                receipt_date=DAY,
                remarks="유",
                viewer_url="https://dart.fss.or.kr/dsaf001/main.do?rcpNo=1",
                first_seen_at=T0 + timedelta(hours=5),
            )
        )
    engine.dispose()


def _run(instance: dg.DagsterInstance, resources: dict[str, Any]) -> dg.AssetMaterialization:
    assert dg.materialize(
        [documents], partition_key=DAY.isoformat(), instance=instance, resources=resources
    ).success
    event = instance.get_latest_materialization_event(dg.AssetKey(["embeddings", "documents"]))
    return event.asset_materialization  # type: ignore[union-attr,return-value]


@pytest.mark.parametrize("embedder", ["hashing", "openai"])
def test_documents_are_embedded_once_and_searchable_point_in_time(  # type: ignore[no-untyped-def]
    embedder: str, sandbox_env: str, sandbox, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The asset gets its resources; the API at the end reads the same from its settings (a process setting).
    monkeypatch.setenv("MILVUS_URI", milvus_uri)
    monkeypatch.setenv("EMBEDDER", embedder)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-test")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sandbox.url}/v1")
    reset_settings_cache()
    embeddings = EmbeddingsResource(embedder_choice=embedder, openai_api_key="sk-sandbox-test",
                                    openai_base_url=f"{sandbox.url}/v1", milvus_uri=milvus_uri)
    resources = {"database": DatabaseResource(url=sandbox_env), "embeddings": embeddings}
    _seed(sandbox_env)
    model = embeddings.embedder()
    # A fresh collection per test database: the collection name carries model and dimension only.
    VectorStore(milvus_uri, collection_name(model.model, model.dimension), model.dimension)._client.drop_collection(
        collection_name(model.model, model.dimension)
    )

    instance = dg.DagsterInstance.ephemeral()
    first = _run(instance, resources).metadata
    assert first["embedded"].value == 5 and first["skipped_unchanged"].value == 0
    if embedder == "openai":
        assert first["embedding_requests"].value == 1 and first["tokens"].value > 0
    calls_before = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]["embedding_requests"]

    second = _run(instance, resources).metadata  # re-materialization: nothing changed, no embedding call
    assert second["embedded"].value == 0 and second["skipped_unchanged"].value == 5
    assert second["embedding_requests"].value == 0
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]["embedding_requests"] == calls_before

    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        session.execute(update(NewsArticle).where(NewsArticle.id == 3).values(summary="삼성전자 HBM 공급 계약 체결"))
    engine.dispose()
    assert _run(instance, resources).metadata["embedded"].value == 1  # only the changed document

    store = VectorStore(milvus_uri, collection_name(model.model, model.dimension), model.dimension)
    store.ensure_collection()
    assert store.count() == 5
    hits = retrieve(store, model, code="005930", query="삼성전자 반도체 실적", before=T0 + timedelta(minutes=90))
    assert [h.sql_id for h in hits] == ["1"]  # article 3 and the filing were first seen after the cutoff
    later = retrieve(store, model, code="005930", query="삼성전자 자기주식", before=T0 + timedelta(hours=6))
    assert {h.sql_id for h in later} == {"1", "3", "20261006000123"}
    assert later[0].doc_type == "disclosure"
    store.close()

    # The API's search embeds the query with the collection's model and filters inside Milvus.
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app()) as client:
        client.post("/api/v1/auth/register", json={"email": "reader@example.com", "password": "a long passphrase 1"})
        login = client.post("/api/v1/auth/token",
                            data={"username": "reader@example.com", "password": "a long passphrase 1"})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        answer = client.get("/api/v1/search", params={"q": "삼성전자 반도체 실적", "code": "005930",
                                                      "before": (T0 + timedelta(minutes=90)).isoformat()}).json()
    assert answer["mode"] == "semantic"
    assert [(i["doc_type"], i["id"]) for i in answer["items"]] == [("news", "1")]
    assert answer["items"][0]["title"].startswith("삼성전자 3분기") and answer["items"][0]["score"] > 0
