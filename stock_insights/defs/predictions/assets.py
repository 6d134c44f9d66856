"""``predictions/daily``: every active model's forecast for every tracked stock and trading day."""

from collections import Counter
from datetime import datetime, time, timedelta

import dagster as dg
from pydantic import Field

from stock_insights import calendar, clock
from stock_insights.calendar import KST
from stock_insights.defs.dart.assets import FILING_CODES_TAG
from stock_insights.defs.metadata import definition_metadata, run_metadata
from stock_insights.defs.partitions import partition_days, previous_trading_day, trading_days
from stock_insights.defs.resources import DatabaseResource, EmbeddingsResource
from stock_insights.embeddings.retrieval import retrieve
from stock_insights.metrics.evaluations import MAX_HORIZON
from stock_insights.predictors.base import DocumentInput, PredictionInput, PriceBar
from stock_insights.predictors.llm import CostCapReached, LLMError, LLMPredictor
from stock_insights.predictors.prompts import text_citations
from stock_insights.predictors.registry import active_predictors, baseline_predictors, inactive_models
from stock_insights.predictors.subset import LlmSubsetPolicy
from stock_insights.settings import get_settings
from stock_insights.storage.activity import watched_codes
from stock_insights.storage.db import session_scope
from stock_insights.storage.documents import documents_by_keys, documents_for_stock, first_seen_of
from stock_insights.storage.forecasts import predictions_for_target, upsert_predictions
from stock_insights.storage.market_data import active_stocks, closes_by_code

# Forecasts are made before the open; the cutoff is fixed per day so that re-runs are identical.
CUTOFF = time(8, 0)
LOOKBACK_CALENDAR_DAYS = 60
# News older than this before the cutoff is not read, unless the previous session is older still (the
# news-tone model reads everything since the previous session's day began).
DOCUMENT_WINDOW = timedelta(days=3)
# Horizons in sessions. The offline baselines forecast both; an LLM forecasts horizon 1 only (another
# horizon would be another paid call per stock and day).
HORIZONS = (1, 5)
LLM_HORIZONS = (1,)
POINT_IN_TIME_CHECK = "inputs_first_seen_before_cutoff"
# LLM models read the top-k documents Milvus retrieves for the stock, first seen before the cutoff.
RETRIEVAL_K = 12


class PredictionConfig(dg.Config):
    models: list[str] = Field(default_factory=list, description="Models to run; empty means every active model.")
    horizons: list[int] = Field(
        default_factory=lambda: list(HORIZONS),
        description="Horizons in sessions for the offline baselines; LLM models forecast horizon 1 only.",
    )


