"""LLM forecasters: any registry entry of an OpenAI-compatible chat API, as a ``Predictor``.

One forecast is one logical request: the rendered prompt (``prompts.render_prompt``), the entry's
parameters and the response format. Its answer is cached under ``cache_key`` of that request; a
cache hit is a replay (``usage.replay``, no call, no cost). A miss calls the API through the
``openai`` SDK, which retries 408/409/429/5xx with backoff itself; what the SDK cannot judge (JSON
that does not parse, an answer that violates the schema or our bounds, a truncated answer, a
refusal) is retried here, up to ``entry.max_attempts`` calls, and counted per model in
``LLMCounters``.

Citations: every document id an answer cites, in ``evidence_ids`` or written in its lists and summary,
must be a document the prompt showed (``prompts.check_citations``); ``cited_inputs`` records all of
them, each with its ``first_seen_at``. An answer citing anything else is asked again once, with a
correction naming the ids it may cite (``citation_retries``); if the answer still cites them (or the
corrected call fails), the unknown citations are removed from the returned rationale and listed in
``PredictionOutput.citations_removed`` (``citations_removed`` per model). The cache keeps the model's
answer as given; a replay is checked and cleaned the same way.

Cost: each call's usage is priced from the registry (OpenRouter's ``usage.cost`` when the answer
carries it) and recorded in a ``SpendLedger``; before each call, the worst case of that call
(prompt estimate plus ``max_tokens`` of output) must fit under the model's daily cap (KST day), or
``CostCapReached`` stops the model without calling.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from stock_insights.calendar import KST
from stock_insights.embeddings.tokens import count_tokens
from stock_insights.predictors.base import PredictionInput, PredictionOutput, Rationale, Usage
from stock_insights.predictors.config import ModelEntry
from stock_insights.predictors.prompts import (
    ANSWER_SCHEMA,
    ForecastAnswer,
    RenderedPrompt,
    check_citations,
    citation_correction,
    render_prompt,
    response_format,
    without_citations,
)
from stock_insights.storage.db import session_scope, utcnow
from stock_insights.storage.llm_cache import CachedAnswer
from stock_insights.storage.models import Prediction

if TYPE_CHECKING:
    from openai import APIError, OpenAI
    from openai.types.chat import ChatCompletion

    from stock_insights.settings import Settings

log = logging.getLogger(__name__)

# Per-model counter kinds. Failures of one call: invalid_json, schema_violation, truncated, refusal;
# of a forecast: exhausted (no valid answer in max_attempts), api_error (the SDK gave up), cost_cap.
FAILURE_KINDS = ("invalid_json", "schema_violation", "truncated", "refusal")
COUNTER_KINDS = (
    "calls",
    "answers",
    "replays",
    *FAILURE_KINDS,
    "exhausted",
    "api_error",
    "cost_cap",
    "dropped_evidence_ids",
    "citation_retries",
    "citations_removed",
)
# A truncated answer is retried with more room, up to this multiple of the configured max_tokens.
MAX_TOKENS_GROWTH = 4
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


# --- errors ---------------------------------------------------------------------------------------


class LLMError(RuntimeError):
    """Base of this module's errors. Messages never contain a key."""


class LLMConfigurationError(LLMError):
    """The model cannot be called as configured (a key is not set)."""


class CostCapReached(LLMError):
    """The model's daily cost cap would be exceeded by the next call; it stops until the next KST day."""

    def __init__(self, model: str, *, spent_usd: float, cap_usd: float, next_call_usd: float, day: date) -> None:
        self.model = model
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.next_call_usd = next_call_usd
        self.day = day
        super().__init__(
            f"model {model} stopped: daily cost cap ${cap_usd:.2f} reached for {day.isoformat()} (KST): "
            f"${spent_usd:.4f} spent, the next call could cost up to ${next_call_usd:.4f}. No call was made; "
            "it runs again tomorrow or with a higher daily_cost_cap_usd in the model registry."
        )


