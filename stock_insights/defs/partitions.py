"""Partitions shared by the asset graph.

Trading-day partitions are weekdays minus the XKRX holidays (exchange_calendars), keyed by the
KST session date; the current day's partition exists from its midnight (``end_offset=1``) so that
intraday assets and the 08:00 predictions can work on today.
"""

from datetime import date, datetime, timedelta

import dagster as dg

from stock_insights import calendar, clock
from stock_insights.clock import KST_NAME
from stock_insights.settings import get_settings


def _trading_days() -> dg.TimeWindowPartitionsDefinition:
    start = date.fromisoformat(get_settings().HISTORY_START)
    horizon = min(calendar.xkrx().last_session.date(), clock.today_kst() + timedelta(days=370))
    holidays = [datetime(d.year, d.month, d.day) for d in calendar.non_session_weekdays(start, horizon)]
    return dg.TimeWindowPartitionsDefinition(
        start=start.isoformat(),
        fmt="%Y-%m-%d",
        cron_schedule="0 0 * * 1-5",
        timezone=KST_NAME,
        end_offset=1,
        exclusions=holidays,
    )


trading_days = _trading_days()

# The session before a partition's day: what a forecast made before the open may read.
previous_trading_day = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)
# The session before and the day itself: what scoring a one-day forecast needs.
previous_and_same_trading_day = dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=0)


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """The trading days a run covers: one for a normal run, many for a single-run backfill."""
    return [date.fromisoformat(key) for key in context.partition_keys]
