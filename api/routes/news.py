"""News articles, newest first, cursor-paginated; one article per story, with every source. ``as_of``: the
articles, sources and stock links first seen by then."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import AnswersDep, RequireUser
from api.params import AsOfQuery
from api.problems import problem_responses
from api.queries import news_page_query, news_sources_and_codes
from api.routes.stocks import CACHED
from api.schemas import AwareDatetime, NewsItemOut, NewsPage, NewsSourceOut
from stock_insights.storage.datasets import Dataset

router = APIRouter(
    prefix="/news",
    tags=["news"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)


@router.get("", response_model=NewsPage, summary="News, newest published first")
async def list_news(
    answers: AnswersDep,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Only articles linked to this stock")] = None,
    source: Annotated[
        str | None, Query(pattern=r"^[a-z0-9_-]{1,20}$", description="naver, hankyung, maeil or reddit")
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Published at or after this time (ISO 8601; naive means UTC)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
    as_of: AsOfQuery = None,
) -> Response:
    after = decode_cursor(cursor, datetime, int) if cursor else None

    async def build(session: AsyncSession) -> NewsPage:
        stmt = news_page_query(code=code, source=source, since=since, after=after, limit=limit + 1, as_of=as_of)
        rows = (await session.execute(stmt)).scalars().all()
        page = rows[:limit]
        sources, codes = await news_sources_and_codes(session, [a.id for a in page], as_of=as_of)
        items = [
            NewsItemOut(
                id=a.id,
                title=a.title,
                summary=a.summary,
                url=a.canonical_url,
                language=a.language,
                published_at=a.published_at,
                first_seen_at=a.first_seen_at,
                sources=[NewsSourceOut(source=s, url=u) for s, u in sources[a.id]],
                codes=codes[a.id],
            )
            for a in page
        ]
        last = page[-1] if page else None
        next_cursor = encode_cursor(last.published_at, last.id) if last is not None and len(rows) > limit else None
        return NewsPage(items=items, next_cursor=next_cursor, data_mode=answers.data_mode, as_of=as_of)

    params = {"code": code, "source": source, "since": since, "limit": limit, "cursor": cursor, "as_of": as_of}
    return await answers.json("news", params, [Dataset.NEWS], build)
