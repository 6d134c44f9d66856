"""A/B experiments between models: analysts read them, admins start and stop them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireAdmin, RequireAnalyst, SessionDep
from api.problems import problem_responses
from api.queries import arm_counts
from api.routes.predictions import experiment_out
from api.routes.stocks import CACHED
from api.schemas import (
    ArmResult,
    DataMode,
    ExperimentChange,
    ExperimentIn,
    ExperimentList,
    ExperimentResults,
)
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version, utcnow
from stock_insights.storage.models import Experiment, ExperimentArm, LeaderboardSnapshot

router = APIRouter(
    prefix="/experiments",
    tags=["experiments"],
    dependencies=[RequireAnalyst],
    responses=problem_responses(401, 403, 422),
)

ExperimentIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="Experiment id")]
RESULTS_NOTE = (
    "Counts: predictions each arm's model made while the experiment ran, and their scores. Significance: the "
    "paired tests of the latest evaluations/leaderboard ({source}); null until the leaderboard has run."
)
SIGNIFICANCE_WINDOW = 60  # trading days


async def _changed(session: AsyncSession, experiment: Experiment) -> ExperimentChange:
    return ExperimentChange.model_validate((await experiment_out(session, experiment)).model_dump())


async def _experiment(session: AsyncSession, experiment_id: int) -> Experiment:
    experiment = await session.get(Experiment, experiment_id)
    if experiment is None:
        raise HTTPException(404, f"experiment {experiment_id} does not exist")
    return experiment


@router.get("", response_model=ExperimentList, summary="Every experiment, newest first (analyst)", responses=CACHED)
async def list_experiments(answers: AnswersDep) -> Response:
    async def build(session: AsyncSession) -> ExperimentList:
        return await experiment_list(session, answers.data_mode)

    # "experiments.v2": the answer carries data_mode since; cached answers of the older shape are not served.
    return await answers.json("experiments.v2", {}, [Dataset.EXPERIMENTS], build)


@router.post(
    "",
    response_model=ExperimentChange,
    status_code=201,
    summary="Start an experiment (admin); one runs at a time",
    dependencies=[RequireAdmin],
    responses=problem_responses(400, 409),
)
async def create_experiment(body: ExperimentIn, session: SessionDep) -> ExperimentChange:
    names = [arm.name for arm in body.arms]
    if len(set(names)) != len(names):
        raise HTTPException(422, "arm names must be unique")
    if (await session.execute(select(Experiment.id).where(Experiment.status == "running"))).first() is not None:
        raise HTTPException(409, "an experiment is already running: stop it first")
    if (await session.execute(select(Experiment.id).where(Experiment.name == body.name))).first() is not None:
        raise HTTPException(409, f"an experiment named {body.name!r} exists")
    experiment = Experiment(name=body.name, description=body.description, status="running", created_at=utcnow())
    session.add(experiment)
    await session.flush()
    session.add_all(
        ExperimentArm(experiment_id=experiment.id, name=arm.name, model=arm.model, weight=arm.weight)
        for arm in body.arms
    )
    await session.flush()
    await session.run_sync(lambda sync: bump_dataset_version(sync, Dataset.EXPERIMENTS))
    await session.commit()
    return await _changed(session, experiment)


@router.post(
    "/{experiment_id}/stop",
    response_model=ExperimentChange,
    summary="Stop an experiment (admin); stopping a stopped one changes nothing",
    dependencies=[RequireAdmin],
    responses=problem_responses(404),
)
async def stop_experiment(experiment_id: ExperimentIdPath, session: SessionDep) -> ExperimentChange:
    experiment = await _experiment(session, experiment_id)
    if experiment.status != "stopped":
        experiment.status = "stopped"
        experiment.stopped_at = utcnow()
        await session.flush()
        await session.run_sync(lambda sync: bump_dataset_version(sync, Dataset.EXPERIMENTS))
        await session.commit()
    return await _changed(session, experiment)


@router.get(
    "/{experiment_id}/results",
    response_model=ExperimentResults,
    summary="Per-arm counts and hit rate, and the paired significance tests (analyst)",
    responses={**CACHED, **problem_responses(404)},
)
async def experiment_results(experiment_id: ExperimentIdPath, answers: AnswersDep) -> Response:
    async def build(session: AsyncSession) -> ExperimentResults:
        return await experiment_results_of(session, experiment_id, answers.data_mode)

    return await answers.json(
        "experiment.results",
        {"id": experiment_id},
        [Dataset.EXPERIMENTS, Dataset.PREDICTIONS, Dataset.EVALUATIONS, Dataset.LEADERBOARD],
        build,
    )


async def experiment_list(session: AsyncSession, data_mode: DataMode) -> ExperimentList:
    """Every experiment, newest first: the route's and MCP's."""
    rows = (
        (await session.execute(select(Experiment).order_by(Experiment.created_at.desc(), Experiment.id.desc())))
        .scalars()
        .all()
    )
    return ExperimentList(items=[await experiment_out(session, e) for e in rows], data_mode=data_mode)


async def experiment_results_of(session: AsyncSession, experiment_id: int, data_mode: DataMode) -> ExperimentResults:
    """Per-arm counts and the stored significance of one experiment (404 if none): the route's and MCP's."""
    experiment = await _experiment(session, experiment_id)
    arms = (
        (
            await session.execute(
                select(ExperimentArm)
                .where(ExperimentArm.experiment_id == experiment.id)
                .order_by(ExperimentArm.name)
            )
        )
        .scalars()
        .all()
    )
    counts = await arm_counts(session, experiment, arms)
    board = (
        await session.execute(
            select(LeaderboardSnapshot)
            .where(LeaderboardSnapshot.window == SIGNIFICANCE_WINDOW)
            .order_by(LeaderboardSnapshot.as_of_date.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    significance = (board.payload.get("experiments") or {}).get(experiment.name) if board else None
    source = f"{board.as_of_date.isoformat()}, {SIGNIFICANCE_WINDOW} trading days" if board else "none yet"
    return ExperimentResults(
        experiment=await experiment_out(session, experiment),
        arms=[
            ArmResult(
                arm=arm.name,
                model=arm.model,
                weight=arm.weight,
                predictions=counts[arm.name].predictions,
                scored=counts[arm.name].scored,
                hits=counts[arm.name].hits,
                hit_rate=counts[arm.name].hits / counts[arm.name].scored if counts[arm.name].scored else None,
                mean_brier=counts[arm.name].mean_brier,
                mean_log_loss=counts[arm.name].mean_log_loss,
            )
            for arm in arms
        ],
        significance=significance,
        note=RESULTS_NOTE.format(source=source),
        data_mode=data_mode,
    )
