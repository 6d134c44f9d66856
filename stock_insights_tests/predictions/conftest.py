"""Inputs, registry entries and clients for the prediction tests (the sandbox fixture is the suite's)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from stock_insights.llm import LLMCounters, default_client_factory
from stock_insights.predictors.base import DocumentInput, FinancialInput, PredictionInput, PriceBar
from stock_insights.predictors.config import ModelEntry, load_registry
from stock_insights.settings import Settings

KEY = "sk-test-sandbox-key"
AS_OF = datetime(2026, 10, 5, 8, 0, tzinfo=UTC) - timedelta(hours=9)  # 08:00 KST on the target day
TARGET = date(2026, 10, 5)


def doc(doc_id: str, title: str, text: str, hours_before: float, doc_type: str = "news") -> DocumentInput:
    seen = AS_OF - timedelta(hours=hours_before)
    return DocumentInput(doc_type=doc_type, doc_id=doc_id, title=title, text=text, source="naver",  # type: ignore[arg-type]
                         published_at=seen - timedelta(minutes=5), first_seen_at=seen)


def make_input(code: str = "005930", name: str = "삼성전자", documents: list[DocumentInput] | None = None,
               n_prices: int = 30, horizon: int = 1) -> PredictionInput:
    start = TARGET - timedelta(days=n_prices + 1)
    prices = [PriceBar(trading_date=start + timedelta(days=i), close=70_000 + 150 * i + (i % 3) * 200)
              for i in range(n_prices)]
    if documents is None:
        documents = [
            doc("101", f"{name}, 3분기 호실적에 강세", "반도체 수주 확대로 목표주가 상향이 잇따랐다.", 3),
            doc("102", f"{name} 특허 소송 제기돼 약세", "미국에서 특허 소송이 제기됐다. 부진 우려.", 20),
            doc("20261002000123", f"{name} 단일판매·공급계약체결", "공급계약 체결 공시.", 60, "disclosure"),
        ]
    known = AS_OF - timedelta(days=40)
    financials = [
        FinancialInput(statement="IS", period="202606", account="revenue", value=74.1e12, first_seen_at=known),
        FinancialInput(statement="IS", period="202606", account="operating_income", value=4.7e12, first_seen_at=known),
        FinancialInput(statement="RATIO", period="202606", account="roe", value=8.3, first_seen_at=known),
    ]
    return PredictionInput(code=code, name=name, target_date=TARGET, horizon=horizon, as_of=AS_OF, prices=prices,
                           documents=documents, financials=financials)


def entry(name: str, **update: Any) -> ModelEntry:
    return load_registry().get(name).model_copy(update=update)


@pytest.fixture
def counters() -> LLMCounters:
    return LLMCounters()


@pytest.fixture
def client_factory(sandbox) -> Callable[[ModelEntry], Any]:  # type: ignore[no-untyped-def]
    """The real factory (keys and base URLs from settings, OpenRouter headers) pointed at the sandbox."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        OPENAI_API_KEY=KEY,
        OPENAI_BASE_URL=f"{sandbox.url}/v1",
        OPENROUTER_API_KEY="sk-or-v1-test-sandbox-key",
        OPENROUTER_BASE_URL=f"{sandbox.url}/openrouter/v1",
    )
    return lambda e: default_client_factory(e, settings)
