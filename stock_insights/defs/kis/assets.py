"""KIS market data: daily bars, index bars, minute bars, order books and financial statements.

Every asset fetches everything it needs before it writes anything: a bad answer fails the run with a
clear message and no partial write. Writes are bulk upserts on natural keys (COPY on PostgreSQL).
"""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, time, timedelta
from time import perf_counter
from typing import TypeVar

import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.clients.errors import SourceError
from stock_insights.clients.kis import KisClient
from stock_insights.clients.kis.client import INDEX_CODES
from stock_insights.clock import KST_NAME
from stock_insights.collection import Dataset, IntradayPolicy, WindowPlan, plan_window, window_number
from stock_insights.defs import keys
from stock_insights.defs.kis.checks import daily_bar_checks, index_bar_check, minute_bar_check, orderbook_check
from stock_insights.defs.metadata import data_mode, definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource, KisResource
from stock_insights.market.activity import codes_by_traded_value, last_minute_bar_times, watched_codes
from stock_insights.market.store import (
    active_stocks,
    upsert_daily_bars,
    upsert_index_bars,
    upsert_kis_financials,
    upsert_minute_bars,
    upsert_orderbooks,
)
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope

T = TypeVar("T")
UNIVERSE = keys.UNIVERSE


@contextmanager
def kis_session(kis: KisResource) -> Iterator[KisClient]:
    client = kis.client()
    try:
        yield client
    finally:
        client.close()


def fetch_all(
    items: list[str], fetch: Callable[[str], T], what: str, *, concurrency: int | None = None
) -> dict[str, T]:
    """Fetch every item or fail the run naming the first failure (in item order); nothing is written either way.

    ``concurrency`` requests are kept in flight (``KIS_FETCH_CONCURRENCY``): the shared limiter spaces them, and
    a request's latency no longer leaves the next slot unused, so a run spends the whole budget.
    """
    workers = max(1, concurrency if concurrency is not None else get_settings().KIS_FETCH_CONCURRENCY)
    out: dict[str, T] = {}
    if workers == 1 or len(items) <= 1:
        for item in items:
            try:
                out[item] = fetch(item)
            except SourceError as exc:
                raise dg.Failure(f"{what} failed for {item}, nothing written: {exc}", allow_retries=False) from None
        return out
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="kis-fetch") as pool:
        futures = [(item, pool.submit(fetch, item)) for item in items]
        try:
            for item, future in futures:
                try:
                    out[item] = future.result()
                except SourceError as exc:
                    raise dg.Failure(
                        f"{what} failed for {item}, nothing written: {exc}", allow_retries=False
                    ) from None
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def intraday_plan(
    database: DatabaseResource, dataset: Dataset, codes: list[str], day: date, *, catch_up: bool
) -> WindowPlan:
    """The intraday policy's plan for this window (``stock_insights.collection``), from the watchlists and the
    previous session's traded value."""
    policy = IntradayPolicy.from_settings(get_settings())
    with session_scope(database.engine) as session:
        watched = watched_codes(session)
        ranked = codes_by_traded_value(session, day, limit=policy.hot_top_n + len(watched))
    window = window_number(clock.now(), policy.window_seconds)
    return plan_window(
        policy, dataset, codes, watched=watched, by_traded_value=ranked, window=window, catch_up=catch_up
    )


def tracked_codes(database: DatabaseResource) -> list[str]:
    with session_scope(database.engine) as session:
        codes = [s.code for s in active_stocks(session)]
    if not codes:
        raise dg.Failure("no active stock: materialize universe/stocks first")
    return codes


def request_metadata(client: KisClient) -> dict[str, int]:
    return {"kis_requests": client.stats["requests"], "kis_rate_limited": client.stats["rate_limited"]}


