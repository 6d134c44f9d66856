"""Storage on both backends: migrations are idempotent, upserts leave the same rows, times are UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from stock_insights.clients.kis import DailyBarRow
from stock_insights.market.store import upsert_daily_bars, upsert_stocks
from stock_insights.storage.db import count, dataset_versions, make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import DailyBar, ProviderToken, Stock
from stock_insights.universe import KNOWN_LISTINGS


def test_migrations_twice_and_upserts_idempotent(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)  # a second start-up changes nothing
    engine = make_engine(database_url)
    listings = [KNOWN_LISTINGS["005930"], KNOWN_LISTINGS["000660"]]
    bars = [
        DailyBarRow(trading_date=date(2026, 10, 1), open=100, high=110, low=95, close=105, volume=10, trade_value=1000)
    ]
    for _ in range(2):
        with session_scope(engine) as session:
            upsert_stocks(session, listings)
            upsert_daily_bars(session, "005930", bars, adjusted=True, source="kis")
    with session_scope(engine) as session:
        assert count(session, Stock.__table__) == 2
        assert count(session, DailyBar.__table__) == 1
        assert dataset_versions(session)["stocks"] == 2  # each write bumps the version
        # Dropping a stock from the universe keeps its rows, marked inactive.
        upsert_stocks(session, listings[:1])
    with session_scope(engine) as session:
        active = {s.code: s.active for s in session.execute(select(Stock)).scalars()}
        assert active == {"005930": True, "000660": False}
    engine.dispose()


def test_times_are_stored_and_returned_in_utc(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    kst = timezone(timedelta(hours=9))
    with session_scope(engine) as session:
        session.add(
            ProviderToken(
                provider="kis",
                key_fingerprint="f",
                access_token="t",
                expires_at=datetime(2026, 10, 2, 8, 0, tzinfo=kst),
                issued_at=datetime(2026, 10, 1, 8, 0, tzinfo=kst),
            )
        )
    with session_scope(engine) as session:
        token = session.execute(select(ProviderToken)).scalar_one()
        assert token.expires_at == datetime(2026, 10, 1, 23, 0, tzinfo=UTC)
        assert token.expires_at.tzinfo is not None
    with pytest.raises(Exception, match="naive"), session_scope(engine) as session:
        session.add(
            ProviderToken(
                provider="kis",
                key_fingerprint="g",
                access_token="t",
                expires_at=datetime(2026, 10, 2),
                issued_at=datetime(2026, 10, 1),
            )
        )
    engine.dispose()


def test_bulk_upsert_matches_upsert_on_both_backends(database_url: str) -> None:
    """The COPY path (PostgreSQL) and the plain path (SQLite) are the same contract: last row per key wins,
    a re-run changes nothing, JSON columns round-trip, naive times are refused."""
    from stock_insights.storage.db import bulk_upsert
    from stock_insights.storage.models import MinuteBar, OrderBookSnapshot

    upgrade(database_url)
    engine = make_engine(database_url)
    t0 = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)
    now = datetime.now(UTC)

    def bar(minute: int, close: float) -> dict:
        t = t0 + timedelta(minutes=minute)
        return {"code": "005930", "bar_time": t, "trading_date": t.date(), "open": 100.0, "high": 120.0,
                "low": 90.0, "close": close, "volume": 5, "cum_trade_value": 500, "source": "kis", "fetched_at": now}

    rows = [bar(0, 101.0), bar(1, 102.0), bar(0, 103.0)]  # minute 0 twice: the later one wins
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"]])
        bulk_upsert(session, MinuteBar.__table__, rows)
        bulk_upsert(session, MinuteBar.__table__, rows)
        bulk_upsert(session, OrderBookSnapshot.__table__, [{
            "code": "005930", "snapshot_at": t0, "ask_prices": [101.0, 102.0], "ask_quantities": [5, 6],
            "bid_prices": [100.0], "bid_quantities": [7], "total_ask_quantity": 11, "total_bid_quantity": 7,
            "source": "kis", "fetched_at": now}])
    with session_scope(engine) as session:
        closes = session.execute(select(MinuteBar.bar_time, MinuteBar.close).order_by(MinuteBar.bar_time)).all()
        assert [(t, c) for t, c in closes] == [(t0, 103.0), (t0 + timedelta(minutes=1), 102.0)]
        book = session.execute(select(OrderBookSnapshot)).scalar_one()
        assert book.ask_prices == [101.0, 102.0] and book.bid_quantities == [7]
    naive = {**bar(5, 1.0), "bar_time": datetime(2026, 10, 1, 9, 0)}
    with pytest.raises(Exception, match="naive"), session_scope(engine) as session:
        bulk_upsert(session, MinuteBar.__table__, [naive])
    engine.dispose()
