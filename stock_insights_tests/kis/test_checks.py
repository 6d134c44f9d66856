"""Every KIS asset check fails on a violation planted in the database, and passes without it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from stock_insights import calendar
from stock_insights.defs.kis.checks import daily_bar_checks, index_bar_check, minute_bar_check, orderbook_check
from stock_insights.market.store import upsert_stocks
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import DailyBar, IndexBar, MinuteBar, OrderBookSnapshot
from stock_insights.universe import KNOWN_LISTINGS

CODES = ["005930", "000660"]
DAYS = [date(2026, 10, 5), date(2026, 10, 6), date(2026, 10, 7)]
NOW = datetime(2026, 10, 8, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS[c] for c in CODES])
    return engine


def _daily(code: str, day: date, **prices: float) -> DailyBar:
    values = {"open": 100.0, "high": 110.0, "low": 95.0, "close": 105.0, **prices}
    return DailyBar(code=code, trading_date=day, adjusted=True, volume=1000, trade_value=100_000, revised=False,
                    source="test", fetched_at=NOW, **values)


def _results(engine: Engine) -> dict[str, bool]:
    with session_scope(engine) as session:
        return {r.check_name: r.passed for r in daily_bar_checks(session, CODES, DAYS)}


def test_daily_bar_checks_fail_on_a_missing_session_and_an_insane_bar(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add_all([_daily(c, d) for c in CODES for d in DAYS])
    assert _results(engine) == {"no_missing_sessions": True, "ohlc_sane": True}

    with session_scope(engine) as session:
        session.execute(update(DailyBar).where(DailyBar.code == "000660", DailyBar.trading_date == DAYS[1])
                        .values(adjusted=False))  # only a raw bar left for that session
    assert _results(engine) == {"no_missing_sessions": False, "ohlc_sane": True}

    with session_scope(engine) as session:
        session.execute(update(DailyBar).where(DailyBar.code == "000660", DailyBar.trading_date == DAYS[1])
                        .values(adjusted=True))
        session.execute(update(DailyBar).where(DailyBar.code == "005930", DailyBar.trading_date == DAYS[2])
                        .values(high=90.0))  # high below open and close
    with session_scope(engine) as session:
        results = {r.check_name: r for r in daily_bar_checks(session, CODES, DAYS)}
    assert results["no_missing_sessions"].passed and not results["ohlc_sane"].passed
    assert results["ohlc_sane"].metadata["insane"].value == ["005930 2026-10-07"]


def test_index_bar_check_fails_on_a_missing_session(engine: Engine) -> None:
    def bar(index: str, day: date) -> IndexBar:
        return IndexBar(index_code=index, trading_date=day, open=1.0, high=1.0, low=1.0, close=1.0, volume=1,
                        trade_value=1, source="test", fetched_at=NOW)

    with session_scope(engine) as session:
        session.add_all([bar(i, d) for i in ("0001", "1001") for d in DAYS])
    with session_scope(engine) as session:
        assert index_bar_check(session, ["0001", "1001"], DAYS).passed
        session.delete(session.get(IndexBar, ("1001", DAYS[0])))
    with session_scope(engine) as session:
        result = index_bar_check(session, ["0001", "1001"], DAYS)
    assert not result.passed and result.metadata["missing"].value == {"1001": ["2026-10-05"]}


def test_minute_bar_check_fails_on_a_bar_outside_the_session(engine: Engine) -> None:
    day = DAYS[1]
    open_, close = calendar.session_open(day), calendar.session_close(day)

    def bar(at: datetime, trading_date: date = day) -> MinuteBar:
        return MinuteBar(code="005930", bar_time=at, trading_date=trading_date, open=1.0, high=1.0, low=1.0,
                         close=1.0, volume=1, cum_trade_value=1, source="test", fetched_at=NOW)

    with session_scope(engine) as session:
        session.add_all([bar(open_), bar(open_ + timedelta(minutes=1)), bar(close)])
    with session_scope(engine) as session:
        assert minute_bar_check(session, CODES, day).passed
        session.add(bar(close + timedelta(minutes=5)))  # an after-hours bar
    with session_scope(engine) as session:
        assert not minute_bar_check(session, CODES, day).passed
        session.delete(session.get(MinuteBar, ("005930", close + timedelta(minutes=5))))
        session.add(bar(open_ + timedelta(minutes=2), trading_date=DAYS[0]))  # inside hours, wrong session
    with session_scope(engine) as session:
        assert not minute_bar_check(session, CODES, day).passed


@pytest.mark.parametrize(("asks", "bids", "passed"), [
    ([101.0, 102.0, 103.0], [100.0, 99.0, 98.0], True),
    ([101.0, 100.5, 103.0], [100.0, 99.0, 98.0], False),  # asks do not ascend
    ([101.0, 102.0, 103.0], [100.0, 100.0, 98.0], False),  # bids do not descend
    ([101.0, 102.0, 103.0], [101.0, 99.0, 98.0], False),  # crossed (best bid = best ask)
    ([101.0, 102.0], [], False),  # an empty side
])
def test_orderbook_check_fails_on_an_unordered_or_crossed_book(engine: Engine, asks: list[float], bids: list[float],
                                                                 passed: bool) -> None:
    day = DAYS[1]
    at = calendar.session_open(day) + timedelta(hours=2)
    with session_scope(engine) as session:
        session.add(OrderBookSnapshot(code="000660", snapshot_at=at - timedelta(minutes=1),
                                      ask_prices=[201.0, 202.0], ask_quantities=[1, 1], bid_prices=[200.0, 199.0],
                                      bid_quantities=[1, 1], total_ask_quantity=2, total_bid_quantity=2,
                                      source="test", fetched_at=NOW))
        session.add(OrderBookSnapshot(code="005930", snapshot_at=at, ask_prices=asks, ask_quantities=[1] * len(asks),
                                      bid_prices=bids, bid_quantities=[1] * len(bids), total_ask_quantity=len(asks),
                                      total_bid_quantity=len(bids), source="test", fetched_at=NOW))
    with session_scope(engine) as session:
        result = orderbook_check(session, CODES, day)
        other_day = orderbook_check(session, CODES, DAYS[2])
    assert result.passed is passed
    assert result.metadata["count"].value == (0 if passed else 1)
    assert other_day.passed  # books of another session are not this run's
