"""``evaluations/daily``: each matured forecast scored against the market (previous close to target close)."""

from collections import defaultdict

import dagster as dg

from stock_insights import calendar
from stock_insights.clients.kis.client import INDEX_CODES
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_and_same_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.metrics.scoring import score
from stock_insights.storage.db import session_scope, utcnow
from stock_insights.storage.forecasts import predictions_for_target, upsert_evaluations
from stock_insights.storage.market_data import closes_by_code, index_closes, stock_markets

# A pending evaluation carries every scored column, empty: one batch, one shape.
UNSCORED = dict.fromkeys(
    (
        "realized_return",
        "realized_direction",
        "hit",
        "brier",
        "log_loss",
        "return_error",
        "market_return",
        "excess_return",
    )
)


@dg.asset(
    key=["evaluations", "daily"],
    group_name="evaluations",
    kinds={"python", "sql"},
    description="Scores of the day's one-session forecasts: realized return from the previous session's close to "
    "the target day's close, its excess over the stock's market index (KOSPI or KOSDAQ over the same closes), hit "
    "or miss, Brier score, log loss and error of the expected return. Forecasts "
    "whose prices are not in yet stay pending and are scored by a later run.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetKey(["predictions", "daily"]),
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_and_same_trading_day),
        dg.AssetDep(["kis", "index_bars"], partition_mapping=previous_and_same_trading_day),
    ],
    metadata=definition_metadata(table="evaluations", entry="previous close", exit="target close"),
    automation_condition=dg.AutomationCondition.eager(),
)
def daily_evaluations(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    days = partition_days(context)
    rows, hits = [], defaultdict(list)
    with session_scope(database.engine) as session:
        for day in days:
            entry_day = calendar.previous_session(day)
            predictions = predictions_for_target(session, day, horizon=1)
            codes = sorted({p.code for p in predictions})
            closes = closes_by_code(session, codes, entry_day, day)
            markets = stock_markets(session, codes)
            index = {name: index_closes(session, code, entry_day, day) for name, code in INDEX_CODES.items()}
            for p in predictions:
                entry, exit_ = closes[p.code].get(entry_day), closes[p.code].get(day)
                row = {
                    "prediction_id": p.id,
                    "entry_date": entry_day,
                    "exit_date": day,
                    "entry_price": entry,
                    "exit_price": exit_,
                    "scored_at": utcnow(),
                }
                if entry is None or exit_ is None:
                    rows.append({**row, **UNSCORED, "status": "pending"})
                    continue
                s = score(
                    direction=p.direction,
                    prob_up=p.prob_up,
                    expected_return=p.expected_return,
                    entry_price=entry,
                    exit_price=exit_,
                )
                hits[p.model].append(s.hit)
                market = index.get(markets.get(p.code, ""), {})
                market_return = (
                    (market[day] / market[entry_day] - 1.0) if entry_day in market and day in market else None
                )
                rows.append(
                    {
                        **row,
                        "status": "scored",
                        "realized_return": s.realized_return,
                        "realized_direction": s.realized_direction,
                        "hit": s.hit,
                        "brier": s.brier,
                        "log_loss": s.log_loss,
                        "return_error": s.return_error,
                        "market_return": market_return,
                        "excess_return": None if market_return is None else s.realized_return - market_return,
                    }
                )
        upsert_evaluations(session, rows)

    pending = sum(1 for r in rows if r["status"] == "pending")
    if pending:
        context.log.info(f"{pending} forecast(s) pending: their prices are not in yet")
    hit_rate = {model: round(sum(h) / len(h), 4) for model, h in hits.items() if h}
    preview = [
        {
            "prediction_id": r["prediction_id"],
            "status": r["status"],
            "hit": r.get("hit"),
            "realized_return": r.get("realized_return"),
        }
        for r in rows[:10]
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(rows), preview, scored=len(rows) - pending, pending=pending, hit_rate=dg.MetadataValue.json(hit_rate)
        )
    )
