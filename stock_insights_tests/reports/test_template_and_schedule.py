"""The template (deterministic, every number from the facts), the report spend ledger and the schedule."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import dagster as dg
import pytest

from stock_insights.calendar import KST
from stock_insights.llm import SqlLLMCache
from stock_insights.llm import SqlSpendLedger as ReportSpendLedger
from stock_insights.reports.facts import pct, points, share, won
from stock_insights.reports.template import render
from stock_insights.reports.writer import _URL, build_messages, numbers_in
from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import upgrade
from stock_insights_tests.reports.facts_samples import DAY, market_facts, stock_facts


def test_formats() -> None:
    assert (pct(0.0084626), pct(-0.0018), pct(None)) == ("+0.85%", "-0.18%", "n/a")
    assert (won(71500.0), points(2601.234), share(0.615)) == ("71,500", "2,601.23", "61.5%")


def test_the_template_is_deterministic_and_shows_only_the_facts_numbers() -> None:
    for facts in (stock_facts(), market_facts()):
        markdown = render(facts)
        assert markdown == render(facts.model_copy())
        facts_text = build_messages(facts)[1]["content"]
        # Links aside, every number of the template is a number of the facts (the "95% CI" label aside).
        assert numbers_in(_URL.sub(" ", markdown)) - numbers_in(facts_text) == {"95%"}
        sources = facts.sources()
        assert [s.n for s in sources] == list(range(1, len(sources) + 1))
        assert {int(n) for n in re.findall(r"\[(\d+)\]", markdown)} == {s.n for s in sources}
        assert f"(https://dart.fss.or.kr/dsaf001/main.do?rcpNo={facts.filings[0].rcept_no})" in markdown
    stock = render(stock_facts())
    assert "삼성전자 closed at **71,500** (+0.85%) from 70,900 on 2026-10-14." in stock
    assert "Excess over the index: **+0.45%**" in stock
    assert "| news_tone | up | 61.5% | +0.35% | hit | +0.85% |" in stock
    assert "| 1 | news_tone | 80 | 56.2% (45.4% to 66.6%) | 0.2471 |" in stock
    market = render(market_facts())
    assert "Indices: KOSPI 2,601.23 (+0.40%), KOSDAQ 850.12 (-0.31%)." in market
    assert "_3 more not shown (5 in the window, the most widely carried first)._" in market
    assert "| news_tone | 2 | 2 | 0 | 0 | 100.0% |" in market


def test_missing_close_and_standings_are_said_plainly() -> None:
    facts = stock_facts(
        move=stock_facts().move.model_copy(update={"close": None}),
        standings=None,
        predictions=[],
        news=[],
        filings=[],
        news_in_window=0,
        filings_in_window=0,
    )
    markdown = render(facts)
    assert "No close for 2026-10-15 yet" in markdown and "No standings yet" in markdown
    assert "No forecast for this day." in markdown and "No news or filing in the window." in markdown


def test_report_spend_counts_report_answers_of_the_model_today(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    cache = SqlLLMCache(engine)
    for key, usage in (
        ("a" * 64, {"cost_usd": 0.25, "registry_model": "gpt-4o", "kind": "report"}),
        ("b" * 64, {"cost_usd": 0.5, "registry_model": "gpt-4o", "kind": "report"}),
        ("c" * 64, {"cost_usd": 4.0, "registry_model": "deepseek-v3", "kind": "report"}),
        ("d" * 64, {"cost_usd": 9.0, "registry_model": "gpt-4o"}),  # a forecast's: counted from predictions
    ):
        cache.put(key, provider="openai", model="gpt-4o-2024-08-06", response={}, usage=usage)
    ledger = ReportSpendLedger(engine)
    assert ledger.spent_today("gpt-4o") == 0.75
    ledger.record("gpt-4o", 0.1)  # this process, not yet in the table
    assert ledger.spent_today("gpt-4o") == pytest.approx(0.85)
    yesterday = ReportSpendLedger(engine, now=lambda: datetime(2026, 10, 15, 12, 0, tzinfo=UTC))
    assert yesterday.spent_today("gpt-4o") == 0.0
    engine.dispose()


def test_the_schedule_runs_after_the_close_on_sessions_only() -> None:
    from stock_insights.definitions import defs

    schedule = defs.resolve_schedule_def("reports_after_close")
    assert schedule.execution_timezone == "Asia/Seoul" and schedule.cron_schedule == "30 16 * * 1-5"
    session = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 15, 16, 30, tzinfo=KST))
    request = schedule(session)
    assert isinstance(request, dg.RunRequest) and request.partition_key == DAY.isoformat()
    holiday = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 10, 9, 16, 30, tzinfo=KST))  # 한글날
    skip = schedule(holiday)
    assert isinstance(skip, dg.SkipReason) and skip.skip_message == "2026-10-09 is not a KRX session"
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey(["reports", "daily"])).parent_keys
    assert {
        dg.AssetKey(["evaluations", "leaderboard"]),
        dg.AssetKey(["dart", "disclosures"]),
        dg.AssetKey(["kis", "index_bars"]),
        dg.AssetKey(["news", "naver"]),
    } <= parents
