"""corpus.store writes on SQLite and PostgreSQL: idempotent, deduplicated, first_seen_at never moved back
past a live sighting; and migration 0002 round-trips and matches the models."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from stock_insights.clients.dart import DisclosureRow
from stock_insights.corpus.store import (
    disclosures_page,
    ingest_news,
    linker_for_stocks,
    news_page,
    upsert_disclosures,
)
from stock_insights.market.store import upsert_stocks
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import alembic_config, upgrade
from stock_insights.storage.models import Base, Disclosure, NewsArticle, NewsArticleSource, NewsStockLink
from stock_insights.text.items import NewsItem
from stock_insights.universe import KNOWN_LISTINGS

T0 = datetime(2026, 10, 15, 1, 0, tzinfo=UTC)


def _item(source: str, url: str, title: str, fetched: datetime, published: datetime = T0) -> NewsItem:
    return NewsItem.build(source=source, url=url, title=title, published_at=published,  # type: ignore[arg-type]
                          fetched_at=fetched)


def test_ingest_is_idempotent_and_keeps_the_first_sighting(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"], KNOWN_LISTINGS["000270"]])
    backfill = [_item("hankyung", "https://www.hankyung.com/article/1i", "삼성전자, 수주에 급등",
                      T0 + timedelta(days=2))]
    with session_scope(engine) as session:
        first = ingest_news(session, backfill, linker_for_stocks(session))
    assert first.new_articles == 1 and first.new_estimated == 1 and first.links_added == 1

    # A live sighting by another source of the same story: one article, two sources. The estimate
    # (published + 15 min) is earlier than this live fetch, so it stays.
    live = [_item("naver", "https://hankyung.com/article/1i?utm_source=naver", "삼성전자, 수주에 급등",
                  T0 + timedelta(minutes=20), T0 + timedelta(minutes=2))]
    with session_scope(engine) as session:
        second = ingest_news(session, live, linker_for_stocks(session))
        second_again = ingest_news(session, live, linker_for_stocks(session))
        article = session.execute(select(NewsArticle)).scalar_one()
        sources = session.execute(select(NewsArticleSource.source)).scalars().all()
    assert second.new_articles == 0 and second.already_stored == 1 and second.sources_added == 1
    assert second_again.sources_added == 0 and second_again.links_added == 0
    assert sorted(sources) == ["hankyung", "naver"]
    assert article.first_seen_at == T0 + timedelta(minutes=15) and article.first_seen_estimated

    # A live first sighting is never displaced by a later, earlier-looking estimate.
    live_first = [_item("maeil", "https://www.mk.co.kr/news/stock/1", "기아 3분기 호실적", T0 + timedelta(minutes=3))]
    late_copy = [_item("naver", "https://www.mk.co.kr/news/stock/1", "기아 3분기 호실적", T0 + timedelta(days=1),
                       T0 - timedelta(minutes=30))]
    with session_scope(engine) as session:
        ingest_news(session, live_first, linker_for_stocks(session))
        ingest_news(session, late_copy, linker_for_stocks(session))
        kia = session.execute(select(NewsArticle).where(NewsArticle.canonical_url.like("%mk.co.kr%"))).scalar_one()
        links = session.execute(select(NewsStockLink).where(NewsStockLink.article_id == kia.id)).scalars().all()
        page = news_page(session, code="000270", known_before=T0 + timedelta(minutes=4))
    assert kia.first_seen_at == T0 + timedelta(minutes=3) and not kia.first_seen_estimated
    assert [link.code for link in links] == ["000270"] and links[0].method == "corroborated"
    assert [item["title"] for item in page.items] == ["기아 3분기 호실적"]
    engine.dispose()


def test_disclosures_upsert_by_rcept_no(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    row = DisclosureRow.from_wire({
        "corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y",
        "report_nm": "[기재정정]대표이사(대표집행임원)변경(안내공시)              ", "rcept_no": "20261015800172",
        "flr_nm": "삼성전자", "rcept_dt": "20261015", "rm": "유"})
    unlisted = DisclosureRow.from_wire({
        "corp_code": "01688425", "corp_name": "케이비오토제오차유동화전문유한회사", "stock_code": "", "corp_cls": "E",
        "report_nm": "자산유동화계획의등록신청서", "rcept_no": "20261015000631", "flr_nm": "한국씨티은행",
        "rcept_dt": "20261015", "rm": ""})
    fetched = datetime(2026, 10, 15, 9, 30, tzinfo=UTC)
    with session_scope(engine) as session:
        first = upsert_disclosures(session, [row, unlisted, row], fetched_at=fetched)
        again = upsert_disclosures(session, [row], fetched_at=fetched + timedelta(days=3))
        stored = session.execute(select(Disclosure).order_by(Disclosure.rcept_no)).scalars().all()
        page = disclosures_page(session, since=date(2026, 10, 1), limit=1)
        rest = disclosures_page(session, since=date(2026, 10, 1), limit=1, cursor=page.next_cursor)
    assert first.new == 2 and first.duplicates_in_batch == 1 and again.new == 0 and again.updated == 1
    assert stored[0].code is None and stored[1].report_name.endswith("(안내공시)") and stored[1].is_correction
    assert stored[1].first_seen_at == fetched and not stored[1].first_seen_estimated  # never moved by the re-run
    assert [p["rcept_no"] for p in page.items + rest.items] == ["20261015800172", "20261015000631"]
    engine.dispose()


def test_migration_0002_round_trips_and_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    config = alembic_config(database_url)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
        connection.commit()
        command.upgrade(config, "head")
        connection.commit()
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    mine = ("news_articles", "news_article_sources", "news_stock_links", "disclosures")
    assert [d for d in diff if any(t in str(d) for t in mine)] == []
    engine.dispose()
