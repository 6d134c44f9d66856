"""``kis/daily_bars``: daily OHLCV from the KIS daily chart (FHKST03010100), per trading day."""


from datetime import UTC, datetime

import dagster as dg

from stock_insights import calendar
from stock_insights.clients.errors import SourceError
from stock_insights.clients.kis import DailyChart
from stock_insights.defs.metadata import data_mode, definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource, KisResource
from stock_insights.storage.db import bump_dataset_version, session_scope
from stock_insights.storage.market_data import DATASET_DAILY_BARS, active_stocks, upsert_daily_bars

DAILY_BARS_CHECKS = [
    dg.AssetCheckSpec(
        "no_missing_sessions",
        asset=["kis", "daily_bars"],
        description="Every tracked stock has a bar for every session of the run's days.",
    ),
]


@dg.asset(
    key=["kis", "daily_bars"],
    group_name="market_data",
    kinds={"python", "sql"},
    description="Adjusted daily bars (수정주가) of every tracked stock from the KIS daily chart, one partition "
    "per KRX session. Fetched after the close; a backfill over any range runs as one run.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["universe", "stocks"])],
    pool="kis",
    metadata=definition_metadata(table="daily_bars", source="KIS inquire-daily-itemchartprice"),
    check_specs=DAILY_BARS_CHECKS,
    automation_condition=dg.AutomationCondition.on_cron("40 15 * * 1-5", "Asia/Seoul"),
)
def daily_bars(context: dg.AssetExecutionContext, database: DatabaseResource, kis: KisResource) -> dg.MaterializeResult:
    days = partition_days(context)
    first, last = min(days), max(days)
    if calendar.session_close(last) > datetime.now(UTC):
        raise dg.Failure(f"the {last} session has not closed yet; daily bars exist after 15:30 KST")
    with session_scope(database.engine) as session:
        stocks = [(s.code, s.name) for s in active_stocks(session)]
    if not stocks:
        raise dg.Failure("no active stock: materialize universe/stocks first")

    # Fetch everything before writing anything: a bad answer fails the run with no partial write.
    charts: list[DailyChart] = []
    client = kis.client(database)
    try:
        for code, _name in stocks:
            charts.append(client.daily_chart(code, first, last, adjusted=True))
    except SourceError as exc:
        raise dg.Failure(f"KIS daily chart failed, nothing written: {exc}") from None
    finally:
        client.close()

    empty = [chart.code for chart in charts if not chart.bars]
    if empty:
        raise dg.Failure(f"KIS answered no daily bars for {empty} over {first}..{last}; nothing written")
    wanted = set(days)
    missing = {
        chart.code: sorted(d.isoformat() for d in wanted - {b.trading_date for b in chart.bars}) for chart in charts
    }
    missing = {code: ds for code, ds in missing.items() if ds}
    with session_scope(database.engine) as session:
        written = sum(
            upsert_daily_bars(
                session, chart.code, [b for b in chart.bars if b.trading_date in wanted], adjusted=True, source="kis"
            )
            for chart in charts
        )
        bump_dataset_version(session, DATASET_DAILY_BARS)

    preview = [
        {
            "code": chart.code,
            "date": bar.trading_date.isoformat(),
            "open": bar.open,
            "high": bar.high,
            "low": bar.low,
            "close": bar.close,
            "volume": bar.volume,
        }
        for chart in charts
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
            kis_requests=client.stats["requests"],
            kis_rate_limited=client.stats["rate_limited"],
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="no_missing_sessions",
                passed=not missing,
                metadata={"missing": dg.MetadataValue.json(missing)},
            )
        ],
    )
