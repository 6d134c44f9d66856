"""Read queries the API shares: list pages, dashboard figures, leaderboard snapshots, experiment counts.

The API's cache keys carry the versions of the datasets a read touches (``storage.datasets.Dataset``);
the storage writers move them when they write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from stock_insights.corpus.store import (
    article_seen_by,
    carried_by,
    disclosure_in_force,
    disclosure_versions_query,
    link_seen_by,
    linked_to,
    source_seen_by,
)
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import (
    DailyBar,
    Disclosure,
    EmbeddingRecord,
    Evaluation,
    Experiment,
    ExperimentArm,
    FinancialStatementItem,
    IndexBar,
    LeaderboardSnapshot,
    MinuteBar,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Notification,
    OrderBookSnapshot,
    Prediction,
    Report,
    Stock,
)
from stock_insights.text.point_in_time import KST

# KIS and DART statements share the financial_statements table and its one dataset.
FINANCIALS_DATASETS = (Dataset.FINANCIALS,)

ALL_DATASETS = (
    Dataset.STOCKS,
    Dataset.DAILY_BARS,
    Dataset.INDEX_BARS,
    Dataset.MINUTE_BARS,
    Dataset.ORDERBOOK,
    Dataset.FINANCIALS,
    Dataset.NEWS,
    Dataset.DISCLOSURES,
    Dataset.EMBEDDINGS,
    Dataset.PREDICTIONS,
    Dataset.EVALUATIONS,
    Dataset.EXPERIMENTS,
    Dataset.REPORTS,
)

# The column that says when the pipeline last wrote each source (our clock, not the source's).
FRESHNESS_COLUMNS = (
    (Stock, "updated_at"),
    (DailyBar, "fetched_at"),
    (IndexBar, "fetched_at"),
    (MinuteBar, "fetched_at"),
    (OrderBookSnapshot, "fetched_at"),
    (FinancialStatementItem, "first_seen_at"),
    (NewsArticle, "first_seen_at"),
    (Disclosure, "first_seen_at"),
    (EmbeddingRecord, "embedded_at"),
    (Prediction, "created_at"),
    (Evaluation, "scored_at"),
    (Report, "created_at"),
)

# Counted on the dashboard; account tables are left out on purpose (every user sees the dashboard).
COUNTED = (*(model for model, _ in FRESHNESS_COLUMNS), Experiment)


async def table_counts(session: AsyncSession) -> dict[str, int]:
    # One statement of scalar subqueries: one round trip instead of thirteen.
    columns = [select(func.count()).select_from(m).scalar_subquery().label(m.__tablename__) for m in COUNTED]
    row = (await session.execute(select(*columns))).one()
    return {name: int(value) for name, value in row._mapping.items()}


async def freshness(session: AsyncSession) -> list[tuple[str, str, datetime | None]]:
    columns = [
        select(func.max(getattr(m, col))).scalar_subquery().label(m.__tablename__) for m, col in FRESHNESS_COLUMNS
    ]
    row = (await session.execute(select(*columns))).one()
    out = []
    for (model, column), value in zip(FRESHNESS_COLUMNS, row, strict=True):
        # max() of a scalar subquery loses the column type on SQLite: convert like UTCDateTime does.
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        out.append((model.__tablename__, column, value))
    return out


@dataclass(frozen=True)
class MoverRow:
    code: str
    name: str
    close: float
    previous_close: float

    @property
    def change(self) -> float:
        return self.close / self.previous_close - 1.0


async def movers(session: AsyncSession) -> tuple[date | None, date | None, list[MoverRow]]:
    """The latest session's closes against the session before, every stock with both bars."""
    days = (
        (
            await session.execute(
                select(DailyBar.trading_date)
                .where(DailyBar.adjusted.is_(True))
                .group_by(DailyBar.trading_date)
                .order_by(DailyBar.trading_date.desc())
                .limit(2)
            )
        )
        .scalars()
        .all()
    )
    if len(days) < 2:
        return (days[0] if days else None), None, []
    latest, previous = days[0], days[1]
    rows = (
        await session.execute(
            select(DailyBar.code, Stock.name, DailyBar.trading_date, DailyBar.close)
            .join(Stock, Stock.code == DailyBar.code)
            .where(DailyBar.adjusted.is_(True), DailyBar.trading_date.in_([latest, previous]))
        )
    ).all()
    closes: dict[str, dict[date, float]] = {}
    names: dict[str, str] = {}
    for code, name, day, close in rows:
        closes.setdefault(code, {})[day] = close
        names[code] = name
    out = [
        MoverRow(code=code, name=names[code], close=bars[latest], previous_close=bars[previous])
        for code, bars in sorted(closes.items())
        if latest in bars and previous in bars and bars[previous]
    ]
    return latest, previous, out


