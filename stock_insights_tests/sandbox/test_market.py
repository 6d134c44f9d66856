"""The simulated market: calendar, determinism, KRX price rules, the planted news relation."""

from __future__ import annotations

import itertools
import time
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time

import numpy as np
import pytest

from stock_insights.sandbox.market import (
    BETA,
    KST,
    PLANTED_CORRELATION,
    TICK_REFORM_DAY,
    Bar,
    OrderBookSnapshot,
    SimulatedMarket,
    price_limits,
    tick_size,
)

LATE = datetime(2026, 1, 1, tzinfo=KST)  # a `now` after every bar the tests look at


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket()


def test_sessions_follow_the_krx_calendar(market: SimulatedMarket) -> None:
    feb = market.sessions(date(2024, 2, 1), date(2024, 2, 29))
    # Seollal 2024-02-09..11 and its substitute holiday 02-12; weekends.
    for closed in (date(2024, 2, 9), date(2024, 2, 10), date(2024, 2, 11), date(2024, 2, 12)):
        assert closed not in feb
    assert date(2024, 2, 8) in feb and date(2024, 2, 13) in feb
    assert not market.is_session(date(2024, 4, 10))  # 22nd National Assembly election
    assert not market.is_session(date(2023, 12, 29))  # year-end closure (last business day)
    assert market.is_session(date(2024, 4, 11))
    assert market.sessions(date(2024, 2, 9), date(2024, 2, 12)) == []
    assert market.session_close(date(2024, 6, 11)) == datetime(2024, 6, 11, 15, 30, tzinfo=KST)


