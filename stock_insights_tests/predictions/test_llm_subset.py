"""The LLM subset policy: baselines for every stock, LLM models for watched stocks and the most news."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import select

from stock_insights.defs.resources import EmbeddingsResource
from stock_insights.predictors.config import Prices
from stock_insights.predictors.subset import LlmSubsetPolicy, capped_stocks_per_day, monthly_cost
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Prediction, User, WatchlistItem
from stock_insights_tests.test_slice_end_to_end import materialize as _materialize

TRACKED = ["000001", "000002", "000003", "000004", "000005"]


def test_watched_first_then_most_news_then_code() -> None:
    policy = LlmSubsetPolicy(top_news=2)
    news = {"000001": 3, "000002": 9, "000003": 3, "000004": 0, "999999": 50}
    # 999999 is not tracked; 000004 has no news; 000005 is watched whatever its news.
    assert policy.select(TRACKED, {"000005", "999999"}, news) == ["000005", "000002", "000001"]
    assert LlmSubsetPolicy(watched=False, top_news=10).select(TRACKED, {"000005"}, news) == [
        "000002",
        "000001",
        "000003",
    ]
    assert LlmSubsetPolicy(top_news=10, min_documents=4).select(TRACKED, set(), news) == ["000002"]
    assert LlmSubsetPolicy(top_news=0).select(TRACKED, set(), news) == []


def test_monthly_cost_at_list_prices() -> None:
    gpt4o = Prices(input_per_million=2.5, cached_input_per_million=1.25, output_per_million=10.0)
    # 2,000 prompt + 200 completion tokens = $0.007 a call; 150 stocks x 21 sessions.
    assert monthly_cost(150, gpt4o, prompt_tokens=2000, completion_tokens=200) == pytest.approx(0.007 * 150 * 21)
    assert capped_stocks_per_day(5.0, 0.007) == 714
    assert capped_stocks_per_day(0.0, 0.007) is None


def test_llm_models_forecast_only_the_subset(  # type: ignore[no-untyped-def]
    sandbox_env: str, sandbox, milvus_uri: str, resources: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-openai")  # the LLM models' settings
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sandbox.url}/v1")
    monkeypatch.setenv("LLM_SUBSET_TOP_NEWS", "0")  # watched stocks only
    reset_settings_cache()
    embeddings = EmbeddingsResource(embedder_choice="hashing", milvus_uri=milvus_uri)
    materialize = partial(_materialize, resources={**resources, "embeddings": embeddings})
    day = date(2026, 10, 28)
    assert materialize([["universe", "stocks"]]).success
    assert materialize([["kis", "daily_bars"]], date(2026, 9, 1), day).success
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        user = User(email="w@example.com", password_hash="x", role="user", created_at=datetime.now(UTC))
        session.add(user)
        session.flush()
        session.add(WatchlistItem(user_id=user.id, code="000660", added_at=datetime.now(UTC)))

    before = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"].get("chat_requests", 0)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["predictions", "daily"]], day, day, instance).success
    after = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"].get("chat_requests", 0)
    assert after - before == 1  # gpt-4o for the one watched stock
    with session_scope(engine) as session:
        rows = session.execute(select(Prediction.model, Prediction.code)).all()
    engine.dispose()
    assert {code for model, code in rows if model == "gpt-4o"} == {"000660"}
    assert {code for model, code in rows if model == "momentum"} == {"005930", "000660", "035420", "035720"}
    subset = instance.get_latest_materialization_event(
        dg.AssetKey(["predictions", "daily"])
    ).asset_materialization.metadata["llm_subset"].value  # type: ignore[union-attr]
    assert subset["stocks_per_day"] == {day.isoformat(): 1}
    assert subset["llm_forecasts_skipped_outside_subset"] == 3
