"""The KIS assets' checks, computed from what is stored (not from what the run believes it fetched), so
that each can fail: a test plants the violation in the database and sees it.

* ``no_missing_sessions`` (daily and index bars): every tracked stock / index has a stored bar for every
  session of the run's days.
* ``ohlc_sane``: every stored daily bar of the run's days has low <= open, close <= high, positive prices and
  non-negative volume (``market.store.insane_daily_bars``).
* ``inside_session_hours``: every stored minute bar of the run's session lies inside its open and close.
* ``sides_ordered_not_crossed``: every stored order book of the run's stocks and session has asks ascending,
  bids descending, no empty side, and its best bid below its best ask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

import dagster as dg
from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.calendar import KST
from stock_insights.market.store import insane_daily_bars
from stock_insights.storage.models import DailyBar, IndexBar, MinuteBar, OrderBookSnapshot


def _missing(present: Iterable[tuple[str, date]], keys: Sequence[str], days: Sequence[date]) -> dict[str, list[str]]:
    have: dict[str, set[date]] = {key: set() for key in keys}
    for key, day in present:
        have.setdefault(key, set()).add(day)
    out = {key: sorted(d.isoformat() for d in set(days) - have[key]) for key in keys}
    return {key: ds for key, ds in out.items() if ds}


def missing_daily_sessions(session: Session, codes: Sequence[str], days: Sequence[date]) -> dict[str, list[str]]:
    """code -> sessions of ``days`` without a stored adjusted daily bar."""
    rows = session.execute(
        select(DailyBar.code, DailyBar.trading_date).where(
            DailyBar.code.in_(codes), DailyBar.adjusted.is_(True), DailyBar.trading_date.in_(list(days))
        )
    )
    return _missing(((c, d) for c, d in rows), codes, days)


def missing_index_sessions(session: Session, index_codes: Sequence[str], days: Sequence[date]) -> dict[str, list[str]]:
    rows = session.execute(
        select(IndexBar.index_code, IndexBar.trading_date).where(
            IndexBar.index_code.in_(index_codes), IndexBar.trading_date.in_(list(days))
        )
    )
    return _missing(((c, d) for c, d in rows), index_codes, days)


def _day_span(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=KST)
    return start, start + timedelta(days=1)


def minute_bars_outside_session(session: Session, codes: Sequence[str], day: date) -> dict[str, list[str]]:
    """code -> KST times of stored bars of ``day`` (by trading date or by time) outside its session."""
    open_, close = calendar.session_open(day), calendar.session_close(day)
    start, end = _day_span(day)
    rows = session.execute(
        select(MinuteBar.code, MinuteBar.bar_time, MinuteBar.trading_date).where(
            MinuteBar.code.in_(codes),
            (MinuteBar.trading_date == day) | ((MinuteBar.bar_time >= start) & (MinuteBar.bar_time < end)),
        )
    )
    out: dict[str, list[str]] = {}
    for code, bar_time, trading_date in rows:
        if not (open_ <= bar_time <= close) or trading_date != day:
            out.setdefault(code, []).append(bar_time.astimezone(KST).strftime("%Y-%m-%d %H:%M"))
    return {code: sorted(times)[:10] for code, times in out.items()}


def book_problem(asks: Sequence[Any], bids: Sequence[Any]) -> str | None:
    """Why a book is not ordered or is crossed (None when it is sound)."""
    if not asks or not bids:
        return "an empty side"
    if any(not a < b for a, b in pairwise(asks)):
        return "asks do not ascend"
    if any(not a > b for a, b in pairwise(bids)):
        return "bids do not descend"
    if not bids[0] < asks[0]:
        return f"crossed: best bid {bids[0]} >= best ask {asks[0]}"
    return None


def bad_order_books(session: Session, codes: Sequence[str], day: date) -> list[str]:
    """Stored books of ``codes`` stamped on ``day`` (KST) that are unordered or crossed."""
    start, end = _day_span(day)
    rows = session.execute(
        select(OrderBookSnapshot.code, OrderBookSnapshot.snapshot_at, OrderBookSnapshot.ask_prices,
               OrderBookSnapshot.bid_prices).where(
            OrderBookSnapshot.code.in_(codes),
            OrderBookSnapshot.snapshot_at >= start,
            OrderBookSnapshot.snapshot_at < end,
        )
    )
    out = []
    for code, at, asks, bids in rows:
        problem = book_problem(list(asks or []), list(bids or []))
        if problem:
            out.append(f"{code} {at.astimezone(KST):%H:%M:%S}: {problem}")
    return sorted(out)


# ---- results ------------------------------------------------------------------------------------
def daily_bar_checks(session: Session, codes: Sequence[str], days: Sequence[date]) -> list[dg.AssetCheckResult]:
    missing = missing_daily_sessions(session, codes, days)
    insane = insane_daily_bars(session, min(days), max(days))
    insane = [row for row in insane if row.split(" ", 1)[0] in set(codes)]
    return [
        dg.AssetCheckResult(check_name="no_missing_sessions", passed=not missing,
                            metadata={"missing": dg.MetadataValue.json(missing)}),
        dg.AssetCheckResult(check_name="ohlc_sane", passed=not insane,
                            metadata={"insane": dg.MetadataValue.json(insane[:20]), "count": len(insane)}),
    ]


def index_bar_check(session: Session, index_codes: Sequence[str], days: Sequence[date]) -> dg.AssetCheckResult:
    missing = missing_index_sessions(session, index_codes, days)
    return dg.AssetCheckResult(check_name="no_missing_sessions", passed=not missing,
                               metadata={"missing": dg.MetadataValue.json(missing)})


def minute_bar_check(session: Session, codes: Sequence[str], day: date) -> dg.AssetCheckResult:
    outside = minute_bars_outside_session(session, codes, day)
    return dg.AssetCheckResult(check_name="inside_session_hours", passed=not outside,
                               metadata={"outside": dg.MetadataValue.json(outside)})


def orderbook_check(session: Session, codes: Sequence[str], day: date) -> dg.AssetCheckResult:
    bad = bad_order_books(session, codes, day)
    return dg.AssetCheckResult(check_name="sides_ordered_not_crossed", passed=not bad,
                               metadata={"bad": dg.MetadataValue.json(bad[:20]), "count": len(bad)})
