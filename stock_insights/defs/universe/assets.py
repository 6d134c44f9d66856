"""``universe/stocks``: the tracked stocks, from STOCK_UNIVERSE."""

import dagster as dg

from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.resources import DatabaseResource
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope
from stock_insights.storage.market_data import upsert_stocks
from stock_insights.universe import lookup


@dg.asset(
    key=["universe", "stocks"],
    group_name="universe",
    kinds={"python", "sql"},
    description="The tracked stocks (code, name, market, DART corp code, aliases) from STOCK_UNIVERSE. "
    "Stocks dropped from the setting are kept but marked inactive.",
    metadata=definition_metadata(table="stocks"),
    automation_condition=dg.AutomationCondition.on_cron("0 7 * * 1-5", "Asia/Seoul"),
)
def stocks(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    codes = get_settings().STOCK_UNIVERSE
    listings = [listing for code in codes if (listing := lookup(code)) is not None]
    unknown = [code for code in codes if lookup(code) is None]
    if unknown:
        context.log.warning(f"skipping codes with no known listing (name and market unknown): {unknown}")
    if not listings:
        raise dg.Failure(f"STOCK_UNIVERSE has no known listing (given: {codes})")
    with session_scope(database.engine) as session:
        upsert_stocks(session, listings)
    preview = [{"code": s.code, "name": s.name, "market": s.market} for s in listings]
    return dg.MaterializeResult(
        metadata=run_metadata(len(listings), preview, unknown_codes=dg.MetadataValue.json(unknown))
    )
