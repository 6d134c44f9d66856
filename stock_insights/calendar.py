"""KRX trading calendar (XKRX from exchange_calendars): sessions, opens and closes in KST.

Holidays, substitute holidays, election days, the late first session of the year and the
late CSAT day all come from exchange_calendars; nothing here hard-codes a date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from stock_insights.clock import KST

CALENDAR_START = date(2015, 1, 2)


@lru_cache(maxsize=1)
def xkrx() -> xcals.ExchangeCalendar:
    # Building the calendar takes about a second; one per process.
    return xcals.get_calendar("XKRX", start=pd.Timestamp(CALENDAR_START))


def _ts(day: date) -> pd.Timestamp:
    return pd.Timestamp(day)


def is_session(day: date) -> bool:
    cal = xkrx()
    if not (cal.first_session.date() <= day <= cal.last_session.date()):
        raise ValueError(f"{day} is outside the XKRX calendar's range")
    return bool(cal.is_session(_ts(day)))


def sessions(start: date, end: date) -> list[date]:
    """Trading days in [start, end], oldest first."""
    if start > end:
        return []
    return [ts.date() for ts in xkrx().sessions_in_range(_ts(start), _ts(end))]


def previous_session(day: date) -> date:
    """The last session strictly before ``day`` (``day`` need not be a session)."""
    cal = xkrx()
    return cal.date_to_session(_ts(day - timedelta(days=1)), direction="previous").date()


def next_session(day: date) -> date:
    cal = xkrx()
    return cal.date_to_session(_ts(day + timedelta(days=1)), direction="next").date()


def session_close(day: date) -> datetime:
    """The session's close as a UTC datetime (15:30 KST on a normal day, 16:30 on CSAT day)."""
    return xkrx().session_close(_ts(day)).to_pydatetime().astimezone(UTC)


def session_open(day: date) -> datetime:
    return xkrx().session_open(_ts(day)).to_pydatetime().astimezone(UTC)


def last_closed_session(now: datetime) -> date:
    """The newest session whose close has passed at ``now``."""
    today = now.astimezone(KST).date()
    candidate = today if is_session(today) else previous_session(today)
    if session_close(candidate) <= now:
        return candidate
    return previous_session(candidate)


def non_session_weekdays(start: date, end: date) -> list[date]:
    """Weekdays in [start, end] when KRX is closed: the exclusions of trading-day partitions."""
    open_days = set(sessions(start, end))
    day, out = start, []
    while day <= end:
        if day.weekday() < 5 and day not in open_days:
            out.append(day)
        day += timedelta(days=1)
    return out
