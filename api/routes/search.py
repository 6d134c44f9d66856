"""Search over news and filings.

Semantic search (Milvus) comes with the embeddings issue. Until then this answers a *lexical
fallback* instead of a 503, so the frontend has something useful: a case-insensitive substring
match over news titles and filing names, point-in-time (``before`` filters on our first-seen
clock), clearly marked ``"mode": "lexical-fallback"``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.routes.stocks import CACHED
from api.schemas import AwareDatetime, SearchHit, SearchResults
from stock_insights.storage.api_queries import (
    DATASET_DISCLOSURES,
    DATASET_NEWS,
    disclosure_title_search_query,
    news_sources_and_codes,
    news_title_search_query,
)

router = APIRouter(
    prefix="/api/v1/search",
    tags=["search"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)

FALLBACK_NOTE = (
    "Semantic search is not available yet; this is a case-insensitive substring match over news titles "
    "and filing names, newest first."
)


async def lexical_hits(session: AsyncSession, q: str, code: str | None, before, limit: int) -> list[SearchHit]:  # type: ignore[no-untyped-def]
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


@router.get("", response_model=SearchResults, summary="Search news and filings (lexical fallback for now)")
async def search(
    answers: AnswersDep,
    q: Annotated[str, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", description="Query text")],
    code: Annotated[str | None, Query(pattern=r"^\d{6}$", description="Only documents about this stock")] = None,
    before: Annotated[AwareDatetime | None, Query(description="Only documents first seen before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Response:
    term = q.strip()

    async def build(session: AsyncSession) -> SearchResults:
        items = await lexical_hits(session, term, code, before, limit) if term else []
        return SearchResults(
            mode="lexical-fallback", query=term, items=items, note=FALLBACK_NOTE, data_mode=answers.data_mode
        )

    params = {"q": term, "code": code, "before": before, "limit": limit}
    return await answers.json("search", params, [DATASET_NEWS, DATASET_DISCLOSURES], build)
