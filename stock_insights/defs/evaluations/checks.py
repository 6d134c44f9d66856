"""Point-in-time check of ``evaluations/daily``: no evaluation uses a price after its horizon.

Proved against the database, not against what the run meant to write
(``stock_insights.metrics.evaluations.price_after_horizon_violations`` says what is checked).
"""

from datetime import date

import dagster as dg

from stock_insights.defs.evaluations.assets import daily_evaluations
from stock_insights.defs.partitions import trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.metrics.evaluations import price_after_horizon_violations
from stock_insights.storage.db import session_scope

POINT_IN_TIME_CHECK = "no_price_after_horizon"
MAX_LISTED = 20


@dg.asset_check(
    asset=daily_evaluations,
    name=POINT_IN_TIME_CHECK,
    description="No evaluation uses a price after its horizon: checked against the stored rows of the partitions "
    "(every evaluation exiting on them, and the pending ones of the forecasts they read). Entry day = the session "
    "before the target day; exit day = exactly the horizon-th session after the entry, never later; entry and exit "
    "prices = the stored closes (daily_bars) of those days; realized return = exit/entry - 1; realized direction "
    "and hit follow the binary rule of metrics.outcome (up iff realized return > 0); a pending row carries no "
    "realized field.",
    partitions_def=trading_days,
    blocking=True,
)
def no_price_after_horizon(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    with session_scope(database.engine) as session:
        checked, problems = price_after_horizon_violations(session, days)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "checked": checked,
            "violations": len(problems),
            "examples": dg.MetadataValue.json(problems[:MAX_LISTED]),
            "days": dg.MetadataValue.text(f"{min(days)}..{max(days)}" if len(days) > 1 else str(days[0])),
        },
    )