def cutoff_for(day, later: datetime | None = None) -> datetime:  # type: ignore[no-untyped-def]
    """08:00 KST on the target day, or a later cutoff (a filing-triggered refresh during that day)."""
    fixed = datetime.combine(day, CUTOFF, tzinfo=KST)
    return later if later is not None and later > fixed and later.astimezone(KST).date() == day else fixed


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
        dg.AssetKey(["universe", "stocks"]),
        dg.AssetKey(["dart", "disclosures"]),
        *(dg.AssetKey(["news", source]) for source in ("naver", "hankyung", "maeil", "reddit")),
        dg.AssetKey(["embeddings", "documents"]),
    ],
    metadata=definition_metadata(table="predictions", baselines=list(baseline_predictors())),
    check_specs=[
        dg.AssetCheckSpec(
            POINT_IN_TIME_CHECK,
            asset=["predictions", "daily"],
            description="No prediction of the run's days cites a document first seen at or after its cutoff, "
            "and every document its rationale cites is recorded in its cited_inputs.",
        )
    ],
)
def daily_predictions(
    context: dg.AssetExecutionContext,
    config: PredictionConfig,
    database: DatabaseResource,
    embeddings: EmbeddingsResource,
) -> dg.MaterializeResult:
    registry = active_predictors(database.engine)
    unknown = [m for m in config.models if m not in registry]
    if unknown:
        raise dg.Failure(
            f"model(s) {unknown} are not active; active: {sorted(registry)}; inactive: {inactive_models()}"
        )
    models = {name: registry[name] for name in (config.models or registry)}
    if not config.horizons or any(not 1 <= h <= MAX_HORIZON for h in config.horizons):
        raise dg.Failure(
            f"horizons must be 1..{MAX_HORIZON} sessions (what evaluations/daily scores), got {config.horizons}"
        )
    horizons = sorted(set(config.horizons))
    days = partition_days(context)
    # A run requested by the filing sensor refreshes the filing stocks' forecasts for today as a new
    # version: same day, a later cutoff (the moment of the run), so it may read the new filing.
    filing_codes = [c for c in context.run.tags.get(FILING_CODES_TAG, "").split(",") if c]
    refresh_cutoff = clock.now_kst().replace(second=0, microsecond=0) if filing_codes else None
    cutoffs = {day: cutoff_for(day, refresh_cutoff) for day in days}

    with session_scope(database.engine) as session:
        stocks = {s.code: s.name for s in active_stocks(session) if not filing_codes or s.code in filing_codes}
        closes = closes_by_code(session, list(stocks), min(days) - timedelta(days=LOOKBACK_CALENDAR_DAYS), max(days))
        documents = {
            (day, code): documents_for_stock(
                session, code, before=cutoffs[day], since=document_window_start(day, cutoffs[day])
            )
            for day in days
            for code in stocks
        }
        watched = watched_codes(session)
    # Baselines forecast every stock; LLM models the policy's subset (watched, then most news), in that order.
    subset_policy = LlmSubsetPolicy.from_settings(get_settings())
    llm_codes = {
        day: subset_policy.select(list(stocks), watched, {code: len(documents[(day, code)]) for code in stocks})
        for day in days
    }
    llm_sets = {day: set(codes) for day, codes in llm_codes.items()}
    retrieved, retrieval_note = {}, "no LLM model active"
    if any(isinstance(m, LLMPredictor) for m in models.values()):
        subset_stocks = {code: stocks[code] for codes in llm_codes.values() for code in codes}
        retrieved, retrieval_note = retrieve_for_llms(database, embeddings, subset_stocks, cutoffs)
        context.log.info(f"retrieval: {retrieval_note}")

    rows, skipped, stopped, failures, removed = [], Counter(), {}, Counter(), Counter()
    outside_subset = 0
    for day in days:
        as_of = cutoffs[day]
        order = llm_codes[day] + [code for code in stocks if code not in llm_sets[day]]
        for code in order:
            name = stocks[code]
            history = [PriceBar(trading_date=d, close=c) for d, c in sorted(closes[code].items()) if d < day]
            recent = [DocumentInput(**d) for d in documents[(day, code)]]
            for model_name, model in models.items():
                if model_name in stopped:
                    continue
                if isinstance(model, LLMPredictor) and code not in llm_sets[day]:
                    outside_subset += 1
                    continue
                docs = recent
                if isinstance(model, LLMPredictor) and (day, code) in retrieved:
                    docs = [DocumentInput(**d) for d in retrieved[(day, code)]]
                for horizon in LLM_HORIZONS if isinstance(model, LLMPredictor) else horizons:
                    data = PredictionInput(
                        code=code,
                        name=name,
                        target_date=day,
                        horizon=horizon,
                        as_of=as_of,
                        prices=history,
                        documents=docs,
                    )
                    try:
                        output = model.predict(data)
                    except CostCapReached as exc:
                        stopped[model_name] = str(exc)
                        context.log.warning(f"{model_name} stopped for the day: {exc}")
                        break
                    except LLMError as exc:
                        failures[model_name] += 1
                        context.log.warning(f"{model_name} gave no usable answer for {code} {day}: {exc}")
                        continue
                    if output is None:
                        skipped[model_name] += 1
                        continue
                    if output.citations_removed:
                        removed[model_name] += len(output.citations_removed)
                        context.log.warning(
                            f"{model_name} {code} {day}: removed citation(s) of documents not in the prompt: "
                            f"{output.citations_removed[:5]}"
                        )
                    rows.append(prediction_row(model_name, code, day, horizon, as_of, output))
    with session_scope(database.engine) as session:
        upsert_predictions(session, rows)
        leaks = cited_after_cutoff(session, days)

    if skipped:
        context.log.warning(f"no forecast for some stocks (too little input, or no view): {dict(skipped)}")
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
    return dg.MaterializeResult(
        metadata=run_metadata(
            len(rows),
            preview,
            models=dg.MetadataValue.json(dict(Counter(r["model"] for r in rows))),
            horizons=dg.MetadataValue.json({str(h): n for h, n in sorted(Counter(r["horizon"] for r in rows).items())}),
            skipped_for_input=dg.MetadataValue.json(dict(skipped)),
            directions=dg.MetadataValue.json(dict(Counter(r["direction"] for r in rows))),
            documents_read=sum(len(v) for v in documents.values()),
            cost_usd=dg.MetadataValue.float(float(round(sum(r["cost_usd"] for r in rows), 6))),
            replays=sum(1 for r in rows if r["replay"]),
            llm_calls=sum(1 for r in rows if r["prompt_tokens"] and not r["replay"]),
            stopped_by_cost_cap=dg.MetadataValue.json(stopped),
            answer_failures=dg.MetadataValue.json(dict(failures)),
            # Citations of documents the prompt never showed, still there after one correction: removed
            # from the stored rationale (never stored), counted here.
            citations_removed=sum(removed.values()),
            citations_removed_by_model=dg.MetadataValue.json(dict(removed)),
            inactive_models=dg.MetadataValue.json(inactive_models()),
            retrieval=retrieval_note,
            llm_subset=dg.MetadataValue.json(
                {
                    "policy": subset_policy.model_dump(),
                    "stocks_per_day": {d.isoformat(): len(c) for d, c in llm_codes.items()},
                    "llm_forecasts_skipped_outside_subset": outside_subset,
                }
            ),
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name=POINT_IN_TIME_CHECK, passed=not leaks, metadata={"leaks": dg.MetadataValue.json(leaks[:20])}
            )
        ],
    )


