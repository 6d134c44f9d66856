"""The news, DART and report checks fail on a violation planted in the database, and pass without it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from stock_insights import calendar
from stock_insights.defs.dart.assets import corp_code_check, future_filings_check
from stock_insights.defs.news.checks import news_check_results
from stock_insights.defs.reports.assets import sources_after_close
from stock_insights.market.store import upsert_stocks
from stock_insights.storage.db import make_engine, session_scope, utcnow
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import (
    Disclosure,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Report,
    Stock,
)
from stock_insights.universe import KNOWN_LISTINGS

CODES = ["005930", "000660"]


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS[c] for c in CODES])
    return engine


def _article(n: int, *, published: datetime, seen: datetime, source: str = "naver", url: str | None = None,
             fetched: datetime | None = None) -> tuple[NewsArticle, NewsArticleSource]:
    canonical = f"https://news.example.kr/{n}"
    article = NewsArticle(id=n, canonical_url=canonical, title=f"기사 {n}", language="ko", published_at=published,
                          first_seen_at=seen, first_seen_estimated=False, content_hash=f"{n:064d}")
    carried = NewsArticleSource(article_id=n, source=source, source_url=canonical, fetched_at=fetched or seen,
                                published_at=published, first_seen_at=seen, title=f"기사 {n}",
                                canonical_url=url or canonical)
    return article, carried


def _news(engine: Engine, source: str = "naver") -> dict[str, bool]:
    with session_scope(engine) as session:
        return {r.check_name: r.passed for r in news_check_results(session, source)}


def _plant(engine: Engine, *rows: object) -> None:
    with session_scope(engine) as session:
        for row in rows:
            session.add(row)
            session.flush()


def _linked(engine: Engine, article_id: int) -> None:
    _plant(engine, NewsStockLink(article_id=article_id, code="005930", evidence={"alias": "삼성전자"},
                                 confidence=1.0, method="alias"))


def test_news_checks_pass_on_clean_rows(engine: Engine) -> None:
    now = utcnow()
    _plant(engine, *_article(1, published=now - timedelta(hours=2), seen=now - timedelta(hours=1)))
    _linked(engine, 1)
    assert _news(engine) == {"no_duplicate_canonical_url": True, "no_future_dated_items": True, "linked_share": True}


def test_a_canonical_url_carried_by_two_articles_fails(engine: Engine) -> None:
    now = utcnow()
    _plant(engine, *_article(1, published=now - timedelta(hours=2), seen=now - timedelta(hours=1)))
    _plant(engine, *_article(2, published=now - timedelta(hours=2), seen=now - timedelta(hours=1), source="hankyung",
                             url="https://news.example.kr/1"))  # source item of article 2 names article 1's URL
    _linked(engine, 1)
    _linked(engine, 2)
    assert _news(engine)["no_duplicate_canonical_url"] is False


@pytest.mark.parametrize("shift", ["after_now", "after_first_seen"])
def test_a_future_dated_article_fails(engine: Engine, shift: str) -> None:
    now = utcnow()
    if shift == "after_now":
        rows = _article(1, published=now + timedelta(days=1), seen=now + timedelta(days=1), fetched=now)
    else:
        rows = _article(1, published=now - timedelta(minutes=5), seen=now - timedelta(hours=3))
    _plant(engine, *rows)
    _linked(engine, 1)
    assert _news(engine)["no_future_dated_items"] is False


def test_a_low_linked_share_fails(engine: Engine) -> None:
    now = utcnow()
    _plant(engine, *_article(1, published=now - timedelta(hours=2), seen=now - timedelta(hours=1)))
    _linked(engine, 1)
    assert _news(engine)["linked_share"] is True
    _plant(engine, *_article(2, published=now - timedelta(hours=2), seen=now - timedelta(hours=1)))
    assert _news(engine)["linked_share"] is False  # 1 of 2 linked: below Naver's 60 %
    assert _news(engine, "hankyung")["linked_share"] is True  # another source's share is its own


def test_a_tracked_stock_without_corp_code_fails(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.execute(update(Stock).values(dart_corp_code="00126380"))
    with session_scope(engine) as session:
        assert corp_code_check(session).passed
        session.execute(update(Stock).where(Stock.code == "000660").values(dart_corp_code=None))
    with session_scope(engine) as session:
        result = corp_code_check(session)
    assert not result.passed and result.metadata["missing"].value == ["000660"]
    with session_scope(engine) as session:
        session.execute(update(Stock).where(Stock.code == "000660").values(active=False))
    with session_scope(engine) as session:
        assert corp_code_check(session).passed  # only tracked stocks count


def _filing(rcept_no: str, received: date) -> Disclosure:
    return Disclosure(rcept_no=rcept_no, corp_code="00126380", corp_name="삼성전자", code="005930", corp_cls="Y",
                      report_name="주요사항보고서", filer_name="삼성전자", receipt_date=received, remarks="",
                      viewer_url=f"https://dart.fss.or.kr/dsaf001/main.do?rcpNo={rcept_no}",
                      first_seen_at=datetime(2026, 10, 15, 6, 0, tzinfo=UTC))


def test_a_filing_received_after_today_fails(engine: Engine) -> None:
    today = date(2026, 10, 15)
    _plant(engine, _filing("20261015000001", today))
    with session_scope(engine) as session:
        assert future_filings_check(session, today).passed
    _plant(engine, _filing("20261016000001", today + timedelta(days=1)))
    with session_scope(engine) as session:
        result = future_filings_check(session, today)
    assert not result.passed and result.metadata["future_dated"].value == 1


def test_a_report_citing_a_source_seen_after_the_close_fails(engine: Engine) -> None:
    day = date(2026, 10, 15)
    close = calendar.session_close(day)
    _plant(engine, *_article(1, published=close - timedelta(hours=3), seen=close - timedelta(hours=2)))
    _plant(engine, Report(trading_date=day, scope="005930", markdown="[1] 기사", generator="template",
                          sources=[{"key": "news:1"}], created_at=close))
    with session_scope(engine) as session:
        assert sources_after_close(session, [day]) == []
        session.execute(update(NewsArticle).where(NewsArticle.id == 1)
                        .values(first_seen_at=close + timedelta(minutes=1)))
    with session_scope(engine) as session:
        assert sources_after_close(session, [day]) == ["2026-10-15 005930: news 1"]
    _plant(engine, Report(trading_date=day, scope="000660", markdown="[1] 공시", generator="template",
                          sources=[{"key": "disclosure:20991231000001"}], created_at=close))  # never stored
    with session_scope(engine) as session:
        assert len(sources_after_close(session, [day])) == 2
