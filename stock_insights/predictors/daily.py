"""The forecasts of a run's trading days, by every model (plain Python, no Dagster): ``predictions/daily``.

For each day: the inputs as they stood at the cutoff (closes before the day, documents first seen before
the cutoff; for LLM models the Milvus top-k when it is reachable), then every model's forecast of every
stock (LLM models: the subset policy's stocks, in its order, horizon 1 only). A model stopped by its
cost cap or by its open circuit (``LLMCircuitOpen``) makes no more forecasts in the run.

Coverage: per model and day, the forecasts made out of those due (expected: its stocks times its
horizons, minus those the model declined for lack of input). Failed answers and stopped models are the
missing forecasts; ``DailyForecasts.below`` lists the model-days under a threshold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from stock_insights import calendar
from stock_insights.calendar import KST
from stock_insights.embeddings.documents import documents_by_keys, documents_for_stock
from stock_insights.embeddings.retrieval import retrieve
from stock_insights.llm import CostCapReached, LLMCircuitOpen, LLMError
from stock_insights.market.activity import watched_codes
from stock_insights.market.store import active_stocks, closes_by_code
from stock_insights.predictors.base import DocumentInput, PredictionInput, PredictionOutput, Predictor, PriceBar
from stock_insights.predictors.llm import LLMPredictor
from stock_insights.predictors.subset import LlmSubsetPolicy
from stock_insights.storage.db import session_scope

if TYPE_CHECKING:
    from stock_insights.embeddings.embedders import Embedder
    from stock_insights.embeddings.store import VectorStore

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
# LLM models read the top-k documents Milvus retrieves for the stock, first seen before the cutoff.
RETRIEVAL_K = 12


class WarningLog(Protocol):
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None: ...


def cutoff_for(day: date, later: datetime | None = None) -> datetime:
    """08:00 KST on the target day, or a later cutoff (a filing-triggered refresh during that day)."""
    fixed = datetime.combine(day, CUTOFF, tzinfo=KST)
    return later if later is not None and later > fixed and later.astimezone(KST).date() == day else fixed


def document_window_start(day: date, cutoff: datetime) -> datetime:
    """The oldest first sighting a forecast of ``day`` reads: ``DOCUMENT_WINDOW`` before the cutoff, or the start
    of the previous session's day when that is earlier (after a long holiday)."""
    previous = datetime.combine(calendar.previous_session(day), time(0), tzinfo=KST)
    return min(cutoff - DOCUMENT_WINDOW, previous)


def prediction_row(
    model_name: str, code: str, day: date, horizon: int, as_of: datetime, output: PredictionOutput
) -> dict[str, Any]:
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
        "prompt_hash": output.prompt_hash,
        "prompt_tokens": output.usage.prompt_tokens,
        "completion_tokens": output.usage.completion_tokens,
        "cached_tokens": output.usage.cached_tokens,
        "cost_usd": output.usage.cost_usd,
        "replay": output.usage.replay,
    }


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyInputs:
    """What the forecasts of a run's days read, as it stood at each day's cutoff."""

    days: list[date]
    cutoffs: dict[date, datetime]
    stocks: dict[str, str]  # code -> name
    closes: dict[str, dict[date, float]]
    documents: dict[tuple[date, str], list[dict[str, Any]]]
    llm_codes: dict[date, list[str]]  # the LLM subset of each day, most important first
    retrieved: dict[tuple[date, str], list[dict[str, Any]]] = field(default_factory=dict)

    def order(self, day: date) -> list[str]:
        """The LLM subset first (a model stopped by its cap misses the least important stocks), then the rest."""
        subset = set(self.llm_codes[day])
        return self.llm_codes[day] + [code for code in self.stocks if code not in subset]

    def history(self, code: str, day: date) -> list[PriceBar]:
        return [PriceBar(trading_date=d, close=c) for d, c in sorted(self.closes.get(code, {}).items()) if d < day]

    def documents_for(self, day: date, code: str, *, llm: bool) -> list[DocumentInput]:
        rows = self.retrieved[(day, code)] if llm and (day, code) in self.retrieved else self.documents[(day, code)]
        return [DocumentInput(**d) for d in rows]

    @property
    def documents_read(self) -> int:
        return sum(len(v) for v in self.documents.values())


