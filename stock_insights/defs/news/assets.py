"""``news/naver``, ``news/hankyung``, ``news/maeil``, ``news/reddit``: news into ``news_articles``.

Each run fetches what its source shows now, stops at what it already has (Naver: canonical URLs it
gave us in the last ``KNOWN_WINDOW``; Reddit: post fullnames), and stores only what is new: one
article per story across sources and runs (``corpus.store.ingest_news``), linked to the tracked
stocks with evidence, stamped with ``first_seen_at`` by the rule of ``text.point_in_time``. Bad items
are skipped and counted in the run's metadata; a failing feed or query is recorded and the others go
on. Naver's daily quota (010) ends a run early as *partial* (metadata ``partial: true``), not failed;
Reddit without credentials is skipped with a message.
"""


from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
from sqlalchemy import select

from stock_insights.clients.errors import SourceError
from stock_insights.corpus.store import (
    ingest_news,
    known_source_values,
    linker_for_stocks,
)
from stock_insights.defs import keys
from stock_insights.defs.metadata import data_mode, definition_metadata, run_metadata
from stock_insights.defs.news.checks import news_check_results, news_check_specs
from stock_insights.defs.news.resources import NaverResource, NewsFeedsResource, RedditResource
from stock_insights.defs.resources import DatabaseResource
from stock_insights.storage.db import session_scope, utcnow
from stock_insights.storage.models import Stock
from stock_insights.text.clean import has_hangul
from stock_insights.text.items import NewsBatch
from stock_insights.text.linking import is_ambiguous

KNOWN_WINDOW = timedelta(days=14)
UNIVERSE = keys.UNIVERSE
TABLES = "news_articles, news_article_sources, news_stock_links"


def naver_queries(stocks: list[tuple[str, list[str]]]) -> list[str]:
    """Search terms per stock: its name and its Korean aliases. A short or common-word name is
    searched with 주가 (stock price) so that the quota is not spent on famine news for 기아."""
    queries: list[str] = []
    for name, aliases in stocks:
        queries.append(f"{name} 주가" if is_ambiguous(name) else name)
        queries.extend(a for a in aliases if a != name and has_hangul(a) and not is_ambiguous(a))
    return list(dict.fromkeys(queries))


def _store(context: dg.AssetExecutionContext, database: DatabaseResource, batch: NewsBatch) -> dg.MaterializeResult:
    with session_scope(database.engine) as session:
        linker = linker_for_stocks(session)
        result = ingest_news(session, batch.items, linker)
    with session_scope(database.engine) as session:
        checks = news_check_results(session, batch.source)
    partial = batch.status == "partial"
    if partial:
        context.log.warning(f"{batch.source} run is partial: {batch.message}")
    if batch.errors:
        context.log.warning(f"{len(batch.errors)} {batch.source} channel(s) failed: {batch.errors[:3]}")
    context.log.info(
        f"{batch.source}: {result.received} items, {result.new_articles} new, {result.duplicates} duplicates, "
        f"{batch.skipped_total} skipped ({data_mode()} data)"
    )
    return dg.MaterializeResult(
        metadata=run_metadata(
            result.new_articles,
            result.preview,
            **result.as_metadata(),
            new=result.new_articles,
            skipped=batch.skipped_total,
            skipped_by_reason=dg.MetadataValue.json(batch.skipped),
            skip_examples=dg.MetadataValue.json(batch.skip_examples),
            partial=partial,
            partial_reason=batch.message or "",
            failed_channels=dg.MetadataValue.json(batch.errors),
            requests=batch.requests,
        ),
        check_results=checks,
    )


def _tracked(database: DatabaseResource) -> list[tuple[str, list[str]]]:
    with session_scope(database.engine) as session:
        rows = session.execute(
            select(Stock.name, Stock.aliases).where(Stock.active.is_(True)).order_by(Stock.code)
        ).all()
    if not rows:
        raise dg.Failure("no active stock: materialize universe/stocks first")
    return [(name, [str(a) for a in (aliases or [])]) for name, aliases in rows]


