"""``universe/stocks``: the KIS stock master as of the run, its listing history, and the tracked stocks."""

import dagster as dg

from stock_insights import clock
from stock_insights.clients.errors import SourceError
from stock_insights.clients.kis.master import MasterFileError, MasterRow
from stock_insights.clock import KST_NAME
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.resources import DatabaseResource
from stock_insights.defs.universe.resources import KisMasterResource
from stock_insights.market.store import (
    ListingHistoryError,
    former_names,
    record_listing_states,
    upsert_stocks,
)
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope
from stock_insights.universe import tracked_listings


@dg.asset(
    key=["universe", "stocks"],
    group_name="universe",
    kinds={"python", "sql"},
    description="Every KOSPI and KOSDAQ listing from the KIS stock master (kospi_code.mst, kosdaq_code.mst) as "
    "of the run, recorded in listing_states (listed, delisted, suspended, renamed, security type; valid_from/"
    "valid_to). Tracked stocks: UNIVERSE_POLICY over the master (common stocks by default), or the STOCK_UNIVERSE "
    "override; stocks no longer tracked or listed are kept but marked inactive. A bad master fails the run "
    "and writes nothing.",
    metadata=definition_metadata(table="stocks"),
    automation_condition=dg.AutomationCondition.on_cron("0 7 * * 1-5", KST_NAME),
)
def stocks(
    context: dg.AssetExecutionContext, database: DatabaseResource, kis_master: KisMasterResource
) -> dg.MaterializeResult:
    settings = get_settings()
    override = settings.STOCK_UNIVERSE
    day = clock.today_kst()
    rows: list[MasterRow] | None
    # With an explicit override the master is optional: the known listings can still be tracked.
    with kis_master.client(max_attempts=1 if override else 3) as client:
        try:
            rows = client.fetch_all()
        except MasterFileError as exc:
            raise dg.Failure(f"bad KIS stock master, yesterday's universe stays in force: {exc}") from exc
        except SourceError as exc:
            if not override:
                raise dg.Failure(f"KIS stock master unavailable, yesterday's universe stays in force: {exc}") from exc
            context.log.warning(f"KIS stock master unavailable ({exc}); tracking STOCK_UNIVERSE from known listings")
            rows = None
    with session_scope(database.engine) as session:
        changes: dict[str, int] = {}
        if rows is not None:
            try:
                changes = dict(record_listing_states(session, rows, day))
            except ListingHistoryError as exc:  # an out-of-order run: track from it, leave the history alone
                context.log.warning(f"listing history not written: {exc}")
        universe = tracked_listings(rows, policy=settings.UNIVERSE_POLICY, override=override,
                                    former_names=former_names(session))
        if not universe.listings:
            raise dg.Failure(f"no listing to track (STOCK_UNIVERSE={override}, policy {settings.UNIVERSE_POLICY})")
        upsert_stocks(session, universe.listings)
    if universe.unknown_codes or universe.not_listed:
        context.log.warning(f"STOCK_UNIVERSE codes not listed in the master {universe.not_listed}; "
                            f"unknown codes {universe.unknown_codes}")
    preview = [{"code": s.code, "name": s.name, "market": s.market} for s in universe.listings[:20]]
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(universe.listings),
            preview,
            as_of=day.isoformat(),
            master_rows=len(rows) if rows is not None else 0,
            listing_changes=dg.MetadataValue.json(changes),
            policy="STOCK_UNIVERSE" if override else settings.UNIVERSE_POLICY,
            unknown_codes=dg.MetadataValue.json(universe.unknown_codes),
            not_listed=dg.MetadataValue.json(universe.not_listed),
        )
    )
