"""Forecasts of a few sessions stored through the pipeline's own writer, with chosen storage times."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from stock_insights import calendar
from stock_insights.clock import KST
from stock_insights.market.store import upsert_stocks
from stock_insights.predictors.store import upsert_predictions
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.universe import KNOWN_LISTINGS

CODES = ["000660", "005930", "035420"]
DAYS = calendar.sessions(date(2026, 11, 30), date(2026, 12, 3))  # four sessions
LIVE_MODELS = ("momentum", "news_tone")


def kst(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=KST)


def seal_time(day: date) -> datetime:
    """When the ledger seals a day on the normal path: just after the 08:00 forecasts."""
    return kst(day, 8, 5)


def forecast(model: str, code: str, day: date, *, as_of: datetime, created_at: datetime, horizon: int = 1,
             prob: float = 0.55) -> dict[str, Any]:  # fmt: skip
    return {
        "model": model,
        "code": code,
        "target_date": day,
        "horizon": horizon,
        "as_of": as_of,
        "created_at": created_at,
        "direction": "up" if prob > 0.5 else "down",
        "prob_up": prob,
        "expected_return": round(prob - 0.5, 4) / 10,
        "rationale": {"positive": [f"{model} likes {code}"], "concerns": [], "summary": "s"},
        "cited_inputs": {
            "prices": [{"trading_date": calendar.previous_session(day).isoformat(), "close": 1000.0 + len(code)}],
            "documents": [
                {"doc_type": "news", "doc_id": f"{code}{day:%d}", "first_seen_at": (as_of - timedelta(hours=3)).isoformat()}  # noqa: E501
            ],
            "financials": [],
        },
        "prompt_version": "v1" if model.startswith("gpt") else None,
    }


def live_rows(day: date) -> list[dict[str, Any]]:
    """The 08:00 run: two baselines x three stocks, horizons 1 and 5 for momentum."""
    rows = []
    for i, code in enumerate(CODES):
        for model in LIVE_MODELS:
            for horizon in (1, 5) if model == "momentum" else (1,):
                prob = 0.4 + 0.1 * i + (0.05 if model == "news_tone" else 0)
                made = kst(day, 8, 0, 30)
                rows.append(forecast(model, code, day, as_of=kst(day, 8), created_at=made, horizon=horizon, prob=prob))
    return rows


def late_rows(day: date) -> list[dict[str, Any]]:
    """Forecasts for ``day`` that are not live: a model added after the open, a refresh cut off after it, and a
    backfill stored the next day."""
    return [
        *(forecast("gpt-4o", code, day, as_of=kst(day, 8), created_at=kst(day, 10)) for code in CODES),
        forecast("momentum", "005930", day, as_of=kst(day, 11), created_at=kst(day, 11, 0, 5)),
        forecast("deepseek-v3", "000660", day, as_of=kst(day, 8), created_at=kst(day, 8) + timedelta(days=1)),
    ]


def seed(url: str, days: list[date] | None = None) -> None:
    """A migrated database with three stocks, and every day's live and late forecasts."""
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS[c] for c in CODES])
        for day in days or DAYS:
            upsert_predictions(session, live_rows(day) + late_rows(day))
    engine.dispose()