# --------------------------------------------------------------------------------------------
# Daily bars
# --------------------------------------------------------------------------------------------
@dg.asset(
    key=["kis", "daily_bars"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="Adjusted daily bars (수정주가) of every tracked stock from the KIS daily chart (FHKST03010100), "
    "one partition per KRX session. Fetched after the close; a backfill over any range runs as one run.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[UNIVERSE],
    pool="kis",
    metadata=definition_metadata(table="daily_bars", source="KIS inquire-daily-itemchartprice"),
    check_specs=[
        dg.AssetCheckSpec(
            "no_missing_sessions",
            asset=["kis", "daily_bars"],
            description="Every tracked stock has a bar for every session of the run's days.",
        ),
        dg.AssetCheckSpec(
            "ohlc_sane",
            asset=["kis", "daily_bars"],
            description="Every stored bar of the run's days has low <= open, close <= high, positive prices and "
            "non-negative volume.",
        ),
    ],
    automation_condition=dg.AutomationCondition.on_cron("40 15 * * 1-5", KST_NAME),
)
def daily_bars(context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource) -> dg.MaterializeResult:
    days = partition_days(context)
    first, last = min(days), max(days)
    if calendar.session_close(last) > clock.now():
        raise dg.Failure(f"the {last} session has not closed yet; daily bars exist after its close")
    codes = tracked_codes(database)
    with kis_session(kis) as client:
        started = perf_counter()
        charts = fetch_all(codes, lambda code: client.daily_chart(code, first, last, adjusted=True), "KIS daily chart")
        stats = {**request_metadata(client), "kis_fetch_seconds": round(perf_counter() - started, 3)}
    empty = [code for code, chart in charts.items() if not chart.bars]
    if empty:
        raise dg.Failure(f"KIS answered no daily bars for {empty} over {first}..{last}; nothing written")
    wanted = set(days)
    with session_scope(database.engine) as session:
        written = sum(
            upsert_daily_bars(
                session, code, [b for b in chart.bars if b.trading_date in wanted], adjusted=True, source="kis"
            )
            for code, chart in charts.items()
        )
    with session_scope(database.engine) as session:
        checks = daily_bar_checks(session, codes, days)
    preview = [
        {
            "code": code,
            "date": bar.trading_date.isoformat(),
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
        }
        for code, chart in charts.items()
        for bar in chart.bars[-1:]
    ]
    context.log.info(f"{written} bars for {len(charts)} stocks over {len(days)} session(s) ({data_mode()} data)")
    return dg.MaterializeResult(
        metadata=run_metadata(
            written,
            preview,
            stocks=len(charts),
            sessions=len(days),
            first_session=first.isoformat(),
            last_session=last.isoformat(),
            **stats,
        ),
        check_results=checks,
    )


# --------------------------------------------------------------------------------------------
# Index bars
# --------------------------------------------------------------------------------------------
@dg.asset(
    key=["kis", "index_bars"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="Daily bars of the KOSPI (KIS index code 0001) and KOSDAQ (1001) indices from the KIS index chart "
    "(FHKUP03500100): the market returns that evaluation measures excess returns against.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="kis",
    metadata=definition_metadata(table="index_bars", indices=INDEX_CODES),
    check_specs=[
        dg.AssetCheckSpec(
            "no_missing_sessions",
            asset=["kis", "index_bars"],
            description="Both indices have a bar for every session of the run's days.",
        )
    ],
    automation_condition=dg.AutomationCondition.on_cron("40 15 * * 1-5", KST_NAME),
)
def index_bars(context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource) -> dg.MaterializeResult:
    days = partition_days(context)
    first, last = min(days), max(days)
    if calendar.session_close(last) > clock.now():
        raise dg.Failure(f"the {last} session has not closed yet; index bars exist after its close")
    with kis_session(kis) as client:
        charts = fetch_all(
            list(INDEX_CODES.values()), lambda code: client.index_chart(code, first, last), "KIS index chart"
        )
        stats = request_metadata(client)
    wanted = set(days)
    with session_scope(database.engine) as session:
        written = sum(
            upsert_index_bars(session, code, [b for b in bars if b.trading_date in wanted], source="kis")
            for code, bars in charts.items()
        )
    with session_scope(database.engine) as session:
        check = index_bar_check(session, list(INDEX_CODES.values()), days)
    preview = [
        {"index": code, "date": b.trading_date.isoformat(), "close": b.close}
        for code, bars in charts.items()
        for b in bars[-3:]
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(written, preview, sessions=len(days), **stats),
        check_results=[check],
    )


# --------------------------------------------------------------------------------------------
# Minute bars
# --------------------------------------------------------------------------------------------
@dg.asset(
    key=["kis", "minute_bars"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="One-minute bars of every tracked stock, one partition per KRX session. Today's partition is kept "
    "current during the session by the `minute_bars_intraday` schedule, each run fetching only the minutes after "
    "the last one stored (FHKST03010200); past sessions come from FHKST03010230 (real accounts only).",
    partitions_def=trading_days,
    deps=[UNIVERSE],
    pool="kis",
    metadata=definition_metadata(table="minute_bars"),
    check_specs=[
        dg.AssetCheckSpec(
            "inside_session_hours",
            asset=["kis", "minute_bars"],
            description="Every bar of the run lies inside its session's open and close.",
        )
    ],
)
def minute_bars(
    context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource
) -> dg.MaterializeResult:
    day = partition_days(context)[0]
    open_, close = calendar.session_open(day), calendar.session_close(day)
    now = clock.now()
    if now < open_:
        raise dg.Failure(f"the {day} session has not opened yet (opens {open_.astimezone(KST):%H:%M} KST)")
    is_today = now.astimezone(KST).date() == day
    until = min(now, close).astimezone(KST).time() if is_today else close.astimezone(KST).time()
    codes = tracked_codes(database)
    # Intraday, the policy picks this window's stocks (hot tier + a rotating group); after the close, or for a
    # past session, every stock catches up.
    plan = intraday_plan(database, "minute_bars", codes, day, catch_up=not is_today or now >= close)
    with session_scope(database.engine) as session:
        last_times = last_minute_bar_times(session, plan.fetch, day)
    opening = open_.astimezone(KST).time()
    resume: dict[str, time] = {
        code: (last_times[code] + timedelta(minutes=1)).astimezone(KST).time() if code in last_times else opening
        for code in plan.fetch
    }
    todo = [code for code in plan.fetch if resume[code] <= until]

    with kis_session(kis) as client:
        if is_today:
            bars = fetch_all(
                todo, lambda c: client.minute_chart_today(c, since=resume[c], until=until), "KIS minute chart"
            )
        else:
            bars = fetch_all(
                todo,
                lambda c: client.minute_chart_day(c, day, since=resume[c], until=until),
                "KIS past-day minute chart",
            )
        stats = request_metadata(client)
    with session_scope(database.engine) as session:
        written = sum(upsert_minute_bars(session, code, rows, source="kis") for code, rows in bars.items())
    with session_scope(database.engine) as session:
        check = minute_bar_check(session, codes, day)
    preview = [
        {"code": code, "time": b.bar_time.astimezone(KST).strftime("%H:%M"), "close": b.close, "volume": b.volume}
        for code, rows in bars.items()
        for b in rows[-1:]
    ]
    context.log.info(f"{written} new minute bars for {len(bars)} stocks up to {until:%H:%M} KST")
    return dg.MaterializeResult(
        metadata=run_metadata(
            written,
            preview,
            stocks_fetched=len(bars),
            up_to=f"{until:%H:%M} KST",
            intraday=is_today,
            policy=dg.MetadataValue.json(plan.summary()),
            **stats,
        ),
        check_results=[check],
    )


# --------------------------------------------------------------------------------------------
# Order book
# --------------------------------------------------------------------------------------------
@dg.asset(
    key=["kis", "orderbook"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="Ten-level order book snapshots (asks and bids with quantities) of every tracked stock from "
    "FHKST01010200, taken by the `orderbook_intraday` schedule during the session. Each run adds one snapshot "
    "per stock; a snapshot is keyed by the book's own time stamp, so a repeated run adds nothing.",
    deps=[UNIVERSE],
    pool="kis",
    metadata=definition_metadata(table="orderbook_snapshots"),
    check_specs=[
        dg.AssetCheckSpec(
            "sides_ordered_not_crossed",
            asset=["kis", "orderbook"],
            description="Asks ascend, bids descend and the best bid is below the best ask.",
        )
    ],
)
def orderbook(context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource) -> dg.MaterializeResult:
    codes = tracked_codes(database)
    day = clock.today_kst()
    # The book's HHMMSS stamp belongs to the last session, which is not today before the open or on a holiday.
    stamp_day = day if calendar.is_session(day) else calendar.previous_session(day)
    # The policy picks this window's books: the hot tier every window, the rest rotated.
    plan = intraday_plan(database, "orderbook", codes, stamp_day, catch_up=False)
    with kis_session(kis) as client:
        books = fetch_all(plan.fetch, lambda code: client.orderbook(code, day=stamp_day), "KIS order book")
        stats = request_metadata(client)
    with session_scope(database.engine) as session:
        written = upsert_orderbooks(session, list(books.values()), source="kis")
    with session_scope(database.engine) as session:
        # Checked on what is stored for the run's stocks and session: parsing refuses a bad book, but a
        # row written by another path (or a parser regression) would otherwise pass unseen.
        check = orderbook_check(session, codes, stamp_day)
    preview = [
        {
            "code": b.code,
            "at": b.snapshot_at.astimezone(KST).strftime("%H:%M:%S"),
            "best_bid": b.bid_prices[0] if b.bid_prices else None,
            "best_ask": b.ask_prices[0] if b.ask_prices else None,
        }
        for b in books.values()
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(
            written, preview, books=len(books), policy=dg.MetadataValue.json(plan.summary()), **stats
        ),
        check_results=[check],
    )


# --------------------------------------------------------------------------------------------
# Financial statements
# --------------------------------------------------------------------------------------------
@dg.asset(
    key=["kis", "financials"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="Quarterly balance sheet (FHKST66430100), income statement (FHKST66430200) and financial ratios "
    "(FHKST66430300) of every tracked stock, all pages (tr_cont), amounts converted from 억원 to won. KIS gives no "
    "publication time, so `first_seen_at` (ours, kept from the first run) is what point-in-time code uses.",
    deps=[UNIVERSE],
    pool="kis",
    metadata=definition_metadata(table="financial_statements", source="kis"),
    automation_condition=dg.AutomationCondition.on_cron("0 18 * * 6", KST_NAME),
)
def financials(context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource) -> dg.MaterializeResult:
    codes = tracked_codes(database)
    with kis_session(kis) as client:
        statements = fetch_all(
            codes,
            lambda code: {s: client.financials(code, s, quarterly=True) for s in ("BS", "IS", "RATIO")},
            "KIS financial statements",
        )
        stats = request_metadata(client)
    with session_scope(database.engine) as session:
        written = sum(
            upsert_kis_financials(session, code, [r for rows in by_statement.values() for r in rows], quarterly=True)
            for code, by_statement in statements.items()
        )
    preview = [
        {
            "code": code,
            "period": rows["IS"][0].period if rows["IS"] else None,
            "revenue_won": rows["IS"][0].values.get("sale_account") if rows["IS"] else None,
            "periods": len(rows["BS"]),
        }
        for code, rows in statements.items()
    ]
    return dg.MaterializeResult(metadata=run_metadata(written, preview, **stats))
