"""The intraday schedules tick exactly while the KRX session is open: 09:00-15:30 KST, every 5 minutes.

Their cron windows are what the Dagster UI shows ("09:00-04:59 PM" before); the trading-day guard still skips
holidays and the minutes before a late open.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator

from stock_insights import calendar
from stock_insights.calendar import KST
from stock_insights.defs.kis.schedules import minute_bars_intraday, orderbook_intraday

SCHEDULES = [minute_bars_intraday, orderbook_intraday]
SESSION = date(2026, 12, 4)  # a Friday session
HOLIDAY = date(2026, 12, 31)  # a Thursday: KRX's year-end closing day
EXPECTED = [(datetime.combine(SESSION, time(9, 0)) + timedelta(minutes=5 * n)).time() for n in range(79)]


def _ticks(schedule: dg.ScheduleDefinition, day: date) -> list[datetime]:
    start = datetime.combine(day, time(0, 0), tzinfo=KST)
    out = []
    for tick in schedule_execution_time_iterator(start.timestamp(), schedule.cron_schedule,
                                                  schedule.execution_timezone):
        if tick >= start + timedelta(days=1):
            return out
        out.append(tick)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_ticks_of_a_day_are_exactly_the_session(schedule: dg.ScheduleDefinition) -> None:
    assert schedule.execution_timezone == "Asia/Seoul"
    ticks = _ticks(schedule, SESSION)
    assert EXPECTED[-1] == time(15, 30) and len(EXPECTED) == 79
    assert [t.astimezone(KST).time() for t in ticks] == EXPECTED
    assert calendar.session_open(SESSION) == ticks[0]
    assert calendar.session_close(SESSION) == ticks[-1]
    # Every tick of a session asks for a run (of that session's partition for the minute bars).
    for tick in ticks:
        result = schedule(dg.build_schedule_context(scheduled_execution_time=tick))
        assert isinstance(result, dg.RunRequest), tick
        if schedule is minute_bars_intraday:
            assert result.partition_key == SESSION.isoformat()
    # No tick at the weekend.
    assert _ticks(schedule, date(2026, 12, 5)) == [] and _ticks(schedule, date(2026, 12, 6)) == []


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda s: s.name)
def test_trading_day_guard_skips_a_weekday_holiday(schedule: dg.ScheduleDefinition) -> None:
    assert not calendar.is_session(HOLIDAY)
    ticks = _ticks(schedule, HOLIDAY)
    assert len(ticks) == 79  # cron knows weekdays only
    for tick in ticks:
        assert isinstance(schedule(dg.build_schedule_context(scheduled_execution_time=tick)), dg.SkipReason)
