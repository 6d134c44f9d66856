"""The intraday collection policy (stock_insights/collection.py) and the KIS assets that follow it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import func, select

from stock_insights.clients.errors import SourceDataError
from stock_insights.collection import IntradayPolicy, hot_tier, plan_window, rotation_groups, window_number
from stock_insights.defs.kis.assets import fetch_all
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import OrderBookSnapshot

MARKET = [f"{900000 + i:06d}" for i in range(2700)]
POLICY = IntradayPolicy()  # 20 req/s, 0.95 headroom, 300 s windows, 80% intraday, half for order books


def test_budget_of_a_window_at_twenty_requests_a_second() -> None:
    assert POLICY.window_slots == 5700  # 20 x 0.95 x 300
    assert POLICY.dataset_budget("minute_bars") == 2280
    assert POLICY.dataset_budget("orderbook") == 2280
    # A minute chart page holds 30 bars: every 6 windows (30 min) is one request, every 7 is two.
    assert POLICY.requests_per_fetch("minute_bars", 6) == 1
    assert POLICY.requests_per_fetch("minute_bars", 7) == 2
    assert POLICY.requests_per_fetch("orderbook", 40) == 1


def test_hot_tier_is_watched_then_most_traded_and_only_tracked() -> None:
    tracked = ["000001", "000002", "000003", "000004"]
    hot = hot_tier({"000004", "999999"}, ["000004", "000002", "000001", "000003"], tracked, top_n=2)
    assert hot == ["000004", "000002", "000001"]  # 999999 is not tracked; 000004 is not counted twice


@pytest.mark.parametrize("dataset", ["minute_bars", "orderbook"])
def test_whole_market_plan_hot_every_window_rest_rotated_once_per_cycle(dataset: str) -> None:
    watched = MARKET[-50:]
    ranked = list(reversed(MARKET))  # any ranking; the top 300 not already watched join the hot tier
    plans = [
        plan_window(POLICY, dataset, MARKET, watched=watched, by_traded_value=ranked, window=w)  # type: ignore[arg-type]
        for w in range(1000, 1010)
    ]
    first = plans[0]
    assert len(first.hot) == 350 and set(watched) <= set(first.hot)
    assert first.rest_total == 2350 and first.groups == 2  # 1,930 spare slots: 2,350 rest stocks need 2 windows
    assert first.rest_freshness_seconds == 600 and first.hot_freshness_seconds == 300
    for plan in plans:
        assert plan.fetch[: len(plan.hot)] == plan.hot
        assert plan.estimated_requests <= plan.budget
    seen = Counter(code for plan in plans[:2] for code in plan.fetch[len(plan.hot) :])
    assert set(seen) == set(MARKET) - set(first.hot) and set(seen.values()) == {1}


def test_minute_bars_cost_at_least_one_page_per_thirty_stock_minutes_whatever_the_rotation() -> None:
    tight = IntradayPolicy(rate_limit_per_sec=2.0, budget_share=0.5, hot_top_n=0)  # paper account: 2 req/s
    budget = tight.dataset_budget("minute_bars")
    assert budget == 142
    # 700 stocks x 5 new minutes a window / 30 bars a page = 117 requests a window at best: 5 groups fit.
    assert rotation_groups(tight, "minute_bars", 700, budget) == 5
    assert -(-700 // 4) * tight.requests_per_fetch("minute_bars", 4) > budget
    # The whole market needs 450 a window however it rotates (a stock left longer pages back further):
    # intraday minute bars cannot reach it, only the after-close catch-up does.
    assert rotation_groups(tight, "minute_bars", 2700, budget) is None
    assert rotation_groups(tight, "orderbook", 2700, budget) == 20  # books cost one request whatever the age


def test_hot_tier_larger_than_the_budget_is_cut_and_the_rest_is_never_reached() -> None:
    tiny = IntradayPolicy(budget_share=0.01, hot_top_n=0)  # 28 order books a window
    plan = plan_window(tiny, "orderbook", MARKET, watched=MARKET[:100], window=7)
    assert plan.budget == 28 and plan.hot == MARKET[:28] and plan.fetch == MARKET[:28]
    assert plan.groups is None and plan.rest_freshness_seconds is None and plan.rest_total == 2672


def test_catch_up_fetches_every_stock() -> None:
    plan = plan_window(POLICY, "minute_bars", MARKET, window=3, catch_up=True)
    assert sorted(plan.fetch) == MARKET


def test_window_number_counts_consecutive_windows() -> None:
    t = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)
    assert window_number(t.replace(minute=4, second=59), 300) == window_number(t, 300)
    assert window_number(t.replace(minute=5), 300) == window_number(t, 300) + 1


def test_fetch_all_keeps_requests_in_flight_and_names_the_first_failure() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def fetch(code: str) -> str:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        if code in ("000005", "000009"):
            raise SourceDataError("KIS", f"bad answer for {code}")
        return code * 2

    codes = [f"{i:06d}" for i in range(4)]
    assert fetch_all(codes, fetch, "x", concurrency=4) == {c: c * 2 for c in codes}
    assert peak[0] > 1
    with pytest.raises(dg.Failure, match="x failed for 000005, nothing written"):
        fetch_all([f"{i:06d}" for i in range(12)], fetch, "x", concurrency=3)


def test_orderbook_asset_follows_the_policy(sandbox_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from stock_insights_tests.kis.test_market_data import _run

    assert _run([["universe", "stocks"]]).success
    # 50 req/s x 0.95 x 300 s x 0.0002 x 0.5 = 1 order book a window, no hot tier: 4 stocks rotate over 4 windows.
    monkeypatch.setenv("KIS_INTRADAY_BUDGET_SHARE", "0.0002")
    monkeypatch.setenv("KIS_INTRADAY_HOT_TOP_N", "0")
    reset_settings_cache()
    result = _run([["kis", "orderbook"]])
    assert result.success
    policy = result.asset_materializations_for_node("kis__orderbook")[0].metadata["policy"].data
    assert policy["fetched_stocks"] == 1 and policy["rest_groups"] == 4 and policy["rest_freshness_s"] == 1200
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(OrderBookSnapshot)).scalar_one() == 1
    engine.dispose()
