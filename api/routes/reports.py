"""Daily reports (Markdown), written by the reports pipeline after the close."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.routes.stocks import CACHED
from api.schemas import DailyReport, DataMode, MarketDate, ReportOut
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import Report

router = APIRouter(
    prefix="/reports",
    tags=["reports"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 404, 422)},
)


async def daily_report_of(session: AsyncSession, day: date, data_mode: DataMode) -> DailyReport:
    """The stored reports of ``day`` (404 without any): the route's and MCP's."""
    reports = (
        (await session.execute(select(Report).where(Report.trading_date == day).order_by(Report.scope)))
        .scalars()
        .all()
    )
    if not reports:
        raise HTTPException(404, f"no report for {day.isoformat()}")
    market = next((r for r in reports if r.scope == "market"), None)
    return DailyReport(
        trading_date=day,
        market=ReportOut.model_validate(market) if market else None,
        stocks=[ReportOut.model_validate(r) for r in reports if r.scope != "market"],
        data_mode=data_mode,
    )


@router.get("/daily/{date}", response_model=DailyReport, summary="The market's and each stock's report of a day")
async def daily_report(
    day: Annotated[MarketDate, Path(alias="date", description="Trading day, YYYY-MM-DD")],
    answers: AnswersDep,
) -> Response:
    async def build(session: AsyncSession) -> DailyReport:
        return await daily_report_of(session, day, answers.data_mode)

    return await answers.json("report.daily", {"date": day}, [Dataset.REPORTS], build)
