"""predictions/daily with every model active against the sandbox: LLM answers cached, costed, replayed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import select

from stock_insights.defs.resources import EmbeddingsResource
from stock_insights.embeddings.store import VectorRecord, vector_id
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import NewsArticle, Prediction
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.test_slice_end_to_end import materialize as _materialize

DAYS = (date(2026, 10, 27), date(2026, 10, 28))


def test_every_model_predicts_and_a_rerun_makes_no_llm_call(  # type: ignore[no-untyped-def]
    sandbox_env: str, sandbox, milvus_uri: str, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The LLM models' keys and bases are settings of the predictors; the clients are resources.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sandbox.url}/v1")
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-sandbox-openrouter")
    monkeypatch.setenv("OPENROUTER_BASE_URL", f"{sandbox.url}/openrouter/v1")
    reset_settings_cache()
    # news_tone has no view without news: the resources fetch the sandbox's (Naver keeps 90 days).
    resource = EmbeddingsResource(embedder_choice="hashing", milvus_uri=milvus_uri)
    materialize = partial(_materialize, resources={**resources, "embeddings": resource})
    assert materialize([["universe", "stocks"]]).success
    assert materialize([["news", "naver"]]).success
    assert materialize([["kis", "daily_bars"]], date(2026, 9, 1), DAYS[-1]).success

    def chat_calls() -> int:
        return httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"].get("chat_requests", 0)

    # Vectors whose stored first sighting disagrees with the database (as when a Milvus collection is shared
    # with another database): Milvus says "long ago", the database says after the cutoff. The database wins.
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        late = session.execute(
            select(NewsArticle.id, NewsArticle.content_hash).where(
                NewsArticle.first_seen_at >= datetime(2026, 10, 31, tzinfo=UTC)
            )
        ).all()
    assert late, "the test needs documents first seen after the forecast days"
    embedder = resource.embedder()
    store = resource.store(embedder)
    long_ago = datetime(2000, 1, 3, tzinfo=UTC)
    # The very query the asset retrieves with, so that these rank first.
    vectors = embedder.embed([f"{KNOWN_LISTINGS['005930'].name} 실적 전망 주가 공시"] * len(late)).vectors
    store.upsert([
        VectorRecord(id=vector_id("news", str(i)), vector=v, doc_type="news", stock_codes=["005930"],
                     source="news", published_at=long_ago, first_seen_at=long_ago, content_hash=h, sql_id=str(i))
        for (i, h), v in zip(late, vectors, strict=True)
    ])  # fmt: skip
    store.close()

    instance = dg.DagsterInstance.ephemeral()
    result = materialize([["predictions", "daily"]], DAYS[0], DAYS[-1], instance)
    assert result.success
    retrieval = (
        instance.get_latest_materialization_event(dg.AssetKey(["predictions", "daily"]))
        .asset_materialization.metadata["retrieval"]
        .value
    )  # type: ignore[union-attr]
    assert "dropped: first seen at or after the cutoff in the database" in retrieval
    first_calls = chat_calls()
    assert first_calls == 2 * 4 * len(DAYS)  # two LLMs x four stocks x two days
    metadata = instance.get_latest_materialization_event(
        dg.AssetKey(["predictions", "daily"])
    ).asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["llm_calls"].value == first_calls and metadata["replays"].value == 0
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"inputs_first_seen_before_cutoff": True, "forecast_coverage": True}

    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        rows = session.execute(select(Prediction)).scalars().all()
        assert {p.model for p in rows} == {"momentum", "news_tone", "gpt-4o", "deepseek-v3"}
        llm = [p for p in rows if p.model in ("gpt-4o", "deepseek-v3")]
        assert all(p.prompt_tokens > 0 and p.cost_usd > 0 and not p.replay for p in llm)
        assert all(p.prompt_version == "v1" for p in llm)

    # Re-materializing the same days: every LLM answer is a replay from the cache, no call is made.
    assert materialize([["predictions", "daily"]], DAYS[0], DAYS[-1], instance).success
    assert chat_calls() == first_calls
    with session_scope(engine) as session:
        replays = session.execute(select(Prediction).where(Prediction.model == "gpt-4o")).scalars().all()
        assert replays and all(p.replay for p in replays)
        assert all(p.cost_usd > 0 for p in replays)  # the first call's cost stays on the row
    engine.dispose()