def load_inputs(
    session: Session,
    cutoffs: Mapping[date, datetime],
    policy: LlmSubsetPolicy,
    only_codes: Sequence[str] = (),
) -> DailyInputs:
    """The active stocks (or ``only_codes`` of them), their closes and documents, and each day's LLM subset."""
    days = sorted(cutoffs)
    stocks = {s.code: s.name for s in active_stocks(session) if not only_codes or s.code in only_codes}
    closes = closes_by_code(session, list(stocks), min(days) - timedelta(days=LOOKBACK_CALENDAR_DAYS), max(days))
    documents = {
        (day, code): documents_for_stock(
            session, code, before=cutoffs[day], since=document_window_start(day, cutoffs[day])
        )
        for day in days
        for code in stocks
    }
    watched = watched_codes(session)
    llm_codes = {
        day: policy.select(list(stocks), watched, {code: len(documents[(day, code)]) for code in stocks})
        for day in days
    }
    return DailyInputs(days, dict(cutoffs), stocks, closes, documents, llm_codes)


def retrieve_for_llms(
    engine: Engine,
    open_store: Callable[[], tuple[Embedder, VectorStore]],
    stocks: Mapping[str, str],
    cutoffs: Mapping[date, datetime],
) -> tuple[dict[tuple[date, str], list[dict[str, Any]]], str]:
    """Top-k documents per (day, stock) from Milvus, first seen before the cutoff (the filter runs in Milvus).

    Without a reachable Milvus the LLM models read the same recent documents as the baselines, and the
    note says so.
    """
    try:
        embedder, store = open_store()
    except Exception as exc:  # Milvus down or misconfigured: degrade, do not fail the forecasts
        return {}, f"Milvus unavailable ({type(exc).__name__}); LLMs read the recent documents from SQL"
    out: dict[tuple[date, str], list[dict[str, Any]]] = {}
    stale = 0
    try:
        with session_scope(engine) as session:
            for day, cutoff in cutoffs.items():
                for code, name in stocks.items():
                    query = f"{name} 실적 전망 주가 공시"
                    hits = retrieve(store, embedder, code=code, query=query, before=cutoff, limit=RETRIEVAL_K)
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


def with_retrieval(
    inputs: DailyInputs, engine: Engine, open_store: Callable[[], tuple[Embedder, VectorStore]]
) -> tuple[DailyInputs, str]:
    """``inputs`` with the Milvus top-k of every stock of an LLM subset, and a note of how they were found."""
    subset = {code: inputs.stocks[code] for codes in inputs.llm_codes.values() for code in codes}
    retrieved, note = retrieve_for_llms(engine, open_store, subset, inputs.cutoffs)
    return replace(inputs, retrieved=retrieved), note


# --- forecasts ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """One model's forecasts of one day."""

    expected: int = 0
    made: int = 0
    declined: int = 0  # no view for lack of input: not due
    failed: int = 0  # no usable answer
    stopped: int = 0  # not asked: the model was stopped (cost cap, open circuit)

    @property
    def due(self) -> int:
        return self.expected - self.declined

    @property
    def missing(self) -> int:
        return max(0, self.due - self.made)

    @property
    def coverage(self) -> float:
        return self.made / self.due if self.due > 0 else 1.0

    def summary(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "made": self.made,
            "declined": self.declined,
            "missing": self.missing,
            "coverage": round(self.coverage, 4),
        }