class LLMAnswerError(LLMError):
    """No valid answer within ``max_attempts`` calls."""

    def __init__(self, model: str, failures: list[tuple[str, str]], usage: Usage) -> None:
        self.model = model
        self.failures = failures
        self.usage = usage
        kinds = ", ".join(kind for kind, _ in failures)
        last = failures[-1][1] if failures else ""
        super().__init__(f"model {model} gave no valid answer in {len(failures)} attempt(s) ({kinds}); last: {last}")


class LLMCallError(LLMError):
    """The API refused or failed after the SDK's own retries (bad request, auth, persistent 429/5xx)."""


def describe_api_error(exc: APIError, limit: int = 300) -> str:
    """What failed, for errors and metadata. The server's explanation helps with a 400 (a schema the
    provider refuses); for 401/403 it may quote a masked key, so it is left to the chained exception."""
    status = getattr(exc, "status_code", None)
    reason = f": {exc.message[:limit]}" if status not in (None, 401, 403) else ""
    return (
        f"the API call failed after the SDK's retries: {type(exc).__name__}"
        + (f" (HTTP {status})" if status else "")
        + reason
    )


# --- counters -------------------------------------------------------------------------------------


class LLMCounters:
    """Thread-safe counters per model name (see ``COUNTER_KINDS``): the parse-failure rate per model
    is an A/B metric in its own right."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, defaultdict[str, int]] = {}

    def increment(self, model: str, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts.setdefault(model, defaultdict(int))[kind] += n

    def get(self, model: str) -> dict[str, int]:
        with self._lock:
            counts = self._counts.get(model, {})
            return {kind: counts.get(kind, 0) for kind in COUNTER_KINDS}

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            names = list(self._counts)
        return {name: self.get(name) for name in names}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


COUNTERS = LLMCounters()


# --- the answer cache -----------------------------------------------------------------------------


class AnswerCache(Protocol):
    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, *, provider: str, model: str, response: dict[str, Any], usage: dict[str, Any]) -> None: ...


class MemoryAnswerCache:
    """A process-local ``AnswerCache`` (tests, notebooks); ``storage.llm_cache.SqlLLMCache`` is the real one."""

    def __init__(self) -> None:
        self._rows: dict[str, CachedAnswer] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            return self._rows.get(key)

    def put(self, key: str, *, provider: str, model: str, response: dict[str, Any], usage: dict[str, Any]) -> None:
        with self._lock:
            self._rows.setdefault(key, CachedAnswer(key, provider, model, response, usage, utcnow()))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(
    *,
    provider: str,
    model: str,
    prompt_version: str,
    messages: list[dict[str, str]],
    parameters: dict[str, Any],
    response_format: dict[str, Any],
    schema: dict[str, Any] = ANSWER_SCHEMA,
) -> str:
    """sha256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of everything that decides
    an answer. ``parameters`` holds what is sent besides model, messages and response_format
    (temperature, seed, max_tokens, OpenRouter routing); the schema is named even in JSON mode,
    where it travels in the system prompt, because our validation depends on it."""
    parts = {
        "provider": provider,
        "model": model,
        "prompt_version": prompt_version,
        "messages": messages,
        "parameters": parameters,
        "response_format": response_format,
        "schema": schema,
    }
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()


# --- spend ----------------------------------------------------------------------------------------


class SpendLedger(Protocol):
    """What a model has spent today (KST), in USD."""

    def spent_today(self, model: str) -> float: ...

    def record(self, model: str, cost_usd: float) -> None: ...


def kst_day(moment: datetime) -> date:
    return moment.astimezone(KST).date()


def kst_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The KST calendar day as a half-open UTC interval."""
    start = datetime.combine(day, dtime(0), tzinfo=KST)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


class MemorySpendLedger:
    """What this process spent, per model and KST day."""

    def __init__(self, now: Callable[[], datetime] = utcnow) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, date], float] = defaultdict(float)

    def process_spent(self, model: str, day: date | None = None) -> float:
        with self._lock:
            return self._spent.get((model, day or kst_day(self.now())), 0.0)

    def spent_today(self, model: str) -> float:
        return self.process_spent(model)

    def record(self, model: str, cost_usd: float) -> None:
        if cost_usd:
            with self._lock:
                self._spent[(model, kst_day(self.now()))] += cost_usd


