"""Writes and reads of the text layer: news articles with their sources and stock links,
DART disclosures, DART financial statements and the stocks' DART corp codes.

Every write is bulk and idempotent: the same batch twice leaves the same rows.

News
    A batch is grouped into stories (``text.dedupe``); a story already stored — same canonical URL
    as an article or as one of its sources, or same content hash within the dedupe window — gets
    only its new sources and links. New stories are inserted (``ON CONFLICT (canonical_url)``
    guards the race of two sources writing the same URL at once). ``first_seen_at`` follows
    ``text.point_in_time``: written once, never moved by a later run, except an *estimated* time
    that a later run can estimate earlier (a live sighting is never displaced).

Disclosures
    Upserted by ``rcept_no``; names, remarks and ``updated_at`` follow the latest answer,
    ``first_seen_at`` follows the same rule as news. A correction ([기재정정], [첨부추가], ...) has its own
    ``rcept_no``, so it is a new row, never an overwrite; after each write the versions of the companies it
    touches are linked again (``clients.dart.link_versions``: the latest earlier filing of the same company
    whose report name without the prefix is equal), so an original stored after its correction (a backfill)
    is linked too. ``disclosure_versions`` and ``disclosures_page(as_of=...)`` read them.

DART financial statements
    ``financial_statements`` rows with ``source='dart'``. A line whose ``rcept_no`` changes (a
    corrected or later report restating it) takes the new ``first_seen_at``: keeping the old one
    would let point-in-time readers see the restated value before it existed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from stock_insights.clients.dart import CorpCodeRow, DisclosureRow, FilingRef, FinancialRow, link_versions
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import DialectInsert, bump_dataset_version, utcnow
from stock_insights.storage.models import (
    Disclosure,
    FinancialStatementItem,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Stock,
)
from stock_insights.text.dedupe import ArticleGroup, group_items, within_window
from stock_insights.text.items import FUTURE_TOLERANCE, NewsItem
from stock_insights.text.linking import LinkTarget, StockLink, StockLinker
from stock_insights.text.point_in_time import KST, dart_first_seen, news_first_seen

_IN_CHUNK = 5000
_MAX_PARAMS = 30000


def _insert(session: Session) -> Callable[[Table], DialectInsert]:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"text store writes are not implemented for the {dialect} dialect")


def _pg_stage_insert(session: Session, table: Table, rows: list[dict[str, Any]], *, conflict: list[str],
                     set_sql: str | None, returning: list[str]) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY ``rows`` into a temporary staging table, then one ``INSERT ... SELECT ...
    ON CONFLICT`` with ``RETURNING``, in the session's transaction.

    SQLAlchemy's executemany sends pages of rows whose SQL psycopg must re-parse (it caches only
    statements of ≤ 50 parameters), or thousands of tiny statements; either way most of the ingest
    time went to the driver. ``set_sql`` is the ``DO UPDATE SET`` clause (None: ``DO NOTHING``); it may
    name the target table and ``EXCLUDED``.
    """
    from psycopg import sql
    from psycopg.types.json import Jsonb

    columns = list(rows[0])
    json_cols = {c for c in columns if isinstance(table.c[c].type, JSON)}
    stage = sql.Identifier(f"_stage_{table.name}")
    target = sql.Identifier(table.name)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    action = sql.SQL("DO UPDATE SET ") + sql.SQL(set_sql) if set_sql else sql.SQL("DO NOTHING")
    raw = session.connection().connection.driver_connection
    assert raw is not None, "an open connection has its driver connection"
    with raw.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
        cursor.execute(sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA")
                       .format(stage, cols, target))
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
            for row in rows:
                copy.write_row([Jsonb(row[c]) if c in json_cols else row[c] for c in columns])
        cursor.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) {a} RETURNING {r}").format(
                t=target, c=cols, s=stage, k=sql.SQL(", ").join(map(sql.Identifier, conflict)), a=action,
                r=sql.SQL(", ").join(map(sql.Identifier, returning)),
            )
        )
        return list(cursor.fetchall())


_PG_FIRST_SEEN = (
    "first_seen_at = CASE WHEN {cond} THEN EXCLUDED.first_seen_at ELSE {t}.first_seen_at END, "
    "first_seen_estimated = CASE WHEN {cond} THEN EXCLUDED.first_seen_estimated ELSE {t}.first_seen_estimated END"
)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --------------------------------------------------------------------------------------------
# Stocks: linker and DART corp codes
# --------------------------------------------------------------------------------------------
def linker_for_stocks(session: Session, *, active_only: bool = True) -> StockLinker:
    """A linker over the stocks in the table: links can only point at rows that exist (FK)."""
    stmt = select(Stock.code, Stock.name, Stock.name_en, Stock.aliases)
    if active_only:
        stmt = stmt.where(Stock.active.is_(True))
    return StockLinker(
        LinkTarget(code, name, name_en, tuple(str(a) for a in (aliases or ())))
        for code, name, name_en, aliases in session.execute(stmt)
    )


