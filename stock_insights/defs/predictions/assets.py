"""``predictions/daily``: every active model's forecast for every tracked stock and trading day.

The forecasts themselves are ``predictors.daily`` (no Dagster): this asset reads its partition, calls
``forecast_days``, writes the rows and reports what happened, with two checks: point-in-time citations
and each model's coverage (forecasts made out of those due, ``PREDICTION_MIN_COVERAGE``).
"""

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

import dagster as dg
from pydantic import Field
from sqlalchemy.orm import Session

from stock_insights import clock
from stock_insights.defs import keys
from stock_insights.defs.dart.assets import FILING_CODES_TAG
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource, EmbeddingsResource
from stock_insights.embeddings.documents import first_seen_of
from stock_insights.embeddings.embedders import Embedder
from stock_insights.embeddings.store import VectorStore
from stock_insights.metrics.evaluations import MAX_HORIZON
from stock_insights.predictors.base import Predictor
from stock_insights.predictors.daily import (
    HORIZONS,
    DailyForecasts,
    DailyInputs,
    cutoff_for,
    forecast_days,
    load_inputs,
    with_retrieval,
)
from stock_insights.predictors.llm import LLMPredictor
from stock_insights.predictors.prompts import text_citations
from stock_insights.predictors.registry import active_predictors, baseline_predictors, inactive_models
from stock_insights.predictors.store import predictions_for_target, upsert_predictions
from stock_insights.predictors.subset import LlmSubsetPolicy
from stock_insights.settings import get_settings
from stock_insights.storage.db import session_scope

__all__ = ["COVERAGE_CHECK", "POINT_IN_TIME_CHECK", "cutoff_for", "daily_predictions"]

POINT_IN_TIME_CHECK = "inputs_first_seen_before_cutoff"
COVERAGE_CHECK = "forecast_coverage"


class PredictionConfig(dg.Config):
    models: list[str] = Field(default_factory=list, description="Models to run; empty means every active model.")
    horizons: list[int] = Field(
        default_factory=lambda: list(HORIZONS),
        description="Horizons in sessions for the offline baselines; LLM models forecast horizon 1 only.",
    )


@dg.asset(
    key=["predictions", "daily"],
    group_name="predictions",
    kinds={"python", "sql"},
    description="Forecasts for each tracked stock and trading day, made at 08:00 KST from what was known then: "
    "closes up to the previous session and documents first seen before the cutoff. Horizons of 1 and 5 sessions "
    "from the previous close for the offline baselines, 1 for LLM models. One row per model, stock, day, horizon "
    "and cutoff; a later cutoff (a filing during the day) is a new version.",
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetDep(["kis", "daily_bars"], partition_mapping=previous_trading_day),
        keys.UNIVERSE,
        keys.DART_DISCLOSURES,
        *(keys.news(source) for source in ("naver", "hankyung", "maeil", "reddit")),
        keys.EMBEDDINGS,
    ],
    metadata=definition_metadata(table="predictions", baselines=list(baseline_predictors())),
    check_specs=[
        dg.AssetCheckSpec(
            POINT_IN_TIME_CHECK,
            asset=["predictions", "daily"],
            description="No prediction of the run's days cites a document first seen at or after its cutoff, "
            "and every document its rationale cites is recorded in its cited_inputs.",
        ),
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset=["predictions", "daily"],
            blocking=False,
            description="Every model made at least PREDICTION_MIN_COVERAGE of the forecasts due from it on each "
            "day of the run (its stocks and horizons, minus those it declined for lack of input): failed answers "
            "and models stopped by their cost cap or circuit breaker are missing forecasts.",
        ),
    ],
)
def daily_predictions(
    context: dg.AssetExecutionContext,
    config: PredictionConfig,
    database: DatabaseResource,
    embeddings: EmbeddingsResource,
) -> dg.MaterializeResult:
    models, horizons = _models_and_horizons(config, database)
    days = partition_days(context)
    # A run requested by the filing sensor refreshes the filing stocks' forecasts for today as a new
    # version: same day, a later cutoff (the moment of the run), so it may read the new filing.
    filing_codes = [c for c in context.run.tags.get(FILING_CODES_TAG, "").split(",") if c]
    refresh_cutoff = clock.now_kst().replace(second=0, microsecond=0) if filing_codes else None
    settings = get_settings()
    policy = LlmSubsetPolicy.from_settings(settings)
    with session_scope(database.engine) as session:
        inputs = load_inputs(session, {day: cutoff_for(day, refresh_cutoff) for day in days}, policy, filing_codes)
    retrieval_note = "no LLM model active"
    if any(isinstance(m, LLMPredictor) for m in models.values()):
        # Baselines forecast every stock; LLM models the policy's subset, reading what Milvus retrieves.
        inputs, retrieval_note = with_retrieval(inputs, database.engine, lambda: _open_store(embeddings))
        context.log.info(f"retrieval: {retrieval_note}")

    result = forecast_days(models, inputs, horizons, context.log)
    with session_scope(database.engine) as session:
        upsert_predictions(session, result.rows)
        leaks = cited_after_cutoff(session, days)

    if result.declined:
        context.log.warning(f"no forecast for some stocks (too little input, or no view): {dict(result.declined)}")
    below = result.below(settings.PREDICTION_MIN_COVERAGE)
    if below:
        context.log.warning(f"{result.missing} forecast(s) missing: {below[:10]}")
    return dg.MaterializeResult(
        metadata=_metadata(result, inputs, policy, retrieval_note),
        check_results=[
            dg.AssetCheckResult(
                check_name=POINT_IN_TIME_CHECK, passed=not leaks, metadata={"leaks": dg.MetadataValue.json(leaks[:20])}
            ),
            dg.AssetCheckResult(
                check_name=COVERAGE_CHECK,
                passed=not below,
                metadata={
                    "threshold": dg.MetadataValue.float(settings.PREDICTION_MIN_COVERAGE),
                    "below_threshold": dg.MetadataValue.json(below[:50]),
                    "forecasts_missing": result.missing,
                    "forecasts_missing_by_model": dg.MetadataValue.json(result.missing_by_model()),
                    "coverage": dg.MetadataValue.json(result.coverage()),
                },
            ),
        ],
    )


