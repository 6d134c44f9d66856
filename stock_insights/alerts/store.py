"""Reads and writes of the alerts pipeline: watchers, the facts the rules read, notifications, deliveries.

Point in time (see ``stock_insights.alerts.rules``): every fact is read as known before a bound; filings
and articles whose ``first_seen_at`` is an estimate (a backfill) are never read here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.alerts.rules import Filing, Forecast, PricePoint, Watcher
from stock_insights.storage.db import ON_CONFLICT_INSERTS, upsert, utcnow
from stock_insights.storage.models import (
    DailyBar,
    Disclosure,
    MinuteBar,
    NewsArticle,
    NewsStockLink,
    Notification,
    Prediction,
    Stock,
    User,
    WatchlistItem,
    WebhookDelivery,
)

_BATCH = 500


def watchers(session: Session) -> dict[str, list[Watcher]]:
    """Every watched stock and who watches it since when."""
    out: dict[str, list[Watcher]] = defaultdict(list)
    rows = session.execute(
        select(WatchlistItem.code, WatchlistItem.user_id, WatchlistItem.added_at).order_by(
            WatchlistItem.code, WatchlistItem.user_id
        )
    )
    for code, user_id, added_at in rows:
        out[code].append(Watcher(user_id=user_id, added_at=added_at))
    return dict(out)


def webhook_urls(session: Session, user_ids: Sequence[int]) -> dict[int, str]:
    """The webhook URL of each of ``user_ids`` that set one. The URLs are secrets: never log them."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(User.id, User.webhook_url).where(User.id.in_(sorted(set(user_ids))), User.webhook_url.is_not(None))
    )
    return {user_id: url for user_id, url in rows if url}


def stock_names(session: Session, codes: Sequence[str]) -> dict[str, str]:
    return dict(session.execute(select(Stock.code, Stock.name).where(Stock.code.in_(sorted(set(codes))))).all())


def live_filings(session: Session, codes: Sequence[str], start: datetime, bound: datetime) -> list[Filing]:
    """Filings of ``codes`` first seen live (not estimated) in ``[start, bound)``."""
    if not codes:
        return []
    names = stock_names(session, codes)
    rows = session.execute(
        select(Disclosure)
        .where(
            Disclosure.code.in_(sorted(set(codes))),
            Disclosure.first_seen_at >= start,
            Disclosure.first_seen_at < bound,
            Disclosure.first_seen_estimated.is_(False),
        )
        .order_by(Disclosure.first_seen_at, Disclosure.rcept_no)
    ).scalars()
    return [
        Filing(
            rcept_no=d.rcept_no,
            code=d.code or "",
            name=names.get(d.code or "", d.corp_name),
            report_name=d.report_name,
            filer_name=d.filer_name,
            receipt_date=d.receipt_date,
            first_seen_at=d.first_seen_at,
            viewer_url=d.viewer_url,
        )
        for d in rows
    ]


def price_points(session: Session, codes: Sequence[str], day: date, bound: datetime) -> list[PricePoint]:
    """Each stock's latest price of ``day`` known before ``bound`` against the previous session's close.

    The day's close once its daily bar was stored (and the session had closed) before ``bound``; else the
    newest minute bar stored before ``bound``. Stocks without a previous close or a price are left out.
    """
    if not codes:
        return []
    codes = sorted(set(codes))
    previous = calendar.previous_session(day)
    names = stock_names(session, codes)
    prev_close = dict(
        session.execute(
            select(DailyBar.code, DailyBar.close).where(
                DailyBar.code.in_(codes), DailyBar.trading_date == previous, DailyBar.adjusted.is_(True)
            )
        ).all()
    )
    close_at = calendar.session_close(day)
    closes: dict[str, float] = {}
    if close_at <= bound:
        closes = dict(
            session.execute(
                select(DailyBar.code, DailyBar.close).where(
                    DailyBar.code.in_(codes),
                    DailyBar.trading_date == day,
                    DailyBar.adjusted.is_(True),
                    DailyBar.fetched_at < bound,
                )
            ).all()
        )
    points = []
    for code in codes:
        if code not in prev_close:
            continue
        if code in closes:
            price, observed, source = closes[code], close_at, "close"
        else:
            bar = session.execute(
                select(MinuteBar.close, MinuteBar.bar_time)
                .where(
                    MinuteBar.code == code,
                    MinuteBar.trading_date == day,
                    MinuteBar.bar_time < bound,
                    MinuteBar.fetched_at < bound,
                )
                .order_by(MinuteBar.bar_time.desc())
                .limit(1)
            ).first()
            if bar is None:
                continue
            price, observed, source = bar[0], bar[1], "minute bar"
        points.append(
            PricePoint(
                code=code,
                name=names.get(code, code),
                day=day,
                previous_day=previous,
                previous_close=float(prev_close[code]),
                price=float(price),
                observed_at=observed,
                source=source,
            )
        )
    return points