@dg.asset(
    key=["news", "naver"],
    group_name="news",
    kinds={"python", "sql"},
    description="Korean news about the tracked stocks from the Naver Search API (news.json, sort=date), searched "
    "by each stock's name and Korean aliases, newest first until an article we already have. Stored once per "
    "story with its sources, stock links and first_seen_at; the daily quota (010) makes a run partial.",
    deps=[UNIVERSE],
    pool="naver",
    metadata=definition_metadata(tables=TABLES, source="Naver Search API /v1/search/news.json", cadence="10 min"),
    check_specs=news_check_specs("naver"),
)
def naver_news(
    context: dg.AssetExecutionContext, database: DatabaseResource, naver: NaverResource
) -> dg.MaterializeResult:
    queries = naver_queries(_tracked(database))
    with session_scope(database.engine) as session:
        known = known_source_values(session, "canonical_url", "naver", utcnow() - KNOWN_WINDOW)
    try:
        with naver.client() as client:
            batch = client.search_news(queries, known_urls=known)
    except SourceError as exc:
        raise dg.Failure(f"Naver news search failed, nothing written: {exc}") from None
    return _store(context, database, batch)


def _feed_asset(source: str, paper: str, setting: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=["news", source],
        group_name="news",
        kinds={"python", "sql"},
        description=f"{paper} RSS feeds ({setting}): RSS 2.0 without guid, so the canonical link is the id; "
        "times parsed KST-aware, EUC-KR bodies decoded. A feed shows only its newest items, hence the "
        "10-minute polls. Stored once per story with sources, stock links and first_seen_at.",
        deps=[UNIVERSE],
        metadata=definition_metadata(tables=TABLES, source=f"{paper} RSS ({setting})", cadence="10 min"),
        check_specs=news_check_specs(source),
    )
    def feed_news(
        context: dg.AssetExecutionContext, database: DatabaseResource, news_feeds: NewsFeedsResource
    ) -> dg.MaterializeResult:
        urls = news_feeds.urls(source)  # type: ignore[arg-type]
        if not urls:
            raise dg.Failure(f"{setting} is empty: no feed to read")
        try:
            with news_feeds.client(source) as client:  # type: ignore[arg-type]
                batch = client.fetch(urls)
        except SourceError as exc:
            raise dg.Failure(f"every {paper} feed failed, nothing written: {exc}") from None
        return _store(context, database, batch)

    return feed_news


hankyung_news = _feed_asset("hankyung", "Hankyung (한국경제)", "HANKYUNG_FEED_URLS")
maeil_news = _feed_asset("maeil", "Maeil Business (매일경제)", "MAEIL_FEED_URLS")


@dg.asset(
    key=["news", "reddit"],
    group_name="news",
    kinds={"python", "sql"},
    description="Posts from REDDIT_SUBREDDITS (/r/<sub>/new, application-only OAuth, 100 requests a minute), "
    "newest first until a post we already have. Link posts meet the linked article's other sources. "
    "Without REDDIT_CLIENT_ID/SECRET the asset is skipped with a message, not failed.",
    deps=[UNIVERSE],
    pool="reddit",
    metadata=definition_metadata(tables=TABLES, source="Reddit OAuth API /r/<sub>/new", cadence="10 min"),
    check_specs=news_check_specs("reddit"),
    output_required=False,
)
def reddit_news(
    context: dg.AssetExecutionContext, database: DatabaseResource, reddit: RedditResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    with session_scope(database.engine) as session:
        known = known_source_values(session, "source_item_id", "reddit", utcnow() - KNOWN_WINDOW)
    try:
        with reddit.client() as client:
            batch = client.fetch_new(reddit.subreddits(), known_ids=known)
    except SourceError as exc:
        raise dg.Failure(f"Reddit fetch failed, nothing written: {exc}") from None
    if batch.status == "skipped":
        context.log.warning(batch.message or "Reddit skipped")
        # No materialization; the checks describe the shared news tables and still report.
        with session_scope(database.engine) as session:
            yield from news_check_results(session, "reddit")
        return
    yield _store(context, database, batch)
