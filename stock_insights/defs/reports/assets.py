"""``reports/daily``: the market's and each tracked stock's report of a trading day, after the close."""

from collections import Counter
from datetime import date

import dagster as dg

from stock_insights.calendar import session_close
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_and_same_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.reports.facts import MARKET
from stock_insights.reports.writer import WrittenReport, configured_writer, template_report
from stock_insights.storage.db import session_scope
from stock_insights.storage.documents import first_seen_of
from stock_insights.storage.reports import gather_day, reports_of, upsert_reports

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
        dg.AssetKey(["evaluations", "daily"]),
        dg.AssetKey(["evaluations", "leaderboard"]),
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_and_same_trading_day),
        dg.AssetDep(["kis", "index_bars"], partition_mapping=previous_and_same_trading_day),
        dg.AssetKey(["dart", "disclosures"]),
        *(dg.AssetKey(["news", source]) for source in NEWS),
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
    writer, writer_note = configured_writer(database.engine)
    context.log.info(f"report writer: {writer_note}")
    written: list[tuple[date, WrittenReport]] = []
    without_close: list[str] = []
    for day in days:
        with session_scope(database.engine) as session:
            facts = gather_day(session, day)
        if not facts.stocks:
            raise dg.Failure("no active stock: materialize universe/stocks first")
        without_close += [f"{day} {s.scope}" for s in facts.stocks if s.move.close is None]
        # The LLM is called outside any database transaction.
        for f in facts.all():
            report = writer.write(f) if writer is not None else template_report(f)
            if report.fallback:
                context.log.warning(f"{day} {report.scope}: template instead of {writer_note}: {report.fallback}")
            written.append((day, report))

    with session_scope(database.engine) as session:
        result = upsert_reports(session, [r.row(day) for day, r in written])
        late = sources_after_close(session, days)
        last = reports_of(session, days[-1])
    if without_close:
        context.log.warning(f"no close yet for {len(without_close)} stock report(s): {without_close[:5]}")

    market = next((r for r in last if r.scope == MARKET), None)
    stock_reports = "\n\n---\n\n".join(r.markdown for r in last if r.scope != MARKET)
    preview = [
        {
            "date": day.isoformat(),
            "scope": r.scope,
            "generator": r.generator,
            "sources": len(r.sources),
            "chars": len(r.markdown),
            "replay": r.replay,
        }
        for day, r in written[-10:]
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(written),
            preview,
            writer=writer_note,
            generators=dg.MetadataValue.json(dict(Counter(r.generator for _, r in written))),
            fallbacks=dg.MetadataValue.json({f"{day} {r.scope}": r.fallback for day, r in written if r.fallback}),
            llm_calls=sum(r.calls for _, r in written),
            replays=sum(1 for _, r in written if r.replay),
            cost_usd=dg.MetadataValue.float(round(sum(r.cost_usd for _, r in written), 6)),
            new=result.new,
            changed=result.changed,
            unchanged=result.unchanged,
            without_close=dg.MetadataValue.json(without_close),
            report=dg.MetadataValue.md(market.markdown if market is not None else "_no market report_"),
            stock_reports=dg.MetadataValue.md(stock_reports or "_no stock report_"),
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name=POINT_IN_TIME_CHECK, passed=not late, metadata={"late": dg.MetadataValue.json(late[:20])}
            )
        ],
    )


def sources_after_close(session, days) -> list[str]:  # type: ignore[no-untyped-def]
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