def forecasts(session: Session, codes: Sequence[str], day: date, bound: datetime) -> list[Forecast]:
    """One-session forecasts of ``codes`` for ``day`` and the session before, stored before ``bound``."""
    if not codes:
        return []
    codes = sorted(set(codes))
    names = stock_names(session, codes)
    rows = session.execute(
        select(Prediction)
        .where(
            Prediction.code.in_(codes),
            Prediction.horizon == 1,
            Prediction.target_date.in_([calendar.previous_session(day), day]),
            Prediction.created_at < bound,
            Prediction.as_of < bound,
        )
        .order_by(Prediction.model, Prediction.code, Prediction.target_date, Prediction.as_of)
    ).scalars()
    return [
        Forecast(
            model=p.model,
            code=p.code,
            name=names.get(p.code, p.code),
            target_date=p.target_date,
            as_of=p.as_of,
            known_at=max(p.created_at, p.as_of),
            direction=p.direction,
            prob_up=p.prob_up,
        )
        for p in rows
    ]


def live_news_sightings(
    session: Session, codes: Sequence[str], start: datetime, bound: datetime
) -> dict[str, list[datetime]]:
    """First sightings (live, not estimated) of the articles linked to each of ``codes`` in ``[start, bound)``."""
    out: dict[str, list[datetime]] = {code: [] for code in codes}
    if not codes:
        return out
    rows = session.execute(
        select(NewsStockLink.code, NewsArticle.first_seen_at)
        .join(NewsArticle, NewsArticle.id == NewsStockLink.article_id)
        .where(
            NewsStockLink.code.in_(sorted(set(codes))),
            NewsArticle.first_seen_at >= start,
            NewsArticle.first_seen_at < bound,
            NewsArticle.first_seen_estimated.is_(False),
        )
        .order_by(NewsArticle.first_seen_at)
    )
    for code, seen in rows:
        out[code].append(seen)
    return out


@dataclass(frozen=True)
class CreatedNotification:
    id: int
    user_id: int
    event_key: str


def insert_notifications(session: Session, rows: Sequence[dict[str, Any]]) -> list[CreatedNotification]:
    """Insert notifications, skipping any (user_id, event_key) that exists; return only the rows created.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: a row another run inserted first (even concurrently,
    on PostgreSQL the second insert waits for the first to commit) is not returned, so exactly one run
    owns, and delivers, each notification. Rows go in key order so that concurrent runs lock alike.
    """
    if not rows:
        return []
    unique = {(r["user_id"], r["event_key"]): r for r in rows}
    ordered = [unique[k] for k in sorted(unique)]
    table = Notification.__table__
    dialect = session.get_bind().dialect.name
    insert_fn = ON_CONFLICT_INSERTS.get(dialect)
    if insert_fn is None:
        raise NotImplementedError(f"notifications cannot be inserted on the {dialect} dialect")
    created: list[CreatedNotification] = []
    for start in range(0, len(ordered), _BATCH):
        stmt = (
            insert_fn(table)
            .values(ordered[start : start + _BATCH])
            .on_conflict_do_nothing(index_elements=["user_id", "event_key"])
            .returning(table.c.id, table.c.user_id, table.c.event_key)
        )
        created += [CreatedNotification(id, user_id, key) for id, user_id, key in session.execute(stmt)]
    return sorted(created, key=lambda c: c.id)


def record_deliveries(session: Session, results: dict[int, tuple[str, int, str | None]]) -> int:
    """Upsert each notification's delivery record: ``{notification_id: (status, attempts, last_error)}``."""
    now = utcnow()
    rows = [
        {"notification_id": nid, "status": status, "attempts": attempts, "last_error": error, "updated_at": now}
        for nid, (status, attempts, error) in sorted(results.items())
    ]
    return upsert(session, WebhookDelivery.__table__, rows)


def burst_lookback(start: datetime, minutes: int) -> datetime:
    return start - timedelta(minutes=minutes)
