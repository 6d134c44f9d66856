"""Hand-made report facts for the writer and template tests (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from stock_insights import calendar
from stock_insights.reports.facts import (
    Filing,
    IndexMove,
    MarketFacts,
    ModelCall,
    ModelDay,
    NewsItem,
    Standing,
    Standings,
    StockFacts,
    StockMove,
)

DAY = date(2026, 10, 15)
PREVIOUS = calendar.previous_session(DAY)
KOSPI = IndexMove(name="KOSPI", index_code="0001", close=2601.234, previous_close=2590.87)
SAMSUNG = StockMove(code="005930", name="삼성전자", market="KOSPI", close=71500.0, previous_close=70900.0, index=KOSPI)
FILING = Filing(
    rcept_no="20261015000123",
    code="005930",
    corp_name="삼성전자",
    report_name="주요사항보고서(자기주식취득결정)",
    filer_name="삼성전자",
    receipt_date=DAY,
    first_seen_at=datetime(2026, 10, 15, 0, 15, tzinfo=UTC),
)
NEWS = [
    NewsItem(
        article_id=7,
        title="삼성전자, 3분기 영업이익 9조원 돌파",
        url="https://www.hankyung.com/article/2026101512345",
        outlets=["hankyung", "naver"],
        codes=["005930"],
        published_at=datetime(2026, 10, 15, 1, 0, tzinfo=UTC),
        first_seen_at=datetime(2026, 10, 15, 1, 15, tzinfo=UTC),
    ),
    NewsItem(
        article_id=9,
        title="반도체 수출 호조에 삼성전자 강세",
        url="https://www.mk.co.kr/news/stock/11111111",
        outlets=["maeil"],
        codes=["005930"],
        published_at=datetime(2026, 10, 15, 2, 0, tzinfo=UTC),
        first_seen_at=datetime(2026, 10, 15, 2, 15, tzinfo=UTC),
    ),
]
STANDINGS = Standings(
    window=20,
    as_of_date=DAY,
    models=[
        Standing(
            rank=1, model="news_tone", n_predictions=80, hit_rate=0.5625, ci_low=0.4535, ci_high=0.6658, brier=0.24712
        ),
        Standing(
            rank=2, model="momentum", n_predictions=80, hit_rate=0.5, ci_low=0.3923, ci_high=0.6077, brier=0.25301
        ),
    ],
)
CALLS = [
    ModelCall(
        model="momentum",
        direction="down",
        prob_up=0.4412,
        expected_return=-0.0018,
        as_of=datetime(2026, 10, 14, 23, 0, tzinfo=UTC),
        outcome="miss",
        realized_return=0.008463,
    ),
    ModelCall(
        model="news_tone",
        direction="up",
        prob_up=0.6150,
        expected_return=0.0035,
        as_of=datetime(2026, 10, 14, 23, 0, tzinfo=UTC),
        outcome="hit",
        realized_return=0.008463,
    ),
]
WINDOW = {
    "trading_date": DAY,
    "previous_session": PREVIOUS,
    "seen_after": calendar.session_close(PREVIOUS),
    "close_at": calendar.session_close(DAY),
    "standings": STANDINGS,
}


def stock_facts(**update) -> StockFacts:  # type: ignore[no-untyped-def]
    facts = StockFacts(
        **WINDOW, move=SAMSUNG, filings=[FILING], news=NEWS, filings_in_window=1, news_in_window=2, predictions=CALLS
    )
    return facts.model_copy(update=update)


def market_facts() -> MarketFacts:
    hynix = StockMove(
        code="000660", name="SK하이닉스", market="KOSPI", close=190500.0, previous_close=193000.0, index=KOSPI
    )
    return MarketFacts(
        **WINDOW,
        indices=[KOSPI, IndexMove(name="KOSDAQ", index_code="1001", close=850.12, previous_close=852.77)],
        stocks=[SAMSUNG, hynix],
        filings=[FILING],
        news=NEWS,
        filings_in_window=1,
        news_in_window=5,
        models=[
            ModelDay(model="momentum", forecasts=2, hits=1, misses=1, pending=0),
            ModelDay(model="news_tone", forecasts=2, hits=2, misses=0, pending=0),
        ],
    )
