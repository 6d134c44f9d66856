"""The documents that embeddings are made of (news, disclosures, reports), and the hash registry.

A document's embedding text and its hash are derived here, once, so that the registry decides the
same way in every run: a document is embedded again only when its hash changed.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bulk_upsert, bump_dataset_version, utcnow
from stock_insights.storage.models import (
    Disclosure,
    EmbeddingRecord,
    NewsArticle,
    NewsArticleSource,
    NewsStockLink,
    Report,
)

# Embedding text is capped: a title and a lead carry what retrieval needs, and it bounds cost.
MAX_CHARS = 4000


@dataclass(frozen=True)
class Document:
    doc_type: str  # news | disclosure | report
    doc_id: str  # the SQL key, as text
    text: str
    stock_codes: list[str]
    source: str
    published_at: datetime
    first_seen_at: datetime

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(
            f"{self.doc_type}\n{self.text}\n{','.join(sorted(self.stock_codes))}".encode()
        ).hexdigest()


def documents_seen_between(session: Session, start: datetime, end: datetime) -> list[Document]:
    """Every news article, disclosure and report first seen in [start, end)."""
    docs: list[Document] = []

    articles = (
        session.execute(select(NewsArticle).where(NewsArticle.first_seen_at >= start, NewsArticle.first_seen_at < end))
        .scalars()
        .all()
    )
    ids = [a.id for a in articles]
    codes: dict[int, list[str]] = defaultdict(list)
    sources: dict[int, list[str]] = defaultdict(list)
    for chunk in range(0, len(ids), 500):
        part = ids[chunk : chunk + 500]
        for article_id, code in session.execute(
            select(NewsStockLink.article_id, NewsStockLink.code).where(NewsStockLink.article_id.in_(part))
        ):
            codes[article_id].append(code)
        for article_id, source in session.execute(
            select(NewsArticleSource.article_id, NewsArticleSource.source).where(NewsArticleSource.article_id.in_(part))
        ):
            sources[article_id].append(source)
    for a in articles:
        text = f"{a.title}\n{a.summary or a.body or ''}".strip()[:MAX_CHARS]
        docs.append(
            Document(
                "news",
                str(a.id),
                text,
                sorted(set(codes[a.id])),
                ",".join(sorted(sources[a.id]))[:32] or "news",
                a.published_at,
                a.first_seen_at,
            )
        )

    for d in session.execute(
        select(Disclosure).where(Disclosure.first_seen_at >= start, Disclosure.first_seen_at < end)
    ).scalars():
        text = f"{d.corp_name} {d.report_name}".strip()[:MAX_CHARS]
        published = datetime.combine(d.receipt_date, datetime.min.time(), tzinfo=d.first_seen_at.tzinfo)
        docs.append(
            Document(
                "disclosure",
                d.rcept_no,
                text,
                [d.code] if d.code else [],
                "dart",
                min(published, d.first_seen_at),
                d.first_seen_at,
            )
        )

    for r in session.execute(select(Report).where(Report.created_at >= start, Report.created_at < end)).scalars():
        docs.append(
            Document(
                "report",
                f"{r.trading_date.isoformat()}:{r.scope}",
                r.markdown[:MAX_CHARS],
                [r.scope] if r.scope.isdigit() else [],
                "report",
                r.created_at,
                r.created_at,
            )
        )
    return docs


def registered_hashes(session: Session, collection: str, docs: Sequence[Document]) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    by_type: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        by_type[d.doc_type].append(d.doc_id)
    for doc_type, doc_ids in by_type.items():
        for chunk in range(0, len(doc_ids), 500):
            rows = session.execute(
                select(EmbeddingRecord.doc_id, EmbeddingRecord.content_hash).where(
                    EmbeddingRecord.collection == collection,
                    EmbeddingRecord.doc_type == doc_type,
                    EmbeddingRecord.doc_id.in_(doc_ids[chunk : chunk + 500]),
                )
            )
            out.update({(doc_type, doc_id): h for doc_id, h in rows})
    return out


def register(session: Session, collection: str, entries: Sequence[tuple[Document, int, int]]) -> int:
    """Record (document, milvus id, tokens) as embedded with the document's current hash."""
    now = utcnow()
    rows = [
        {
            "doc_type": d.doc_type,
            "doc_id": d.doc_id,
            "collection": collection,
            "content_hash": d.content_hash,
            "milvus_id": milvus_id,
            "tokens": tokens,
            "embedded_at": now,
        }
        for d, milvus_id, tokens in entries
    ]
    bump_dataset_version(session, Dataset.EMBEDDINGS)
    return bulk_upsert(session, EmbeddingRecord.__table__, rows)