@dataclass
class CorpCodeUpdate:
    matched: int = 0
    changed: int = 0
    missing: list[str] = field(default_factory=list)  # tracked stocks with no corp code in the answer


def set_dart_corp_codes(session: Session, rows: Iterable[CorpCodeRow]) -> CorpCodeUpdate:
    """Fill ``stocks.dart_corp_code`` (that column only) from a corpCode.xml answer."""
    by_stock = {row.stock_code: row.corp_code for row in rows if row.stock_code}
    result = CorpCodeUpdate()
    current = dict(session.execute(select(Stock.code, Stock.dart_corp_code)).all())
    for code, corp_code in sorted(current.items()):
        new = by_stock.get(code)
        if new is None:
            result.missing.append(code)
            continue
        result.matched += 1
        if new != corp_code:
            session.execute(update(Stock).where(Stock.code == code).values(dart_corp_code=new))
            result.changed += 1
    if result.changed:
        bump_dataset_version(session, Dataset.STOCKS)
    return result


def tracked_corp_codes(session: Session) -> dict[str, str]:
    """code -> DART corp code of the active stocks that have one."""
    rows = session.execute(
        select(Stock.code, Stock.dart_corp_code).where(Stock.active.is_(True), Stock.dart_corp_code.is_not(None))
    )
    return {code: corp for code, corp in rows if corp}


# --------------------------------------------------------------------------------------------
# News
# --------------------------------------------------------------------------------------------
@dataclass
class NewsIngestResult:
    received: int = 0
    stories: int = 0
    duplicates_in_batch: int = 0  # items folded into another item of the same batch
    already_stored: int = 0  # stories stored before this batch (by URL or content hash)
    new_articles: int = 0
    new_estimated: int = 0  # new articles whose first_seen_at is an estimate (backfilled)
    sources_added: int = 0
    links_added: int = 0
    new_linked: int = 0  # new articles linked to at least one stock
    unknown_codes: int = 0
    ambiguous_rejected: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """Items that did not become a new article: folded in the batch or already stored."""
        return self.duplicates_in_batch + self.already_stored

    def as_metadata(self) -> dict[str, int]:
        return {
            "received": self.received,
            "new_articles": self.new_articles,
            "duplicates": self.duplicates,
            "duplicates_in_batch": self.duplicates_in_batch,
            "already_stored": self.already_stored,
            "new_estimated_first_seen": self.new_estimated,
            "sources_added": self.sources_added,
            "links_added": self.links_added,
            "new_linked": self.new_linked,
            "unknown_codes": self.unknown_codes,
        }


def _insert_new(session: Session, table: Table, rows: list[dict[str, Any]], key: list[str]) -> int:
    """Insert the rows whose key is absent; returns how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return len(_pg_stage_insert(session, table, rows, conflict=key, set_sql=None, returning=key[:1]))
    stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=key).returning(table.c[key[0]])
    return len(session.execute(stmt, rows).all())


def _first_seen(group: ArticleGroup) -> tuple[datetime, bool]:
    """The earliest first sighting among a story's items; a live one wins a tie."""
    candidates = [news_first_seen(item.source, item.published_at, item.fetched_at) for item in group.items]
    return min(candidates, key=lambda c: (c[0], c[1]))


