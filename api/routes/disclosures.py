"""DART filings, newest first, cursor-paginated: one item per report, the version in force.

A correction ([기재정정], [첨부추가], ...) is stored as a new version linked to the filing it amends
(``stock_insights.clients.dart.link_versions``), never over it. An item is the latest version first seen by
``as_of`` (without it, the latest stored); ``versions=true`` lists every version of each report known by then.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import AnswersDep, RequireUser
from api.params import AsOfQuery
from api.problems import problem_responses
from api.queries import disclosure_versions, disclosures_page_query
from api.routes.stocks import CACHED
from api.schemas import DisclosureItemOut, DisclosureOut, DisclosurePage, MarketDate
from stock_insights.storage.datasets import Dataset

router = APIRouter(
    prefix="/disclosures",
    tags=["disclosures"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)


@router.get("", response_model=DisclosurePage, summary="Filings, newest receipt first, each in its version in force")
async def list_disclosures(
    answers: AnswersDep,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit KRX code of the filer")] = None,
    since: Annotated[MarketDate | None, Query(description="Received on or after this date")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
    as_of: AsOfQuery = None,
    versions: Annotated[
        bool, Query(description="Also list every version of each report (original and corrections) known by as_of")
    ] = False,
) -> Response:
    after = decode_cursor(cursor, date, str) if cursor else None

    async def build(session: AsyncSession) -> DisclosurePage:
        stmt = disclosures_page_query(code=code, since=since, after=after, limit=limit + 1, as_of=as_of)
        rows = (await session.execute(stmt)).scalars().all()
        page = rows[:limit]
        last = page[-1] if page else None
        next_cursor = (
            encode_cursor(last.receipt_date, last.rcept_no) if last is not None and len(rows) > limit else None
        )
        items = [DisclosureItemOut.model_validate(d) for d in page]
        if versions:
            chains = await disclosure_versions(session, [i.original_rcept_no or i.rcept_no for i in items], as_of=as_of)
            items = [
                i.model_copy(update={"versions": [DisclosureOut.model_validate(v)
                                                  for v in chains[i.original_rcept_no or i.rcept_no]]})
                for i in items
            ]
        return DisclosurePage(items=items, next_cursor=next_cursor, data_mode=answers.data_mode, as_of=as_of)

    params = {"code": code, "since": since, "limit": limit, "cursor": cursor, "as_of": as_of, "versions": versions}
    return await answers.json("disclosures", params, [Dataset.DISCLOSURES], build)
