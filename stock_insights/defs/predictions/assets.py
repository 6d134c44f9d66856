"""``predictions/daily``: every active model's forecast for every tracked stock and trading day."""

from collections import Counter
from datetime import datetime, time, timedelta

import dagster as dg
from pydantic import Field

from stock_insights.calendar import KST
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.predictors.base import PredictionInput, PriceBar
from stock_insights.predictors.registry import baseline_predictors
from stock_insights.storage.db import session_scope
from stock_insights.storage.forecasts import upsert_predictions
from stock_insights.storage.market_data import active_stocks, closes_by_code

# Forecasts are made before the open; the cutoff is fixed per day so that re-runs are identical.
CUTOFF = time(8, 0)
LOOKBACK_CALENDAR_DAYS = 60


class PredictionConfig(dg.Config):
    models: list[str] = Field(default_factory=list, description="Models to run; empty means every active model.")


@dg.asset(
    key=["predictions", "daily"],
    group_name="predictions",
    kinds={"python", "sql"},
    description="Forecasts for each tracked stock and trading day (horizon 1 session), made at 08:00 KST from "
    "what was known then: closes up to the previous session. One row per model, stock, day and cutoff.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_trading_day),
        dg.AssetKey(["universe", "stocks"]),
    ],
    metadata=definition_metadata(table="predictions", models=list(baseline_predictors())),
)
def daily_predictions(
    context: dg.AssetExecutionContext, config: PredictionConfig, database: DatabaseResource
) -> dg.MaterializeResult:
    registry = baseline_predictors()
    unknown = [m for m in config.models if m not in registry]
    if unknown:
        raise dg.Failure(f"unknown model(s) {unknown}; known: {sorted(registry)}")
    models = {name: registry[name] for name in (config.models or registry)}
    days = partition_days(context)

    with session_scope(database.engine) as session:
        codes = [s.code for s in active_stocks(session)]
        closes = closes_by_code(session, codes, min(days) - timedelta(days=LOOKBACK_CALENDAR_DAYS), max(days))

    rows, skipped = [], Counter()
    for day in days:
        as_of = datetime.combine(day, CUTOFF, tzinfo=KST)
        for code in codes:
            history = [PriceBar(trading_date=d, close=c) for d, c in sorted(closes[code].items()) if d < day]
            data = PredictionInput(code=code, target_date=day, horizon=1, as_of=as_of, prices=history)
            for name, model in models.items():
                output = model.predict(data)
                if output is None:
                    skipped[name] += 1
                    continue
                rows.append(
                    {
                        "model": name,
                        "code": code,
                        "target_date": day,
                        "horizon": 1,
                        "as_of": as_of,
                        "direction": output.direction,
                        "prob_up": output.prob_up,
                        "expected_return": output.expected_return,
                        "rationale": output.rationale.model_dump(),
                        "cited_inputs": output.cited_inputs,
                        "prompt_version": None,
                    }
                )
    with session_scope(database.engine) as session:
        upsert_predictions(session, rows)

    if skipped:
        context.log.warning(f"too little price history for some forecasts: {dict(skipped)}")
    preview = [
        {
            "date": r["target_date"].isoformat(),
            "code": r["code"],
            "model": r["model"],
            "direction": r["direction"],
            "prob_up": round(r["prob_up"], 3),
        }
        for r in rows[-10:]
    ]
    by_model = Counter(r["model"] for r in rows)
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(rows),
            preview,
            models=dg.MetadataValue.json(dict(by_model)),
            skipped_for_history=dg.MetadataValue.json(dict(skipped)),
            directions=dg.MetadataValue.json(dict(Counter(r["direction"] for r in rows))),
        )
    )
