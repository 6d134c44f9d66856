"""Alert rules: events from facts. Pure: no database, no Dagster, no clock of its own.

Every event has a stable ``key``; a user gets one notification per key (``notifications`` is unique on
``(user_id, event_key)``), so a rule may see the same event on every run without alerting twice.

Rules (thresholds are settings, see ``Thresholds``):

``filing:<rcept_no>``
    A DART filing of a watched stock, first seen by the live pipeline in the window.
``move:<code>:<date>:<up|down>``
    The latest price is at least ``ALERT_MOVE_THRESHOLD`` (0.05 = 5%) away from the previous session's
    close: the newest minute bar during the session, the day's close once the daily bar is in. At most
    one alert per stock, day and direction.
``flip:<model>:<code>:<target_date>``
    A model's forecast points the other way (up vs down; ``flat`` never flips) from the forecast before
    it: an earlier version for the same target day (a filing-triggered refresh), or the previous target
    day's last version. At most one alert per model, stock and target day.
``news_burst:<code>:<date>:<HHMM>``
    At least ``ALERT_NEWS_BURST_COUNT`` articles linked to the stock first seen within
    ``ALERT_NEWS_BURST_MINUTES`` minutes. ``HHMM`` (KST) starts the fixed ``M``-minute bucket in which
    the count was reached, so one burst alerts once per bucket however the runs fall.

Point in time. A partition ``P`` owns the facts *known* in ``[P 00:00 KST, next session 00:00 KST)``,
cut at the run's ``now`` (``Window``). Only live sightings count: a filing or an article whose
``first_seen_at`` is an estimate (fetched by a backfill) never alerts, a bar or a forecast counts only
if it was stored before the window's bound. So re-materializing a past partition finds only events the
live runs of that day could have found, and a backfill over an empty history alerts nobody. A user is
alerted only for events that happened while the stock was on their watchlist (``added_at`` at or before
the event's ``occurred_at``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from stock_insights import calendar
from stock_insights.calendar import KST

if TYPE_CHECKING:
    from stock_insights.settings import Settings

KIND_FILING = "disclosure"
KIND_MOVE = "price_move"
KIND_FLIP = "prediction_flip"
KIND_BURST = "news_burst"
KINDS = (KIND_FILING, KIND_MOVE, KIND_FLIP, KIND_BURST)

TITLE_MAX = 300  # notifications.title
DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class Thresholds:
    move: float = 0.05
    burst_count: int = 5
    burst_minutes: int = 60

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            move=settings.ALERT_MOVE_THRESHOLD,
            burst_count=settings.ALERT_NEWS_BURST_COUNT,
            burst_minutes=settings.ALERT_NEWS_BURST_MINUTES,
        )


@dataclass(frozen=True)
class Window:
    """What partition ``day`` may alert on: facts known in ``[start, bound)``; ``bound = min(end, now)``."""

    day: date
    start: datetime
    end: datetime
    bound: datetime

    @property
    def complete(self) -> bool:
        return self.bound >= self.end


def window_for(day: date, now: datetime) -> Window:
    """The alert window of trading day ``day`` at ``now``: from its midnight to the next session's (KST)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start = datetime.combine(day, time(0), tzinfo=KST)
    end = datetime.combine(calendar.next_session(day), time(0), tzinfo=KST)
    return Window(day=day, start=start, end=end, bound=max(start, min(end, now)))


def partition_day_at(moment: datetime) -> date:
    """The trading day whose alert window holds ``moment``: today on a session, else the last session."""
    day = moment.astimezone(KST).date()
    return day if calendar.is_session(day) else calendar.previous_session(day)


@dataclass(frozen=True)
class Event:
    key: str
    kind: str
    code: str
    title: str
    body: str
    occurred_at: datetime  # when the pipeline learned the fact: compared with the watchlist's added_at
    link: str | None = None

    @property
    def text(self) -> str:
        """The stored notification body: the message, then the link if there is one."""
        return f"{self.body}\n{self.link}" if self.link else self.body


@dataclass(frozen=True)
class Watcher:
    user_id: int
    added_at: datetime


def _kst(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%H:%M")


def _label(code: str, name: str) -> str:
    return f"{name} ({code})" if name and name != code else code


def _title(text: str) -> str:
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1] + "…"


# --- filings --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Filing:
    rcept_no: str
    code: str
    name: str
    report_name: str
    filer_name: str
    receipt_date: date
    first_seen_at: datetime
    viewer_url: str


def filing_events(filings: Iterable[Filing]) -> list[Event]:
    events = []
    for f in sorted(filings, key=lambda f: (f.first_seen_at, f.rcept_no)):
        report = " ".join(f.report_name.split())
        events.append(
            Event(
                key=f"filing:{f.rcept_no}",
                kind=KIND_FILING,
                code=f.code,
                title=_title(f"{_label(f.code, f.name)}: {report}"),
                body=f"New DART filing of {_label(f.code, f.name)} (receipt {f.receipt_date.isoformat()}, filer "
                f"{f.filer_name}), first seen {f.first_seen_at.astimezone(KST):%Y-%m-%d %H:%M} KST.",
                occurred_at=f.first_seen_at,
                link=f.viewer_url or None,
            )
        )
    return events


# --- price moves ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PricePoint:
    code: str
    name: str
    day: date
    previous_day: date
    previous_close: float
    price: float
    observed_at: datetime
    source: str  # "minute bar" | "close"