async def leaderboard_snapshot(
    session: AsyncSession, window: int, as_of: date | None = None
) -> tuple[date, dict[str, Any]] | None:
    """(as-of day, payload) of the ``evaluations/leaderboard`` snapshot of ``window`` trading days: the one of
    ``as_of`` exactly, or the latest when ``as_of`` is None; None when there is none.

    The payload is what the asset stored (``metrics.leaderboard.to_jsonable`` of the horizon-1 board, with the
    horizon-5 board of the same window under ``horizon_5``): the API serves those numbers, it does not recompute.
    """
    stmt = select(LeaderboardSnapshot.as_of_date, LeaderboardSnapshot.payload).where(
        LeaderboardSnapshot.window == window
    )
    stmt = (
        stmt.where(LeaderboardSnapshot.as_of_date == as_of)
        if as_of is not None
        else stmt.order_by(LeaderboardSnapshot.as_of_date.desc()).limit(1)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else (row[0], row[1])


@dataclass(frozen=True)
class ArmCounts:
    predictions: int
    scored: int
    hits: int
    mean_brier: float | None
    mean_log_loss: float | None


async def arm_counts(
    session: AsyncSession, experiment: Experiment, arms: Sequence[ExperimentArm]
) -> dict[str, ArmCounts]:
    """Per arm: its model's predictions made while the experiment ran, and their scores."""
    out: dict[str, ArmCounts] = {}
    for arm in arms:
        period = [Prediction.model == arm.model, Prediction.as_of >= experiment.created_at]
        if experiment.stopped_at is not None:
            period.append(Prediction.as_of <= experiment.stopped_at)
        row = (
            await session.execute(
                select(
                    func.count(Prediction.id),
                    func.count(Evaluation.prediction_id),
                    func.coalesce(func.sum(case((Evaluation.hit.is_(True), 1), else_=0)), 0),
                    func.avg(Evaluation.brier),
                    func.avg(Evaluation.log_loss),
                )
                .select_from(Prediction)
                .outerjoin(Evaluation, and_(Evaluation.prediction_id == Prediction.id, Evaluation.status == "scored"))
                .where(*period)
            )
        ).one()
        out[arm.name] = ArmCounts(
            predictions=int(row[0]),
            scored=int(row[1]),
            hits=int(row[2]),
            mean_brier=float(row[3]) if row[3] is not None else None,
            mean_log_loss=float(row[4]) if row[4] is not None else None,
        )
    return out


# As of a moment (issue 17). Market data tables keep ``fetched_at``, the time of the row's *last* write (a re-run
# rewrites it, values and all), not a first sighting; a row whose last write was by ``as_of`` is served exactly as
# it was then. The pipeline writes each bar and book once (a daily-bar partition its own sessions, minute bars
# resume after the last stored one, a book is keyed by its own stamp), so this loses nothing in normal running;
# rows rewritten later by a backfill or re-run are left out of earlier answers, since what they held before is
# not kept. News, filings and statements filter on ``first_seen_at``, predictions on ``created_at``.
def fetched_by(column: Any, as_of: datetime | None) -> list[ColumnElement[bool]]:
    return [] if as_of is None else [column <= as_of]


def daily_bar_rows_query(
    code: str, *, start: date, end: date, as_of: datetime | None = None
) -> Select[date, float, float, float, float, int, int, bool]:
    """Adjusted daily bars as plain rows (no ORM objects: a year of bars is 250 of them per answer)."""
    return (
        select(
            DailyBar.trading_date,
            DailyBar.open,
            DailyBar.high,
            DailyBar.low,
            DailyBar.close,
            DailyBar.volume,
            DailyBar.trade_value,
            DailyBar.adjusted,
        )
        .where(
            DailyBar.code == code,
            DailyBar.adjusted.is_(True),
            DailyBar.trading_date >= start,
            DailyBar.trading_date <= end,
            *fetched_by(DailyBar.fetched_at, as_of),
        )
        .order_by(DailyBar.trading_date)
    )


def last_daily_bar_query(code: str, *, as_of: datetime | None = None) -> Select[DailyBar]:
    """The latest adjusted bar of ``code`` (stored by ``as_of``)."""
    return (
        select(DailyBar)
        .where(DailyBar.code == code, DailyBar.adjusted.is_(True), *fetched_by(DailyBar.fetched_at, as_of))
        .order_by(DailyBar.trading_date.desc())
        .limit(1)
    )


def latest_minute_day_query(code: str, *, as_of: datetime | None = None) -> Select[date]:
    """The latest trading day with minute bars of ``code`` (stored by ``as_of``)."""
    return select(func.max(MinuteBar.trading_date)).where(
        MinuteBar.code == code, *fetched_by(MinuteBar.fetched_at, as_of)
    )


def minute_bars_query(code: str, day: date, *, as_of: datetime | None = None) -> Select[MinuteBar]:
    return (
        select(MinuteBar)
        .where(MinuteBar.code == code, MinuteBar.trading_date == day, *fetched_by(MinuteBar.fetched_at, as_of))
        .order_by(MinuteBar.bar_time)
    )


def latest_orderbook_query(code: str, *, as_of: datetime | None = None) -> Select[OrderBookSnapshot]:
    """The newest order book snapshot of ``code`` (stored by ``as_of``)."""
    return (
        select(OrderBookSnapshot)
        .where(OrderBookSnapshot.code == code, *fetched_by(OrderBookSnapshot.fetched_at, as_of))
        .order_by(OrderBookSnapshot.snapshot_at.desc())
        .limit(1)
    )


def financials_query(
    code: str,
    *,
    source: str | None,
    statement: str | None,
    period: str | None,
    limit: int,
    as_of: datetime | None = None,
) -> Select[FinancialStatementItem]:
    """Statement lines, newest period first; by ``as_of``: the lines first seen by then (a DART line restated by a
    later report takes the new ``first_seen_at``, so it is absent before the restatement was seen)."""
    item = FinancialStatementItem
    asked = ((item.source, source), (item.statement, statement), (item.period, period))
    stmt = select(item).where(item.code == code, *(column == value for column, value in asked if value is not None))
    if as_of is not None:
        stmt = stmt.where(FinancialStatementItem.first_seen_at <= as_of)
    return stmt.order_by(
        FinancialStatementItem.period.desc(),
        FinancialStatementItem.source,
        FinancialStatementItem.statement,
        FinancialStatementItem.fs_div,
        FinancialStatementItem.account,
    ).limit(limit)


def news_page_query(
    *,
    code: str | None,
    source: str | None,
    since: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
    as_of: datetime | None = None,
) -> Select[NewsArticle]:
    """Newest first by (published_at, id); ``after`` is the last row of the previous page. ``as_of``: only the
    articles first seen by then, found through links and sources first seen by then."""
    stmt = select(NewsArticle)
    if code is not None:
        stmt = stmt.where(linked_to(code, as_of))
    if source is not None:
        stmt = stmt.where(carried_by(source, as_of))
    if since is not None:
        stmt = stmt.where(NewsArticle.published_at >= since)
    if as_of is not None:
        stmt = stmt.where(article_seen_by(as_of))
    if after is not None:
        # A row-value comparison: one range on the (published_at, id) index, however deep the page.
        at, last_id = after
        stmt = stmt.where(tuple_(NewsArticle.published_at, NewsArticle.id) < tuple_(at, last_id))
    return stmt.order_by(NewsArticle.published_at.desc(), NewsArticle.id.desc()).limit(limit)


async def news_sources_and_codes(
    session: AsyncSession, article_ids: Sequence[int], *, as_of: datetime | None = None
) -> tuple[dict[int, list[tuple[str, str]]], dict[int, list[str]]]:
    if not article_ids:
        return {}, {}
    sources: dict[int, list[tuple[str, str]]] = {i: [] for i in article_ids}
    codes: dict[int, list[str]] = {i: [] for i in article_ids}
    source_stmt = select(NewsArticleSource.article_id, NewsArticleSource.source, NewsArticleSource.source_url).where(
        NewsArticleSource.article_id.in_(article_ids)
    )
    link_stmt = (
        select(NewsStockLink.article_id, NewsStockLink.code)
        .join(NewsArticle, NewsArticle.id == NewsStockLink.article_id)
        .where(NewsStockLink.article_id.in_(article_ids))
    )
    if as_of is not None:
        source_stmt, link_stmt = source_stmt.where(source_seen_by(as_of)), link_stmt.where(link_seen_by(as_of))
    for article_id, source, url in await session.execute(
        source_stmt.order_by(NewsArticleSource.article_id, NewsArticleSource.source)
    ):
        sources[article_id].append((source, url))
    for article_id, code in await session.execute(link_stmt.order_by(NewsStockLink.article_id, NewsStockLink.code)):
        codes[article_id].append(code)
    return sources, codes


def disclosures_page_query(
    *,
    code: str | None,
    since: date | None,
    after: tuple[date, str] | None,
    limit: int,
    as_of: datetime | None = None,
) -> Select[Disclosure]:
    """Newest first by (receipt_date, rcept_no): DART receipt numbers grow within a day. One row per report: the
    version in force at ``as_of`` (the latest version first seen by then; without ``as_of``, the latest stored)."""
    stmt = select(Disclosure).where(disclosure_in_force(as_of))
    if as_of is not None:
        # Implied by the first-seen filter (a filing is not seen before the KST day it was received: see
        # text.point_in_time.dart_first_seen), and it lets the (receipt_date, rcept_no) index start at as_of rather
        # than at the newest filing (SQLite, 200,000 filings over 500 days, as_of 300 days before the newest: a page
        # took 97 ms without it, 1.7-3.3 ms with it at load 5-8: benchmarks/disclosures_as_of.py).
        stmt = stmt.where(Disclosure.receipt_date <= as_of.astimezone(KST).date())
    if code is not None:
        stmt = stmt.where(Disclosure.code == code)
    if since is not None:
        stmt = stmt.where(Disclosure.receipt_date >= since)
    if after is not None:
        # The row comparison is one range on (receipt_date, rcept_no); the plain bound on receipt_date lets the
        # (code, receipt_date) index start at the cursor too when a code is asked.
        day, rcept_no = after
        stmt = stmt.where(
            Disclosure.receipt_date <= day, tuple_(Disclosure.receipt_date, Disclosure.rcept_no) < tuple_(day, rcept_no)
        )
    return stmt.order_by(Disclosure.receipt_date.desc(), Disclosure.rcept_no.desc()).limit(limit)


def stocks_page_query(*, include_inactive: bool, after: str | None, limit: int) -> Select[Stock]:
    """Stocks by code (the primary key: a page is one index range); ``after`` is the previous page's last code."""
    stmt = select(Stock)
    if not include_inactive:
        stmt = stmt.where(Stock.active.is_(True))
    if after is not None:
        stmt = stmt.where(Stock.code > after)
    return stmt.order_by(Stock.code).limit(limit)


def notifications_page_query(
    user_id: int, *, unread: bool, after: tuple[datetime, int] | None, limit: int
) -> Select[Notification]:
    """One user's notifications, newest first by (created_at, id): a range of the (user_id, created_at, id) index."""
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    if after is not None:
        at, last_id = after
        stmt = stmt.where(tuple_(Notification.created_at, Notification.id) < tuple_(at, last_id))
    return stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def news_title_search_query(
    term: str, *, code: str | None, before: datetime | None, limit: int
) -> Select[NewsArticle]:
    """The lexical fallback of search: a case-insensitive substring match over news titles."""
    stmt = select(NewsArticle).where(func.lower(NewsArticle.title).like(_like(term.lower()), escape="\\"))
    if code is not None:
        stmt = stmt.where(exists().where(NewsStockLink.article_id == NewsArticle.id, NewsStockLink.code == code))
    if before is not None:
        stmt = stmt.where(NewsArticle.first_seen_at < before)
    return stmt.order_by(NewsArticle.first_seen_at.desc(), NewsArticle.id.desc()).limit(limit)


def disclosure_title_search_query(
    term: str, *, code: str | None, before: datetime | None, limit: int
) -> Select[Disclosure]:
    stmt = select(Disclosure).where(func.lower(Disclosure.report_name).like(_like(term.lower()), escape="\\"))
    if code is not None:
        stmt = stmt.where(Disclosure.code == code)
    if before is not None:
        stmt = stmt.where(Disclosure.first_seen_at < before)
    return stmt.order_by(Disclosure.first_seen_at.desc(), Disclosure.rcept_no.desc()).limit(limit)


async def disclosure_versions(
    session: AsyncSession, original_rcept_nos: Sequence[str], *, as_of: datetime | None = None
) -> dict[str, list[Disclosure]]:
    """original ``rcept_no`` -> the versions of its chain first seen by ``as_of``, oldest first."""
    out: dict[str, list[Disclosure]] = {o: [] for o in original_rcept_nos}
    if original_rcept_nos:
        for row in (await session.execute(disclosure_versions_query(original_rcept_nos, as_of=as_of))).scalars():
            out[row.original_rcept_no or row.rcept_no].append(row)
    return out


def _stock_match_rank(term: str, code: str, names: Sequence[str]) -> int | None:
    """0 the code, 1 a name or alias exactly, 2 one starting with the term, 3 one containing it; None: no match."""
    if term == code:
        return 0
    folded = [n.casefold() for n in names if n]
    if term in folded:
        return 1
    if any(n.startswith(term) for n in folded) or code.startswith(term):
        return 2
    return 3 if any(term in n for n in folded) else None


async def stocks_matching(session: AsyncSession, term: str, *, limit: int) -> tuple[list[Any], int]:
    """Listings whose code, Korean or English name or an alias matches ``term`` (ignoring case), best match first
    (code, exact name, prefix, substring; tracked before untracked), at most ``limit``; and how many matched.

    The universe is a few thousand rows: matched in Python, since aliases are a JSON list (no portable index)."""
    wanted = term.strip().casefold()
    if not wanted:
        return [], 0
    ranked = []
    columns = (Stock.code, Stock.name, Stock.name_en, Stock.market, Stock.dart_corp_code, Stock.aliases, Stock.active)
    for stock in await session.execute(select(*columns)):  # rows, not ORM objects: the whole universe is read
        rank = _stock_match_rank(wanted, stock.code, [stock.name, stock.name_en or "", *map(str, stock.aliases or ())])
        if rank is not None:
            ranked.append(((rank, not stock.active, len(stock.name), stock.code), stock))
    ranked.sort(key=lambda pair: pair[0])
    return [stock for _, stock in ranked[:limit]], len(ranked)
