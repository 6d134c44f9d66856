"""Read-side facts the collection and prediction policies rank stocks by: watchlists, traded value, news flow,
and where each stock's minute bars of a day stop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stock_insights.storage.models import DailyBar, MinuteBar, WatchlistItem


def watched_codes(session: Session) -> set[str]:
    """Every stock on at least one user's watchlist."""
    return set(session.execute(select(WatchlistItem.code).distinct()).scalars())


def codes_by_traded_value(session: Session, before: date, limit: int | None = None) -> list[str]:
    """Stocks by traded value of the last session before ``before`` that has bars, largest first."""
    last = session.execute(
        select(func.max(DailyBar.trading_date)).where(DailyBar.trading_date < before, DailyBar.adjusted.is_(True))
    ).scalar_one_or_none()
    if last is None:
        return []
    stmt = (
        select(DailyBar.code)
        .where(DailyBar.trading_date == last, DailyBar.adjusted.is_(True))
        .order_by(DailyBar.trade_value.desc(), DailyBar.code)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.execute(stmt).scalars())


def last_minute_bar_times(session: Session, codes: Sequence[str], trading_date: date) -> dict[str, datetime]:
    """The newest stored minute bar per stock of a day (one query): where an intraday refresh resumes."""
    rows = session.execute(
        select(MinuteBar.code, func.max(MinuteBar.bar_time))
        .where(MinuteBar.trading_date == trading_date, MinuteBar.code.in_(codes))
        .group_by(MinuteBar.code)
    )
    return {code: when for code, when in rows if when is not None}
