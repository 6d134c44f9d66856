"""Alerts every 10 minutes, every day (Asia/Seoul): the trading day whose window holds the tick (today on a
session, the last session on a weekend or holiday, whose window runs to the next session's midnight). The
first tick of a new window also completes the previous one (its last minutes), so no fact falls between."""

from datetime import datetime, timedelta

import dagster as dg

from stock_insights import clock
from stock_insights.alerts.rules import partition_day_at
from stock_insights.calendar import KST
from stock_insights.clock import KST_NAME

INTERVAL = timedelta(minutes=10)


def alert_partitions(when: datetime) -> list[str]:
    """Partition keys a tick at ``when`` runs: the window's day, and the previous one if it just ended."""
    days = dict.fromkeys([partition_day_at(when - INTERVAL), partition_day_at(when)])
    return [day.isoformat() for day in days]


@dg.schedule(
    name="alerts_every_10_minutes",
    cron_schedule="*/10 * * * *",
    execution_timezone=KST_NAME,
    target=dg.AssetSelection.assets(["alerts", "notifications"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 10 minutes: alerts of the current trading day's window (the dart_new_filings sensor also "
    "runs them with each filing).",
)
def alerts_every_10_minutes(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    when = (context.scheduled_execution_time or clock.now_kst()).astimezone(KST)
    return [
        dg.RunRequest(run_key=f"alerts-{key}-{when:%Y%m%d%H%M}", partition_key=key) for key in alert_partitions(when)
    ]
