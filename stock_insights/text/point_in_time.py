"""When did we first see an item? The ``first_seen_at`` rule.

Point-in-time code (forecasts, evaluations) only ever reads items whose ``first_seen_at`` is before
its cutoff, so this time must never be earlier than a live pipeline could really have known the item.

Live items
    An item we fetch within ``SOURCE_LATENCY[source]`` of its ``published_at`` is *live*:
    ``first_seen_at`` is our fetch time, the truth, and ``first_seen_estimated`` is false.

Backfilled items
    An item we fetch later than that (the first run of a source, a backfill, a pipeline that was
    down, an item a feed listed late) would make history useless if stamped "now". Its
    ``first_seen_at`` is ``published_at + SOURCE_LATENCY[source]``: when the live pipeline, polling
    every 10 minutes, would have stored it. ``first_seen_estimated`` is true, so strict evaluations
    can leave estimated items out. The estimate trusts the source's publication stamp: a source that
    back-dates items makes the estimate too early, which is why it is flagged and never silently mixed
    with live sightings.

News latency: 15 minutes for every news source = the 10-minute poll interval plus 5 minutes of feed
and indexing lag (Naver's ``pubDate`` is the time the article reached Naver; feeds list items
within minutes). Reddit uses the same figure.

DART
    ``list.json`` gives a receipt *date*, not a time. A filing fetched on its receipt day (KST) is
    live (``first_seen_at`` = fetch time). Fetched later, it is estimated at the end of its receipt day
    (00:00 KST the next day): every filing of that date existed by then, so the estimate is never early;
    a forecast for the next session's open may use it, an intraday one may not. The same rule stamps
    DART financial statement rows, by the receipt date in their ``rcept_no``.

Once stored, a first sighting is never replaced by a later run; the only exception is an *estimated*
time that a later run can estimate earlier (a second source's earlier publication stamp), and a live
sighting always wins over an estimate.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from stock_insights.clock import KST

SOURCE_LATENCY: dict[str, timedelta] = {
    "naver": timedelta(minutes=15),
    "hankyung": timedelta(minutes=15),
    "maeil": timedelta(minutes=15),
    "reddit": timedelta(minutes=15),
}
DEFAULT_LATENCY = timedelta(minutes=15)


def news_first_seen(source: str, published_at: datetime, fetched_at: datetime) -> tuple[datetime, bool]:
    """(first_seen_at, estimated) of a news item fetched at ``fetched_at``."""
    horizon = published_at + SOURCE_LATENCY.get(source, DEFAULT_LATENCY)
    if horizon >= fetched_at:
        return fetched_at, False
    return horizon, True


def end_of_kst_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=KST)


def dart_first_seen(receipt_date: date, fetched_at: datetime) -> tuple[datetime, bool]:
    """(first_seen_at, estimated) of a DART filing received on ``receipt_date``."""
    horizon = end_of_kst_day(receipt_date)
    if fetched_at <= horizon:
        return fetched_at, False
    return horizon, True
