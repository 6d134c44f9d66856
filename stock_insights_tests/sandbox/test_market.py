"""The simulated market: calendar, determinism, KRX price rules, the planted news relation."""

from __future__ import annotations

import time
from datetime import date, datetime

import numpy as np
import pytest

from stock_insights.sandbox.market import (
    BETA,
    KST,
    PLANTED_CORRELATION,
    TICK_REFORM_DAY,
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
