"""History that never changes: a past day's simulated facts do not depend on "today".

Two sandboxes whose "today" lies a year apart (and whose XKRX calendars therefore reach a year
apart) must serve the same bytes for the same past day: daily bars, minute bars, order books,
index bars, financial statements, news, Reddit posts, filings and the LLM's answers. Only *which*
days exist so far may differ.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from stock_insights.sandbox.app import create_app
from stock_insights.sandbox.dart import DartSandbox
from stock_insights.sandbox.kis import KisConfig
from stock_insights.sandbox.market import KST, SimulatedMarket
from stock_insights.sandbox.newsroom import Newsroom
from stock_insights_tests.sandbox.test_kis_sandbox_market_data import DAILY_CHART, INDEX_CHART, Kis

TODAY = datetime(2026, 12, 5, 10, 0, tzinfo=KST)
A_YEAR_LATER = datetime(2027, 12, 6, 10, 0, tzinfo=KST)
CODES = ("005930", "035720", "177098", "900123")  # known listings and simulated codes, one thin
DAYS = (date(2024, 6, 10), date(2025, 1, 2), date(2026, 3, 3))


@pytest.fixture(scope="module")
def markets() -> tuple[SimulatedMarket, SimulatedMarket]:
    # exchange_calendars reaches a year past the day it is built: the two "todays" of this test.
    return (SimulatedMarket(calendar_end=(TODAY + timedelta(days=365)).date()),
            SimulatedMarket(calendar_end=(A_YEAR_LATER + timedelta(days=365)).date()))


def test_the_two_calendars_really_differ(markets: tuple[SimulatedMarket, SimulatedMarket]) -> None:
    now, later = markets
    assert later.last_session - now.last_session > timedelta(days=300)


@pytest.mark.parametrize("code", CODES)
def test_market_facts_of_past_days_do_not_move(markets: tuple[SimulatedMarket, SimulatedMarket], code: str) -> None:
    now, later = markets
    start, end = date(2024, 1, 2), date(2026, 11, 30)
    a = now.daily_arrays(code, start, end, now=TODAY)
    b = later.daily_arrays(code, start, end, now=A_YEAR_LATER)
    for field in ("days", "open", "high", "low", "close", "volume", "value", "tone"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
    for day in DAYS:
        assert now.minute_bars(code, day, TODAY) == later.minute_bars(code, day, A_YEAR_LATER)
        moment = datetime.combine(day, datetime.min.time(), tzinfo=KST).replace(hour=11, minute=3)
        assert now.orderbook(code, moment) == later.orderbook(code, moment)
    for quarterly in (False, True):
        old = now.financials(code, quarterly=quarterly, now=TODAY)
        new = later.financials(code, quarterly=quarterly, now=A_YEAR_LATER)
        assert old and new[: len(old)] == old  # a year later only appends periods


def test_indices_news_and_filings_of_past_days_do_not_move(
    markets: tuple[SimulatedMarket, SimulatedMarket],
) -> None:
    now, later = markets
    for index_code in ("0001", "1001", "2001"):
        a = now.index_arrays(index_code, date(2024, 1, 2), date(2026, 11, 30), now=TODAY)
        b = later.index_arrays(index_code, date(2024, 1, 2), date(2026, 11, 30), now=A_YEAR_LATER)
        assert a.close.tobytes() == b.close.tobytes() and a.volume.tobytes() == b.volume.tobytes()
    news_now, news_later = Newsroom(now), Newsroom(later)
    dart_now, dart_later = DartSandbox(now, now=lambda: TODAY), DartSandbox(later, now=lambda: A_YEAR_LATER)
    for day in DAYS:
        assert news_now.stories(day) == news_later.stories(day)
        assert news_now.reddit_posts(day) == news_later.reddit_posts(day)
        assert dart_now.filings(day) == dart_later.filings(day)


def _client(market: SimulatedMarket, today: datetime) -> TestClient:
    return TestClient(create_app(market, now=lambda: today, kis_config=KisConfig(rate_limit_per_sec=1_000),
                                 monotonic=lambda: 1_000.0))


def test_the_wire_answers_for_a_past_day_are_byte_identical(
    markets: tuple[SimulatedMarket, SimulatedMarket],
) -> None:
    clients = [_client(markets[0], TODAY), _client(markets[1], A_YEAR_LATER)]
    bodies: list[list[bytes]] = []
    for client in clients:
        kis = Kis(client)
        answers = [
            kis.get(DAILY_CHART, "FHKST03010100", {
                "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930", "FID_INPUT_DATE_1": "20240603",
                "FID_INPUT_DATE_2": "20240614", "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "0"}),
            kis.get(INDEX_CHART, "FHKUP03500100", {
                "FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": "0001", "FID_INPUT_DATE_1": "20240603",
                "FID_INPUT_DATE_2": "20240614", "FID_PERIOD_DIV_CODE": "D"}),
            client.get("/api/list.json", params={
                "crtfc_key": "a" * 40, "bgn_de": "20240603", "end_de": "20240614", "page_count": "100"}),
            client.post("/v1/chat/completions", headers={"Authorization": "Bearer sk-sandbox"}, json={
                "model": "gpt-4o", "temperature": 0, "messages": [
                    {"role": "system", "content": "You forecast the next session of a KRX stock."},
                    {"role": "user", "content": "[news:1] Title: 삼성전자, 호실적 기대\n1-session price return +1.20%"},
                ]}),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
        # KIS's output1 is the quote *now*, which may differ; output2 holds the past days' bars.
        bars = [json.dumps(a.json()["output2"], ensure_ascii=False).encode() for a in answers[:2]]
        bodies.append([*bars, answers[2].content, json.dumps(answers[3].json()["choices"]).encode()])
    assert bodies[0] == bodies[1]
