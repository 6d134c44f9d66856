"""Market data of one stock: daily and minute bars, the latest order book, financial statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Answers, AnswersDep, RequireUser
from api.problems import problem_responses
from api.queries import FINANCIALS_DATASETS, daily_bar_rows_query
from api.routes.stocks import CACHED, CodePath, tracked_stock
from api.schemas import (
    FinancialItemOut,
    Financials,
    MarketDate,
    MinuteBarOut,
    OrderBookLevel,
    OrderBookOut,
    PriceSeries,
)
from stock_insights import clock
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import FinancialStatementItem, MinuteBar, OrderBookSnapshot

router = APIRouter(
    prefix="/stocks",
    tags=["market"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 404, 422)},
)

MAX_PRICE_DAYS = 3660


class PriceQuery(BaseModel):
    """The query of the prices route, validated as one model (one validation instead of four)."""

    interval: Literal["1d", "1m"] = Field("1d", description="Bar interval")
    start: MarketDate | None = Field(
        None,
        description="1d only: first trading date (default: 90 days before end); not after end, at most "
        f"{MAX_PRICE_DAYS} days before it",
    )
    end: MarketDate | None = Field(None, description="1d only: last trading date (default: today)")
    date_: MarketDate | None = Field(
        None, alias="date", description="1m only: the trading day (default: the latest with bars)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PriceQuery:
        # Part of validation (and of the schema's descriptions), not only of the handler.
        if self.interval == "1m" and (self.start is not None or self.end is not None):
            raise ValueError("start and end apply to interval=1d; use date with interval=1m")
        if self.interval == "1d" and self.date_ is not None:
            raise ValueError("date applies to interval=1m; use start and end with interval=1d")
        if self.start is not None and self.end is not None:
            if self.start > self.end:
                raise ValueError("start is after end")
            if (self.end - self.start).days > MAX_PRICE_DAYS:
                raise ValueError(f"a range may span at most {MAX_PRICE_DAYS} days")
        return self


@router.get("/{code}/prices", response_model=PriceSeries, summary="Daily (1d) or one-minute (1m) bars")
async def prices(code: CodePath, query: Annotated[PriceQuery, Query()], answers: AnswersDep) -> Response:
    if query.interval == "1m":
        if query.start is not None or query.end is not None:
            raise HTTPException(422, "start and end apply to interval=1d; use date with interval=1m")
        return await _minute_bars(code, query.date_, answers)
    if query.date_ is not None:
        raise HTTPException(422, "date applies to interval=1m; use start and end with interval=1d")
    end = query.end or clock.today_kst()
    start = query.start or end - timedelta(days=90)
    if start > end:
        raise HTTPException(422, "start is after end")
    if (end - start).days > MAX_PRICE_DAYS:
        raise HTTPException(422, f"a range may span at most {MAX_PRICE_DAYS} days")

    async def build(session: AsyncSession) -> PriceSeries:
        rows = [dict(r) for r in (await session.execute(daily_bar_rows_query(code, start=start, end=end))).mappings()]
        if not rows:  # bars exist only for tracked stocks: look the stock up only when there are none
            await tracked_stock(session, code)
        return PriceSeries.model_validate(
            {"code": code, "interval": "1d", "items": rows, "data_mode": answers.data_mode}
        )

    return await answers.json(
        "prices.1d", {"code": code, "start": start, "end": end}, [Dataset.STOCKS, Dataset.DAILY_BARS], build
    )


async def _minute_bars(code: str, day: date | None, answers: Answers) -> Response:
    async def build(session: AsyncSession) -> PriceSeries:
        await tracked_stock(session, code)
        wanted = day
        if wanted is None:
            wanted = (
                await session.execute(select(func.max(MinuteBar.trading_date)).where(MinuteBar.code == code))
            ).scalar_one_or_none()
        bars: Sequence[MinuteBar] = []
        if wanted is not None:
            bars = (
                (
                    await session.execute(
                        select(MinuteBar)
                        .where(MinuteBar.code == code, MinuteBar.trading_date == wanted)
                        .order_by(MinuteBar.bar_time)
                    )
                )
                .scalars()
                .all()
            )
        return PriceSeries(
            code=code,
            interval="1m",
            items=[MinuteBarOut.model_validate(b) for b in bars],
            data_mode=answers.data_mode,
        )

    return await answers.json("prices.1m", {"code": code, "date": day}, [Dataset.STOCKS, Dataset.MINUTE_BARS], build)


@router.get("/{code}/orderbook", response_model=OrderBookOut, summary="The latest order book snapshot")
async def orderbook(code: CodePath, answers: AnswersDep) -> Response:
    async def build(session: AsyncSession) -> OrderBookOut:
        await tracked_stock(session, code)
        snap = (
            await session.execute(
                select(OrderBookSnapshot)
                .where(OrderBookSnapshot.code == code)
                .order_by(OrderBookSnapshot.snapshot_at.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if snap is None:
            raise HTTPException(404, f"no order book snapshot for {code} yet")
        return OrderBookOut(
            code=code,
            snapshot_at=snap.snapshot_at,
            asks=[
                OrderBookLevel(price=p, quantity=q) for p, q in zip(snap.ask_prices, snap.ask_quantities, strict=False)
            ],
            bids=[
                OrderBookLevel(price=p, quantity=q) for p, q in zip(snap.bid_prices, snap.bid_quantities, strict=False)
            ],
            total_ask_quantity=snap.total_ask_quantity,
            total_bid_quantity=snap.total_bid_quantity,
            source=snap.source,
            data_mode=answers.data_mode,
        )

    return await answers.json("orderbook", {"code": code}, [Dataset.STOCKS, Dataset.ORDERBOOK], build)


@router.get("/{code}/financials", response_model=Financials, summary="Financial statement lines, newest period first")
async def financials(
    code: CodePath,
    answers: AnswersDep,
    source: Annotated[Literal["kis", "dart"] | None, Query(description="kis or dart")] = None,
    statement: Annotated[str | None, Query(pattern=r"^[A-Z_]{1,20}$", description="BS, IS, CF, RATIO, ...")] = None,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Period end, YYYYMM")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> Response:
    async def build(session: AsyncSession) -> Financials:
        await tracked_stock(session, code)
        stmt = select(FinancialStatementItem).where(FinancialStatementItem.code == code)
        if source is not None:
            stmt = stmt.where(FinancialStatementItem.source == source)
        if statement is not None:
            stmt = stmt.where(FinancialStatementItem.statement == statement)
        if period is not None:
            stmt = stmt.where(FinancialStatementItem.period == period)
        stmt = stmt.order_by(
            FinancialStatementItem.period.desc(),
            FinancialStatementItem.source,
            FinancialStatementItem.statement,
            FinancialStatementItem.fs_div,
            FinancialStatementItem.account,
        ).limit(limit)
        rows = (await session.execute(stmt)).scalars().all()
        return Financials(
            code=code, items=[FinancialItemOut.model_validate(r) for r in rows], data_mode=answers.data_mode
        )

    params = {"code": code, "source": source, "statement": statement, "period": period, "limit": limit}
    return await answers.json("financials", params, [Dataset.STOCKS, *FINANCIALS_DATASETS], build)