def _models_and_horizons(
    config: PredictionConfig, database: DatabaseResource
) -> tuple[dict[str, Predictor], list[int]]:
    registry = active_predictors(database.engine)
    unknown = [m for m in config.models if m not in registry]
    if unknown:
        raise dg.Failure(
            f"model(s) {unknown} are not active; active: {sorted(registry)}; inactive: {inactive_models()}"
        )
    if not config.horizons or any(not 1 <= h <= MAX_HORIZON for h in config.horizons):
        raise dg.Failure(
            f"horizons must be 1..{MAX_HORIZON} sessions (what evaluations/daily scores), got {config.horizons}"
        )
    return {name: registry[name] for name in (config.models or registry)}, sorted(set(config.horizons))


def _open_store(embeddings: EmbeddingsResource) -> tuple[Embedder, VectorStore]:
    embedder = embeddings.embedder()
    return embedder, embeddings.store(embedder)


def _metadata(result: DailyForecasts, inputs: DailyInputs, policy: LlmSubsetPolicy, retrieval: str) -> dict:
    rows = result.rows
    preview = [
        {
            "date": r["target_date"].isoformat(),
            "code": r["code"],
            "model": r["model"],
            "direction": r["direction"],
            "prob_up": round(r["prob_up"], 3),
            "documents": len(r["cited_inputs"].get("documents", [])),
        }
        for r in rows[-10:]
    ]
    return run_metadata(
        len(rows),
        preview,
        models=dg.MetadataValue.json(dict(Counter(r["model"] for r in rows))),
        horizons=dg.MetadataValue.json({str(h): n for h, n in sorted(Counter(r["horizon"] for r in rows).items())}),
        skipped_for_input=dg.MetadataValue.json(dict(result.declined)),
        directions=dg.MetadataValue.json(dict(Counter(r["direction"] for r in rows))),
        documents_read=inputs.documents_read,
        cost_usd=dg.MetadataValue.float(float(round(sum(r["cost_usd"] for r in rows), 6))),
        replays=sum(1 for r in rows if r["replay"]),
        llm_calls=sum(1 for r in rows if r["prompt_tokens"] and not r["replay"]),
        stopped_by_cost_cap=dg.MetadataValue.json(result.stopped),
        stopped_by_circuit_breaker=dg.MetadataValue.json(result.circuit_open),
        answer_failures=dg.MetadataValue.json(dict(result.failures)),
        # Forecasts due but not made (failed answers, models stopped): the coverage check fails on them.
        forecasts_expected=result.expected,
        forecasts_missing=result.missing,
        forecasts_missing_by_model=dg.MetadataValue.json(result.missing_by_model()),
        coverage=dg.MetadataValue.json(result.coverage()),
        # Citations of documents the prompt never showed, still there after one correction: removed
        # from the stored rationale (never stored), counted here.
        citations_removed=sum(result.removed.values()),
        citations_removed_by_model=dg.MetadataValue.json(dict(result.removed)),
        inactive_models=dg.MetadataValue.json(inactive_models()),
        retrieval=retrieval,
        llm_subset=dg.MetadataValue.json(
            {
                "policy": policy.model_dump(),
                "stocks_per_day": {d.isoformat(): len(c) for d, c in inputs.llm_codes.items()},
                "llm_forecasts_skipped_outside_subset": result.outside_subset,
            }
        ),
    )


def cited_after_cutoff(session: Session, days: Sequence[date]) -> list[str]:
    """Every citation of a stored prediction of ``days`` that is not point-in-time and verifiable: a document of
    ``cited_inputs`` first seen at or after the cutoff (by the database, or by the recorded ``first_seen_at``),
    or unknown to the database; a document cited in the rationale (its lists and summary) that
    ``cited_inputs`` does not record."""
    predictions = [p for day in days for p in predictions_for_target(session, day, horizon=None)]
    recorded: dict[int, dict[tuple[str, str], str | None]] = {}
    for p in predictions:
        recorded[p.id] = {
            (doc["doc_type"], doc["doc_id"]): doc.get("first_seen_at")
            for doc in (p.cited_inputs or {}).get("documents", [])
        }
    seen = first_seen_of(session, [pair for pairs in recorded.values() for pair in pairs])
    leaks: list[str] = []
    for p in predictions:
        label = f"{p.model} {p.code} {p.target_date}"
        for (doc_type, doc_id), noted in recorded[p.id].items():
            stored = seen.get((doc_type, doc_id))
            noted_at = datetime.fromisoformat(noted) if noted else None
            if stored is None or stored >= p.as_of or noted_at is None or noted_at >= p.as_of:
                leaks.append(f"{label}: {doc_type} {doc_id}")
        for cited in rationale_citations(p.rationale or {}):
            doc_type, _, doc_id = cited.partition(":")
            if (doc_type, doc_id) not in recorded[p.id]:
                leaks.append(f"{label}: {doc_type} {doc_id} cited in the rationale, not recorded in cited_inputs")
    return leaks


def rationale_citations(rationale: dict) -> list[str]:
    """The document ids (``news:123``) a stored rationale cites in its lists and summary."""
    texts = [*rationale.get("positive", []), *rationale.get("concerns", []), rationale.get("summary", "")]
    return list(dict.fromkeys(c for text in texts for c in text_citations(str(text))))