class SqlSpendLedger(MemorySpendLedger):
    """Today's (KST) ``predictions.cost_usd`` of the model (created today; a read-only query) plus
    what this process spent.

    This process's own predictions reach the table only when the caller writes them, so the two
    overlap once written. Adding them would stop a model early; ignoring the process would overrun.
    The ledger therefore takes the table's sum at its first look each day as the baseline and
    answers ``max(table now, baseline + this process)``: never counts a cost twice, and still sees
    other processes' spending once it shows in the table.
    """

    def __init__(self, engine: Engine, now: Callable[[], datetime] = utcnow) -> None:
        super().__init__(now)
        self.engine = engine
        self._baseline: dict[tuple[str, date], float] = {}

    def recorded(self, model: str, day: date) -> float:
        start, end = kst_day_bounds(day)
        with session_scope(self.engine) as session:
            total = session.execute(
                select(func.coalesce(func.sum(Prediction.cost_usd), 0.0)).where(
                    Prediction.model == model, Prediction.created_at >= start, Prediction.created_at < end
                )
            ).scalar_one()
        return float(total or 0.0)

    def spent_today(self, model: str) -> float:
        day = kst_day(self.now())
        recorded = self.recorded(model, day)
        with self._lock:
            baseline = self._baseline.setdefault((model, day), recorded)
        return max(recorded, baseline + self.process_spent(model, day))


# --- clients --------------------------------------------------------------------------------------

ClientFactory = Callable[[ModelEntry], "OpenAI"]


def default_client_factory(entry: ModelEntry, settings: Settings | None = None) -> OpenAI:
    """An ``openai.OpenAI`` client for the entry's provider, keys from the settings or the environment."""
    from openai import OpenAI

    from stock_insights.settings import get_settings

    settings = settings or get_settings()
    headers: dict[str, str] | None = None
    if entry.provider == "openai":
        key, base_url, variable = settings.OPENAI_API_KEY.get_secret_value(), settings.OPENAI_BASE_URL, "OPENAI_API_KEY"
    elif entry.provider == "openrouter":
        key, base_url = settings.OPENROUTER_API_KEY.get_secret_value(), settings.OPENROUTER_BASE_URL
        variable = "OPENROUTER_API_KEY"
        assert entry.openrouter is not None  # set by the registry's validation
        headers = entry.openrouter.headers()
    elif entry.provider == "openai_compatible":
        assert entry.base_url is not None
        base_url, variable = entry.base_url, entry.api_key_env or ""
        # Local servers often want no key, but the SDK insists on a non-empty one.
        key = (os.environ.get(entry.api_key_env, "") if entry.api_key_env else "") or "not-needed"
    else:
        raise LLMConfigurationError(f"model {entry.name}: provider {entry.provider} is not an LLM")
    if not key:
        raise LLMConfigurationError(f"model {entry.name} needs {variable}, which is not set")
    return OpenAI(
        api_key=key,
        base_url=base_url,
        max_retries=entry.sdk_max_retries,
        timeout=entry.timeout_seconds,
        default_headers=headers,
    )


# --- the predictor --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Attempt:
    answer: ForecastAnswer | None
    failure: str | None = None
    detail: str = ""
    content: str | None = None


