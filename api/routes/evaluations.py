"""The leaderboard: the full scorecard of every model, as the ``evaluations/leaderboard`` asset stored it.

The numbers are not recomputed here: the route serves the stored snapshot (``leaderboards`` table) of the
asked window, horizon and trading day, so the API and the asset's metadata agree to the last digit. Live
forecasts by default (``forecasts=all`` adds the late ones), the full board unless ``after_cutoff=true``; every
answer says which board it is (``forecasts``, ``after_cutoff``), see ``stock_insights.metrics.honesty``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.queries import leaderboard_snapshot
from api.routes.stocks import CACHED
from api.schemas import (
    AcrossDatesOut,
    AfterCutoffOut,
    CalibrationOut,
    ExcessReturnOut,
    HitsTestOut,
    InformationCoefficient,
    LeaderboardRow,
    LongShortOut,
    LossTestOut,
    MarketDate,
    ModelName,
    PairwiseComparison,
    ReliabilityBinOut,
    Scorecard,
    ScorecardRow,
    WilsonHits,
)
from stock_insights.metrics import honesty
from stock_insights.metrics.comparison import MIN_DATES_FOR_VERDICT
from stock_insights.metrics.outcome import OUTCOME_RULE
from stock_insights.storage.datasets import Dataset

router = APIRouter(
    prefix="/evaluations",
    tags=["evaluations"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 404, 422)},
)

LEADERBOARD_NOTE = (
    "Served from the evaluations/leaderboard snapshot of {as_of} ({window} trading days of exit dates, horizon "
    "{horizon}). Ranked by Brier score (lower is better) among models with at least {min_dates} dates; a model "
    "with fewer is listed unranked. Pairwise: McNemar clustered by date on hits and Diebold-Mariano (HLN) on "
    "per-date Brier differences, Holm-adjusted across the window's pairs; a pair with fewer than {min_dates} "
    "paired dates gets no verdict. Forecasts: {variant}"
)
AFTER_CUTOFF_NOTE = " Only target days after each model's training cutoff ({rule})."
OLD_SNAPSHOT_NOTE = (
    " This snapshot was computed before live and late forecasts were told apart: it holds every forecast; "
    "re-materialize evaluations/leaderboard for the live board."
)
FORECASTS_RULES = {"live": honesty.LIVE_RULE.split(";")[0], "all": "every forecast, late ones included and counted"}
NO_SNAPSHOT_NOTE = "No leaderboard has been computed yet: materialize evaluations/leaderboard."
NO_BOOK_HORIZON_5 = (
    "no long-short book at horizon 5: five-session returns of consecutive days overlap, so a daily book of them "
    "has no meaning"
)


class Window(IntEnum):
    month = 20
    quarter = 60
    year = 250


class Horizon(IntEnum):
    day = 1
    week = 5


ForecastsParam = Literal["live", "all"]


def _across(value: dict[str, Any]) -> AcrossDatesOut:
    return AcrossDatesOut.model_validate({k: value.get(k) for k in AcrossDatesOut.model_fields})


def _long_short(portfolio: dict[str, Any] | None, horizon: int) -> LongShortOut:
    if portfolio is None:
        reason = NO_BOOK_HORIZON_5 if horizon != 1 else "no long-short book in this snapshot"
        return LongShortOut(available=False, reason=reason)
    net = portfolio.get("net") or {}
    return LongShortOut(
        available=net.get("mean") is not None,
        reason=net.get("reason"),
        k=portfolio["k"],
        fee_per_side=portfolio["fee_per_side"],
        sell_tax=portfolio["sell_tax"],
        n_days=net.get("n_days"),
        mean_daily_return=net.get("mean"),
        cumulative_return=net.get("cumulative_return"),
        annualised_return=net.get("annualised_return"),
        information_ratio=net.get("information_ratio"),
        max_drawdown=net.get("max_drawdown"),
        mean_turnover=portfolio.get("mean_turnover"),
    )


def _excess(value: dict[str, Any] | None) -> ExcessReturnOut:
    if value is None:  # a snapshot written before the excess return was part of the board
        return ExcessReturnOut(
            n=0, n_without_index=0, mean=None, daily_mean=None, daily_ci_low=None, daily_ci_high=None,
            reason="not in this snapshot",
        )
    daily = value.get("daily") or {}
    return ExcessReturnOut(
        n=value["n"],
        n_without_index=value["n_without_index"],
        mean=value.get("mean"),
        daily_mean=daily.get("mean"),
        daily_ci_low=daily.get("ci_low"),
        daily_ci_high=daily.get("ci_high"),
        reason=value.get("reason"),
    )


def scorecard_row(m: dict[str, Any], horizon: int) -> ScorecardRow:
    """One model of a stored board (``to_jsonable`` of ``metrics.leaderboard.ModelMetrics``) as served."""
    calibration = m["calibration"]
    return ScorecardRow(
        rank=m["rank"],
        unranked_reason=m.get("unranked_reason"),
        model=m["model"],
        n=m["n_predictions"],
        n_dates=m["n_dates"],
        n_unchanged=m.get("n_unchanged", 0),
        first_date=m["first_date"],
        last_date=m["last_date"],
        hits=WilsonHits(**{k: m["hit_rate"][k] for k in WilsonHits.model_fields}),
        mcc=m["confusion"].get("mcc"),
        mcc_reason=m["confusion"].get("reason"),
        pesaran_timmermann_p=m["pesaran_timmermann"].get("p_value"),
        brier=m["brier"]["brier"],
        brier_reference=m["brier"]["reference"],
        brier_skill=m["brier"].get("skill"),
        log_loss=m["log_loss"],
        calibration=CalibrationOut(
            ece=calibration["ece"],
            n_bins=calibration["n_bins"],
            base_rate=calibration["base_rate"],
            bins=[ReliabilityBinOut(**b) for b in calibration["bins"]],
        ),
        information_coefficients=[
            InformationCoefficient(score=name, ic=_across(value["ic"]), rank_ic=_across(value["rank_ic"]))
            for name, value in sorted(m["ic"].items())
        ],
        long_short=_long_short(m.get("portfolio"), horizon),
        excess_return=_excess(m.get("excess_return")),
        n_late=m.get("n_late", 0),
        training_cutoff=m.get("training_cutoff", "unknown"),
        after_cutoff=None if m.get("after_cutoff") is None else _after_cutoff(m["after_cutoff"]),
    )


def _after_cutoff(value: dict[str, Any]) -> AfterCutoffOut:
    """``metrics.honesty.after_cutoff_summary`` as served (its count is ``n``, as on the scorecard)."""
    return AfterCutoffOut.model_validate({**value, "n": value["n_predictions"]})


def comparison(pair: dict[str, Any]) -> PairwiseComparison:
    mc, dm = pair.get("mcnemar"), pair.get("diebold_mariano")
    return PairwiseComparison(
        model_a=pair["model_a"],
        model_b=pair["model_b"],
        n_pairs=pair["n_pairs"],
        n_dates=pair["n_dates"],
        hit_rate_a=pair["hit_rate_a"],
        hit_rate_b=pair["hit_rate_b"],
        mean_brier_a=pair["mean_loss_a"],
        mean_brier_b=pair["mean_loss_b"],
        mcnemar=None
        if mc is None
        else HitsTestOut(
            a_only=mc["a_only"],
            b_only=mc["b_only"],
            method=mc["method"],
            n_dates=mc.get("n_dates"),
            mean_differential=mc.get("mean_differential"),
            statistic=mc.get("statistic"),
            p_value=mc.get("p_value"),
            p_holm=pair.get("mcnemar_p_holm"),
            reason=mc.get("reason"),
        ),
        diebold_mariano=None
        if dm is None
        else LossTestOut(
            mean_differential=dm["mean_differential"],
            statistic_hln=dm.get("statistic_hln"),
            df=dm["df"],
            p_value=dm.get("p_value"),
            p_holm=pair.get("diebold_mariano_p_holm"),
            reason=dm.get("reason"),
        ),
        better_on_hits=pair.get("better_on_hits"),
        better_on_loss=pair.get("better_on_loss"),
        verdict=pair["verdict"],
    )


@dataclass(frozen=True)
class Variant:
    """Which board of a snapshot is served (``metrics.honesty``): live or all forecasts, after the cutoff or not."""

    forecasts: ForecastsParam = "live"
    after_cutoff: bool = False
    old_snapshot: bool = False  # stored before live and late were told apart: every forecast, full

    @property
    def label(self) -> str:
        return f"{self.forecasts} forecasts" + (", after the training cutoff" if self.after_cutoff else "")

    def note(self) -> str:
        text = f"{self.forecasts} ({FORECASTS_RULES[self.forecasts]})."
        if self.after_cutoff:
            text += AFTER_CUTOFF_NOTE.format(rule=honesty.CUTOFF_RULE)
        return text + (OLD_SNAPSHOT_NOTE if self.old_snapshot else "")


def board_of(
    payload: dict[str, Any], horizon: int, forecasts: ForecastsParam = "live", after_cutoff: bool = False
) -> tuple[dict[str, Any] | None, Variant]:
    """The stored board of the asked variant and ``horizon`` (the variant's payload itself for horizon 1, or its
    ``horizon_5`` part), and which variant it is."""
    found, served, restricted = honesty.resolve(payload, forecasts, after_cutoff)
    variant = Variant(
        forecasts="live" if served == "live" else "all", after_cutoff=restricted, old_snapshot="variants" not in payload
    )
    return (dict(found) if horizon == 1 else found.get("horizon_5")), variant


def scorecard(
    as_of: date | None,
    board: dict[str, Any] | None,
    window: int,
    horizon: int,
    model: str | None,
    data_mode: str,
    variant: Variant | None = None,
) -> Scorecard:
    variant = variant or Variant()
    if board is None:
        note = NO_SNAPSHOT_NOTE if as_of is None else f"No horizon-{horizon} forecast was scored in this window."
        return Scorecard(
            as_of_date=as_of, window=window, horizon=horizon, from_date=None, to_date=None, n_dates=0,  # type: ignore[arg-type]
            min_dates_to_rank=MIN_DATES_FOR_VERDICT, alpha=None, outcome_rule=OUTCOME_RULE, items=[], comparisons=[],
            note=f"{note} Forecasts: {variant.note()}", forecasts=variant.forecasts, after_cutoff=variant.after_cutoff,
            data_mode=data_mode,  # type: ignore[arg-type]
        )
    models = board.get("models", [])
    if model is not None and model not in {m["model"] for m in models}:
        raise HTTPException(
            404, f"model {model} has no scored horizon-{horizon} forecast in this window ({variant.label})"
        )
    pairs = (board.get("comparisons") or {}).get("pairs", [])
    return Scorecard(
        as_of_date=as_of,
        window=window,  # type: ignore[arg-type]
        horizon=horizon,  # type: ignore[arg-type]
        from_date=board.get("from_date"),
        to_date=board.get("to_date"),
        n_dates=board.get("n_dates", 0),
        min_dates_to_rank=board.get("min_dates_to_rank", MIN_DATES_FOR_VERDICT),
        alpha=(board.get("comparisons") or {}).get("alpha"),
        outcome_rule=OUTCOME_RULE,
        items=[scorecard_row(m, horizon) for m in models if model is None or m["model"] == model],
        comparisons=[comparison(p) for p in pairs if model is None or model in (p["model_a"], p["model_b"])],
        note=LEADERBOARD_NOTE.format(
            as_of=as_of, window=window, horizon=horizon, min_dates=MIN_DATES_FOR_VERDICT, variant=variant.note()
        ),
        forecasts=variant.forecasts,
        after_cutoff=variant.after_cutoff,
        data_mode=data_mode,  # type: ignore[arg-type]
    )


def standings(board: dict[str, Any] | None) -> list[LeaderboardRow]:
    """The short form (the dashboard's): rank, model, count, hit rate, Brier, log loss of a stored board."""
    return [
        LeaderboardRow(
            rank=m["rank"],
            model=m["model"],
            count=m["n_predictions"],
            hit_rate=m["hit_rate"]["rate"],
            brier=m["brier"]["brier"],
            log_loss=m["log_loss"],
        )
        for m in (board or {}).get("models", [])
    ]


async def leaderboard_scorecard(
    session: AsyncSession,
    window: int,
    horizon: int,
    day: date | None,
    model: str | None,
    data_mode: str,
    forecasts: ForecastsParam = "live",
    after_cutoff: bool = False,
) -> Scorecard:
    """The scorecard of the stored snapshot of ``window`` (of ``day``, else the latest): the route's and MCP's.
    Live forecasts by default; ``forecasts="all"`` includes the late ones, ``after_cutoff`` keeps only target days
    after each model's training cutoff. The answer says which board it is."""
    found = await leaderboard_snapshot(session, window, day)
    if found is None:
        if day is not None:
            raise HTTPException(404, f"no leaderboard snapshot for {day.isoformat()}")
        if model is not None:
            raise HTTPException(404, f"model {model} has no scored forecast: no leaderboard yet")
        return scorecard(None, None, window, horizon, None, data_mode, Variant(forecasts, after_cutoff))
    as_of, payload = found
    board, variant = board_of(payload, horizon, forecasts, after_cutoff)
    return scorecard(as_of, board, window, horizon, model, data_mode, variant)


@router.get(
    "/leaderboard",
    response_model=Scorecard,
    summary="Per-model scorecard and pairwise tests of one window and horizon, from the stored leaderboard",
)
async def get_leaderboard(
    answers: AnswersDep,
    window: Annotated[Window, Query(description="Trading days: 20, 60 or 250")] = Window.month,
    horizon: Annotated[Horizon, Query(description="Forecast horizon in sessions: 1 (standings) or 5")] = Horizon.day,
    day: Annotated[
        MarketDate | None, Query(alias="date", description="The snapshot's trading day (default: the latest)")
    ] = None,
    model: Annotated[ModelName | None, Query(description="Only this model (and its pairs)")] = None,
    forecasts: Annotated[
        ForecastsParam,
        Query(
            description="live (default): forecasts cut off and stored before 09:00 KST on their target day (the "
            "ledger's rule); all: late ones too (a backfill, a re-run, a model added later), counted per model"
        ),
    ] = "live",
    after_cutoff: Annotated[
        bool,
        Query(
            description="Only forecasts whose target day is after the model's training cutoff (models.yaml), so "
            "memorised history cannot flatter a model; every full board also shows these figures per model"
        ),
    ] = False,
) -> Response:
    async def build(session: AsyncSession) -> Scorecard:
        return await leaderboard_scorecard(
            session, int(window), int(horizon), day, model, answers.data_mode, forecasts, after_cutoff
        )

    params = {
        "window": int(window),
        "horizon": int(horizon),
        "date": day.isoformat() if day else None,
        "model": model,
        "forecasts": forecasts,
        "after_cutoff": after_cutoff,
    }
    return await answers.json("leaderboard", params, [Dataset.LEADERBOARD], build)
