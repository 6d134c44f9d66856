"""DART schedules (Asia/Seoul). Filings reach ``dart/disclosures`` within a minute through the
``dart_new_filings`` sensor; the evening run completes the day's partition after DART's working day."""


import dagster as dg

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.clock import KST_NAME

TIMEZONE = KST_NAME

dart_corp_codes_daily = dg.ScheduleDefinition(
    name="dart_corp_codes_daily",
    cron_schedule="30 7 * * 1-5",
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["dart", "corp_codes"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Corp codes of the tracked stocks, 07:30 KST on weekdays (after universe/stocks at 07:00).",
)

dart_financials_nightly = dg.ScheduleDefinition(
    name="dart_financials_nightly",
    cron_schedule="0 21 * * 1-5",
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["dart", "financials"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Full financial statements of the tracked stocks, 21:00 KST on weekdays.",
)


@dg.schedule(
    name="dart_disclosures_evening",
    cron_schedule="30 20 * * 1-5",
    execution_timezone=TIMEZONE,
    target=dg.AssetSelection.assets(["dart", "disclosures"]),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="The day's whole filing list at 20:30 KST on KRX sessions (DART publishes until ~19:00+).",
)
def dart_disclosures_evening(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    scheduled = context.scheduled_execution_time or clock.now_kst()
    day = scheduled.astimezone(KST).date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not a KRX session: its filings belong to the next session's partition")
    return dg.RunRequest(run_key=f"dart-disclosures-{day.isoformat()}", partition_key=day.isoformat())