def documents_for_stock(
    session: Session, code: str, *, before: datetime, since: datetime, limit: int = 50
) -> list[dict]:
    """News linked to ``code`` and its filings first seen in [since, before), newest first (point-in-time)."""
    rows: list[dict] = []
    articles = session.execute(
        select(NewsArticle)
        .join(NewsStockLink, NewsStockLink.article_id == NewsArticle.id)
        .where(NewsStockLink.code == code, NewsArticle.first_seen_at < before, NewsArticle.first_seen_at >= since)
        .order_by(NewsArticle.first_seen_at.desc())
        .limit(limit)
    ).scalars()
    for a in articles:
        rows.append(
            {
                "doc_type": "news",
                "doc_id": str(a.id),
                "title": a.title,
                "text": (a.summary or a.body or "")[:MAX_CHARS],
                "source": "news",
                "published_at": a.published_at,
                "first_seen_at": a.first_seen_at,
            }
        )
    filings = session.execute(
        select(Disclosure)
        .where(Disclosure.code == code, Disclosure.first_seen_at < before, Disclosure.first_seen_at >= since)
        .order_by(Disclosure.first_seen_at.desc())
        .limit(limit)
    ).scalars()
    for d in filings:
        published = datetime.combine(d.receipt_date, datetime.min.time(), tzinfo=d.first_seen_at.tzinfo)
        rows.append(
            {
                "doc_type": "disclosure",
                "doc_id": d.rcept_no,
                "title": f"{d.corp_name} {d.report_name}",
                "text": "",
                "source": "dart",
                "published_at": min(published, d.first_seen_at),
                "first_seen_at": d.first_seen_at,
            }
        )
    rows.sort(key=lambda r: r["first_seen_at"], reverse=True)
    return rows[:limit]


def first_seen_of(session: Session, cited: Sequence[tuple[str, str]]) -> dict[tuple[str, str], datetime]:
    """The stored first_seen_at of cited (doc_type, doc_id) pairs: what the point-in-time check compares."""
    out: dict[tuple[str, str], datetime] = {}
    news_ids = [int(i) for t, i in cited if t == "news" and i.isdigit()]
    filing_ids = [i for t, i in cited if t == "disclosure"]
    for chunk in range(0, len(news_ids), 500):
        for article_id, seen in session.execute(
            select(NewsArticle.id, NewsArticle.first_seen_at).where(NewsArticle.id.in_(news_ids[chunk : chunk + 500]))
        ):
            out[("news", str(article_id))] = seen
    for chunk in range(0, len(filing_ids), 500):
        for rcept_no, seen in session.execute(
            select(Disclosure.rcept_no, Disclosure.first_seen_at).where(
                Disclosure.rcept_no.in_(filing_ids[chunk : chunk + 500])
            )
        ):
            out[("disclosure", rcept_no)] = seen
    return out


def documents_by_keys(session: Session, keys: Sequence[tuple[str, str]]) -> list[dict]:
    """News and filings by (doc_type, doc_id), in the order given (e.g. a retrieval ranking)."""
    found: dict[tuple[str, str], dict] = {}
    news_ids = [int(i) for t, i in keys if t == "news" and i.isdigit()]
    if news_ids:
        for a in session.execute(select(NewsArticle).where(NewsArticle.id.in_(news_ids))).scalars():
            found[("news", str(a.id))] = {
                "doc_type": "news",
                "doc_id": str(a.id),
                "title": a.title,
                "text": (a.summary or a.body or "")[:MAX_CHARS],
                "source": "news",
                "published_at": a.published_at,
                "first_seen_at": a.first_seen_at,
            }
    filing_ids = [i for t, i in keys if t == "disclosure"]
    if filing_ids:
        for d in session.execute(select(Disclosure).where(Disclosure.rcept_no.in_(filing_ids))).scalars():
            published = datetime.combine(d.receipt_date, datetime.min.time(), tzinfo=d.first_seen_at.tzinfo)
            found[("disclosure", d.rcept_no)] = {
                "doc_type": "disclosure",
                "doc_id": d.rcept_no,
                "title": f"{d.corp_name} {d.report_name}",
                "text": "",
                "source": "dart",
                "published_at": min(published, d.first_seen_at),
                "first_seen_at": d.first_seen_at,
            }
    return [found[k] for k in keys if k in found]
