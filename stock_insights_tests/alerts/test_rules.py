"""Alert rules from facts: stable keys, thresholds, point-in-time windows and who is told."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stock_insights import calendar
from stock_insights.alerts.rules import (
    KIND_BURST,
    KIND_FILING,
    KIND_FLIP,
    KIND_MOVE,
    Event,
    Filing,
    Forecast,
    PricePoint,
    Watcher,
    burst_events,
    filing_events,
    flip_events,
    move_events,
    partition_day_at,
    recipients,
    window_for,
)
from stock_insights.calendar import KST

DAY = date(2026, 10, 15)  # a Thursday session
PREV = date(2026, 10, 14)


def kst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=KST)


# --- windows --------------------------------------------------------------------------------------------
def test_window_runs_from_midnight_to_the_next_sessions_midnight_cut_at_now() -> None:
    live = window_for(DAY, kst(DAY, 11, 30))
    assert (live.start, live.end, live.bound) == (kst(DAY, 0), kst(date(2026, 10, 16), 0), kst(DAY, 11, 30))
    assert not live.complete
    later = window_for(DAY, datetime(2026, 11, 26, tzinfo=UTC))
    assert later.bound == later.end and later.complete


def test_a_fridays_window_covers_the_weekend_and_a_window_before_a_holiday_covers_it() -> None:
    friday = date(2026, 10, 16)
    assert window_for(friday, kst(friday, 9)).end == kst(date(2026, 10, 19), 0)
    # Find a weekday holiday of the XKRX calendar in 2026 and check the session before it.
    holiday = next(
        d
        for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(365))
        if d.weekday() < 5 and not calendar.is_session(d)
    )
    before = calendar.previous_session(holiday)
    assert window_for(before, kst(before, 9)).end == kst(calendar.next_session(before), 0)
    assert calendar.next_session(before) > holiday
    assert partition_day_at(kst(holiday, 12)) == before


def test_partition_day_of_a_moment() -> None:
    assert partition_day_at(kst(DAY, 0, 0)) == DAY
    assert partition_day_at(kst(date(2026, 10, 17), 13)) == date(2026, 10, 16)  # Saturday: Friday's window
    assert partition_day_at(kst(date(2026, 10, 19), 0, 5)) == date(2026, 10, 19)


def test_window_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_for(DAY, datetime(2026, 10, 15, 12))


# --- filings --------------------------------------------------------------------------------------------
def test_filing_event_key_title_and_link() -> None:
    filing = Filing(
        rcept_no="20261015000123",
        code="005930",
        name="삼성전자",
        report_name="주요사항보고서(자기주식취득결정)    ",
        filer_name="삼성전자",
        receipt_date=DAY,
        first_seen_at=kst(DAY, 10, 2),
        viewer_url="https://dart.fss.or.kr/dsaf001/main.do?rcept_no=20261015000123",
    )
    (event,) = filing_events([filing])
    assert event.key == "filing:20261015000123" and event.kind == KIND_FILING and event.code == "005930"
    assert event.title == "삼성전자 (005930): 주요사항보고서(자기주식취득결정)"
    assert event.occurred_at == kst(DAY, 10, 2)
    assert event.text.endswith("\nhttps://dart.fss.or.kr/dsaf001/main.do?rcept_no=20261015000123")
    assert "10:02 KST" in event.body


# --- moves ----------------------------------------------------------------------------------------------
def _point(price: float, source: str = "minute bar", previous: float = 70_000) -> PricePoint:
    return PricePoint(
        code="005930",
        name="삼성전자",
        day=DAY,
        previous_day=PREV,
        previous_close=previous,
        price=price,
        observed_at=kst(DAY, 10, 42),
        source=source,
    )


@pytest.mark.parametrize(
    ("price", "key"),
    [
        (73_500, "move:005930:2026-10-15:up"),  # exactly +5%: alerts
        (74_000, "move:005930:2026-10-15:up"),
        (66_500, "move:005930:2026-10-15:down"),  # exactly -5%
        (73_400, None),
        (67_000, None),
    ],
)
def test_move_threshold(price: float, key: str | None) -> None:
    events = move_events([_point(price)], 0.05)
    assert [e.key for e in events] == ([key] if key else [])
    if key:
        assert events[0].kind == KIND_MOVE and "10:42 KST" in events[0].body


def test_move_after_the_close_says_so_and_ignores_bad_prices() -> None:
    (event,) = move_events([_point(80_000, "close")], 0.05)
    assert "at the close" in event.body and "+14.29%" in event.body and "up 14.3%" in event.title
    assert move_events([_point(80_000, previous=0), _point(0)], 0.05) == []


# --- flips ----------------------------------------------------------------------------------------------
def _forecast(target: date, hour: int, direction: str, model: str = "momentum", code: str = "005930") -> Forecast:
    return Forecast(
        model=model,
        code=code,
        name="삼성전자",
        target_date=target,
        as_of=kst(target, hour),
        known_at=kst(target, hour, 1),
        direction=direction,
        prob_up=0.6 if direction == "up" else 0.4,
    )


def test_a_flip_against_the_previous_target_day() -> None:
    (event,) = flip_events([_forecast(PREV, 8, "down"), _forecast(DAY, 8, "up")], DAY)
    assert event.key == "flip:momentum:005930:2026-10-15" and event.kind == KIND_FLIP
    assert event.title == "삼성전자 (005930): momentum now says up (was down)"
    assert "the forecast for 2026-10-14 said down" in event.body
    assert event.occurred_at == kst(DAY, 8, 1)


def test_a_flip_between_versions_of_the_same_day_and_only_the_first_counts() -> None:
    chain = [_forecast(PREV, 8, "up"), _forecast(DAY, 8, "up"), _forecast(DAY, 11, "down"), _forecast(DAY, 14, "up")]
    (event,) = flip_events(chain, DAY)
    assert "now says down (was up)" in event.title and "the 08:00 KST version said up" in event.body
    assert event.occurred_at == kst(DAY, 11, 1)


def test_flat_never_flips_and_models_and_stocks_are_separate() -> None:
    assert flip_events([_forecast(PREV, 8, "up"), _forecast(DAY, 8, "flat"), _forecast(DAY, 11, "down")], DAY) == []
    assert flip_events([_forecast(DAY, 8, "up")], DAY) == []  # nothing before it
    events = flip_events(
        [
            _forecast(PREV, 8, "up"),
            _forecast(DAY, 8, "down"),
            _forecast(PREV, 8, "up", model="news_tone"),
            _forecast(DAY, 8, "up", model="news_tone"),
            _forecast(PREV, 8, "down", code="000660"),
            _forecast(DAY, 8, "up", code="000660"),
        ],
        DAY,
    )
    assert sorted(e.key for e in events) == ["flip:momentum:000660:2026-10-15", "flip:momentum:005930:2026-10-15"]


def test_forecasts_for_a_later_day_are_not_read() -> None:
    tomorrow = date(2026, 10, 16)
    assert flip_events([_forecast(DAY, 8, "up"), _forecast(tomorrow, 8, "down")], DAY) == []


# --- news bursts ----------------------------------------------------------------------------------------
def test_a_burst_is_the_nth_article_within_the_span() -> None:
    window = window_for(DAY, kst(DAY, 12))
    seen = [kst(DAY, 9, m) for m in (0, 10, 20, 30, 40, 50)]  # the 5th at 09:40
    (event,) = burst_events("000660", "SK하이닉스", seen, window, count=5, minutes=60)
    assert event.key == "news_burst:000660:2026-10-15:0900" and event.kind == KIND_BURST
    assert event.occurred_at == kst(DAY, 9, 40)
    assert event.title == "SK하이닉스 (000660): 5 news articles in 60 minutes"
    assert "09:00 and 09:40 KST" in event.body


def test_sparse_news_is_no_burst_and_the_span_is_exclusive_at_its_far_end() -> None:
    window = window_for(DAY, kst(DAY, 23))
    hourly = [kst(DAY, h) for h in range(9, 18)]
    assert burst_events("000660", "SK하이닉스", hourly, window, count=2, minutes=59) == []
    # Exactly 60 minutes apart is outside a 60-minute span: (t - 60 min, t].
    assert burst_events("000660", "SK하이닉스", hourly[:2], window, count=2, minutes=60) == []
    assert len(burst_events("000660", "SK하이닉스", hourly[:2], window, count=2, minutes=61)) == 1


def test_one_alert_per_bucket_however_long_the_burst() -> None:
    window = window_for(DAY, kst(DAY, 23))
    seen = [kst(DAY, 9, 0) + timedelta(minutes=5 * i) for i in range(30)]  # 09:00 .. 11:25, every 5 minutes
    keys = [e.key for e in burst_events("000660", "SK하이닉스", seen, window, count=5, minutes=60)]
    assert keys == [
        "news_burst:000660:2026-10-15:0900",
        "news_burst:000660:2026-10-15:1000",
        "news_burst:000660:2026-10-15:1100",
    ]


def test_a_burst_sees_only_what_was_known_and_may_start_before_midnight() -> None:
    seen = [kst(PREV, 23, 40), kst(PREV, 23, 50), kst(DAY, 0, 5), kst(DAY, 0, 10), kst(DAY, 0, 20)]
    early = window_for(DAY, kst(DAY, 0, 15))
    assert burst_events("000660", "SK하이닉스", seen, early, count=5, minutes=60) == []  # 00:20 not yet seen
    (event,) = burst_events("000660", "SK하이닉스", seen, window_for(DAY, kst(DAY, 1)), count=5, minutes=60)
    assert event.key == "news_burst:000660:2026-10-15:0000" and "23:40 and 00:20 KST" in event.body
    # The previous day's partition does not alert a burst reached after its window.
    assert burst_events("000660", "SK하이닉스", seen, window_for(PREV, kst(DAY, 1)), count=5, minutes=60) == []


def test_a_burst_needs_positive_thresholds() -> None:
    with pytest.raises(ValueError):
        burst_events("000660", "x", [], window_for(DAY, kst(DAY, 1)), count=0, minutes=60)


# --- recipients -----------------------------------------------------------------------------------------
def test_only_users_who_watched_before_the_event_are_told_once() -> None:
    event = Event(key="filing:1", kind=KIND_FILING, code="005930", title="t", body="b", occurred_at=kst(DAY, 10))
    other = Event(key="filing:2", kind=KIND_FILING, code="000660", title="t", body="b", occurred_at=kst(DAY, 10))
    watchers = {
        "005930": [Watcher(1, kst(PREV, 9)), Watcher(2, kst(DAY, 10)), Watcher(3, kst(DAY, 10, 1))],
        "035420": [Watcher(4, kst(PREV, 9))],
    }
    pairs = recipients([event, other, event], watchers)
    assert [(user, e.key) for user, e in pairs] == [(1, "filing:1"), (2, "filing:1")]
