"""Intraday schedules: only while the KRX session is open (calendar-aware: late opens, holidays).

The cron windows are the regular session, 09:00-15:30 KST on weekdays (the UI reads them as such): every five
minutes from 09:00 to 14:55, then 15:00 to 15:30. The 15:30 tick runs after the close, so the minute-bar run it
starts catches every stock up. The trading-day guard skips holidays and the minutes before a late open.
"""

from datetime import datetime, timedelta

import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.clock import KST_NAME

# Every 5 minutes, 09:00-15:30 KST, Monday to Friday (Dagster takes the union of the cron strings).
SESSION_CRON = ["*/5 9-14 * * 1-5", "0-30/5 15 * * 1-5"]
# How long after its close a tick still counts for the session (a tick's evaluation may start late).
AFTER_CLOSE = timedelta(minutes=5)


def session_day_if_open(when: datetime) -> str | None:
    """The session's partition key if ``when`` falls between its open and shortly after its close."""
    day = when.astimezone(KST).date()
    if not calendar.is_session(day):
        return None
    if calendar.session_open(day) <= when <= calendar.session_close(day) + AFTER_CLOSE:
        return day.isoformat()
    return None


def _tick(context: dg.ScheduleEvaluationContext, name: str) -> dg.RunRequest | dg.SkipReason:
    when = context.scheduled_execution_time or clock.now_kst()
    day = session_day_if_open(when)
    if day is None:
        return dg.SkipReason(f"{when.astimezone(KST):%Y-%m-%d %H:%M} KST is outside a KRX session")
    return dg.RunRequest(run_key=f"{name}-{when.astimezone(KST):%Y%m%d%H%M}", partition_key=day)


@dg.schedule(
    cron_schedule=SESSION_CRON,
    execution_timezone=KST_NAME,
    target=dg.AssetSelection.assets(["kis", "minute_bars"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes during the session: today's minute bars, fetching only what is new.",
)
def minute_bars_intraday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return _tick(context, "minute-bars")


@dg.schedule(
    cron_schedule=SESSION_CRON,
    execution_timezone=KST_NAME,
    target=dg.AssetSelection.assets(["kis", "orderbook"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes during the session: an order book snapshot of every tracked stock.",
)
def orderbook_intraday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    request = _tick(context, "orderbook")
    if isinstance(request, dg.RunRequest):
        return dg.RunRequest(run_key=request.run_key)  # the order book is not partitioned
    return request
