"""One answer for the dashboard: row counts, freshness of every source, movers, model standings."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api import queries as q
from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.routes.evaluations import Variant, board_of, standings
from api.routes.stocks import CACHED
from api.schemas import DashboardStats, Freshness, Mover, Movers
from stock_insights.storage.datasets import Dataset

router = APIRouter(
    prefix="/dashboard",
    tags=["dashboard"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403)},
)

TOP_MOVERS = 5
# The standings: horizon 1, live forecasts (the leaderboard's default), the latest evaluations/leaderboard snapshot
# of 20 trading days; ``models_forecasts`` says which forecasts they are.
STANDINGS_WINDOW = 20


@router.get("/stats", response_model=DashboardStats, summary="Counts, freshness, today's movers, model standings")
async def stats(answers: AnswersDep) -> Response:
    versions = await answers.versions()

    async def build(session: AsyncSession) -> DashboardStats:
        latest, previous, moves = await q.movers(session)
        by_change = sorted(moves, key=lambda m: (m.change, m.code))
        snapshot = await q.leaderboard_snapshot(session, STANDINGS_WINDOW)
        board, variant = board_of(snapshot[1], 1) if snapshot else (None, Variant())

        def mover(m: q.MoverRow) -> Mover:
            return Mover(code=m.code, name=m.name, close=m.close, previous_close=m.previous_close, change=m.change)

        return DashboardStats(
            counts=await q.table_counts(session),
            freshness=[Freshness(table=t, column=c, newest=n) for t, c, n in await q.freshness(session)],
            movers=Movers(
                trading_date=latest,
                previous_date=previous,
                gainers=[mover(m) for m in reversed(by_change[-TOP_MOVERS:]) if m.change > 0],
                losers=[mover(m) for m in by_change[:TOP_MOVERS] if m.change < 0],
            ),
            models=standings(board),
            models_forecasts=variant.forecasts,
            dataset_versions={d: versions.get(d, 0) for d in q.ALL_DATASETS},
            data_mode=answers.data_mode,
        )

    return await answers.json("dashboard", {}, [*q.ALL_DATASETS, Dataset.LEADERBOARD], build)