def _existing_by_url(session: Session, urls: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """(article canonical URL -> id, other source URL -> article id) for the URLs already stored."""
    articles: dict[str, int] = {}
    sources: dict[str, int] = {}
    for chunk in _chunks(list(urls), _IN_CHUNK):
        for url, article_id in session.execute(
            select(NewsArticle.canonical_url, NewsArticle.id).where(NewsArticle.canonical_url.in_(chunk))
        ):
            articles[url] = article_id
        for source_url, article_id in session.execute(
            select(NewsArticleSource.canonical_url, NewsArticleSource.article_id).where(
                NewsArticleSource.canonical_url.in_(chunk)
            )
        ):
            assert source_url is not None  # it matched one of ``chunk``
            sources.setdefault(source_url, article_id)
    return articles, sources


def _existing_by_hash(session: Session, hashes: Sequence[str]) -> dict[str, list[tuple[int, datetime]]]:
    found: dict[str, list[tuple[int, datetime]]] = {}
    for chunk in _chunks(list(hashes), _IN_CHUNK):
        for content, article_id, published in session.execute(
            select(NewsArticle.content_hash, NewsArticle.id, NewsArticle.published_at).where(
                NewsArticle.content_hash.in_(chunk)
            )
        ):
            found.setdefault(content, []).append((article_id, published))
    return found


def _link_fields(group: ArticleGroup) -> dict[str, str | None]:
    primary = group.primary
    others = [item.title for item in group.items[1:] if item.title != primary.title]
    return {"title": primary.title, "summary": primary.summary, "body": primary.body,
            "other_titles": "\n".join(dict.fromkeys(others)) or None}


@dataclass
class _StoredNews:
    """What the database already holds of a batch's stories, from three bulk lookups (no per-row query)."""

    by_url: dict[str, int]  # article canonical URL -> article id
    by_source_url: dict[str, int]  # a source's canonical URL -> the article it was merged into
    by_hash: dict[str, list[tuple[int, datetime]]]  # content hash -> (article id, published_at)

    def article_for(self, group: ArticleGroup, urls: Sequence[str]) -> int | None:
        """The stored article a story belongs to although none of its URLs is an article's: a URL we hold
        as another source's (merged by content hash earlier), or the same text within the dedupe window."""
        other = next((self.by_source_url[url] for url in urls if url in self.by_source_url), None)
        if other is not None:
            return other
        return next(
            (
                article_id
                for h in group.content_hashes
                for article_id, published in self.by_hash.get(h, ())
                if within_window(published, group.published_at)
            ),
            None,
        )


def _stored_news(session: Session, groups: Sequence[ArticleGroup]) -> _StoredNews:
    """Look up the batch's URLs and content hashes in one pass each."""
    by_url, by_source_url = _existing_by_url(session, sorted({url for g in groups for url in g.canonical_urls}))
    by_hash = _existing_by_hash(session, sorted({h for g in groups for h in g.content_hashes}))
    return _StoredNews(by_url, by_source_url, by_hash)


@dataclass
class _ArticlePlan:
    """Which stories become article rows and which join a stored article. Stories are keyed by
    ``id(group)``: a group is not hashable, and two groups may share a title."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # upserted: new stories and URL-known ones
    group_of_url: dict[str, ArticleGroup] = field(default_factory=dict)  # row canonical URL -> its story
    article_of: dict[int, int] = field(default_factory=dict)  # id(group) -> article id
    known_before: set[int] = field(default_factory=set)  # id(group) of the stories stored before this batch


def _article_row(group: ArticleGroup, canonical_url: str) -> dict[str, Any]:
    first_seen, estimated = _first_seen(group)
    primary = group.primary
    return {
        "canonical_url": canonical_url,
        "title": primary.title,
        "body": primary.body,
        "summary": primary.summary,
        "language": primary.language,
        "published_at": primary.published_at,
        "first_seen_at": first_seen,
        "first_seen_estimated": estimated,
        "content_hash": primary.content_hash,
    }


def _plan_articles(groups: Sequence[ArticleGroup], stored: _StoredNews) -> _ArticlePlan:
    """An article row for every story not merged into a stored article. A story whose URL is already an
    article's still gets a row: the upsert may move that article's estimated ``first_seen_at`` earlier."""
    plan = _ArticlePlan()
    for group in groups:
        urls = sorted(group.canonical_urls)
        url_hit = next((url for url in urls if url in stored.by_url), None)
        if url_hit is None:
            other = stored.article_for(group, urls)
            if other is not None:
                plan.article_of[id(group)] = other
                plan.known_before.add(id(group))
                continue
        else:
            plan.known_before.add(id(group))
        key = url_hit or group.primary.canonical_url
        plan.group_of_url[key] = group
        plan.rows.append(_article_row(group, key))
    return plan


def _upsert_articles(session: Session, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Insert the article rows in bulk; returns (id, canonical_url) of every row, new or existing.

    SQLite: one parameterised statement executed for many rows (SQLAlchemy's "insertmanyvalues",
    compiled once) rather than a new multi-row VALUES statement per chunk, whose compilation cost
    more than the insert. PostgreSQL: COPY into a staging table (``_pg_stage_insert``).
    Only an estimate may move earlier, and never before the stored article was published.
    """
    if not rows:
        return []
    table = NewsArticle.__table__
    if session.get_bind().dialect.name == "postgresql":
        cond = ("news_articles.first_seen_estimated AND EXCLUDED.first_seen_at < news_articles.first_seen_at "
                "AND EXCLUDED.first_seen_at >= news_articles.published_at")
        return _pg_stage_insert(session, table, rows, conflict=["canonical_url"],
                                set_sql=_PG_FIRST_SEEN.format(cond=cond, t="news_articles"),
                                returning=["id", "canonical_url"])
    stmt = _insert(session)(table)
    excluded = stmt.excluded
    earlier_estimate = and_(
        table.c.first_seen_estimated.is_(True),
        excluded.first_seen_at < table.c.first_seen_at,
        excluded.first_seen_at >= table.c.published_at,
    )
    upsert_stmt = stmt.on_conflict_do_update(
        index_elements=["canonical_url"],
        set_={
            "first_seen_at": case((earlier_estimate, excluded.first_seen_at), else_=table.c.first_seen_at),
            "first_seen_estimated": case(
                (earlier_estimate, excluded.first_seen_estimated), else_=table.c.first_seen_estimated
            ),
        },
    ).returning(table.c.id, table.c.canonical_url)
    return list(session.execute(upsert_stmt, rows))


def _source_rows(groups: Sequence[ArticleGroup], article_of: dict[int, int]) -> list[dict[str, Any]]:
    """One row per article and source: the source's earliest item (items are in arrival order)."""
    source_rows: dict[tuple[int, str], dict[str, Any]] = {}
    for group in groups:
        article_id = article_of[id(group)]
        for item in group.items:
            key = (article_id, item.source)
            if key in source_rows:
                continue
            first_seen, _ = news_first_seen(item.source, item.published_at, item.fetched_at)
            source_rows[key] = {
                "article_id": article_id,
                "source": item.source,
                "source_url": item.source_url[:1000],
                "source_item_id": item.source_item_id,
                "fetched_at": item.fetched_at,
                "published_at": item.published_at,
                "first_seen_at": first_seen,
                "title": item.title,
                "canonical_url": item.canonical_url,
            }
    return list(source_rows.values())


def _link_method(link: StockLink) -> str:
    """``news_stock_links.method``: code, corroborated (an ambiguous alias with evidence) or alias; readers
    show it beside the link without unpacking the evidence."""
    kinds = {m["kind"] for m in link.evidence.get("matches", [])}
    return "code" if "code" in kinds else "corroborated" if link.evidence.get("corroboration") else "alias"


@dataclass
class _StockLinks:
    """The batch's stock links, one row per article and code (the first story's evidence wins)."""

    rows: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    new_linked: set[int] = field(default_factory=set)  # ids of new articles with at least one link
    unknown_codes: int = 0
    rejected: int = 0

    def codes_of(self) -> dict[int, list[str]]:
        codes: dict[int, list[str]] = {}
        for article_id, code in self.rows:
            codes.setdefault(article_id, []).append(code)
        return codes


def _link_stocks(groups: Sequence[ArticleGroup], plan: _ArticlePlan, linker: StockLinker) -> _StockLinks:
    """Link every story, known ones too: a new source may name a stock the stored article did not."""
    links = _StockLinks()
    for group in groups:
        article_id = plan.article_of[id(group)]
        seen, _ = _first_seen(group)  # the sighting that makes the link: what as_of readers filter on
        linked = linker.link(_link_fields(group))
        links.unknown_codes += len(linked.unknown_codes)
        links.rejected += linked.rejected
        for link in linked.links:
            if (article_id, link.code) in links.rows:
                continue
            links.rows[(article_id, link.code)] = {
                "article_id": article_id,
                "code": link.code,
                "evidence": link.evidence,
                "confidence": link.confidence,
                "method": _link_method(link),
                "first_seen_at": seen,
            }
            if id(group) not in plan.known_before:
                links.new_linked.add(article_id)
    return links


def _preview(new_groups: Sequence[ArticleGroup], article_of: dict[int, int],
             codes_of: dict[int, list[str]]) -> list[dict[str, Any]]:
    """The ten newest new stories, for the run's metadata."""
    return [
        {
            "published_at": g.published_at.astimezone(KST).strftime("%Y-%m-%d %H:%M"),
            "title": g.primary.title[:60],
            "sources": ",".join(sorted({i.source for i in g.items})),
            "stocks": ",".join(sorted(codes_of.get(article_of[id(g)], []))),
        }
        for g in sorted(new_groups, key=lambda g: g.published_at, reverse=True)[:10]
    ]


def ingest_news(session: Session, items: Sequence[NewsItem], linker: StockLinker) -> NewsIngestResult:
    """Store a batch of news items: new stories, new sources of known stories, stock links.

    Steps: group the batch into stories, look up the stored ones (bulk), upsert the article rows, add the
    new sources, link stocks, and bump the news dataset version when anything was written.
    """
    result = NewsIngestResult(received=len(items))
    if not items:
        return result
    groups = group_items(items)
    result.stories = len(groups)
    result.duplicates_in_batch = len(items) - len(groups)

    plan = _plan_articles(groups, _stored_news(session, groups))
    result.already_stored = len(plan.known_before)
    for article_id, url in _upsert_articles(session, plan.rows):
        plan.article_of[id(plan.group_of_url[url])] = article_id

    src_table = NewsArticleSource.__table__
    result.sources_added = _insert_new(session, src_table, _source_rows(groups, plan.article_of),
                                       ["article_id", "source"])

    links = _link_stocks(groups, plan, linker)
    result.unknown_codes += links.unknown_codes
    result.ambiguous_rejected += links.rejected
    link_table = NewsStockLink.__table__
    result.links_added = _insert_new(session, link_table, list(links.rows.values()), ["article_id", "code"])

    new_groups = [g for g in groups if id(g) not in plan.known_before]
    result.new_articles = len(new_groups)
    result.new_linked = len(links.new_linked)
    result.new_estimated = sum(1 for g in new_groups if _first_seen(g)[1])
    result.preview = _preview(new_groups, plan.article_of, links.codes_of())
    if result.new_articles or result.sources_added or result.links_added:
        bump_dataset_version(session, Dataset.NEWS)
    return result


def known_source_values(
    session: Session, column: Literal["canonical_url", "source_item_id"], source: str, since: datetime
) -> set[str]:
    """The values of ``column`` (``canonical_url`` or ``source_item_id``) of the items ``source`` gave us since
    ``since``: what a client may stop paging at."""
    values = getattr(NewsArticleSource, column)
    rows = session.execute(
        select(values).where(
            NewsArticleSource.source == source, NewsArticleSource.fetched_at >= since, values.is_not(None)
        )
    ).scalars()
    return {value for value in rows if value is not None}


def latest_published(session: Session, source: str) -> datetime | None:
    return session.execute(
        select(func.max(NewsArticleSource.published_at)).where(NewsArticleSource.source == source)
    ).scalar_one_or_none()


# --------------------------------------------------------------------------------------------
# Disclosures
# --------------------------------------------------------------------------------------------
@dataclass
class DisclosureWriteResult:
    received: int = 0
    new: int = 0
    updated: int = 0
    new_estimated: int = 0
    duplicates_in_batch: int = 0
    new_rcept_nos: list[str] = field(default_factory=list)
    relinked: int = 0  # stored rows whose version link changed (a correction linked, a late original found)


def upsert_disclosures(session: Session, rows: Sequence[DisclosureRow], *, fetched_at: datetime | None = None
                       ) -> DisclosureWriteResult:
    fetched_at = fetched_at or utcnow()
    result = DisclosureWriteResult(received=len(rows))
    unique: dict[str, DisclosureRow] = {}
    for row in rows:
        unique.setdefault(row.rcept_no, row)
    result.duplicates_in_batch = len(rows) - len(unique)
    if not unique:
        return result
    existing: set[str] = set()
    for chunk in _chunks(sorted(unique), _IN_CHUNK):
        existing.update(session.execute(select(Disclosure.rcept_no).where(Disclosure.rcept_no.in_(chunk))).scalars())
    values = []
    for row in unique.values():
        first_seen, estimated = dart_first_seen(row.receipt_date, fetched_at)
        values.append({
            "rcept_no": row.rcept_no,
            "corp_code": row.corp_code,
            "corp_name": row.corp_name[:200],
            "code": row.stock_code,
            "corp_cls": row.corp_cls or "E",
            "report_name": row.report_name[:500],
            "filer_name": row.filer_name[:200],
            "receipt_date": row.receipt_date,
            "remarks": row.remarks[:20],
            "viewer_url": row.viewer_url,
            "first_seen_at": first_seen,
            "first_seen_estimated": estimated,
            "is_correction": row.is_correction,
            "updated_at": fetched_at,
            # Written on insert only: relink_disclosures sets the chain below, and a re-run never resets it.
            "version": 1,
            "original_rcept_no": row.rcept_no,
            "amends_rcept_no": None,
            "original_missing": False,
        })
        if row.rcept_no not in existing:
            result.new += 1
            result.new_estimated += int(estimated)
            result.new_rcept_nos.append(row.rcept_no)
    result.updated = len(unique) - result.new
    table = Disclosure.__table__
    insert_fn = _insert(session)
    for chunk in _chunks(values, max(1, _MAX_PARAMS // 18)):
        stmt = insert_fn(table).values(list(chunk))
        excluded = stmt.excluded
        earlier_estimate = and_(
            table.c.first_seen_estimated.is_(True), excluded.first_seen_at < table.c.first_seen_at
        )
        mutable = ["corp_code", "corp_name", "code", "corp_cls", "report_name", "filer_name", "receipt_date",
                   "remarks", "viewer_url", "is_correction", "updated_at"]
        stmt = stmt.on_conflict_do_update(
            index_elements=["rcept_no"],
            set_={
                **{c: excluded[c] for c in mutable},
                "first_seen_at": case((earlier_estimate, excluded.first_seen_at), else_=table.c.first_seen_at),
                "first_seen_estimated": case(
                    (earlier_estimate, excluded.first_seen_estimated), else_=table.c.first_seen_estimated
                ),
            },
        )
        session.execute(stmt)
    result.relinked = relink_disclosures(session, {row.corp_code for row in unique.values()})
    bump_dataset_version(session, Dataset.DISCLOSURES)
    return result


_LINK_COLUMNS = ("version", "original_rcept_no", "amends_rcept_no", "original_missing")


def relink_disclosures(session: Session, corp_codes: Iterable[str]) -> int:
    """Link the versions of every stored filing of ``corp_codes`` again (``clients.dart.link_versions``) and
    write the links that changed; returns how many. Idempotent, and the same whatever order filings arrived in.

    Only companies with a correction stored need it (an original alone is version 1 of itself)."""
    wanted = sorted(set(corp_codes))
    with_corrections: list[str] = []
    for chunk in _chunks(wanted, _IN_CHUNK):
        with_corrections.extend(session.execute(
            select(Disclosure.corp_code).where(Disclosure.corp_code.in_(chunk), Disclosure.is_correction.is_(True))
            .distinct()
        ).scalars())
    changed: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(with_corrections), _IN_CHUNK):
        rows = session.execute(
            select(Disclosure.rcept_no, Disclosure.corp_code, Disclosure.report_name, Disclosure.receipt_date,
                   *(getattr(Disclosure, c) for c in _LINK_COLUMNS))
            .where(Disclosure.corp_code.in_(chunk))
        ).all()
        links = link_versions(FilingRef(r[0], r[1], r[2], r[3]) for r in rows)
        for r in rows:
            link = links[r[0]]
            now = (link.version, link.original_rcept_no, link.amends_rcept_no, link.original_missing)
            if tuple(r[4:]) != now:
                changed.append({"key": r[0], **{f"new_{c}": v for c, v in zip(_LINK_COLUMNS, now, strict=True)}})
    if changed:
        table = Disclosure.__table__
        session.execute(
            update(table).where(table.c.rcept_no == bindparam("key")).values(
                **{c: bindparam(f"new_{c}") for c in _LINK_COLUMNS}
            ),
            changed,
        )
    return len(changed)


# --------------------------------------------------------------------------------------------
# DART financial statements
# --------------------------------------------------------------------------------------------
def _account_key(row: FinancialRow) -> str:
    key = row.account_key
    if len(key) <= 200:
        return key
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return f"{key[:187]}~{digest}"


@dataclass
class FinancialWriteResult:
    rows: int = 0
    duplicates: int = 0


def upsert_dart_financials(session: Session, code: str, rows: Sequence[FinancialRow], *,
                           fetched_at: datetime | None = None) -> FinancialWriteResult:
    fetched_at = fetched_at or utcnow()
    unique: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row.sj_div, row.period, row.fs_div, _account_key(row))
        if key in unique:
            continue
        first_seen, _estimated = dart_first_seen(row.receipt_date, fetched_at)
        unique[key] = {
            "code": code,
            "source": "dart",
            "statement": row.sj_div[:20],
            "period": row.period,
            "fs_div": row.fs_div,
            "account": key[3],
            "account_name": row.account_name[:200] or None,
            "value": row.amount,
            "unit": row.currency[:10] or "KRW",
            "report_code": row.reprt_code,
            "rcept_no": row.rcept_no,
            "published_at": datetime.combine(row.receipt_date, time(0), tzinfo=KST),
            "first_seen_at": first_seen,
        }
    result = FinancialWriteResult(rows=len(unique), duplicates=len(rows) - len(unique))
    if not unique:
        return result
    table = FinancialStatementItem.__table__
    insert_fn = _insert(session)
    for chunk in _chunks(list(unique.values()), max(1, _MAX_PARAMS // 13)):
        stmt = insert_fn(table).values(list(chunk))
        excluded = stmt.excluded
        restated = table.c.rcept_no.is_distinct_from(excluded.rcept_no)
        stmt = stmt.on_conflict_do_update(
            index_elements=["code", "source", "statement", "period", "fs_div", "account"],
            set_={
                **{c: excluded[c] for c in ("account_name", "value", "unit", "report_code", "rcept_no",
                                            "published_at")},
                "first_seen_at": case((restated, excluded.first_seen_at), else_=table.c.first_seen_at),
            },
        )
        session.execute(stmt)
    bump_dataset_version(session, Dataset.FINANCIALS)
    return result


# --------------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------------
def _encode_cursor(*parts: Any) -> str:
    raw = "|".join(p.isoformat() if isinstance(p, datetime | date) else str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


# As of a moment (issue 17): the conditions every reader of news and filings shares (the API's queries too).
# "Seen by" is inclusive: what was first seen at ``as_of`` exactly is in the answer.
def article_seen_by(as_of: datetime) -> ColumnElement[bool]:
    return NewsArticle.first_seen_at <= as_of


def link_seen_by(as_of: datetime) -> ColumnElement[bool]:
    """A stock link stored before 0011 has no time of its own: it counts from its article's first sighting."""
    return func.coalesce(NewsStockLink.first_seen_at, NewsArticle.first_seen_at) <= as_of


def source_seen_by(as_of: datetime) -> ColumnElement[bool]:
    return func.coalesce(NewsArticleSource.first_seen_at, NewsArticleSource.fetched_at) <= as_of


def linked_to(code: str, as_of: datetime | None = None) -> ColumnElement[bool]:
    """Articles linked to ``code`` (by ``as_of``: by a link first seen then)."""
    stmt = exists().where(NewsStockLink.article_id == NewsArticle.id, NewsStockLink.code == code)
    return stmt.where(link_seen_by(as_of)) if as_of is not None else stmt


def carried_by(source: str, as_of: datetime | None = None) -> ColumnElement[bool]:
    """Articles ``source`` carried (by ``as_of``: had shown us by then)."""
    stmt = exists().where(NewsArticleSource.article_id == NewsArticle.id, NewsArticleSource.source == source)
    return stmt.where(source_seen_by(as_of)) if as_of is not None else stmt


def disclosure_in_force(as_of: datetime | None = None) -> ColumnElement[bool]:
    """Filings that are the version in force at ``as_of``: first seen by then, and no later version of the same
    chain (same ``original_rcept_no``) first seen by then. Without ``as_of``: the latest version of each chain."""
    later = aliased(Disclosure)
    newer = [later.original_rcept_no == Disclosure.original_rcept_no, later.version > Disclosure.version]
    if as_of is None:
        return ~exists().where(*newer)
    return and_(Disclosure.first_seen_at <= as_of, ~exists().where(*newer, later.first_seen_at <= as_of))


def disclosure_versions_query(original_rcept_nos: Sequence[str], *, as_of: datetime | None = None
                              ) -> Select[Disclosure]:
    """Every stored version of the chains of ``original_rcept_nos`` (first seen by ``as_of``), oldest first."""
    stmt = select(Disclosure).where(Disclosure.original_rcept_no.in_(list(original_rcept_nos)))
    if as_of is not None:
        stmt = stmt.where(Disclosure.first_seen_at <= as_of)
    return stmt.order_by(Disclosure.original_rcept_no, Disclosure.version, Disclosure.rcept_no)


def news_page(
    session: Session,
    *,
    code: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    known_before: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    as_of: datetime | None = None,
) -> Page:
    """Articles newest first (by ``published_at``, then id), cursor-paginated.

    ``known_before`` is the point-in-time filter: only articles whose ``first_seen_at`` is before it.
    ``as_of``: the page as it stood then: articles, sources and stock links first seen by then (inclusive).
    """
    stmt = select(NewsArticle)
    if code is not None:
        stmt = stmt.where(linked_to(code, as_of))
    if source is not None:
        stmt = stmt.where(carried_by(source, as_of))
    if since is not None:
        stmt = stmt.where(NewsArticle.published_at >= since)
    if known_before is not None:
        stmt = stmt.where(NewsArticle.first_seen_at < known_before)
    if as_of is not None:
        stmt = stmt.where(article_seen_by(as_of))
    if cursor:
        stamp, article_id = _decode_cursor(cursor)
        at = datetime.fromisoformat(stamp)
        stmt = stmt.where(or_(NewsArticle.published_at < at,
                              and_(NewsArticle.published_at == at, NewsArticle.id < int(article_id))))
    rows = list(session.execute(
        stmt.order_by(NewsArticle.published_at.desc(), NewsArticle.id.desc()).limit(limit + 1)
    ).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    ids = [a.id for a in rows]
    sources: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    links: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        source_stmt = select(NewsArticleSource).where(NewsArticleSource.article_id.in_(ids))
        link_stmt = select(NewsStockLink).join(NewsArticle).where(NewsStockLink.article_id.in_(ids))
        if as_of is not None:
            source_stmt, link_stmt = source_stmt.where(source_seen_by(as_of)), link_stmt.where(link_seen_by(as_of))
        for s in session.execute(source_stmt).scalars():
            sources[s.article_id].append({"source": s.source, "url": s.source_url, "published_at": s.published_at})
        for link in session.execute(link_stmt).scalars():
            links[link.article_id].append({"code": link.code, "confidence": link.confidence,
                                           "method": link.method, "evidence": link.evidence})
    items = [
        {
            "id": a.id,
            "title": a.title,
            "summary": a.summary,
            "body": a.body,
            "url": a.canonical_url,
            "language": a.language,
            "published_at": a.published_at,
            "first_seen_at": a.first_seen_at,
            "first_seen_estimated": a.first_seen_estimated,
            "sources": sorted(sources[a.id], key=lambda s: s["source"]),
            "stocks": sorted(links[a.id], key=lambda s: s["code"]),
        }
        for a in rows
    ]
    next_cursor = _encode_cursor(rows[-1].published_at, rows[-1].id) if more and rows else None
    return Page(items=items, next_cursor=next_cursor)


def disclosures_page(
    session: Session,
    *,
    code: str | None = None,
    since: date | None = None,
    known_before: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    as_of: datetime | None = None,
) -> Page:
    """Filings newest first (by receipt date, then ``rcept_no``), cursor-paginated: one item per report, the
    version in force at ``as_of`` (``disclosure_in_force``; without it the latest stored)."""
    stmt = select(Disclosure).where(disclosure_in_force(as_of))
    if code is not None:
        stmt = stmt.where(Disclosure.code == code)
    if since is not None:
        stmt = stmt.where(Disclosure.receipt_date >= since)
    if known_before is not None:
        stmt = stmt.where(Disclosure.first_seen_at < known_before)
    if cursor:
        day, rcept_no = _decode_cursor(cursor)
        on = date.fromisoformat(day)
        stmt = stmt.where(or_(Disclosure.receipt_date < on,
                              and_(Disclosure.receipt_date == on, Disclosure.rcept_no < rcept_no)))
    rows = list(session.execute(
        stmt.order_by(Disclosure.receipt_date.desc(), Disclosure.rcept_no.desc()).limit(limit + 1)
    ).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "rcept_no": d.rcept_no,
            "corp_code": d.corp_code,
            "corp_name": d.corp_name,
            "code": d.code,
            "report_name": d.report_name,
            "filer_name": d.filer_name,
            "receipt_date": d.receipt_date,
            "remarks": d.remarks,
            "is_correction": d.is_correction,
            "version": d.version,
            "original_rcept_no": d.original_rcept_no,
            "amends_rcept_no": d.amends_rcept_no,
            "original_missing": d.original_missing,
            "viewer_url": d.viewer_url,
            "first_seen_at": d.first_seen_at,
            "first_seen_estimated": d.first_seen_estimated,
        }
        for d in rows
    ]
    next_cursor = _encode_cursor(rows[-1].receipt_date, rows[-1].rcept_no) if more and rows else None
    return Page(items=items, next_cursor=next_cursor)


# --------------------------------------------------------------------------------------------
# Quality figures (asset checks)
# --------------------------------------------------------------------------------------------
def duplicate_canonical_urls(session: Session) -> int:
    """Canonical URLs held by more than one article (the unique index makes this 0; the check
    proves it on every backend and also counts source URLs pointing at two articles)."""
    articles = session.execute(
        select(func.count()).select_from(
            select(NewsArticle.canonical_url).group_by(NewsArticle.canonical_url)
            .having(func.count() > 1).subquery()
        )
    ).scalar_one()
    sources = session.execute(
        select(func.count()).select_from(
            select(NewsArticleSource.canonical_url)
            .where(NewsArticleSource.canonical_url.is_not(None))
            .group_by(NewsArticleSource.canonical_url)
            .having(func.count(func.distinct(NewsArticleSource.article_id)) > 1).subquery()
        )
    ).scalar_one()
    return int(articles) + int(sources)


def future_dated_news(session: Session, now: datetime | None = None) -> int:
    """Articles published after ``now`` or after we first saw them (beyond the clock tolerance)."""
    now = now or utcnow()
    ahead = int(session.execute(
        select(func.count()).select_from(NewsArticle).where(NewsArticle.published_at > now + FUTURE_TOLERANCE)
    ).scalar_one())
    # Date arithmetic on columns differs per backend; the few rows published after their first
    # sighting at all are compared here.
    early = session.execute(
        select(NewsArticle.published_at, NewsArticle.first_seen_at).where(
            NewsArticle.published_at > NewsArticle.first_seen_at, NewsArticle.published_at <= now + FUTURE_TOLERANCE
        )
    ).all()
    return ahead + sum(1 for published, seen in early if published > seen + FUTURE_TOLERANCE)


def stocks_without_corp_code(session: Session) -> list[str]:
    """Active stocks with no DART corp code stored (their disclosures and DART financials are out of reach)."""
    return sorted(session.execute(
        select(Stock.code).where(
            Stock.active.is_(True), (Stock.dart_corp_code.is_(None)) | (Stock.dart_corp_code == "")
        )
    ).scalars())


def future_dated_disclosures(session: Session, today: date | None = None) -> int:
    today = today or utcnow().astimezone(KST).date()
    return int(session.execute(
        select(func.count()).select_from(Disclosure).where(Disclosure.receipt_date > today)
    ).scalar_one())


def linked_share(session: Session, source: str, since: datetime) -> tuple[int, int]:
    """(linked, total) articles carried by ``source`` and fetched since ``since``."""
    ids = select(NewsArticleSource.article_id).where(
        NewsArticleSource.source == source, NewsArticleSource.fetched_at >= since
    )
    total = session.execute(select(func.count(func.distinct(ids.subquery().c.article_id)))).scalar_one()
    linked = session.execute(
        select(func.count(func.distinct(NewsStockLink.article_id))).where(NewsStockLink.article_id.in_(ids))
    ).scalar_one()
    return int(linked), int(total)


def news_counts_by_source(session: Session) -> dict[str, int]:
    rows = session.execute(select(NewsArticleSource.source, func.count()).group_by(NewsArticleSource.source))
    return {source: int(n) for source, n in rows}


def disclosure_rcept_nos(session: Session, start: date, end: date) -> set[str]:
    return set(session.execute(
        select(Disclosure.rcept_no).where(Disclosure.receipt_date >= start, Disclosure.receipt_date <= end)
    ).scalars())


def days_ago(days: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)
