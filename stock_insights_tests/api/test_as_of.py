"""``as_of`` on the routes that serve facts (issue 17), on SQLite and PostgreSQL.

A small history is written through the pipeline's own write paths at two moments: T1 (the day's bars, an order
book, a KIS statement line, an article, an original DART filing, a forecast) and T2 (the next day's bars and book,
a late article, a [기재정정] of that filing, a restated DART line, a forecast). Asked as of a moment between them,
every route answers with T1's facts only; asked after T2, with both; without ``as_of``, as before, saying
``"as_of": null``. Each route is asked without ``as_of`` first, so a cache key without it would serve the wrong
answer. A naive time, a bare date or garbage is a 422 problem on every route.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from stock_insights import clock
from stock_insights.clients.dart import DisclosureRow
from stock_insights.clients.kis import DailyBarRow, FinancialRow, MinuteBarRow, OrderBook
from stock_insights.corpus.store import ingest_news, linker_for_stocks, upsert_disclosures
from stock_insights.market.store import (
    upsert_daily_bars,
    upsert_kis_financials,
    upsert_minute_bars,
    upsert_orderbooks,
    upsert_stocks,
)
from stock_insights.predictors.store import upsert_predictions
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import FinancialStatementItem
from stock_insights.text.items import NewsItem
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.api.helpers import Api, make_user

KST = clock.KST
T1 = datetime(2026, 11, 2, 16, 0, tzinfo=KST)  # after the 11-02 close: that day's facts land
T2 = datetime(2026, 11, 3, 16, 0, tzinfo=KST)  # the next day's
BETWEEN = "2026-11-03T09:00:00+09:00"
AFTER = "2026-11-03T07:30:00Z"  # 16:30 KST: after T2
BEFORE = "2026-11-02T00:00:00Z"  # before anything was seen
PROBLEM = "application/problem+json"
ORIGINAL, AMENDMENT = "20261102800100", "20261103800120"


def _bar(day: date, close: float) -> DailyBarRow:
    return DailyBarRow(trading_date=day, open=close, high=close, low=close, close=close, volume=1, trade_value=close)


def _minutes(day: date, hour_utc: int) -> list[MinuteBarRow]:
    return [
        MinuteBarRow(trading_date=day, bar_time=datetime(day.year, day.month, day.day, hour_utc, m, tzinfo=UTC),
                     open=100, high=101, low=99, close=100 + m, volume=1, cum_trade_value=m + 1)
        for m in range(2)
    ]


def _book(at: datetime, best_ask: float) -> OrderBook:
    return OrderBook(code="005930", snapshot_at=at, ask_prices=[best_ask], ask_quantities=[1],
                     bid_prices=[best_ask - 1], bid_quantities=[1], total_ask_quantity=1, total_bid_quantity=1)


def _filing(rcept_no: str, name: str) -> DisclosureRow:
    return DisclosureRow.from_wire({
        "corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y", "report_nm": name,
        "rcept_no": rcept_no, "flr_nm": "삼성전자", "rcept_dt": rcept_no[:8], "rm": "유"})


def _article(url: str, title: str, fetched: datetime) -> NewsItem:
    return NewsItem.build(source="hankyung", url=url, title=title, published_at=fetched - timedelta(minutes=2),
                          fetched_at=fetched)


def _forecast(target: date, made: datetime, prob_up: float) -> dict[str, object]:
    return {"model": "momentum", "code": "005930", "target_date": target, "horizon": 1, "as_of": made,
            "direction": "up", "prob_up": prob_up, "expected_return": 0.001, "rationale": {}, "cited_inputs": {},
            "created_at": made}


def _at(moment: datetime, url: str, write) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        with clock.frozen(moment), session_scope(engine) as session:
            write(session, moment.astimezone(UTC))
    finally:
        engine.dispose()


def _first_day(session, now: datetime) -> None:  # type: ignore[no-untyped-def]
    upsert_stocks(session, [KNOWN_LISTINGS["005930"]])
    upsert_daily_bars(session, "005930", [_bar(date(2026, 10, 30), 100), _bar(date(2026, 11, 2), 101)],
                      adjusted=True, source="kis")
    upsert_minute_bars(session, "005930", _minutes(date(2026, 11, 2), 1), source="kis")
    upsert_orderbooks(session, [_book(now - timedelta(minutes=30), 101)], source="kis")
    upsert_kis_financials(session, "005930", [FinancialRow(statement="IS", period="202609", values={"sales": 1.0})],
                          quarterly=True)
    ingest_news(session, [_article("https://www.hankyung.com/article/early", "삼성전자 이른 기사", now)],
                linker_for_stocks(session))
    upsert_disclosures(session, [_filing(ORIGINAL, "단일판매ㆍ공급계약체결")], fetched_at=now)
    upsert_predictions(session, [_forecast(date(2026, 11, 3), now, 0.6)])


def _second_day(session, now: datetime) -> None:  # type: ignore[no-untyped-def]
    upsert_daily_bars(session, "005930", [_bar(date(2026, 11, 3), 102)], adjusted=True, source="kis")
    upsert_minute_bars(session, "005930", _minutes(date(2026, 11, 3), 2), source="kis")
    upsert_orderbooks(session, [_book(now - timedelta(minutes=30), 102)], source="kis")
    session.add(FinancialStatementItem(
        code="005930", source="dart", statement="IS", period="202609", fs_div="CFS", account="ifrs-full_Revenue",
        account_name="매출액", value=2.0, unit="KRW", report_code="11014", rcept_no=AMENDMENT, published_at=now,
        first_seen_at=now))
    ingest_news(session, [_article("https://www.hankyung.com/article/late", "삼성전자 늦은 기사", now)],
                linker_for_stocks(session))
    upsert_disclosures(session, [_filing(AMENDMENT, "[기재정정]단일판매ㆍ공급계약체결")], fetched_at=now)
    upsert_predictions(session, [_forecast(date(2026, 11, 4), now, 0.7)])


@pytest.fixture
def history(api: Api) -> Iterator[tuple[Api, dict[str, str]]]:
    _at(T1, api.url, _first_day)
    _at(T2, api.url, _second_day)
    yield api, api.headers_for(make_user(api.url, "asof@example.com"), "user")


def _get(api: Api, headers: dict[str, str], path: str, **params: object) -> dict:  # type: ignore[type-arg]
    answer = api.client.get(f"/api/v1{path}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _three(api: Api, headers: dict[str, str], path: str, **params: object) -> tuple[dict, dict, dict]:  # type: ignore[type-arg]
    """(without as_of, as of BETWEEN, as of AFTER), asked in that order (the first fills the cache)."""
    now = _get(api, headers, path, **params)
    between = _get(api, headers, path, **params, as_of=BETWEEN)
    after = _get(api, headers, path, **params, as_of=AFTER)
    assert now["as_of"] is None
    assert between["as_of"] == "2026-11-03T00:00:00Z" and after["as_of"] == "2026-11-03T07:30:00Z"
    return now, between, after


def test_news_a_late_article_is_absent_before_it_was_seen(history: tuple[Api, dict[str, str]]) -> None:
    api, headers = history
    for params in ({}, {"code": "005930"}, {"source": "hankyung"}):
        now, between, after = _three(api, headers, "/news", **params)
        assert [i["title"] for i in now["items"]] == ["삼성전자 늦은 기사", "삼성전자 이른 기사"]
        assert [i["title"] for i in between["items"]] == ["삼성전자 이른 기사"]
        assert [i["title"] for i in after["items"]] == ["삼성전자 늦은 기사", "삼성전자 이른 기사"]
        assert between["items"][0]["codes"] == ["005930"] and between["items"][0]["sources"]
    assert _get(api, headers, "/news", as_of=BEFORE)["items"] == []


def test_disclosures_serve_the_version_in_force(history: tuple[Api, dict[str, str]]) -> None:
    api, headers = history
    now, between, after = _three(api, headers, "/disclosures")
    assert [(i["rcept_no"], i["version"]) for i in now["items"]] == [(AMENDMENT, 2)]
    assert [(i["rcept_no"], i["version"], i["versions"]) for i in between["items"]] == [(ORIGINAL, 1, None)]
    assert after["items"][0] | {"versions": None} == now["items"][0]
    assert now["items"][0]["amends_rcept_no"] == ORIGINAL == now["items"][0]["original_rcept_no"]
    listed = _get(api, headers, "/disclosures", versions="true", as_of=AFTER)["items"]
    assert [v["rcept_no"] for v in listed[0]["versions"]] == [ORIGINAL, AMENDMENT]
    listed = _get(api, headers, "/disclosures", versions="true", as_of=BETWEEN)["items"]
    assert [v["rcept_no"] for v in listed[0]["versions"]] == [ORIGINAL]
    assert _get(api, headers, "/disclosures", code="005930", as_of=BEFORE)["items"] == []


def test_prices_minute_bars_order_book_and_last_close(history: tuple[Api, dict[str, str]]) -> None:
    api, headers = history
    window = {"start": "2026-10-26", "end": "2026-11-06"}
    now, between, after = _three(api, headers, "/stocks/005930/prices", **window)
    assert [b["trading_date"] for b in between["items"]] == ["2026-10-30", "2026-11-02"]
    assert [b["trading_date"] for b in now["items"]] == [b["trading_date"] for b in after["items"]] == [
        "2026-10-30", "2026-11-02", "2026-11-03"]
    now, between, after = _three(api, headers, "/stocks/005930/prices", interval="1m")
    assert {b["trading_date"] for b in between["items"]} == {"2026-11-02"}  # the latest day seen by then
    assert {b["trading_date"] for b in now["items"]} == {b["trading_date"] for b in after["items"]} == {"2026-11-03"}
    now, between, after = _three(api, headers, "/stocks/005930/orderbook")
    assert between["asks"][0]["price"] == 101 and now["asks"][0]["price"] == after["asks"][0]["price"] == 102
    early = api.client.get("/api/v1/stocks/005930/orderbook", params={"as_of": BEFORE}, headers=headers)
    assert early.status_code == 404 and "as of 2026-11-02T00:00:00+00:00" in early.text
    now, between, after = _three(api, headers, "/stocks/005930")
    assert (between["last_trading_date"], between["last_close"]) == ("2026-11-02", 101)
    assert now["last_close"] == after["last_close"] == 102


def test_financials_and_predictions(history: tuple[Api, dict[str, str]]) -> None:
    api, headers = history
    now, between, after = _three(api, headers, "/stocks/005930/financials")
    assert [i["source"] for i in between["items"]] == ["kis"]
    assert sorted(i["source"] for i in now["items"]) == sorted(i["source"] for i in after["items"]) == ["dart", "kis"]
    now, between, after = _three(api, headers, "/predictions", model="momentum")
    assert [p["target_date"] for p in between["items"]] == ["2026-11-03"]
    assert [p["target_date"] for p in now["items"]] == [p["target_date"] for p in after["items"]] == [
        "2026-11-04", "2026-11-03"]


ROUTES = ("/news", "/disclosures", "/stocks/005930/prices", "/stocks/005930/orderbook", "/stocks/005930/financials",
          "/predictions", "/stocks/005930")


@pytest.mark.parametrize(
    "as_of", ["2026-11-03T09:00:00", "2026-11-03", "yesterday", "2026-11-03T09:00:00 09:00", "0", "2026-13-01T00:00Z"]
)
def test_a_naive_or_malformed_as_of_is_refused(history: tuple[Api, dict[str, str]], as_of: str) -> None:
    api, headers = history
    for route in ROUTES:
        answer = api.client.get(f"/api/v1{route}", params={"as_of": as_of}, headers=headers)
        assert answer.status_code == 422, (route, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert "offset" in answer.text, answer.text  # the rule is said, not only "invalid"


def test_the_openapi_document_states_the_rule(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for route in ROUTES:
        parameters = spec["paths"][f"/api/v1{route.replace('005930', '{code}')}"]["get"]["parameters"]
        as_of = next(p for p in parameters if p["name"] == "as_of")
        schema = as_of["schema"]["anyOf"][0] if "anyOf" in as_of["schema"] else as_of["schema"]
        assert schema["format"] == "date-time" and schema["pattern"].endswith("[0-9]{2}:?[0-9]{2})$")
