"""``ledger/daily``: each trading day's live forecasts sealed before the open (``stock_insights.ledger``).

Runs as soon as ``predictions/daily`` of the day has (eager, about 08:01 KST on the normal path). Sealing is
written once: a re-materialization of a sealed day recomputes its canonical form from the database, reports
whether it still matches (metadata, and the check ``ledger_verifies``), and rewrites nothing.
"""

from typing import Any

import dagster as dg

from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.ledger.canonical import FORMAT, LIVE_DEADLINE, live_deadline, timestamp
from stock_insights.ledger.store import SealOutcome, seal_day
from stock_insights.storage.db import session_scope

__all__ = ["daily_ledger"]


@dg.asset(
    key=["ledger", "daily"],
    group_name="ledger",
    kinds={"python", "sql"},
    description="The day's live forecasts sealed before the open: every forecast for the day first stored (and "
    "cut off) before 09:00 KST, in a canonical form (sorted keys, fixed floats, rows in key order), its SHA-256 "
    "and a chain digest over the previous sealed day's. Written once; a re-run reports whether the database "
    "still gives the sealed bytes. Late forecasts (stored after the open: backfills, re-runs, models added "
    "later) are never in a seal. Served at GET /api/v1/ledger/{date}; `python -m stock_insights.ledger verify`.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[dg.AssetKey(["predictions", "daily"])],
    metadata=definition_metadata(
        table="ledger_seals", format=FORMAT, live_deadline=f"{LIVE_DEADLINE.strftime('%H:%M')} KST on the day"
    ),
    automation_condition=dg.AutomationCondition.eager(),
)
def daily_ledger(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    outcomes: list[SealOutcome] = []
    for day in sorted(partition_days(context)):  # seals are appended in day order
        with session_scope(database.engine) as session:
            outcome = seal_day(session, day)
        outcomes.append(outcome)
        log = context.log.info if outcome.status == "sealed" or outcome.matches else context.log.warning
        log(f"{day}: {outcome.status}: {outcome.detail}")
    return dg.MaterializeResult(metadata=_metadata(outcomes))


def _summary(outcome: SealOutcome) -> dict[str, Any]:
    seal = outcome.seal
    return {
        "day": outcome.day.isoformat(),
        "status": outcome.status,
        "matches": outcome.matches,
        "rows": seal.row_count if seal else 0,
        "bytes": seal.byte_count if seal else 0,
        "digest": seal.digest if seal else None,
        "previous_digest": seal.previous_digest if seal else None,
        "chain_digest": seal.chain_digest if seal else None,
        "sealed_at": timestamp(seal.sealed_at) if seal else None,
        "sealed_before_open": bool(seal and seal.sealed_at < live_deadline(outcome.day)),
        "late": outcome.late,
        "live_after_seal": outcome.live_after_seal,
    }


def _metadata(outcomes: list[SealOutcome]) -> dict[str, Any]:
    days = [_summary(o) for o in outcomes]
    last = days[-1]
    mismatched = [d["day"] for d in days if d["status"] == "already_sealed" and not d["matches"]]
    preview = [
        {k: d[k] for k in ("day", "status", "rows", "late", "sealed_before_open")}
        | {"digest": (d["digest"] or "")[:16]}
        for d in days
    ]
    return run_metadata(
        sum(d["rows"] for d in days if d["status"] == "sealed"),
        preview,
        digest=dg.MetadataValue.text(last["digest"] or ""),
        previous_digest=dg.MetadataValue.text(last["previous_digest"] or ""),
        chain_digest=dg.MetadataValue.text(last["chain_digest"] or ""),
        sealed_at=dg.MetadataValue.text(last["sealed_at"] or ""),
        sealed_rows=last["rows"],
        canonical_bytes=last["bytes"],
        status=dg.MetadataValue.json({d["day"]: d["status"] for d in days}),
        mismatched_days=dg.MetadataValue.json(mismatched),
        refused_days=dg.MetadataValue.json([d["day"] for d in days if d["status"] == "refused"]),
        late_forecasts=sum(d["late"] for d in days),
        live_after_seal=sum(d["live_after_seal"] for d in days),
        seals=dg.MetadataValue.json(days),
    )
