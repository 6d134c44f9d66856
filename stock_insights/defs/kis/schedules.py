"""Intraday schedules: only while the KRX session is open (calendar-aware: late opens, holidays)."""

from datetime import datetime, timedelta

import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST

# A last tick just after the close picks up the closing auction's bar.
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
    cron_schedule="*/5 9-16 * * 1-5",
    execution_timezone="Asia/Seoul",
    target=dg.AssetSelection.assets(["kis", "minute_bars"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes during the session: today's minute bars, fetching only what is new.",
)
def minute_bars_intraday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return _tick(context, "minute-bars")


@dg.schedule(
    cron_schedule="*/5 9-16 * * 1-5",
    execution_timezone="Asia/Seoul",
    target=dg.AssetSelection.assets(["kis", "orderbook"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 5 minutes during the session: an order book snapshot of every tracked stock.",
)
def orderbook_intraday(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    request = _tick(context, "orderbook")
    if isinstance(request, dg.RunRequest):
        return dg.RunRequest(run_key=request.run_key)  # the order book is not partitioned
    return request