@dataclass
class DailyForecasts:
    rows: list[dict[str, Any]] = field(default_factory=list)
    tallies: dict[tuple[str, date], Tally] = field(default_factory=dict)
    declined: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    removed: Counter[str] = field(default_factory=Counter)  # citations removed, per model
    stopped: dict[str, str] = field(default_factory=dict)  # model -> the cost cap that stopped it
    circuit_open: dict[str, str] = field(default_factory=dict)  # model -> why its circuit opened
    outside_subset: int = 0

    def halted(self, model: str) -> bool:
        return model in self.stopped or model in self.circuit_open

    @property
    def expected(self) -> int:
        return sum(t.expected for t in self.tallies.values())

    @property
    def missing(self) -> int:
        return sum(t.missing for t in self.tallies.values())

    def missing_by_model(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (model, _), tally in self.tallies.items():
            out[model] += tally.missing
        return {model: n for model, n in out.items() if n}

    def coverage(self) -> dict[str, dict[str, dict[str, Any]]]:
        """model -> day -> expected, made, declined, missing, coverage."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for (model, day), tally in sorted(self.tallies.items(), key=lambda item: (item[0][0], item[0][1])):
            out.setdefault(model, {})[day.isoformat()] = tally.summary()
        return out

    def below(self, threshold: float) -> list[str]:
        """Every model-day whose coverage is under ``threshold``, said plainly."""
        return [
            f"{model} {day.isoformat()}: {t.made} of {t.due} forecasts ({t.coverage:.0%} < {threshold:.0%})"
            for (model, day), t in sorted(self.tallies.items(), key=lambda item: (item[0][0], item[0][1]))
            if t.coverage < threshold
        ]


def forecast_days(
    models: Mapping[str, Predictor], inputs: DailyInputs, horizons: Sequence[int], log: WarningLog
) -> DailyForecasts:
    """Every model's forecasts of every stock and day of ``inputs``; never raises for an LLM failure."""
    result = DailyForecasts()
    llm = {name: isinstance(model, LLMPredictor) for name, model in models.items()}
    for day in inputs.days:
        subset = set(inputs.llm_codes[day])
        for name in models:
            stocks = len(inputs.llm_codes[day]) if llm[name] else len(inputs.stocks)
            result.tallies[(name, day)] = Tally(expected=stocks * len(LLM_HORIZONS if llm[name] else horizons))
        for code in inputs.order(day):
            history = inputs.history(code, day)
            documents = {kind: inputs.documents_for(day, code, llm=kind) for kind in set(llm.values())}
            for name, model in models.items():
                if llm[name] and code not in subset:
                    if not result.halted(name):
                        result.outside_subset += 1
                    continue
                for horizon in LLM_HORIZONS if llm[name] else horizons:
                    data = PredictionInput(
                        code=code,
                        name=inputs.stocks[code],
                        target_date=day,
                        horizon=horizon,
                        as_of=inputs.cutoffs[day],
                        prices=history,
                        documents=documents[llm[name]],
                    )
                    _forecast(result, name, model, data, log)
    return result


def _forecast(result: DailyForecasts, name: str, model: Predictor, data: PredictionInput, log: WarningLog) -> None:
    tally = result.tallies[(name, data.target_date)]
    if result.halted(name):
        tally.stopped += 1
        return
    label = f"{data.code} {data.target_date}"
    try:
        output = model.predict(data)
    except CostCapReached as exc:
        result.stopped[name] = str(exc)
        tally.stopped += 1
        log.warning(f"{name} stopped for the day: {exc}")
        return
    except LLMCircuitOpen as exc:
        result.circuit_open[name] = str(exc)
        tally.stopped += 1
        log.warning(f"{name} stopped for the run: {exc}")
        return
    except LLMError as exc:
        result.failures[name] += 1
        tally.failed += 1
        log.warning(f"{name} gave no usable answer for {label}: {exc}")
        return
    if output is None:
        result.declined[name] += 1
        tally.declined += 1
        return
    if output.citations_removed:
        result.removed[name] += len(output.citations_removed)
        log.warning(
            f"{name} {label}: removed citation(s) of documents not in the prompt: {output.citations_removed[:5]}"
        )
    tally.made += 1
    result.rows.append(prediction_row(name, data.code, data.target_date, data.horizon, data.as_of, output))
