"""Predictions, each with its evaluation once scored; the caller's A/B arm when no model is asked. ``as_of``: the
forecasts stored by then (``created_at``), each with its evaluation only if scored by then."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import Answers, AnswersDep, PrincipalDep, RequireUser
from api.params import AsOfQuery
from api.problems import problem, problem_responses
from api.routes.stocks import CACHED
from api.schemas import (
    ArmOut,
    Assignment,
    EvaluationOut,
    ExperimentOut,
    KnownModels,
    MarketDate,
    PredictionList,
    PredictionOut,
    RunningExperiment,
)
from stock_insights.experiments.assignment import Arm, assign_arm
from stock_insights.predictors.config import RegistryError, load_registry
from stock_insights.predictors.store import latest_predictions_query
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import Experiment, ExperimentArm, Prediction

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/predictions",
    tags=["predictions"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 422)},
)


async def experiment_out(session: AsyncSession, experiment: Experiment) -> ExperimentOut:
    arms = (
        (
            await session.execute(
                select(ExperimentArm).where(ExperimentArm.experiment_id == experiment.id).order_by(ExperimentArm.name)
            )
        )
        .scalars()
        .all()
    )
    return ExperimentOut(
        id=experiment.id,
        name=experiment.name,
        description=experiment.description,
        status=experiment.status,  # type: ignore[arg-type]
        created_at=experiment.created_at,
        stopped_at=experiment.stopped_at,
        arms=[ArmOut.model_validate(a) for a in arms],
    )


async def running_experiment_in(session: AsyncSession) -> ExperimentOut | None:
    """The newest running experiment, if any (the route's, cached, and MCP's)."""
    experiment = (
        await session.execute(
            select(Experiment)
            .where(Experiment.status == "running")
            .order_by(Experiment.created_at.desc(), Experiment.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return await experiment_out(session, experiment) if experiment else None


def assignment_of(user_id: int, experiment: ExperimentOut | None) -> Assignment | None:
    """The caller's arm of the running experiment (none without one): the route's and MCP's."""
    if experiment is None or not experiment.arms:
        return None
    arms = [Arm(name=a.name, model=a.model, weight=a.weight) for a in experiment.arms]
    arm = assign_arm(user_id, experiment.id, arms)
    return Assignment(experiment_id=experiment.id, experiment=experiment.name, arm=arm.name, model=arm.model)


async def known_models_in(session: AsyncSession) -> list[str]:
    stored = set((await session.execute(select(Prediction.model).distinct())).scalars())
    try:
        registry = {entry.name for entry in load_registry().models}
    except RegistryError:
        log.warning("the model registry could not be read: known models are those with predictions")
        registry = set()
    return sorted(stored | registry)


async def running_experiment(answers: Answers) -> ExperimentOut | None:
    """The experiment that assigns arms: the newest running one (the API allows one at a time)."""

    async def build(session: AsyncSession) -> RunningExperiment:
        return RunningExperiment(experiment=await running_experiment_in(session))

    found = await answers.model("experiment.running", {}, [Dataset.EXPERIMENTS], build, RunningExperiment)
    return found.experiment


async def known_models(answers: Answers) -> list[str]:
    """Every model of the registry (active or not) and every model with stored predictions, by name."""

    async def build(session: AsyncSession) -> KnownModels:
        return KnownModels(names=await known_models_in(session))

    found = await answers.model("prediction.models", {}, [Dataset.PREDICTIONS], build, KnownModels)
    return found.names


@router.get(
    "",
    response_model=PredictionList,
    summary="Predictions by stock, target day and model (without a model: the caller's A/B arm, if an experiment runs)",
    responses={
        404: {
            **problem_responses(404)[404],
            "description": "No such model: `known_models` lists the models of the registry and those with "
            "predictions",
        }
    },
)
async def list_predictions(
    answers: AnswersDep,
    principal: PrincipalDep,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit KRX code")] = None,
    date_: Annotated[MarketDate | None, Query(alias="date", description="Target trading day")] = None,
    model: Annotated[str | None, Query(max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: CursorQuery = None,
    as_of: AsOfQuery = None,
) -> Response:
    after = decode_cursor(cursor, date, str, str, datetime, int) if cursor else None
    if model is not None:
        names = await known_models(answers)
        if model not in names:
            return problem(404, f"model {model!r} is not known; known models: {', '.join(names) or 'none yet'}",
                           instance=answers.request.url.path, known_models=names)
    assignment = assignment_of(principal.user_id, await running_experiment(answers)) if model is None else None
    chosen = assignment.model if assignment else model

    async def build(session: AsyncSession) -> PredictionList:
        stmt = latest_predictions_query(code=code, target_date=date_, model=chosen, after=after, as_of=as_of)
        stmt = stmt.limit(limit + 1)
        rows = (await session.execute(stmt)).all()
        page = rows[:limit]
        items = [
            PredictionOut.model_validate(p).model_copy(
                update={"evaluation": EvaluationOut.model_validate(e) if e is not None else None}
            )
            for p, e in page
        ]
        last = page[-1][0] if page else None
        next_cursor = (
            encode_cursor(last.target_date, last.code, last.model, last.as_of, last.id)
            if last is not None and len(rows) > limit
            else None
        )
        return PredictionList(
            items=items, next_cursor=next_cursor, data_mode=answers.data_mode, assignment=assignment, as_of=as_of
        )

    params = {
        "code": code,
        "date": date_,
        "model": chosen,
        "limit": limit,
        "cursor": cursor,
        "assignment": assignment.model_dump() if assignment else None,
        "as_of": as_of,
    }
    datasets = [Dataset.PREDICTIONS, Dataset.EVALUATIONS]
    if model is None:
        datasets.append(Dataset.EXPERIMENTS)  # the arm (hence the model) depends on the experiments
    return await answers.json("predictions", params, datasets, build)
