"""DART filings, newest first, cursor-paginated."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.queries import disclosures_page_query
from api.routes.stocks import CACHED
from api.schemas import DisclosureOut, DisclosurePage, MarketDate
from stock_insights.storage.datasets import Dataset

router = APIRouter(
    prefix="/disclosures",
    tags=["disclosures"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)


@router.get("", response_model=DisclosurePage, summary="Filings, newest receipt first")
async def list_disclosures(
    answers: AnswersDep,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit KRX code of the filer")] = None,
    since: Annotated[MarketDate | None, Query(description="Received on or after this date")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
) -> Response:
    after = decode_cursor(cursor, date, str) if cursor else None

    async def build(session: AsyncSession) -> DisclosurePage:
        stmt = disclosures_page_query(code=code, since=since, after=after, limit=limit + 1)
        rows = (await session.execute(stmt)).scalars().all()
        page = rows[:limit]
        last = page[-1] if page else None
        next_cursor = (
            encode_cursor(last.receipt_date, last.rcept_no) if last is not None and len(rows) > limit else None
        )
        return DisclosurePage(
            items=[DisclosureOut.model_validate(d) for d in page], next_cursor=next_cursor, data_mode=answers.data_mode
        )

    params = {"code": code, "since": since, "limit": limit, "cursor": cursor}
    return await answers.json("disclosures", params, [Dataset.DISCLOSURES], build)
