"""The KIS market-data endpoints through the real client against the sandbox, and their assets."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from stock_insights import calendar, clock
from stock_insights.clients.errors import SourceDataError
from stock_insights.clients.kis import KisClient, KisError, MemoryTokenStore
from stock_insights.sandbox.app import create_app
from stock_insights.sandbox.market import SimulatedMarket
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import FinancialStatementItem, IndexBar, MinuteBar, OrderBookSnapshot
from stock_insights_tests.conftest import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, ServerThread

KST = ZoneInfo("Asia/Seoul")
DAY = date(2026, 10, 6)


MIDDAY = datetime(2026, 10, 6, 11, 2, 30, tzinfo=KST)


def client(url: str, key: str = SANDBOX_APP_KEY, clock=clock.now) -> KisClient:  # type: ignore[no-untyped-def]
    return KisClient(
        url,
        SecretStr(key),
        SecretStr(SANDBOX_APP_SECRET),
        token_store=MemoryTokenStore(),
        sleep=lambda s: None,
        clock=clock,
    )


@pytest.fixture
def midday_sandbox():  # type: ignore[no-untyped-def]
    """A sandbox whose clock stands at 11:02 KST on a session day."""
    with ServerThread(create_app(now=lambda: MIDDAY)) as server:
        yield server


def test_todays_minute_bars_page_back_and_resume_from_the_last_one(midday_sandbox) -> None:  # type: ignore[no-untyped-def]
    # The client's clock agrees with the sandbox's, or the sandbox's tokens would look expired to it.
    with client(midday_sandbox.url, clock=lambda: MIDDAY) as kis:
        bars = kis.minute_chart_today("005930", until=time(11, 2))
        assert kis.stats["requests"] == 5  # 122 complete minutes (09:00..11:01) at 30 a page
        later = kis.minute_chart_today("005930", since=time(10, 58), until=time(11, 2))
    times = [b.bar_time.astimezone(KST).time() for b in bars]
    assert times[0] == time(9, 0) and times[-1] == time(11, 1) and len(times) == 122
    assert times == sorted(times)
    assert [b.bar_time.astimezone(KST).time() for b in later] == [time(10, 58), time(10, 59), time(11, 0), time(11, 1)]
    expected = SimulatedMarket().minute_bars("005930", DAY, now=MIDDAY)
    assert [b.close for b in bars] == [float(b.close) for b in expected]


def test_past_minute_bars_and_the_real_only_rule(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        bars = kis.minute_chart_day("005930", DAY)
    open_, close = calendar.session_open(DAY), calendar.session_close(DAY)
    assert len(bars) == 381 and all(open_ <= b.bar_time <= close for b in bars)
    daily = SimulatedMarket().daily_bars("005930", DAY, DAY)[0]
    assert bars[0].open == daily.open and bars[-1].close == daily.close
    assert sum(b.volume for b in bars) == daily.volume
    with pytest.raises(KisError) as error, client(sandbox.url, key="VTpaperAppKey000000000000000000000000") as paper:
        paper.minute_chart_day("005930", DAY)
    assert error.value.code == "MCA00124"


def test_orderbook_is_ordered_and_stamped(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        book = kis.orderbook("005930", day=DAY)
    assert book.ask_prices == sorted(book.ask_prices) and book.bid_prices == sorted(book.bid_prices, reverse=True)
    assert book.bid_prices[0] < book.ask_prices[0]
    assert book.snapshot_at.tzinfo is not None and len(book.ask_prices) <= 10


def test_financials_follow_tr_cont_and_convert_eok_to_won(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        income = kis.financials("005930", "IS")
        requests = kis.stats["requests"]
        ratios = kis.financials("005930", "RATIO")
    assert requests > 2  # several tr_cont pages
    periods = [row.period for row in income]
    assert periods == sorted(periods, reverse=True) and len(set(periods)) == len(periods)
    truth = SimulatedMarket().financials("005930", quarterly=True)
    assert len(income) >= 30 and truth
    revenue = income[0].values["sale_account"]
    assert revenue is not None and revenue > 1e11  # won, not 억원
    assert all(v is None or isinstance(v, float) for r in income for v in r.values.values())
    assert ratios[0].values["eps"] is not None


def test_financials_that_loop_on_tr_cont_stop_with_a_clear_error(sandbox) -> None:  # type: ignore[no-untyped-def]
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"path_contains": "finance", "kind": "tr_cont_loop", "count": 5000}
    ).raise_for_status()
    with client(sandbox.url) as kis, pytest.raises(SourceDataError, match="pages"):
        kis.max_pages = 20  # keep the loop short in the test
        kis.financials("005930", "BS")


def test_index_chart_pages_fifty_rows_back(sandbox) -> None:  # type: ignore[no-untyped-def]
    with client(sandbox.url) as kis:
        kospi = kis.index_chart("0001", date(2026, 6, 1), date(2026, 10, 30))
        kosdaq = kis.index_chart("1001", date(2026, 10, 1), date(2026, 10, 30))
    sessions = calendar.sessions(date(2026, 6, 1), date(2026, 10, 30))
    assert [b.trading_date for b in kospi] == sessions and len(sessions) > 100
    assert kospi[0].close != kosdaq[0].close and all(b.low <= b.close <= b.high for b in kospi)


def _run(keys: list[list[str]], partition: str | None = None) -> dg.ExecuteInProcessResult:
    from stock_insights.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=[dg.AssetKey(k) for k in keys], partition_key=partition, instance=dg.DagsterInstance.ephemeral()
    )


def test_market_data_assets_write_once(sandbox_env: str) -> None:
    assert _run([["universe", "stocks"]]).success
    for _ in range(2):  # the second run of each changes nothing
        assert _run([["kis", "minute_bars"]], DAY.isoformat()).success
        assert _run([["kis", "index_bars"]], DAY.isoformat()).success
        assert _run([["kis", "orderbook"]]).success
        assert _run([["kis", "financials"]]).success
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        count = lambda model: session.execute(select(func.count()).select_from(model)).scalar_one()  # noqa: E731
        assert count(MinuteBar) == 4 * 381
        assert count(IndexBar) == 2
        assert count(OrderBookSnapshot) == 4
        items = count(FinancialStatementItem)
        assert items > 4 * 30 * 9
        first_seen = session.execute(select(func.min(FinancialStatementItem.first_seen_at))).scalar_one()
    engine.dispose()
    assert first_seen <= clock.now()