def move_events(points: Iterable[PricePoint], threshold: float) -> list[Event]:
    events = []
    for p in points:
        if p.previous_close <= 0 or p.price <= 0:
            continue
        change = p.price / p.previous_close - 1.0
        # A hair of float tolerance: a move of exactly the threshold alerts.
        if abs(change) + 1e-12 < threshold:
            continue
        direction = "up" if change > 0 else "down"
        when = "at the close" if p.source == "close" else f"at {_kst(p.observed_at)} KST"
        events.append(
            Event(
                key=f"move:{p.code}:{p.day.isoformat()}:{direction}",
                kind=KIND_MOVE,
                code=p.code,
                title=_title(f"{_label(p.code, p.name)} {direction} {abs(change):.1%} since the previous close"),
                body=f"{p.price:,.0f} {when} ({p.source}) vs the previous close {p.previous_close:,.0f} "
                f"({p.previous_day.isoformat()}): {change:+.2%}. Alert threshold ±{threshold:.1%}.",
                occurred_at=p.observed_at,
            )
        )
    return events


# --- forecast flips -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Forecast:
    model: str
    code: str
    name: str
    target_date: date
    as_of: datetime
    known_at: datetime  # when the forecast was stored
    direction: str
    prob_up: float


def flip_events(forecasts: Iterable[Forecast], day: date) -> list[Event]:
    """Flips among the forecasts for ``day``: each version against the one before it (the previous
    target day's last version before the first). The first flip of a (model, stock) is the event."""
    chains: dict[tuple[str, str], list[Forecast]] = defaultdict(list)
    for f in forecasts:
        if f.target_date <= day:
            chains[(f.model, f.code)].append(f)
    events = []
    for (model, code), items in sorted(chains.items()):
        earlier = [f for f in items if f.target_date < day]
        versions = sorted((f for f in items if f.target_date == day), key=lambda f: f.as_of)
        chain = ([max(earlier, key=lambda f: (f.target_date, f.as_of))] if earlier else []) + versions
        for before, after in pairwise(chain):
            if before.direction in DIRECTIONS and after.direction in DIRECTIONS and before.direction != after.direction:
                previous = (
                    f"the forecast for {before.target_date.isoformat()}"
                    if before.target_date != day
                    else f"the {_kst(before.as_of)} KST version"
                )
                events.append(
                    Event(
                        key=f"flip:{model}:{code}:{day.isoformat()}",
                        kind=KIND_FLIP,
                        code=code,
                        title=_title(
                            f"{_label(code, after.name)}: {model} now says {after.direction} (was {before.direction})"
                        ),
                        body=f"{model}'s forecast for {day.isoformat()} made at {_kst(after.as_of)} KST says "
                        f"{after.direction} (P(up) {after.prob_up:.2f}); {previous} said {before.direction} "
                        f"(P(up) {before.prob_up:.2f}).",
                        occurred_at=after.known_at,
                    )
                )
                break
    return events


# --- news bursts ----------------------------------------------------------------------------------------
def burst_events(
    code: str, name: str, seen: Sequence[datetime], window: Window, count: int, minutes: int
) -> list[Event]:
    """Bursts of ``code``'s news: the ``count``-th article within ``minutes`` minutes, reached in the window.

    ``seen``: first sightings of the stock's articles, from ``minutes`` before the window's start (so a
    burst across midnight is counted whole). One event per fixed ``minutes`` bucket (KST, from midnight)
    in which the count is reached.
    """
    if count < 1 or minutes < 1:
        raise ValueError("a burst needs a positive count and span")
    span = timedelta(minutes=minutes)
    times = sorted(t for t in seen if t < window.bound)
    events, buckets = [], set()
    for j, reached in enumerate(times):
        if reached < window.start:
            continue
        first = bisect_right(times, reached - span)  # articles in (reached - span, reached]
        n = j - first + 1
        if n < count:
            continue
        local = reached.astimezone(KST)
        bucket_minute = (local.hour * 60 + local.minute) // minutes * minutes
        bucket = (local.date(), bucket_minute)
        if bucket in buckets:
            continue
        buckets.add(bucket)
        hhmm = f"{bucket_minute // 60:02d}{bucket_minute % 60:02d}"
        events.append(
            Event(
                key=f"news_burst:{code}:{local.date().isoformat()}:{hhmm}",
                kind=KIND_BURST,
                code=code,
                title=_title(f"{_label(code, name)}: {n} news articles in {minutes} minutes"),
                body=f"{n} articles linked to {_label(code, name)} were first seen between "
                f"{_kst(times[first])} and {_kst(reached)} KST (alert at {count} within {minutes} minutes).",
                occurred_at=reached,
            )
        )
    return events


# --- who is told ----------------------------------------------------------------------------------------
def recipients(events: Iterable[Event], watchers: Mapping[str, Sequence[Watcher]]) -> list[tuple[int, Event]]:
    """(user, event) for every user who watched the event's stock when it happened; one per (user, key)."""
    out, seen = [], set()
    for event in events:
        for w in watchers.get(event.code, ()):
            if w.added_at <= event.occurred_at and (w.user_id, event.key) not in seen:
                seen.add((w.user_id, event.key))
                out.append((w.user_id, event))
    return out
