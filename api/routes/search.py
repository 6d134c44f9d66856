"""Search over news and filings.

Semantic: the query is embedded with the collection's own model (the settings' embedder), Milvus
returns the nearest documents with the stock and ``before`` (first-seen) filters applied inside Milvus,
and the hits are joined to their articles and filings. The embedder and Milvus are synchronous
clients, so they run in the thread pool, never on the event loop. When Milvus or the collection is not
there, the answer is a *lexical fallback* (substring match over titles), clearly marked as such.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from api.core.state import ApiState
from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.queries import (
    disclosure_title_search_query,
    news_sources_and_codes,
    news_title_search_query,
)
from api.routes.stocks import CACHED
from api.schemas import AwareDatetime, SearchHit, SearchResults
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import Disclosure, NewsArticle

if TYPE_CHECKING:
    from stock_insights.embeddings.store import Hit

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/search",
    tags=["search"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)

FALLBACK_NOTE = (
    "Semantic search is not available (vector store unreachable or empty); this is a case-insensitive substring "
    "match over news titles and filing names, newest first."
)
SEMANTIC_NOTE = "Nearest documents by embedding ({model}, cosine), filtered by stock and first-seen time in Milvus."


def _vector_hits(q: str, code: str | None, before: datetime | None, limit: int) -> tuple[str, list[Hit]]:
    """(model, hits) from Milvus; raises when the store is unavailable. Runs in a worker thread."""
    from stock_insights.embeddings.embedders import collection_name
    from stock_insights.embeddings.factory import build_embedder
    from stock_insights.embeddings.store import VectorStore
    from stock_insights.settings import get_settings

    settings = get_settings()
    embedder = build_embedder(settings)
    store = VectorStore(
        settings.MILVUS_URI, collection_name(embedder.model, embedder.dimension), embedder.dimension, timeout=3.0
    )
    try:
        if not store._client.has_collection(store.collection):
            raise LookupError(f"no collection {store.collection}")
        vector = embedder.embed([q]).vectors[0]
        hits = store.search(
            vector, limit=limit, codes=[code] if code else None, before=before, doc_types=["news", "disclosure"]
        )
        return embedder.model, hits
    finally:
        store.close()


async def semantic_hits(
    session: AsyncSession, q: str, code: str | None, before: datetime | None, limit: int
) -> tuple[str, list[SearchHit]]:
    model, hits = await run_in_threadpool(_vector_hits, q, code, before, limit)
    news_ids = [int(h.sql_id) for h in hits if h.doc_type == "news" and h.sql_id.isdigit()]
    filing_ids = [h.sql_id for h in hits if h.doc_type == "disclosure"]
    articles = (
        {a.id: a for a in (await session.execute(select(NewsArticle).where(NewsArticle.id.in_(news_ids)))).scalars()}
        if news_ids
        else {}
    )
    filings = (
        {
            d.rcept_no: d
            for d in (await session.execute(select(Disclosure).where(Disclosure.rcept_no.in_(filing_ids)))).scalars()
        }
        if filing_ids
        else {}
    )
    _, codes = await news_sources_and_codes(session, list(articles))
    items = []
    for h in hits:
        if h.doc_type == "news" and h.sql_id.isdigit() and int(h.sql_id) in articles:
            a = articles[int(h.sql_id)]
            items.append(
                SearchHit(
                    doc_type="news",
                    id=str(a.id),
                    title=a.title,
                    url=a.canonical_url,
                    published_at=a.published_at,
                    first_seen_at=a.first_seen_at,
                    codes=codes[a.id],
                    score=h.score,
                )
            )
        elif h.doc_type == "disclosure" and h.sql_id in filings:
            d = filings[h.sql_id]
            items.append(
                SearchHit(
                    doc_type="disclosure",
                    id=d.rcept_no,
                    title=d.report_name,
                    url=d.viewer_url,
                    published_at=None,
                    first_seen_at=d.first_seen_at,
                    codes=[d.code] if d.code else [],
                    score=h.score,
                )
            )
    return model, items


async def lexical_hits(
    session: AsyncSession, q: str, code: str | None, before: datetime | None, limit: int
) -> list[SearchHit]:
    news = (await session.execute(news_title_search_query(q, code=code, before=before, limit=limit))).scalars().all()
    _, codes = await news_sources_and_codes(session, [a.id for a in news])
    filings = (
        (await session.execute(disclosure_title_search_query(q, code=code, before=before, limit=limit))).scalars().all()
    )
    hits = [
        SearchHit(
            doc_type="news",
            id=str(a.id),
            title=a.title,
            url=a.canonical_url,
            published_at=a.published_at,
            first_seen_at=a.first_seen_at,
            codes=codes[a.id],
        )
        for a in news
    ] + [
        SearchHit(
            doc_type="disclosure",
            id=d.rcept_no,
            title=d.report_name,
            url=d.viewer_url,
            published_at=None,
            first_seen_at=d.first_seen_at,
            codes=[d.code] if d.code else [],
        )
        for d in filings
    ]
    hits.sort(key=lambda h: (h.first_seen_at, h.doc_type, h.id), reverse=True)
    return hits[:limit]


async def search_results(
    session: AsyncSession, state: ApiState, term: str, code: str | None, before: datetime | None, limit: int
) -> SearchResults:
    """The search answer (semantic, or the lexical fallback while Milvus is away): the route's and MCP's."""
    data_mode = state.settings.DATA_MODE
    if not term:
        return SearchResults(mode="lexical-fallback", query=term, items=[], note=FALLBACK_NOTE, data_mode=data_mode)
    try:
        model, items = await semantic_hits(session, term, code, before, limit)
        state.vector_health.ok()
        return SearchResults(
            mode="semantic", query=term, items=items, note=SEMANTIC_NOTE.format(model=model), data_mode=data_mode
        )
    except Exception as exc:  # Milvus down or empty: say so and fall back, never a 500
        state.vector_health.failed(exc)  # logged once per outage, not once per request
    items = await lexical_hits(session, term, code, before, limit)
    return SearchResults(mode="lexical-fallback", query=term, items=items, note=FALLBACK_NOTE, data_mode=data_mode)


@router.get("", response_model=SearchResults, summary="Semantic search over news and filings, point-in-time")
async def search(
    answers: AnswersDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="Query text")],
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Only documents about this stock")] = None,
    before: Annotated[AwareDatetime | None, Query(description="Only documents first seen before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    term = q.strip()

    async def build(session: AsyncSession) -> SearchResults:
        return await search_results(session, answers.state, term, code, before, limit)

    params = {"q": term, "code": code, "before": before, "limit": limit}
    datasets = [Dataset.NEWS, Dataset.DISCLOSURES, Dataset.EMBEDDINGS]
    # A lexical fallback is a degraded answer: served, never cached as the answer to this query (Milvus may be
    # back on the next request). An empty query has no semantic answer: its fallback is the answer.
    return await answers.json("search", params, datasets, build, cacheable=lambda r: r.mode == "semantic" or not term)
