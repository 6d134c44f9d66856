"""The daily report after the close (16:30 KST), on trading days only."""


import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.clock import KST_NAME


@dg.schedule(
    cron_schedule="30 16 * * 1-5",
    execution_timezone=KST_NAME,
    target=dg.AssetSelection.assets(["reports", "daily"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The day's reports (market and each tracked stock) at 16:30 KST, after the close, the day's bars "
    "(15:40) and their evaluations; on KRX sessions only.",
)
def reports_after_close(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    scheduled = context.scheduled_execution_time or clock.now_kst()
    day = scheduled.astimezone(KST).date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not a KRX session")
    return dg.RunRequest(run_key=f"reports-{day.isoformat()}", partition_key=day.isoformat())
