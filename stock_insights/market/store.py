"""Writes and reads of the universe and market data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from operator import attrgetter
from typing import Any

from sqlalchemy import Select, Table, insert, select, update
from sqlalchemy.orm import Session

from stock_insights.clients.kis import DailyBarRow, FinancialRow, IndexBarRow, MinuteBarRow, OrderBook
from stock_insights.clients.kis.master import MasterRow
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bulk_upsert, bump_dataset_version, upsert, utcnow
from stock_insights.storage.models import (
    DailyBar,
    FinancialStatementItem,
    IndexBar,
    ListingState,
    MinuteBar,
    OrderBookSnapshot,
    Stock,
)
from stock_insights.universe import Listing


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
    bump_dataset_version(session, Dataset.STOCKS)
    return len(rows)


_STATE_FIELDS = ("status", "name", "market", "security_type", "group_code", "standard_code", "preferred_kind",
                 "suspended", "administrative", "liquidating", "listed_on")


class ListingHistoryError(ValueError):
    """The master of an earlier day than one already recorded: history is written in day order."""


def _state_of(row: MasterRow) -> dict[str, Any]:
    return {
        "status": "listed", "name": row.name, "market": row.market, "security_type": row.security_type,
        "group_code": row.group_code, "standard_code": row.standard_code, "preferred_kind": row.preferred_kind,
        "suspended": row.suspended, "administrative": row.administrative, "liquidating": row.liquidating,
        "listed_on": row.listed_on,
    }


def record_listing_states(session: Session, rows: Sequence[MasterRow], day: date) -> Counter[str]:
    """Record the master of ``day`` (both markets) in ``listing_states``; returns counts of what changed.

    A listing whose state differs from its open row gets a new row from ``day`` and the old one is
    closed at ``day``; a listing missing from the master is ``delisted`` from ``day`` (its history
    stays). The same master for the same day twice changes nothing; a different master for a day
    already recorded replaces that day's rows (the latest read of a day wins). Raises
    ``ListingHistoryError`` for a day before the latest recorded one, before writing anything.
    """
    open_states = _open_states(session, day)
    changes = _ListingChanges(day, utcnow())
    for row in rows:
        changes.listed(row, open_states.pop(row.code, None))
    for code, current in open_states.items():  # missing from today's master
        changes.missing(code, current)
    if changes.inserts:
        session.execute(insert(ListingState), changes.inserts)
    session.flush()
    if changes.counts:
        bump_dataset_version(session, Dataset.LISTINGS)
    return changes.counts


def _open_states(session: Session, day: date) -> dict[str, ListingState]:
    """Each code's open row. History is written in day order (closing a row at an earlier day than
    it opened would corrupt it), so an older master raises here, before anything is written."""
    open_states = {s.code: s for s in session.execute(select(ListingState).where(ListingState.valid_to.is_(None)))
                   .scalars()}
    latest = max((s.valid_from for s in open_states.values()), default=None)
    if latest is not None and day < latest:
        raise ListingHistoryError(f"listing history is recorded up to {latest}; the master of {day} is older")
    return open_states


def _change_kind(current: ListingState, row: MasterRow) -> str:
    """How a listing whose state changed is counted; the first matching kind wins."""
    if current.status == "delisted":
        return "relisted"
    if current.name != row.name:
        return "renamed"
    if row.suspended and not current.suspended:
        return "suspended"
    if current.suspended and not row.suspended:
        return "resumed"
    return "changed"


@dataclass
class _ListingChanges:
    """One day's changes: counts by kind and the rows to insert (open rows are edited in place).
    New rows are collected so the whole master is inserted in one statement."""

    day: date
    now: datetime
    counts: Counter[str] = field(default_factory=Counter)
    inserts: list[dict[str, Any]] = field(default_factory=list)

    def _open_row(self, code: str, state: dict[str, Any]) -> None:
        self.inserts.append({"code": code, "valid_from": self.day, "valid_to": None, "recorded_at": self.now, **state})

    def listed(self, row: MasterRow, current: ListingState | None) -> None:
        """A listing in the master: opened when new, left alone when unchanged, else its open row is
        closed at ``day`` and a new one opened, or overwritten when it opened on ``day`` itself (the
        latest read of a day wins)."""
        want = _state_of(row)
        if current is None:
            self.counts["listed"] += 1
            self._open_row(row.code, want)
            return
        if {f: getattr(current, f) for f in _STATE_FIELDS} == want:
            return
        self.counts[_change_kind(current, row)] += 1
        if current.valid_from == self.day:
            for f, value in want.items():
                setattr(current, f, value)
            current.recorded_at = self.now
        else:
            current.valid_to = self.day
            self._open_row(row.code, want)

    def missing(self, code: str, current: ListingState) -> None:
        """A listing absent from the master is delisted from ``day``; its history stays."""
        if current.status == "delisted":
            return
        self.counts["delisted"] += 1
        if current.valid_from == self.day:
            current.status = "delisted"
            current.recorded_at = self.now
        else:
            current.valid_to = self.day
            self._open_row(code, {**{f: getattr(current, f) for f in _STATE_FIELDS}, "status": "delisted"})


def listing_states_as_of(session: Session, day: date, *, listed_only: bool = True) -> list[ListingState]:
    """Every listing's state on ``day`` (by code); only listed ones unless ``listed_only`` is False."""
    query = select(ListingState).where(
        ListingState.valid_from <= day, (ListingState.valid_to.is_(None)) | (ListingState.valid_to > day)
    )
    if listed_only:
        query = query.where(ListingState.status == "listed")
    return list(session.execute(query.order_by(ListingState.code)).scalars())


