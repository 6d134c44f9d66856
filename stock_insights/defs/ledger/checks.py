"""``ledger_verifies``: the sealed days of the run re-verified from the database (``stock_insights.ledger.verify``).

Every seal up to the partition's day has its chain link checked; the partition's seal also has its stored bytes
hashed against its digest and recomputed from the forecasts in the database. Non-blocking: nothing downstream
waits on the ledger, and a mismatch is evidence to keep, not a reason to stop the pipeline.
"""

from datetime import date

import dagster as dg

from stock_insights.defs.ledger.assets import daily_ledger
from stock_insights.defs.partitions import trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.ledger.verify import verify
from stock_insights.storage.db import session_scope

VERIFY_CHECK = "ledger_verifies"
MAX_LISTED = 20


@dg.asset_check(
    asset=daily_ledger,
    name=VERIFY_CHECK,
    description="Recomputes the partition's seal from the database (the forecasts live at its sealing moment, "
    "in canonical form) and compares it with the stored bytes and digest, and checks every chain link up to it "
    "(a deleted, inserted or rewritten sealed day breaks the next day's link). Fails on the first mismatch, "
    "named in the metadata; `python -m stock_insights.ledger verify` runs the same from a shell.",
    partitions_def=trading_days,
    blocking=False,
)
def ledger_verifies(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    days = [date.fromisoformat(key) for key in context.partition_keys]
    with session_scope(database.engine) as session:
        report = verify(session, min(days), max(days))
    first = report.first_mismatch
    return dg.AssetCheckResult(
        passed=report.ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "checked_days": len(report.checked),
            "links_checked": report.links,
            "first_mismatch": dg.MetadataValue.text(f"{first.day.isoformat()}: {first.reason}" if first else ""),
            "problems": dg.MetadataValue.json(
                [{"day": p.day.isoformat(), "reason": p.reason} for p in report.problems[:MAX_LISTED]]
            ),
            "chain_head": dg.MetadataValue.text(report.chain_head or ""),
        },
    )
