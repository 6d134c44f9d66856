"""``alerts/notifications``: the rules of ``stock_insights.alerts`` over a trading day's window, stored per
user and sent to the users' webhooks. Runs every 10 minutes (``alerts_every_10_minutes``) and with every
filing run of the ``dart_new_filings`` sensor."""

from datetime import datetime

import dagster as dg

from stock_insights import clock
from stock_insights.alerts.pipeline import run_alerts
from stock_insights.alerts.rules import Thresholds
from stock_insights.alerts.webhook import DeliveryPolicy, WebhookSender
from stock_insights.defs import keys
from stock_insights.defs.metadata import data_mode, definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_and_same_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource
from stock_insights.settings import get_settings

NEWS_SOURCES = ("naver", "hankyung", "maeil", "reddit")


def now_utc() -> datetime:
    """The alerts' clock: the bound of what a run may see (tests replace it to replay a simulated day)."""
    return clock.now()


def _thresholds_metadata() -> dict[str, object]:
    s = get_settings()
    return {
        "move_threshold": s.ALERT_MOVE_THRESHOLD,
        "news_burst": f"{s.ALERT_NEWS_BURST_COUNT} articles in {s.ALERT_NEWS_BURST_MINUTES} min",
        "webhook_max_attempts": s.WEBHOOK_MAX_ATTEMPTS,
    }


@dg.asset(
    key=["alerts", "notifications"],
    group_name="alerts",
    kinds={"python", "sql"},
    description="Per-user alerts for the stocks on their watchlists: a new DART filing, a move beyond "
    "ALERT_MOVE_THRESHOLD since the previous close, a model's forecast flipping direction, a burst of news. "
    "Each event has a stable key and alerts a user once (notifications are unique on user and key); only facts "
    "known live in the partition's window (its midnight to the next session's, cut at the run's time) count, so "
    "re-materializing a past day adds nothing. New notifications go to the user's webhook as Slack-compatible "
    "JSON with retries; failures are recorded in webhook_deliveries and never fail the run.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        keys.DART_DISCLOSURES,
        keys.PREDICTIONS,
        keys.KIS_MINUTE_BARS,
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_and_same_trading_day),
        *(keys.news(source) for source in NEWS_SOURCES),
    ],
    metadata=definition_metadata(
        table="notifications, webhook_deliveries",
        rules=["filing", "move", "flip", "news_burst"],
        **_thresholds_metadata(),
    ),
)
def notifications(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    settings = get_settings()
    now = now_utc()
    days = partition_days(context)
    sender = WebhookSender(DeliveryPolicy.from_settings(settings))
    run = run_alerts(
        database.engine,
        days,
        now=now,
        thresholds=Thresholds.from_settings(settings),
        sender=sender,
        simulated=settings.is_simulated,
    )
    if run.failed:
        hosts = ", ".join(f"{host} ({n})" for host, n in sorted(run.failed_hosts.items()))
        context.log.warning(f"{run.failed} webhook deliveries failed, recorded in webhook_deliveries: {hosts}")
    context.log.info(
        f"{len(run.events)} event(s) {run.events_by_rule}, {run.matched} for watchers, {len(run.created)} new "
        f"notification(s); webhooks: {run.delivered} delivered, {run.failed} failed ({data_mode()} data)"
    )
    windows = [
        {"day": w.day.isoformat(), "from": w.start.isoformat(), "to": w.bound.isoformat(), "complete": w.complete}
        for w in run.windows
    ]
    preview = [
        {
            "user_id": c.user_id,
            "kind": c.event.kind,
            "code": c.event.code,
            "title": c.event.title[:80],
            "webhook": run.deliveries[c.id].status if c.id in run.deliveries else "-",
        }
        for c in run.created[:10]
    ]
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(run.created),
            preview,
            events=len(run.events),
            events_by_rule=dg.MetadataValue.json(run.events_by_rule),
            matched=run.matched,
            created=len(run.created),
            created_by_rule=dg.MetadataValue.json(run.created_by_rule),
            delivered=run.delivered,
            failed=run.failed,
            without_webhook=run.without_webhook,
            failed_hosts=dg.MetadataValue.json(dict(run.failed_hosts)),
            windows=dg.MetadataValue.json(windows),
        )
    )