def former_names(session: Session) -> dict[str, list[str]]:
    """Per code, the names it was listed under before its current one (oldest first)."""
    history: dict[str, list[str]] = {}
    query = select(ListingState.code, ListingState.name).where(ListingState.status == "listed")
    for code, name in session.execute(query.order_by(ListingState.code, ListingState.valid_from)):
        names = history.setdefault(code, [])
        if not names or names[-1] != name:
            names.append(name)
    return {code: names[:-1] for code, names in history.items() if len(names) > 1}


def active_stocks(session: Session) -> list[Stock]:
    return list(session.execute(select(Stock).where(Stock.active.is_(True)).order_by(Stock.code)).scalars())


def _source_rows(table: Table, items: Iterable[Any], **fixed: Any) -> list[dict[str, Any]]:
    """Rows for ``table`` from parsed source rows whose attributes are named as its columns.

    ``fixed`` gives the columns the items do not carry (the stock code, the source); ``fetched_at``
    is now. attrgetter over the column names: about as fast as a dict literal (1M-row backfills).
    """
    fields = [c.key for c in table.columns if c.key not in fixed and c.key != "fetched_at"]
    get = attrgetter(*fields)
    fixed["fetched_at"] = utcnow()
    keys, constants = (*fixed, *fields), tuple(fixed.values())
    return [dict(zip(keys, constants + get(item), strict=True)) for item in items]


def upsert_daily_bars(session: Session, code: str, bars: Iterable[DailyBarRow], *, adjusted: bool, source: str) -> int:
    bump_dataset_version(session, Dataset.DAILY_BARS)
    return bulk_upsert(
        session, DailyBar.__table__, _source_rows(DailyBar.__table__, bars, code=code, adjusted=adjusted, source=source)
    )


def upsert_index_bars(session: Session, index_code: str, bars: Iterable[IndexBarRow], *, source: str) -> int:
    bump_dataset_version(session, Dataset.INDEX_BARS)
    return bulk_upsert(
        session, IndexBar.__table__, _source_rows(IndexBar.__table__, bars, index_code=index_code, source=source)
    )


def upsert_minute_bars(session: Session, code: str, bars: Iterable[MinuteBarRow], *, source: str) -> int:
    bump_dataset_version(session, Dataset.MINUTE_BARS)
    return bulk_upsert(session, MinuteBar.__table__, _source_rows(MinuteBar.__table__, bars, code=code, source=source))


def upsert_orderbooks(session: Session, books: Iterable[OrderBook], *, source: str) -> int:
    bump_dataset_version(session, Dataset.ORDERBOOK)
    return bulk_upsert(
        session, OrderBookSnapshot.__table__, _source_rows(OrderBookSnapshot.__table__, books, source=source)
    )


def upsert_kis_financials(session: Session, code: str, rows: Iterable[FinancialRow], *, quarterly: bool) -> int:
    """KIS statements in long format. KIS gives no publication time: ``first_seen_at`` is ours and a
    re-run keeps the first one (point-in-time code filters on it)."""
    now = utcnow()
    items = [
        {
            "code": code,
            "source": "kis",
            "statement": row.statement,
            "period": row.period,
            "fs_div": "Q" if quarterly else "Y",
            "account": account,
            "account_name": None,
            "value": value,
            "unit": "KRW" if row.statement != "RATIO" else "ratio",
            "report_code": None,
            "rcept_no": None,
            "published_at": None,
            "first_seen_at": now,
        }
        for row in rows
        for account, value in row.values.items()
    ]
    update = ["value", "unit"]  # first_seen_at is never moved by a later run
    bump_dataset_version(session, Dataset.FINANCIALS)
    return bulk_upsert(session, FinancialStatementItem.__table__, items, update=update)


def insane_daily_bars(session: Session, start: date, end: date) -> list[str]:
    """Stored bars in [start, end] that break OHLC sanity, as "code date" strings (should be none)."""
    from sqlalchemy import and_, or_

    bad = or_(
        DailyBar.low > DailyBar.open,
        DailyBar.low > DailyBar.close,
        DailyBar.high < DailyBar.open,
        DailyBar.high < DailyBar.close,
        DailyBar.low <= 0,
        DailyBar.volume < 0,
    )
    rows = session.execute(
        select(DailyBar.code, DailyBar.trading_date).where(
            and_(DailyBar.trading_date >= start, DailyBar.trading_date <= end, bad)
        )
    )
    return [f"{code} {day.isoformat()}" for code, day in rows]


def minute_bars_after(session: Session, code: str, trading_date: date) -> MinuteBar | None:
    """The newest stored minute bar of a day: where an intraday refresh resumes."""
    return session.execute(
        select(MinuteBar)
        .where(MinuteBar.code == code, MinuteBar.trading_date == trading_date)
        .order_by(MinuteBar.bar_time.desc())
        .limit(1)
    ).scalar_one_or_none()


def daily_bars_query(
    code: str,
    *,
    start: date | None = None,
    end: date | None = None,
    before: date | None = None,
    adjusted: bool = True,
) -> Select[DailyBar]:
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


def index_closes(session: Session, index_code: str, start: date, end: date) -> dict[date, float]:
    rows = session.execute(
        select(IndexBar.trading_date, IndexBar.close).where(
            IndexBar.index_code == index_code, IndexBar.trading_date >= start, IndexBar.trading_date <= end
        )
    )
    return {day: close for day, close in rows}


def stock_markets(session: Session, codes: Sequence[str]) -> dict[str, str]:
    """KOSPI or KOSDAQ by stock: which index its excess return is measured against."""
    return dict(session.execute(select(Stock.code, Stock.market).where(Stock.code.in_(codes))).all())
