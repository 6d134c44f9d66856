"""Writes and reads of the universe and market data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from stock_insights.clients.kis import DailyBarRow
from stock_insights.storage.db import bump_dataset_version, upsert, utcnow
from stock_insights.storage.models import DailyBar, Stock
from stock_insights.universe import Listing

DATASET_STOCKS = "stocks"
DATASET_DAILY_BARS = "daily_bars"


def upsert_stocks(session: Session, listings: Sequence[Listing]) -> int:
    """Track exactly these listings: upsert them active, mark every other stock inactive."""
    now = utcnow()
    rows = [
        {
            "code": item.code,
            "name": item.name,
            "name_en": item.name_en,
            "market": item.market,
            "dart_corp_code": item.dart_corp_code,
            "aliases": list(item.aliases),
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for item in listings
    ]
    # created_at and updated_at stay as first written unless something else changed: a re-run
    # with the same universe must leave the same rows.
    upsert(session, Stock.__table__, rows, update=["name", "name_en", "market", "aliases", "active"])
    codes = [item.code for item in listings]
    session.execute(update(Stock).where(Stock.code.not_in(codes), Stock.active.is_(True)).values(active=False))
    bump_dataset_version(session, DATASET_STOCKS)
    return len(rows)


def active_stocks(session: Session) -> list[Stock]:
    return list(session.execute(select(Stock).where(Stock.active.is_(True)).order_by(Stock.code)).scalars())


def upsert_daily_bars(session: Session, code: str, bars: Iterable[DailyBarRow], *, adjusted: bool, source: str) -> int:
    now = utcnow()
    rows = [
        {
            "code": code,
            "trading_date": bar.trading_date,
            "adjusted": adjusted,
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
            "trade_value": bar.trade_value,
            "revised": bar.revised,
            "source": source,
            "fetched_at": now,
        }
        for bar in bars
    ]
    return upsert(session, DailyBar.__table__, rows)


def daily_bars_query(
    code: str,
    *,
    start: date | None = None,
    end: date | None = None,
    before: date | None = None,
    adjusted: bool = True,
) -> Select[tuple[DailyBar]]:
    stmt = select(DailyBar).where(DailyBar.code == code, DailyBar.adjusted.is_(adjusted))
    if start is not None:
        stmt = stmt.where(DailyBar.trading_date >= start)
    if end is not None:
        stmt = stmt.where(DailyBar.trading_date <= end)
    if before is not None:
        stmt = stmt.where(DailyBar.trading_date < before)
    return stmt.order_by(DailyBar.trading_date)


def closes_by_code(session: Session, codes: Sequence[str], start: date, end: date) -> dict[str, dict[date, float]]:
    rows = session.execute(
        select(DailyBar.code, DailyBar.trading_date, DailyBar.close).where(
            DailyBar.code.in_(codes),
            DailyBar.adjusted.is_(True),
            DailyBar.trading_date >= start,
            DailyBar.trading_date <= end,
        )
    )
    out: dict[str, dict[date, float]] = {code: {} for code in codes}
    for code, day, close in rows:
        out[code][day] = close
    return out
