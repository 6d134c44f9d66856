"""``reports/daily``: the market's and each tracked stock's report of a trading day, after the close."""

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy.orm import Session

from stock_insights.calendar import session_close
from stock_insights.defs import keys
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_and_same_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.embeddings.documents import first_seen_of
from stock_insights.reports.daily import DailyReports, NoActiveStock, day_markdown, write_daily_reports
from stock_insights.reports.store import ReportWrite, reports_of, upsert_reports
from stock_insights.storage.db import session_scope
from stock_insights.storage.models import Report

POINT_IN_TIME_CHECK = "sources_first_seen_by_close"
NEWS = ("naver", "hankyung", "maeil", "reddit")


@dg.asset(
    key=["reports", "daily"],
    group_name="reports",
    kinds={"python", "sql", "openai"},
    description="The day's report, in Markdown, for the market and for each tracked stock: the close against the "
    "previous session's and against the stock's index (excess), the notable filings (DART viewer links) and news "
    "first seen by the close, each model's forecast for the day and whether it was right, and the models' standing "
    "(evaluations/leaderboard, 20 trading days). Written by the REPORT_MODEL LLM from those facts when its key is "
    "set, with every number and [n] citation checked against them, else (or when the check fails) by a "
    "deterministic template. A re-run over the same data changes no row and makes no LLM call.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        keys.EVALUATIONS,
        keys.LEADERBOARD,
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_and_same_trading_day),
        dg.AssetDep(["kis", "index_bars"], partition_mapping=previous_and_same_trading_day),
        keys.DART_DISCLOSURES,
        *(keys.news(source) for source in NEWS),
    ],
    metadata=definition_metadata(table="reports", scopes="market and each tracked stock", cutoff="the session close"),
    check_specs=[
        dg.AssetCheckSpec(
            POINT_IN_TIME_CHECK,
            asset=["reports", "daily"],
            description="Every source of the run's reports was first seen on or before its day's close.",
        )
    ],
)
def daily_reports(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    days = partition_days(context)
    try:
        run = write_daily_reports(database.engine, days, context.log)
    except NoActiveStock as exc:
        raise dg.Failure(str(exc)) from None
    with session_scope(database.engine) as session:
        result = upsert_reports(session, run.rows())
        late = sources_after_close(session, days)
        last = reports_of(session, days[-1])
    if run.without_close:
        context.log.warning(f"no close yet for {len(run.without_close)} stock report(s): {run.without_close[:5]}")
    return dg.MaterializeResult(
        metadata=_run_metadata(run, result, last),
        check_results=[
            dg.AssetCheckResult(
                check_name=POINT_IN_TIME_CHECK, passed=not late, metadata={"late": dg.MetadataValue.json(late[:20])}
            )
        ],
    )


def _run_metadata(run: DailyReports, result: ReportWrite, last: Sequence[Report]) -> dict[str, Any]:
    """The run's metadata: what was written and by which writer, and the last day's reports in full."""
    market, stock_reports = day_markdown(last)
    return run_metadata(
        len(run.written),
        run.preview(10),
        writer=run.writer_note,
        generators=dg.MetadataValue.json(run.generators()),
        fallbacks=dg.MetadataValue.json(run.fallbacks()),
        llm_calls=run.llm_calls,
        replays=run.replays,
        cost_usd=dg.MetadataValue.float(run.cost_usd),
        new=result.new,
        changed=result.changed,
        unchanged=result.unchanged,
        without_close=dg.MetadataValue.json(run.without_close),
        report=dg.MetadataValue.md(market if market is not None else "_no market report_"),
        stock_reports=dg.MetadataValue.md(stock_reports or "_no stock report_"),
    )


def sources_after_close(session: Session, days: Sequence[date]) -> list[str]:
    """Every stored source of the days' reports whose first sighting is unknown or after the day's close."""
    cited = []
    for day in days:
        for report in reports_of(session, day):
            for source in report.sources or []:
                doc_type, _, doc_id = str(source.get("key", "")).partition(":")
                cited.append((day, report.scope, doc_type, doc_id))
    seen = first_seen_of(session, [(t, i) for _, _, t, i in cited])
    return [
        f"{day} {scope}: {doc_type} {doc_id}"
        for day, scope, doc_type, doc_id in cited
        if (doc_type, doc_id) not in seen or seen[(doc_type, doc_id)] > session_close(day)
    ]
