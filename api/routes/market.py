"""Market data of one stock: daily and minute bars, the latest order book, financial statements.

Each route takes ``as_of`` (``api.params.AsOfQuery``): the answer as the platform knew it then (see
``api.queries.fetched_by`` for what that means for bars and books); ``as_of`` is part of every cache key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Answers, AnswersDep, RequireUser
from api.params import AsOfQuery, AsOfTimestamp
from api.problems import problem_responses
from api.queries import (
    FINANCIALS_DATASETS,
    daily_bar_rows_query,
    financials_query,
    latest_minute_day_query,
    latest_orderbook_query,
    minute_bars_query,
)
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
from stock_insights.storage.models import MinuteBar

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
    as_of: AsOfTimestamp | None = Field(
        None,
        description="Answer as of this moment: only the bars stored by then, as they were (ISO 8601 date-time with "
        "its offset; a time without a zone is refused with 422)",
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
        return await _minute_bars(code, query.date_, query.as_of, answers)
    if query.date_ is not None:
        raise HTTPException(422, "date applies to interval=1m; use start and end with interval=1d")
    end = query.end or clock.today_kst()
    start = query.start or end - timedelta(days=90)
    if start > end:
        raise HTTPException(422, "start is after end")
    if (end - start).days > MAX_PRICE_DAYS:
        raise HTTPException(422, f"a range may span at most {MAX_PRICE_DAYS} days")

    as_of = query.as_of

    async def build(session: AsyncSession) -> PriceSeries:
        stmt = daily_bar_rows_query(code, start=start, end=end, as_of=as_of)
        rows = [dict(r) for r in (await session.execute(stmt)).mappings()]
        if not rows:  # bars exist only for tracked stocks: look the stock up only when there are none
            await tracked_stock(session, code)
        return PriceSeries.model_validate(
            {"code": code, "interval": "1d", "items": rows, "data_mode": answers.data_mode, "as_of": as_of}
        )

    params = {"code": code, "start": start, "end": end, "as_of": as_of}
    return await answers.json("prices.1d", params, [Dataset.STOCKS, Dataset.DAILY_BARS], build)


async def _minute_bars(code: str, day: date | None, as_of: datetime | None, answers: Answers) -> Response:
    async def build(session: AsyncSession) -> PriceSeries:
        await tracked_stock(session, code)
        wanted = day
        if wanted is None:
            wanted = (await session.execute(latest_minute_day_query(code, as_of=as_of))).scalar_one_or_none()
        bars: Sequence[MinuteBar] = []
        if wanted is not None:
            bars = (await session.execute(minute_bars_query(code, wanted, as_of=as_of))).scalars().all()
        return PriceSeries(
            code=code,
            interval="1m",
            items=[MinuteBarOut.model_validate(b) for b in bars],
            data_mode=answers.data_mode,
            as_of=as_of,
        )

    params = {"code": code, "date": day, "as_of": as_of}
    return await answers.json("prices.1m", params, [Dataset.STOCKS, Dataset.MINUTE_BARS], build)


@router.get("/{code}/orderbook", response_model=OrderBookOut, summary="The latest order book snapshot")
async def orderbook(code: CodePath, answers: AnswersDep, as_of: AsOfQuery = None) -> Response:
    async def build(session: AsyncSession) -> OrderBookOut:
        await tracked_stock(session, code)
        snap = (await session.execute(latest_orderbook_query(code, as_of=as_of))).scalar_one_or_none()
        if snap is None:
            when = f" as of {as_of.isoformat()}" if as_of is not None else " yet"
            raise HTTPException(404, f"no order book snapshot for {code}{when}")
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
            as_of=as_of,
        )

    params = {"code": code, "as_of": as_of}
    return await answers.json("orderbook", params, [Dataset.STOCKS, Dataset.ORDERBOOK], build)


@router.get("/{code}/financials", response_model=Financials, summary="Financial statement lines, newest period first")
async def financials(
    code: CodePath,
    answers: AnswersDep,
    source: Annotated[Literal["kis", "dart"] | None, Query(description="kis or dart")] = None,
    statement: Annotated[str | None, Query(pattern=r"^[A-Z_]{1,20}$", description="BS, IS, CF, RATIO, ...")] = None,
    period: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Period end, YYYYMM")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    as_of: AsOfQuery = None,
) -> Response:
    async def build(session: AsyncSession) -> Financials:
        await tracked_stock(session, code)
        stmt = financials_query(code, source=source, statement=statement, period=period, limit=limit, as_of=as_of)
        rows = (await session.execute(stmt)).scalars().all()
        return Financials(
            code=code,
            items=[FinancialItemOut.model_validate(r) for r in rows],
            data_mode=answers.data_mode,
            as_of=as_of,
        )

    params = {"code": code, "source": source, "statement": statement, "period": period, "limit": limit,
              "as_of": as_of}
    return await answers.json("financials", params, [Dataset.STOCKS, *FINANCIALS_DATASETS], build)