def document_window_start(day, cutoff: datetime) -> datetime:  # type: ignore[no-untyped-def]
    """The oldest first sighting a forecast of ``day`` reads: ``DOCUMENT_WINDOW`` before the cutoff, or the start
    of the previous session's day when that is earlier (after a long holiday)."""
    previous = datetime.combine(calendar.previous_session(day), time(0), tzinfo=KST)
    return min(cutoff - DOCUMENT_WINDOW, previous)


def prediction_row(model_name: str, code: str, day, horizon: int, as_of: datetime, output) -> dict:  # type: ignore[no-untyped-def]
    return {
        "model": model_name,
        "code": code,
        "target_date": day,
        "horizon": horizon,
        "as_of": as_of,
        "direction": output.direction,
        "prob_up": output.prob_up,
        "expected_return": output.expected_return,
        "rationale": output.rationale.model_dump(),
        "cited_inputs": output.cited_inputs,
        "prompt_version": output.prompt_version,
        "prompt_tokens": output.usage.prompt_tokens,
        "completion_tokens": output.usage.completion_tokens,
        "cached_tokens": output.usage.cached_tokens,
        "cost_usd": output.usage.cost_usd,
        "replay": output.usage.replay,
    }


def retrieve_for_llms(database, embeddings, stocks, cutoffs):  # type: ignore[no-untyped-def]
    """Top-k documents per (day, stock) from Milvus, first seen before the cutoff (the filter runs in Milvus).

    Without a reachable Milvus the LLM models read the same recent documents as the baselines, and the
    run's metadata says so.
    """
    try:
        embedder = embeddings.embedder()
        store = embeddings.store(embedder)
    except Exception as exc:  # Milvus down or misconfigured: degrade, do not fail the forecasts
        return {}, f"Milvus unavailable ({type(exc).__name__}); LLMs read the recent documents from SQL"
    out, stale = {}, 0
    try:
        with session_scope(database.engine) as session:
            for day, cutoff in cutoffs.items():
                for code, name in stocks.items():
                    hits = retrieve(
                        store,
                        embedder,
                        code=code,
                        query=f"{name} 실적 전망 주가 공시",
                        before=cutoff,
                        limit=RETRIEVAL_K,
                    )
                    found = documents_by_keys(session, [(h.doc_type, h.sql_id) for h in hits])
                    # The database's first sighting is the point-in-time truth. A vector whose stored time
                    # disagrees (a collection shared with another database, a document re-keyed since) is
                    # dropped here rather than allowed to leak a later document into the forecast.
                    out[(day, code)] = [d for d in found if d["first_seen_at"] < cutoff]
                    stale += len(found) - len(out[(day, code)])
    finally:
        store.close()
    note = f"Milvus top-{RETRIEVAL_K} from {store.collection}"
    if stale:
        note += f"; {stale} retrieved document(s) dropped: first seen at or after the cutoff in the database"
    return out, note


def cited_after_cutoff(session, days) -> list[str]:  # type: ignore[no-untyped-def]
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
