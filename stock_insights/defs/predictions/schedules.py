"""The 08:00 KST forecast, on trading days only."""


import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.clock import KST_NAME


@dg.schedule(
    cron_schedule="0 8 * * 1-5",
    execution_timezone=KST_NAME,
    target=dg.AssetSelection.assets(["predictions", "daily"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Today's forecasts before the open (08:00 KST), on KRX sessions only.",
)
def predictions_before_open(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    scheduled = context.scheduled_execution_time or clock.now_kst()
    day = scheduled.astimezone(KST).date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not a KRX session")
    return dg.RunRequest(run_key=f"predictions-{day.isoformat()}", partition_key=day.isoformat())
