"""``evaluations/daily``: each forecast scored on its exit day against the market.

The partition is the **exit day** (``stock_insights.metrics.evaluations`` has the entry and exit rules):
partition D scores every forecast whose exit is D, so it depends on the forecasts of up to
``MAX_HORIZON - 1`` sessions earlier and on the closes from ``MAX_HORIZON`` sessions before D to D, never a
later one. Forecasts of those days that exit later are written as pending once, and a pending row never
replaces a score.
"""

from collections import defaultdict

import dagster as dg

from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.metrics.evaluations import MAX_HORIZON, evaluation_rows
from stock_insights.predictors.store import upsert_evaluations
from stock_insights.storage.db import session_scope

# Partition offsets count trading days (holidays are not partitions), so they are sessions.
FORECASTS_EXITING_HERE = dg.TimeWindowPartitionMapping(start_offset=-(MAX_HORIZON - 1), end_offset=0)
CLOSES_FROM_ENTRY_TO_EXIT = dg.TimeWindowPartitionMapping(start_offset=-MAX_HORIZON, end_offset=0)


@dg.asset(
    key=["evaluations", "daily"],
    group_name="evaluations",
    kinds={"python", "sql"},
    description="Every forecast scored on its exit day (the partition): realized return from the close of the "
    "session before the target day to the close of the horizon-th session after it (horizon 1: previous close "
    "to target close; horizon 5: to the fifth session's close), its excess over the stock's market index (KOSPI "
    "or KOSDAQ over the same closes), hit or miss, Brier score, log loss and error of the expected return. "
    "Forecasts whose prices are not in yet, or whose exit day is still ahead, stay pending.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(["predictions", "daily"], partition_mapping=FORECASTS_EXITING_HERE),
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=CLOSES_FROM_ENTRY_TO_EXIT),
        dg.AssetDep(["kis", "index_bars"], partition_mapping=CLOSES_FROM_ENTRY_TO_EXIT),
    ],
    metadata=definition_metadata(
        table="evaluations",
        entry="close of the session before the target day",
        exit="close of the horizon-th session after the entry (the partition day)",
        max_horizon=MAX_HORIZON,
    ),
    automation_condition=dg.AutomationCondition.eager(),
)
def daily_evaluations(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    days = partition_days(context)
    with session_scope(database.engine) as session:
        rows, pending_later, counts = evaluation_rows(session, days)
        upsert_evaluations(session, rows)
        upsert_evaluations(session, pending_later, only_new=True)

    if counts["pending"]:
        context.log.info(f"{counts['pending']} forecast(s) pending: their prices are not in yet")
    if counts["horizon_not_supported"]:
        context.log.warning(
            f"{counts['horizon_not_supported']} forecast(s) with a horizon over {MAX_HORIZON} sessions not scored"
        )
    hit_rate = {
        key.removeprefix("n/"): round(counts["hits/" + key.removeprefix("n/")] / n, 4)
        for key, n in sorted(counts.items())
        if key.startswith("n/") and n
    }
    by_horizon: defaultdict[str, int] = defaultdict(int)
    for key, n in counts.items():
        if key.startswith("n/"):
            by_horizon[key.rsplit("/", 1)[1]] += n
    preview = [
        {
            "prediction_id": r["prediction_id"],
            "status": r["status"],
            "entry_date": r["entry_date"].isoformat(),
            "exit_date": r["exit_date"].isoformat(),
            "hit": r.get("hit"),
            "realized_return": r.get("realized_return"),
        }
        for r in rows[:10]
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(rows),
            preview,
            scored=counts["scored"],
            pending=counts["pending"],
            not_matured=counts["not_matured"],
            scored_by_horizon=dg.MetadataValue.json(dict(by_horizon)),
            hit_rate=dg.MetadataValue.json(hit_rate),
        )
    )
