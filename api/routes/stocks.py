"""Stocks and their prices."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from sqlalchemy import select

from api.deps import SessionDep, SettingsDep
from api.schemas import PriceBarOut, PriceSeries, StockDetail, StockList, StockOut
from stock_insights.storage.market_data import daily_bars_query
from stock_insights.storage.models import DailyBar, Stock

router = APIRouter(prefix="/api/v1/stocks", tags=["stocks"])

CodePath = Annotated[str, Path(pattern=r"^\d{6}$", description="6-digit KRX code", examples=["005930"])]
MAX_PRICE_DAYS = 3660


async def _stock(session: SessionDep, code: str) -> Stock:
    stock = await session.get(Stock, code)
    if stock is None:
        raise HTTPException(404, f"stock {code} is not tracked")
    return stock


@router.get("", response_model=StockList, summary="Tracked stocks")
async def list_stocks(
    session: SessionDep,
    settings: SettingsDep,
    include_inactive: Annotated[bool, Query(description="Also list stocks no longer tracked")] = False,
) -> StockList:
    stmt = select(Stock).order_by(Stock.code)
    if not include_inactive:
        stmt = stmt.where(Stock.active.is_(True))
    rows = (await session.execute(stmt)).scalars().all()
    return StockList(items=[StockOut.model_validate(s) for s in rows], data_mode=settings.DATA_MODE)


@router.get("/{code}", response_model=StockDetail, summary="One stock", responses={404: {"description": "Unknown"}})
async def get_stock(code: CodePath, session: SessionDep) -> StockDetail:
    stock = await _stock(session, code)
    last = (
        await session.execute(
            select(DailyBar)
            .where(DailyBar.code == code, DailyBar.adjusted.is_(True))
            .order_by(DailyBar.trading_date.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return StockDetail.model_validate(stock).model_copy(
        update={
            "last_close": last.close if last else None,
            "last_trading_date": last.trading_date if last else None,
        }
    )


@router.get(
    "/{code}/prices",
    response_model=PriceSeries,
    summary="Price bars",
    responses={404: {"description": "Unknown stock"}, 422: {"description": "Invalid range"}},
)
async def prices(
    code: CodePath,
    session: SessionDep,
    settings: SettingsDep,
    interval: Annotated[Literal["1d"], Query(description="Bar interval")] = "1d",
    start: Annotated[date | None, Query(description="First trading date (default: 90 days before end)")] = None,
    end: Annotated[date | None, Query(description="Last trading date (default: today)")] = None,
) -> PriceSeries:
    await _stock(session, code)
    end = end or date.today()
    start = start or end - timedelta(days=90)
    if start > end:
        raise HTTPException(422, "start is after end")
    if (end - start).days > MAX_PRICE_DAYS:
        raise HTTPException(422, f"a range may span at most {MAX_PRICE_DAYS} days")
    bars = (await session.execute(daily_bars_query(code, start=start, end=end))).scalars().all()
    return PriceSeries(
        code=code, interval=interval, items=[PriceBarOut.model_validate(b) for b in bars], data_mode=settings.DATA_MODE
    )