def test_bars_are_deterministic_and_independent_of_the_range(market: SimulatedMarket) -> None:
    wide = market.daily_bars("005930", date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    narrow = market.daily_bars("005930", date(2024, 6, 3), date(2024, 6, 14), now=LATE)
    by_day = {b.day: b for b in wide}
    assert narrow and all(by_day[b.day] == b for b in narrow)

    again = SimulatedMarket(seed=7)
    assert again.daily_bars("005930", date(2024, 6, 3), date(2024, 6, 14), now=LATE) == narrow
    assert again.tone("005930", date(2024, 6, 11)) == market.tone("005930", date(2024, 6, 11))

    other_seed = SimulatedMarket(seed=8).daily_bars("005930", date(2024, 6, 3), date(2024, 6, 14), now=LATE)
    assert [b.close for b in other_seed] != [b.close for b in narrow]
    other_code = market.daily_bars("000660", date(2024, 6, 3), date(2024, 6, 14), now=LATE)
    assert [b.close for b in other_code] != [b.close for b in narrow]


def test_bars_cover_exactly_the_sessions(market: SimulatedMarket) -> None:
    bars = market.daily_bars("035720", date(2024, 1, 1), date(2024, 12, 31), now=LATE)
    assert [b.day for b in bars] == market.sessions(date(2024, 1, 1), date(2024, 12, 31))
    assert date(2020, 1, 2) == market.daily_bars("035720", date(2019, 1, 1), date(2020, 1, 10), now=LATE)[0].day


def test_tick_size_tables() -> None:
    new = date(2024, 1, 2)
    assert [tick_size(p, new) for p in (1_999, 2_000, 4_995, 5_000, 19_990, 20_000, 49_950, 50_000,
                                        199_900, 200_000, 499_500, 500_000)] == \
        [1, 5, 5, 10, 10, 50, 50, 100, 100, 500, 500, 1_000]
    assert tick_size(300_000, new, "KOSDAQ") == 500
    old = date(2022, 6, 2)
    assert [tick_size(p, old) for p in (999, 1_000, 9_990, 10_000, 99_900, 100_000, 500_000)] == \
        [1, 5, 10, 50, 100, 500, 1_000]
    assert tick_size(300_000, old, "KOSDAQ") == 100
    assert tick_size(1_500, date(2023, 1, 20)) == 5 and tick_size(1_500, TICK_REFORM_DAY) == 1
    # 상한가/하한가 of the 2024-06-11 capture (previous close 75,700): 98,400 / 53,000.
    assert price_limits(75_700, date(2024, 6, 11)) == (53_000, 98_400)


def _reference_tick(price: int, day: date, listing: str) -> int:
    """The KRX tick tables, written out independently of the implementation."""
    if day >= date(2023, 1, 25):
        table = [(2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500)]
        top = 1_000
    elif listing == "KOSDAQ":
        table, top = [(1_000, 1), (5_000, 5), (10_000, 10), (50_000, 50)], 100
    else:
        table = [(1_000, 1), (5_000, 5), (10_000, 10), (50_000, 50), (100_000, 100), (500_000, 500)]
        top = 1_000
    return next((tick for bound, tick in table if price < bound), top)


CODES = ["005930", "000660", "247540", "011200", "086520", *[f"{i:06d}" for i in range(900_100, 900_120)]]


@pytest.mark.parametrize("code", CODES)
def test_prices_obey_krx_rules(market: SimulatedMarket, code: str) -> None:
    s = market.daily_arrays(code, date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    listing = market.listing_market(code)
    o, h, lo, c = (a.astype(np.int64) for a in (s.open, s.high, s.low, s.close))
    assert (lo > 0).all()
    assert (lo <= np.minimum(o, c)).all() and (np.maximum(o, c) <= h).all()
    assert (s.volume > 0).all()
    assert (s.value >= lo * s.volume).all() and (s.value <= h * s.volume).all()
    prev = np.concatenate(([market.profile(code).base_price], c[:-1])).tolist()
    days = s.days.astype(object).tolist()
    for i, (day, p) in enumerate(zip(days, prev, strict=True)):
        values = (int(o[i]), int(h[i]), int(lo[i]), int(c[i]))
        for price in values:
            assert price % _reference_tick(price, day, listing) == 0, (code, day, price)
        # ±30 % of the previous close, rounded inwards to the tick of the limit price itself.
        upper_raw, lower_raw = p * 13 // 10, -(-p * 7 // 10)
        upper = upper_raw - upper_raw % _reference_tick(upper_raw, day, listing)
        lower_tick = _reference_tick(lower_raw, day, listing)
        lower = -(-lower_raw // lower_tick) * lower_tick
        assert all(lower <= v <= upper for v in values), (code, day, values, p)


def test_only_closed_sessions_are_visible(market: SimulatedMarket) -> None:
    before = market.daily_bars("005930", date(2024, 6, 1), date(2024, 6, 30),
                               now=datetime(2024, 6, 11, 15, 29, tzinfo=KST))
    after = market.daily_bars("005930", date(2024, 6, 1), date(2024, 6, 30),
                              now=datetime(2024, 6, 11, 15, 30, tzinfo=KST))
    assert before[-1].day == date(2024, 6, 10)
    assert after[-1].day == date(2024, 6, 11)
    naive_kst = market.daily_bars("005930", date(2024, 6, 1), date(2024, 6, 30), now=datetime(2024, 6, 11, 16))
    assert naive_kst == after
    assert market.last_closed_session(datetime(2024, 6, 9, 12, tzinfo=KST)) == date(2024, 6, 7)


def test_adjusted_equals_raw_and_names(market: SimulatedMarket) -> None:
    args = ("068270", date(2023, 1, 1), date(2023, 3, 31))
    assert market.daily_bars(*args, now=LATE, adjusted=True) == market.daily_bars(*args, now=LATE, adjusted=False)
    assert market.name("005930") == "삼성전자"
    assert market.name("123456") == "종목123456"
    assert market.daily_bars("123456", date(2024, 1, 1), date(2024, 1, 31), now=LATE)


def test_tone_is_bounded_and_only_defined_on_sessions(market: SimulatedMarket) -> None:
    tones = market.tones("005930", date(2020, 1, 1), date(2025, 12, 31))
    values = np.array([t for _, t in tones])
    assert ((values >= -1) & (values <= 1)).all()
    assert 0.5 < values.std() < 0.75  # tanh(N(0,1)) has sd ≈ 0.63
    assert market.tone("005930", tones[10][0]) == tones[10][1]
    with pytest.raises(ValueError):
        market.tone("005930", date(2024, 2, 10))


def test_planted_relation_is_measurable(market: SimulatedMarket) -> None:
    prev_tone, same_tone, returns = [], [], []
    for code in [f"{i:06d}" for i in range(100_000, 100_100)]:
        s = market.daily_arrays(code, date(2020, 1, 1), date(2025, 12, 31), now=LATE)
        returns.append(np.diff(np.log(s.close.astype(np.float64))))
        prev_tone.append(s.tone[:-1])
        same_tone.append(s.tone[1:])
    r = np.concatenate(returns)
    lagged = np.corrcoef(np.concatenate(prev_tone), r)[0, 1]
    same_day = np.corrcoef(np.concatenate(same_tone), r)[0, 1]
    assert abs(PLANTED_CORRELATION - 0.2) < 0.01 and BETA > 0
    assert 0.15 < lagged < 0.25, lagged
    assert abs(same_day) < 0.03, same_day
    assert 0.017 < r.std() < 0.024


def test_fast_for_many_stocks() -> None:
    fresh = SimulatedMarket(seed=11)  # the calendar is cached; the walks are not
    start = time.perf_counter()
    total = 0
    for code in [f"{i:06d}" for i in range(200_000, 200_200)]:
        total += len(fresh.daily_arrays(code, date(2020, 1, 1), date(2025, 12, 31), now=LATE))
    elapsed = time.perf_counter() - start
    assert total > 200 * 1_450
    assert elapsed < 1.0, elapsed


# --- one-minute bars ---------------------------------------------------------------------------

def _day_bar(market: SimulatedMarket, code: str, day: date) -> Bar:
    return market.daily_bars(code, day, day, now=LATE)[0]


@pytest.mark.parametrize("code", ["005930", "035720", "247540", *[f"{i:06d}" for i in range(400_000, 400_006)]])
def test_minute_bars_add_up_to_the_daily_bar(market: SimulatedMarket, code: str) -> None:
    listing = market.listing_market(code)
    for day in [*market.sessions(date(2024, 6, 3), date(2024, 6, 14)), date(2022, 6, 2), date(2023, 1, 2)]:
        bars = market.minute_bars(code, day, LATE)
        daily = _day_bar(market, code, day)
        assert bars[0].open == daily.open and bars[-1].close == daily.close
        assert max(b.high for b in bars) == daily.high and min(b.low for b in bars) == daily.low
        assert sum(b.volume for b in bars) == daily.volume == bars[-1].cum_volume
        assert sum(b.value for b in bars) == daily.value == bars[-1].cum_value
        for previous, bar in itertools.pairwise(bars):
            assert bar.open == previous.close  # no gaps between minutes
        for bar in bars:
            assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
            for price in (bar.open, bar.high, bar.low, bar.close):
                assert price % _reference_tick(price, day, listing) == 0, (code, day, bar)


def test_minute_bar_stamps_follow_the_session(market: SimulatedMarket) -> None:
    normal = market.minute_bars("005930", date(2024, 6, 11), LATE)
    stamps = [b.time.strftime("%H%M") for b in normal]
    # 09:00 … 15:19 continuous trading, then one closing-auction bar stamped with the close.
    assert len(normal) == 381 and stamps[0] == "0900" and stamps[-2:] == ["1519", "1530"]
    assert all(b.time.tzinfo is not None and b.time.utcoffset() == timedelta(hours=9) for b in normal)
    auction = normal[-1]
    assert auction.open == auction.high == auction.low == auction.close
    late_open = market.minute_bars("005930", date(2024, 1, 2), LATE)  # first session of the year: 10:00
    assert len(late_open) == 321 and late_open[0].time.strftime("%H%M") == "1000"
    csat = market.minute_bars("005930", date(2020, 12, 3), LATE)  # CSAT day: 10:00–16:30
    assert len(csat) == 381 and [csat[0].time.strftime("%H%M"), csat[-1].time.strftime("%H%M")] == ["1000", "1630"]
    assert market.session_open(date(2024, 6, 11)) == datetime(2024, 6, 11, 9, tzinfo=KST)
    assert market.minute_bars("005930", date(2024, 6, 9), LATE) == []  # a Sunday


def test_minute_bars_appear_as_they_complete(market: SimulatedMarket) -> None:
    day = date(2024, 6, 11)
    full = market.minute_bars("005930", day, LATE)
    assert market.minute_bars("005930", day, datetime(2024, 6, 11, 9, 0, 59, tzinfo=KST)) == []
    at_10 = market.minute_bars("005930", day, datetime(2024, 6, 11, 10, 0, 30, tzinfo=KST))
    assert at_10[-1].time == datetime(2024, 6, 11, 9, 59, tzinfo=KST) and at_10 == full[:len(at_10)]
    in_auction = market.minute_bars("005930", day, datetime(2024, 6, 11, 15, 29, 59, tzinfo=KST))
    assert in_auction == full[:-1]
    assert market.minute_bars("005930", day, datetime(2024, 6, 11, 15, 30, tzinfo=KST)) == full
    assert SimulatedMarket(seed=7).minute_bars("005930", day, LATE) == full
    assert SimulatedMarket(seed=8).minute_bars("005930", day, LATE) != full


def test_thin_days_keep_the_price_in_minutes_without_trades(market: SimulatedMarket) -> None:
    # Found by search: daily volume 314 < 381 bars.
    code, day = "177098", date(2024, 6, 10)
    bars = market.minute_bars(code, day, LATE)
    daily = _day_bar(market, code, day)
    quiet = [b for b in bars if b.volume == 0]
    assert daily.volume == 314 and quiet
    assert all(b.open == b.high == b.low == b.close and b.value == 0 for b in quiet)
    assert max(b.high for b in bars) == daily.high and min(b.low for b in bars) == daily.low
    assert sum(b.volume for b in bars) == daily.volume and bars[-1].close == daily.close


def test_snapshot_phases(market: SimulatedMarket) -> None:
    day = date(2024, 6, 11)
    daily = _day_bar(market, "005930", day)
    prev_close = market.previous_close("005930", day)
    pre = market.snapshot("005930", datetime(2024, 6, 11, 8, 0, tzinfo=KST))
    assert (pre.phase, pre.day, pre.price, pre.volume, pre.open) == ("pre_open", day, prev_close, 0, None)
    mid = market.snapshot("005930", datetime(2024, 6, 11, 11, 3, 20, tzinfo=KST))
    bars = market.minute_bars("005930", day, datetime(2024, 6, 11, 11, 3, 20, tzinfo=KST))
    assert mid.phase == "open" and mid.price == bars[-1].close and mid.volume == bars[-1].cum_volume
    assert mid.open == daily.open and daily.low <= mid.low <= mid.high <= daily.high
    assert market.snapshot("005930", datetime(2024, 6, 11, 15, 25, tzinfo=KST)).phase == "closing_auction"
    after = market.snapshot("005930", datetime(2024, 6, 11, 17, 0, tzinfo=KST))
    assert (after.phase, after.price, after.volume, after.value) == ("closed", daily.close, daily.volume, daily.value)
    weekend = market.snapshot("005930", datetime(2024, 6, 9, 12, 0, tzinfo=KST))
    assert (weekend.phase, weekend.day) == ("closed", date(2024, 6, 7))


# --- order book --------------------------------------------------------------------------------

def _assert_sane_book(book: OrderBookSnapshot, listing: str) -> None:
    asks = [p for p, _ in book.asks if p]
    bids = [p for p, _ in book.bids if p]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and asks[0] > bids[0]
    assert book.lower_limit <= bids[-1] and asks[-1] <= book.upper_limit
    assert all(q > 0 for p, q in (*book.asks, *book.bids) if p)
    # Neighbouring levels are one tick apart: nothing skipped, nothing off the grid.
    for lower, upper in itertools.pairwise(sorted(asks + bids)):
        assert upper - lower == _reference_tick(lower, book.day, listing)
    assert bids[0] <= book.price <= asks[0] or book.phase == "pre_open"


def test_orderbook_is_on_the_grid_and_not_crossed(market: SimulatedMarket) -> None:
    for code in ("005930", "035720", "011200"):
        listing = market.listing_market(code)
        for minute in range(0, 24 * 60, 17):
            at = datetime(2024, 6, 11, tzinfo=KST) + timedelta(minutes=minute)
            _assert_sane_book(market.orderbook(code, at), listing)


def test_orderbook_phases_and_determinism(market: SimulatedMarket) -> None:
    day = date(2024, 6, 11)
    daily = _day_bar(market, "005930", day)
    book = market.orderbook("005930", datetime(2024, 6, 11, 11, 3, 20, tzinfo=KST))
    assert book == replace(market.orderbook("005930", datetime(2024, 6, 11, 11, 3, 55, tzinfo=KST)),
                           at=book.at)  # the same minute: the same book
    assert book.asks != market.orderbook("005930", datetime(2024, 6, 11, 11, 4, tzinfo=KST)).asks
    assert book.accepted_at == clock_time(11, 3) and book.expected_price == daily.open
    after = market.orderbook("005930", datetime(2024, 6, 11, 16, 0, tzinfo=KST))
    # As in the 2024-06-11 capture: best bid at the close, stamped 160000, the closing call's price.
    assert after.phase == "closed" and after.bids[0][0] == daily.close and after.accepted_at == clock_time(16, 0)
    assert after.expected_price == daily.close
    assert after.expected_volume == market.minute_bars("005930", day, LATE)[-1].volume
    late = market.orderbook("005930", datetime(2024, 6, 11, 21, 0, tzinfo=KST))
    assert late.accepted_at == clock_time(18, 0) and late.asks == after.asks  # frozen after the close
    pre = market.orderbook("005930", datetime(2024, 6, 11, 8, 45, tzinfo=KST))
    assert pre.phase == "pre_open" and pre.day == day and pre.bids[0][0] == daily.open
    early = market.orderbook("005930", datetime(2024, 6, 11, 8, 0, tzinfo=KST))
    assert early.day == date(2024, 6, 10) and early.phase == "closed" and early.accepted_at == clock_time(18, 0)


# --- fundamentals ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["005930", "000660", "123456", "900101"])
def test_financial_statements_balance(market: SimulatedMarket, code: str) -> None:
    quarterly = market.financials(code, quarterly=True, now=datetime(2024, 6, 11, tzinfo=KST))
    yearly = market.financials(code, now=datetime(2024, 6, 11, tzinfo=KST))
    assert [p.period for p in yearly] == [f"{y}12" for y in range(1990, 2024)]
    assert quarterly[0].period == "199003" and quarterly[-1].period == "202403"
    assert yearly == [p for p in quarterly if p.quarter == 4]
    prof = market.profile(code)
    for p in quarterly:
        assert p.total_assets == p.total_liabilities + p.total_equity == p.current_assets + p.fixed_assets
        assert p.total_liabilities == p.current_liabilities + p.fixed_liabilities
        assert p.revenue == p.cost_of_sales + p.gross_profit and p.revenue > 0 and p.total_equity > 0
        assert min(p.current_assets, p.fixed_assets, p.current_liabilities, p.fixed_liabilities) >= 0
        assert p.capital_stock == max(1, round(prof.par_value * prof.shares_outstanding / 1e8))
        assert p.debt_ratio == pytest.approx(p.total_liabilities / p.total_equity * 100, abs=0.01)
    by_period = {p.period: p for p in quarterly}
    for year in range(1991, 2024):
        revenues = [by_period[f"{year}{m:02d}"].revenue for m in (3, 6, 9, 12)]
        assert revenues == sorted(revenues)  # year-to-date sums
        this, last = by_period[f"{year}12"], by_period[f"{year - 1}12"]
        assert this.revenue_growth == pytest.approx((this.revenue - last.revenue) / last.revenue * 100, abs=0.01)
        if min(this.operating_profit, last.operating_profit) <= 0:
            assert this.operating_profit_growth == 0.0
    # Anchored on the quote's profile: the FY before the history has the profile's EPS and BPS.
    fy2019 = by_period["201912"]
    assert fy2019.eps == pytest.approx(prof.eps, rel=0.01, abs=2)
    assert fy2019.bps == pytest.approx(prof.bps, rel=0.01, abs=2)


def test_financial_periods_appear_when_published(market: SimulatedMarket) -> None:
    def periods(now: datetime, quarterly: bool = True) -> list[str]:
        return [p.period for p in market.financials("005930", quarterly=quarterly, now=now)]

    assert periods(datetime(2024, 5, 14, tzinfo=KST))[-1] == "202312"
    assert periods(datetime(2024, 5, 15, tzinfo=KST))[-1] == "202403"  # Q1 + 45 days
    assert periods(datetime(2024, 3, 29, tzinfo=KST), quarterly=False)[-1] == "202212"
    assert periods(datetime(2024, 3, 30, tzinfo=KST), quarterly=False)[-1] == "202312"  # FY + 90 days
    assert SimulatedMarket(seed=7).financials("005930", now=LATE) == market.financials("005930", now=LATE)


# --- indices -----------------------------------------------------------------------------------

def test_index_levels_and_shape(market: SimulatedMarket) -> None:
    kospi = market.index_bars("0001", date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    kosdaq = market.index_bars("1001", date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    assert [b.day for b in kospi] == market.sessions(date(2020, 1, 1), date(2025, 12, 31))
    assert min(b.close for b in kospi) > 1_200 and max(b.close for b in kospi) < 4_500
    assert min(b.close for b in kosdaq) > 300 and max(b.close for b in kosdaq) < 1_600
    assert market.index_name("0001") == "종합" and market.index_name("1001") == "KOSDAQ"
    for bar in kospi + kosdaq:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert all(round(v, 2) == v for v in (bar.open, bar.high, bar.low, bar.close))
        assert bar.volume > 0 and bar.value > 0
    with pytest.raises(ValueError):
        market.index_bars("0002", date(2024, 1, 1), date(2024, 1, 31), now=LATE)


def test_index_returns_follow_the_stocks_market_factor(market: SimulatedMarket) -> None:
    kospi = market.index_arrays("0001", date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    kosdaq = market.index_arrays("1001", date(2020, 1, 1), date(2025, 12, 31), now=LATE)
    index_r = np.diff(np.log(kospi.close))
    stock_r = []
    for code in [f"{i:06d}" for i in range(500_000, 500_060)]:
        s = market.daily_arrays(code, date(2020, 1, 1), date(2025, 12, 31), now=LATE)
        stock_r.append(np.diff(np.log(s.close.astype(np.float64))))
    average = np.mean(stock_r, axis=0)
    assert np.corrcoef(index_r, average)[0, 1] > 0.8
    single = np.mean([np.corrcoef(index_r, r)[0, 1] for r in stock_r])
    assert 0.3 < single < 0.65, single  # SIGMA_MARKET / SIGMA = 0.5 of each stock's noise is the market
    assert np.corrcoef(index_r, np.diff(np.log(kosdaq.close)))[0, 1] > 0.85
    assert 0.007 < index_r.std() < 0.013
