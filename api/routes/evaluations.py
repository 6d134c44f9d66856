"""Model standings from the evaluations table (simple means now; full statistics in a later issue)."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.routes.stocks import CACHED
from api.schemas import Leaderboard, LeaderboardRow
from stock_insights.storage.api_queries import Standing, leaderboard
from stock_insights.storage.forecasts import DATASET_EVALUATIONS, DATASET_PREDICTIONS

router = APIRouter(
    prefix="/api/v1/evaluations",
    tags=["evaluations"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)

LEADERBOARD_NOTE = (
    "Simple means over scored predictions of the last `window` target days that have scores, ranked by "
    "mean Brier score (lower is better). Calibration, skill scores and significance come later."
)


class Window(IntEnum):
    month = 20
    quarter = 60
    year = 250


def rows(standings: list[Standing]) -> list[LeaderboardRow]:
    return [
        LeaderboardRow(rank=i, model=s.model, count=s.count, hit_rate=s.hit_rate, brier=s.brier, log_loss=s.log_loss)
        for i, s in enumerate(standings, start=1)
    ]


@router.get("/leaderboard", response_model=Leaderboard, summary="Per-model hit rate, Brier, log loss and count")
async def get_leaderboard(
    answers: AnswersDep,
    window: Annotated[Window, Query(description="Trading days: 20, 60 or 250")] = Window.month,
) -> Response:
    async def build(session: AsyncSession) -> Leaderboard:
        first, last, standings = await leaderboard(session, int(window))
        return Leaderboard(
            window=int(window),  # type: ignore[arg-type]
            from_date=first,
            to_date=last,
            items=rows(standings),
            note=LEADERBOARD_NOTE,
            data_mode=answers.data_mode,
        )

    return await answers.json("leaderboard", {"window": int(window)}, [DATASET_PREDICTIONS, DATASET_EVALUATIONS], build)