class LLMPredictor:
    """A registry entry as a ``Predictor``. Thread-safe; the client is made on the first cache miss,
    so a fully cached re-run needs no key."""

    def __init__(
        self,
        entry: ModelEntry,
        *,
        client_factory: ClientFactory | None = None,
        cache: AnswerCache | None = None,
        spend: SpendLedger | None = None,
        counters: LLMCounters | None = None,
    ) -> None:
        if not entry.is_llm:
            raise ValueError(f"model {entry.name} is a {entry.provider}, not an LLM")
        assert entry.model and entry.prompt_version and entry.response_mode and entry.prices and entry.parameters
        self.entry = entry
        self.name = entry.name
        self._client_factory = client_factory or default_client_factory
        self._client: OpenAI | None = None
        self.cache: AnswerCache = cache if cache is not None else MemoryAnswerCache()
        self.spend: SpendLedger = spend if spend is not None else MemorySpendLedger()
        self.counters = counters if counters is not None else COUNTERS
        self._lock = threading.Lock()
        self._pending_usd = 0.0  # worst cases of calls in flight, so that threads cannot overrun the cap together

    # -- the request ---------------------------------------------------------------------------------
    def render(self, data: PredictionInput) -> RenderedPrompt:
        assert self.entry.prompt_version
        return render_prompt(data, version=self.entry.prompt_version, options=self.entry.prompt.options())

    def _parameters(self) -> dict[str, Any]:
        assert self.entry.parameters
        params = self.entry.parameters.request_kwargs()
        if self.entry.openrouter is not None:
            params["extra_body"] = self.entry.openrouter.extra_body()
        return params

    def _response_format(self) -> dict[str, Any]:
        assert self.entry.response_mode
        return response_format(self.entry.response_mode)

    def cache_key(self, rendered: RenderedPrompt) -> str:
        assert self.entry.model
        return cache_key(
            provider=self.entry.provider,
            model=self.entry.model,
            prompt_version=rendered.version,
            messages=rendered.messages,
            parameters=self._parameters(),
            response_format=self._response_format(),
        )

    # -- predict -------------------------------------------------------------------------------------
    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        if not data.prices:
            return None  # nothing to forecast against: the answer is "against the last close shown"
        rendered = self.render(data)
        key = self.cache_key(rendered)
        hit = self.cache.get(key)
        if hit is not None:
            try:
                answer = ForecastAnswer.model_validate(hit.response["answer"], context={"horizon": data.horizon})
            except (KeyError, TypeError, ValidationError):
                log.warning("%s: cached answer %s… is unreadable; asking the model again", self.name, key[:12])
            else:
                self.counters.increment(self.name, "replays")
                return self._output(data, rendered, answer, Usage(replay=True))

        answer, usage, record = self._ask(rendered, data.horizon)
        assert self.entry.model
        try:
            self.cache.put(
                key,
                provider=self.entry.provider,
                model=self.entry.model,
                response=record,
                usage={**usage.model_dump(), "registry_model": self.name},
            )
        except Exception:
            # The answer is paid for: a cache that cannot be written costs a future call, not this forecast.
            log.exception("%s: could not store the answer under %s…", self.name, key[:12])
        return self._output(data, rendered, answer, usage)

    def _output(
        self, data: PredictionInput, rendered: RenderedPrompt, answer: ForecastAnswer, usage: Usage
    ) -> PredictionOutput:
        """The prediction: only verifiable citations, each recorded in ``cited_inputs``."""
        check = check_citations(answer, rendered.documents)
        if check.unknown:
            # Never stored: an id the prompt did not show is removed, and the model is marked for it.
            self.counters.increment(self.name, "citations_removed", len(check.unknown))
            if check.unknown_evidence:
                self.counters.increment(self.name, "dropped_evidence_ids", len(check.unknown_evidence))
            log.warning(
                "%s: removed %d citation(s) of documents not in the prompt: %s",
                self.name,
                len(check.unknown),
                check.unknown[:5],
            )
            answer = without_citations(answer, check.unknown)
        return PredictionOutput(
            direction=answer.direction,
            prob_up=answer.prob_up,
            expected_return=answer.expected_return,
            rationale=Rationale(
                positive=list(answer.positive_developments),
                concerns=list(answer.potential_concerns),
                summary=answer.summary,
            ),
            cited_inputs=rendered.cited_inputs(data, check.cited),
            usage=usage,
            prompt_version=rendered.version,
            citations_removed=check.unknown,
        )

    # -- calls ---------------------------------------------------------------------------------------
    def _client_for_call(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(self.entry)
            return self._client

    def _estimate(self, messages: list[dict[str, str]], max_tokens: int) -> float:
        """The worst case of one call: the prompt as counted offline, all of max_tokens answered, nothing cached."""
        assert self.entry.prices
        prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 3
        if self.entry.response_mode == "json_schema":
            prompt += count_tokens(canonical_json(ANSWER_SCHEMA))
        return self.entry.prices.cost(prompt, max_tokens)

    def _reserve(self, estimate: float) -> None:
        cap = self.entry.daily_cost_cap_usd
        assert cap is not None
        with self._lock:
            spent = self.spend.spent_today(self.name) + self._pending_usd
            if spent + estimate > cap + 1e-12:
                self.counters.increment(self.name, "cost_cap")
                now = getattr(self.spend, "now", utcnow)
                error = CostCapReached(
                    self.name, spent_usd=spent, cap_usd=cap, next_call_usd=estimate, day=kst_day(now())
                )
                log.warning("%s", error)
                raise error
            self._pending_usd += estimate

    def _release(self, estimate: float) -> None:
        with self._lock:
            self._pending_usd = max(0.0, self._pending_usd - estimate)

    def _usage(self, response: ChatCompletion, messages: list[dict[str, str]], content: str | None) -> Usage:
        assert self.entry.prices
        usage = response.usage
        if usage is None:
            # Some local servers answer without usage: count offline so that the cap still means something.
            prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 3
            completion, cached, reported = count_tokens(content or ""), 0, None
        else:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            details = usage.prompt_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
            reported = (usage.model_extra or {}).get("cost")
        if isinstance(reported, int | float) and not isinstance(reported, bool):
            cost = float(reported)  # OpenRouter: what was actually charged, whatever the upstream provider
        else:
            cost = self.entry.prices.cost(prompt, completion, cached)
        return Usage(prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached, cost_usd=cost)

    def _judge(self, response: ChatCompletion, horizon: int) -> _Attempt:
        if not response.choices:
            return _Attempt(None, "invalid_json", "the answer has no choices")
        choice = response.choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal or choice.finish_reason == "content_filter":
            return _Attempt(None, "refusal", str(refusal or "content filtered")[:200])
        content = message.content
        if choice.finish_reason == "length":
            return _Attempt(None, "truncated", "finish_reason 'length': the answer was cut", content)
        if not content or not content.strip():
            return _Attempt(None, "invalid_json", "empty content", content)
        text = content.strip()
        fenced = _FENCE.match(text)
        if fenced:  # JSON mode models sometimes still wrap the object in a markdown fence
            text = fenced.group(1)
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            return _Attempt(None, "invalid_json", f"not JSON: {exc.msg} at position {exc.pos}", content)
        if not isinstance(parsed, dict):
            return _Attempt(None, "schema_violation", f"a JSON {type(parsed).__name__}, not an object", content)
        try:
            answer = ForecastAnswer.model_validate(parsed, context={"horizon": horizon})
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {str(e['msg']).removeprefix('Value error, ')}"
                for e in exc.errors()[:5]
            )
            return _Attempt(None, "schema_violation", detail, content)
        return _Attempt(answer, content=content)

    def _log_served(self, response: ChatCompletion) -> None:
        requested = self.entry.model or ""
        served = response.model or ""
        # OpenAI answers a dated snapshot for an alias (gpt-4o -> gpt-4o-2024-08-06): that is the same model.
        same = served == requested or served.startswith(requested) or requested.startswith(served)
        provider = (response.model_extra or {}).get("provider")
        if not same:
            log.warning("%s: requested %s but %s answered (provider %s)", self.name, requested, served, provider)
        else:
            log.info("%s: answered by %s%s", self.name, served, f" via {provider}" if provider else "")

    def _ask(self, rendered: RenderedPrompt, horizon: int) -> tuple[ForecastAnswer, Usage, dict[str, Any]]:
        from openai import APIError

        assert self.entry.parameters
        params = self._parameters()
        extra_body = params.pop("extra_body", None)
        configured_max = self.entry.parameters.max_tokens
        max_tokens = configured_max
        messages = list(rendered.messages)
        total = Usage()
        failures: list[tuple[str, str]] = []
        # A valid answer that cited documents the prompt never showed, kept while it is asked again once.
        miscited: tuple[ForecastAnswer, dict[str, Any]] | None = None
        for attempt in range(1, self.entry.max_attempts + 1):
            estimate = self._estimate(messages, max_tokens)
            self._reserve(estimate)
            started = time.monotonic()
            try:
                response = self._client_for_call().chat.completions.create(
                    model=self.entry.model,
                    messages=messages,  # type: ignore[arg-type]
                    response_format=self._response_format(),  # type: ignore[arg-type]
                    **{**params, "max_tokens": max_tokens},
                    **({"extra_body": extra_body} if extra_body else {}),
                )
            except APIError as exc:
                self.counters.increment(self.name, "api_error")
                raise LLMCallError(f"model {self.name}: {describe_api_error(exc)}") from exc
            finally:
                self._release(estimate)
            latency_ms = round((time.monotonic() - started) * 1000)
            self.counters.increment(self.name, "calls")
            content = response.choices[0].message.content if response.choices else None
            usage = self._usage(response, messages, content)
            self.spend.record(self.name, usage.cost_usd)
            total = Usage(
                prompt_tokens=total.prompt_tokens + usage.prompt_tokens,
                completion_tokens=total.completion_tokens + usage.completion_tokens,
                cached_tokens=total.cached_tokens + usage.cached_tokens,
                cost_usd=total.cost_usd + usage.cost_usd,
            )
            self._log_served(response)
            outcome = self._judge(response, horizon)
            if outcome.answer is not None:
                unknown = check_citations(outcome.answer, rendered.documents).unknown
                record = {
                    "answer": outcome.answer.model_dump(),
                    "content": outcome.content,
                    "served_model": response.model,
                    "provider": (response.model_extra or {}).get("provider"),
                    "response_id": response.id,
                    "system_fingerprint": response.system_fingerprint,
                    "finish_reason": response.choices[0].finish_reason,
                    "attempts": attempt,
                    "failures": [kind for kind, _ in failures],
                    "latency_ms": latency_ms,
                    "request": {
                        "model": self.entry.model,
                        "messages": rendered.messages,
                        "parameters": self._parameters(),
                        "response_format": self._response_format(),
                    },
                    "unknown_citations": unknown,
                    "citation_retried": miscited is not None,
                }
                if unknown and miscited is None and attempt < self.entry.max_attempts:
                    # Asked again once, told which ids it may cite; if it still cites others, they are removed.
                    self.counters.increment(self.name, "citation_retries")
                    log.warning("%s: the answer cites documents not in the prompt %s; asking again", self.name,
                                unknown[:5])
                    miscited = (outcome.answer, record)
                    messages = [
                        *rendered.messages,
                        {"role": "assistant", "content": (outcome.content or "")[:4000]},
                        {"role": "user", "content": citation_correction(unknown, rendered.documents)},
                    ]
                    max_tokens = configured_max
                    continue
                self.counters.increment(self.name, "answers")
                return outcome.answer, total, record
            assert outcome.failure is not None
            failures.append((outcome.failure, outcome.detail))
            self.counters.increment(self.name, outcome.failure)
            log.warning(
                "%s: attempt %d/%d failed (%s): %s",
                self.name,
                attempt,
                self.entry.max_attempts,
                outcome.failure,
                outcome.detail,
            )
            if outcome.failure == "truncated":
                # Same question, more room: a cut answer usually means max_tokens was too small.
                max_tokens = min(max_tokens * 2, configured_max * MAX_TOKENS_GROWTH, 32_768)
                messages = list(rendered.messages)
            elif outcome.failure in ("invalid_json", "schema_violation") and outcome.content:
                # Tell the model what was wrong: JSON-mode models fix their answer when shown the error.
                messages = [
                    *rendered.messages,
                    {"role": "assistant", "content": outcome.content[:4000]},
                    {
                        "role": "user",
                        "content": f"That answer is not valid ({outcome.detail}). Answer again with one JSON "
                        "object that follows the schema exactly, and nothing else.",
                    },
                ]
            else:
                messages = list(rendered.messages)
        if miscited is not None:
            # The correction brought no valid answer: the first one stands, its unknown citations removed later.
            self.counters.increment(self.name, "answers")
            answer, record = miscited
            return answer, total, {**record, "failures": [kind for kind, _ in failures], "attempts": attempt}
        self.counters.increment(self.name, "exhausted")
        raise LLMAnswerError(self.name, failures, total)
