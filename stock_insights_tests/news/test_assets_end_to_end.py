"""news/* and dart/* end to end, on SQLite and PostgreSQL, against the sandbox over HTTP.

Runs are what Dagster runs, with resources pointed at the sandbox; a re-run adds nothing, a later
sandbox clock adds only what was published in between.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import func, select

from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import (
    Disclosure,
    FinancialStatementItem,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Stock,
)
from stock_insights_tests.conftest import sandbox_resources
from stock_insights_tests.news.conftest import Clock
from stock_insights_tests.test_slice_end_to_end import materialize

NEWS = [["news", "naver"], ["news", "hankyung"], ["news", "maeil"], ["news", "reddit"]]
ONE_YEAR = {"ops": {"dart__financials": {"config": {"years_back": 0}}}}


@pytest.fixture
def resources(news_env: str, sandbox_url: str, tmp_path: Path) -> dict[str, Any]:
    """Every client pointed at the news sandbox (OpenDART at 50 requests a second), the store at ``news_env``."""
    return sandbox_resources(sandbox_url, news_env, tmp_path)


def _metadata(instance: dg.DagsterInstance, key: list[str]) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(key))
    assert event is not None
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}  # type: ignore[union-attr]


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {
        (evaluation.asset_key.to_user_string(), evaluation.check_name): evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


def _news_snapshot(url: str) -> dict[str, list[tuple]]:
    engine = make_engine(url)
    out = {}
    with session_scope(engine) as session:
        for model in (NewsArticle, NewsArticleSource, NewsStockLink, Disclosure):
            cols = [c for c in model.__table__.columns if c.name != "updated_at"]
            out[model.__tablename__] = sorted(tuple(map(str, r)) for r in session.execute(select(*cols)))
    engine.dispose()
    return out


def test_news_and_dart_end_to_end(news_env: str, news_clock: Clock, resources: dict[str, Any]) -> None:
    url = news_env

    def _run(keys: list[list[str]], instance: dg.DagsterInstance, start: date | None = None,
             end: date | None = None, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
        return materialize(keys, start, end, instance, resources=resources, run_config=run_config)

    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["universe", "stocks"]], instance=instance, resources=resources).success

    first = _run(NEWS, instance)
    assert first.success
    assert all(_checks(first).values()), _checks(first)
    naver = _metadata(instance, ["news", "naver"])
    assert naver["data_mode"] == "simulated" and naver["partial"] is False
    assert naver["new"] > 100 and naver["duplicates_in_batch"] > 0  # re-deliveries and wire copies
    # Whichever ran second met the other's stories (the run order of the four is Dagster's).
    assert naver["already_stored"] + _metadata(instance, ["news", "hankyung"])["already_stored"] > 0
    assert _metadata(instance, ["news", "reddit"])["received"] > 0

    engine = make_engine(url)
    with session_scope(engine) as session:
        # One article, two sources: Naver's originallink (with utm_*) and the paper's feed link meet.
        both = session.execute(
            select(NewsArticleSource.article_id).where(NewsArticleSource.source.in_(["naver", "hankyung"]))
            .group_by(NewsArticleSource.article_id).having(func.count() == 2)
        ).scalars().all()
        assert len(both) >= 5
        urls = session.execute(select(NewsArticle.canonical_url)).scalars().all()
        assert len(urls) == len(set(urls)) and not any("utm_" in u or "sid=" in u for u in urls)
        # Links carry their evidence and only point at tracked stocks.
        links = session.execute(select(NewsStockLink)).scalars().all()
        tracked = set(session.execute(select(Stock.code)).scalars())
        assert links and {link.code for link in links} <= tracked
        assert all(link.evidence["matches"] for link in links)
        # The sandbox clock is weeks behind ours: every item is a backfill with an estimated first sight.
        article = session.execute(select(NewsArticle).limit(1)).scalar_one()
        assert article.first_seen_estimated and article.first_seen_at >= article.published_at
    engine.dispose()

    # A re-run adds nothing and changes no stored row.
    before = _news_snapshot(url)
    again = _run(NEWS, instance)
    assert again.success
    for key in NEWS:
        assert _metadata(instance, key)["new"] == 0, key
    assert _news_snapshot(url) == before

    # Two hours later only what was published in between is new.
    news_clock.moment += timedelta(hours=2)
    later = _run([["news", "hankyung"], ["news", "maeil"]], instance)
    assert later.success
    added = _metadata(instance, ["news", "hankyung"])["new"] + _metadata(instance, ["news", "maeil"])["new"]
    assert 0 < added < 40

    # DART: corp codes, a two-session backfill of filings, the financial statements.
    assert _run([["dart", "corp_codes"]], instance).success
    with session_scope(engine := make_engine(url)) as session:
        corp = {code: corp_code for code, corp_code in session.execute(select(Stock.code, Stock.dart_corp_code))}
    assert corp["005930"] == "00126380" and all(c and len(c) == 8 for c in corp.values())
    backfill = _run([["dart", "disclosures"]], instance, date(2026, 10, 14), date(2026, 10, 15))
    assert backfill.success and all(_checks(backfill).values())
    meta = _metadata(instance, ["dart", "disclosures"])
    assert meta["new"] > 10 and meta["receipt_dates"] == "2026-10-14..2026-10-15"
    financials = _run([["dart", "financials"]], instance, run_config=ONE_YEAR)
    assert financials.success
    with session_scope(engine) as session:
        filings = session.execute(select(Disclosure)).scalars().all()
        assert {f.receipt_date for f in filings} == {date(2026, 10, 14), date(2026, 10, 15)}
        assert all(f.report_name == f.report_name.strip() for f in filings)
        assert any(f.code is None for f in filings)  # unlisted filers
        assert all(f.viewer_url.endswith(f.rcept_no) and f.first_seen_estimated for f in filings)
        lines = session.execute(
            select(func.count()).select_from(FinancialStatementItem).where(FinancialStatementItem.source == "dart")
        ).scalar_one()
        assert lines > 0
    engine.dispose()
    before = _news_snapshot(url)
    assert _run([["dart", "disclosures"]], instance, date(2026, 10, 14), date(2026, 10, 15)).success
    assert _metadata(instance, ["dart", "disclosures"])["new"] == 0
    assert _news_snapshot(url) == before
