"""Predictions, each with its evaluation once scored."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from api.schemas import EvaluationOut, PredictionList, PredictionOut
from stock_insights.storage.forecasts import latest_predictions_query

router = APIRouter(prefix="/api/v1/predictions", tags=["predictions"])


@router.get("", response_model=PredictionList, summary="Predictions by stock, target day and model")
async def list_predictions(
    session: SessionDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(pattern=r"^\d{6}$", description="6-digit KRX code")] = None,
    date_: Annotated[date | None, Query(alias="date", description="Target trading day")] = None,
    model: Annotated[str | None, Query(max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> PredictionList:
    stmt = latest_predictions_query(code=code, target_date=date_, model=model).limit(limit)
    rows = (await session.execute(stmt)).all()
    items = [
        PredictionOut.model_validate(p).model_copy(
            update={"evaluation": EvaluationOut.model_validate(e) if e is not None else None}
        )
        for p, e in rows
    ]
    return PredictionList(items=items, data_mode=settings.DATA_MODE)
