"""The tracked universe: list and detail for everyone, add and remove for admins.

Note: the ``universe/stocks`` asset re-syncs the universe to ``STOCK_UNIVERSE`` when it runs (it
marks every other stock inactive), so a stock added here stays tracked only until then unless the
setting lists it too.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import AnswersDep, RequireAdmin, RequireUser, SessionDep
from api.params import AsOfQuery
from api.problems import problem_responses
from api.queries import last_daily_bar_query, stocks_page_query
from api.schemas import StockChange, StockCreate, StockDetail, StockList, StockOut
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, utcnow
from stock_insights.storage.models import Stock
from stock_insights.universe import lookup

router = APIRouter(
    prefix="/stocks", tags=["stocks"], dependencies=[RequireUser], responses=problem_responses(401, 403, 422)
)

CodePath = Annotated[str, Path(pattern=r"^[0-9]{6}$", description="6-digit KRX code", examples=["005930"])]
# A page of the universe: the whole market (about 2,700 listings) is a few pages, each one index range by code.
MAX_STOCKS_PAGE = 500
CACHED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (the `If-None-Match` ETag matches)"}}


async def tracked_stock(session: AsyncSession, code: str) -> Stock:
    stock = await session.get(Stock, code)
    if stock is None:
        raise HTTPException(404, f"stock {code} is not tracked")
    return stock


@router.get("", response_model=StockList, summary="Tracked stocks", responses=CACHED)
async def list_stocks(
    answers: AnswersDep,
    include_inactive: Annotated[bool, Query(description="Also list stocks no longer tracked")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_STOCKS_PAGE, description="Stocks per page, by code")] = MAX_STOCKS_PAGE,
    cursor: CursorQuery = None,
) -> Response:
    (after,) = decode_cursor(cursor, str) if cursor else (None,)

    async def build(session: AsyncSession) -> StockList:
        stmt = stocks_page_query(include_inactive=include_inactive, after=after, limit=limit + 1)
        rows = (await session.execute(stmt)).scalars().all()
        page = rows[:limit]
        next_cursor = encode_cursor(page[-1].code) if len(rows) > limit else None
        return StockList(
            items=[StockOut.model_validate(s) for s in page], next_cursor=next_cursor, data_mode=answers.data_mode
        )

    params = {"inactive": include_inactive, "limit": limit, "cursor": cursor}
    return await answers.json("stocks", params, [Dataset.STOCKS], build)


@router.get(
    "/{code}",
    response_model=StockDetail,
    summary="One stock, with its last adjusted close",
    responses={**CACHED, **problem_responses(404)},
)
async def get_stock(code: CodePath, answers: AnswersDep, as_of: AsOfQuery = None) -> Response:
    async def build(session: AsyncSession) -> StockDetail:
        stock = await tracked_stock(session, code)
        last = (await session.execute(last_daily_bar_query(code, as_of=as_of))).scalar_one_or_none()
        return StockDetail.model_validate(stock).model_copy(
            update={
                "last_close": last.close if last else None,
                "last_trading_date": last.trading_date if last else None,
                "data_mode": answers.data_mode,
                "as_of": as_of,
            }
        )

    # "stock.v3": the answer carries data_mode and as_of since; cached answers of older shapes are not served.
    return await answers.json("stock.v3", {"code": code, "as_of": as_of}, [Dataset.STOCKS, Dataset.DAILY_BARS], build)


@router.post(
    "",
    response_model=StockChange,
    status_code=201,
    summary="Add a stock to the universe, or re-activate it (admin)",
    dependencies=[RequireAdmin],
    responses=problem_responses(400, 404, 409),
)
async def add_stock(body: StockCreate, session: SessionDep) -> StockChange:
    known = lookup(body.code)
    name = body.name or (known.name if known else None)
    market = body.market or (known.market if known else None)
    if name is None or market is None:
        raise HTTPException(422, f"{body.code} is not a listing the platform knows: give its name and market")
    now = utcnow()
    stock = await session.get(Stock, body.code)
    if stock is None:
        stock = Stock(code=body.code, created_at=now)
        session.add(stock)
    stock.name = name
    stock.name_en = body.name_en if body.name_en is not None else (known.name_en if known else stock.name_en)
    stock.market = market
    stock.dart_corp_code = body.dart_corp_code or (known.dart_corp_code if known else stock.dart_corp_code)
    stock.aliases = list(body.aliases if body.aliases is not None else (known.aliases if known else [name]))
    stock.active = True
    stock.updated_at = now
    await session.flush()
    # The API writes the universe too, so it bumps its version like the pipeline does.
    await session.run_sync(lambda sync: bump_dataset_version(sync, Dataset.STOCKS))
    await session.commit()
    return StockChange.model_validate(stock)


@router.delete(
    "/{code}",
    response_model=StockChange,
    summary="Stop tracking a stock (admin): it is kept, marked inactive",
    dependencies=[RequireAdmin],
    responses=problem_responses(404),
)
async def remove_stock(code: CodePath, session: SessionDep) -> StockChange:
    stock = await tracked_stock(session, code)
    if stock.active:
        stock.active = False
        stock.updated_at = utcnow()
        await session.flush()
        await session.run_sync(lambda sync: bump_dataset_version(sync, Dataset.STOCKS))
        await session.commit()
    return StockChange.model_validate(stock)
