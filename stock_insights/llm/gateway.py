"""The one way this project calls an LLM: ``Gateway.ask``.

A request is the messages, the entry's parameters and the response format. The gateway

1. replays the answer cached under ``cache_key`` of the request, when the caller can read it (no call,
   no cost);
2. otherwise refuses when the model's circuit is open (``LLMCircuitOpen``: its last calls kept failing)
   or when the worst case of the call (prompt estimate plus ``max_tokens`` of output) would not fit under
   the model's daily cost cap (``CostCapReached``), and calls the API through the ``openai`` SDK, which
   retries 408/409/429/5xx with backoff itself;
3. prices each call's usage (OpenRouter's ``usage.cost`` when the answer carries it) and records it in
   the ``SpendLedger`` under the registry model's name, whatever the purpose (forecasts and reports
   share one daily cap);
4. judges the answer: what every caller needs (a refusal, a truncated or empty answer) here, then the
   caller's ``judge`` (JSON, a schema, a guard). A rejected answer is asked again, up to ``max_attempts``
   calls, with a correction (``correct``); a usable answer may be asked again once with the caller's
   correction (``Judgement.correction``), the first one standing if that brings nothing better;
5. stores the accepted answer (and, if the caller wants rejections replayed, the final rejection) in
   the answer cache, and counts everything per model in ``LLMCounters``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from pydantic import ValidationError

from stock_insights.embeddings.tokens import count_tokens
from stock_insights.llm.breaker import CircuitBreaker
from stock_insights.llm.cache import AnswerCache, MemoryAnswerCache, cache_key, canonical_json
from stock_insights.llm.client import ClientFactory, default_client_factory
from stock_insights.llm.counters import COUNTERS, LLMCounters
from stock_insights.llm.errors import (
    CostCapReached,
    LLMAnswerError,
    LLMCallError,
    LLMCircuitOpen,
    describe_api_error,
)
from stock_insights.llm.spec import ModelSpec
from stock_insights.llm.spend import MemorySpendLedger, SpendLedger, kst_day
from stock_insights.storage.db import utcnow

if TYPE_CHECKING:
    from openai import APIError, OpenAI
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

T = TypeVar("T")
# A truncated answer is retried with more room, up to this multiple of the configured max_tokens.
MAX_TOKENS_GROWTH = 4
MAX_TOKENS_CEILING = 32_768
# The part of a previous answer quoted back in a correction.
QUOTED_CHARS = 4000
TEXT_FORMAT: dict[str, Any] = {"type": "text"}  # the API's default: never sent
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


# --- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallUsage:
    """What the calls of one request used and cost."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: CallUsage) -> CallUsage:
        return CallUsage(
            calls=self.calls + other.calls,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LLMRequest:
    """Everything that decides an answer: its cache key is a hash of these and the entry's provider and model.

    ``parameters`` is what is sent besides model, messages and response format (temperature, seed,
    max_tokens, OpenRouter's ``extra_body``); ``schema`` is what the answer is validated by (sent
    inside ``response_format`` in json_schema mode, else only named in the key).
    """

    messages: list[dict[str, str]]
    prompt_version: str
    parameters: dict[str, Any]
    response_format: dict[str, Any]
    schema: dict[str, Any]

    @property
    def max_tokens(self) -> int:
        return int(self.parameters["max_tokens"])


@dataclass(frozen=True)
class AttemptContext:
    attempt: int
    max_attempts: int
    corrected: bool  # a usable answer has already been asked again once


@dataclass(frozen=True)
class Judgement(Generic[T]):
    """The caller's verdict on an answer: a value, or a failure kind (counted) and what was wrong.

    An accepted answer may carry a ``correction``: asked again once with it (counted as
    ``correction_kind``), the first answer standing if the second is no better. ``record`` is added to
    the cached record of the answer.
    """

    value: T | None = None
    failure: str | None = None
    detail: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    correction: str | None = None
    correction_kind: str = "corrections"

    @classmethod
    def accept(
        cls,
        value: T,
        record: dict[str, Any] | None = None,
        *,
        correction: str | None = None,
        correction_kind: str = "corrections",
        detail: str = "",
    ) -> Judgement[T]:
        return cls(value, None, detail, record or {}, correction, correction_kind)

    @classmethod
    def reject(cls, failure: str, detail: str) -> Judgement[T]:
        return cls(None, failure, detail)


@dataclass(frozen=True)
class Failure:
    kind: str
    detail: str
    content: str | None


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    content: str | None
    record: dict[str, Any]  # as stored in the answer cache
    usage: CallUsage  # zero for a replay
    key: str
    replay: bool = False
    failures: tuple[tuple[str, str], ...] = ()  # (kind, detail) of the rejected attempts before it


Judge = Callable[[str, AttemptContext], Judgement[Any]]
Replay = Callable[[dict[str, Any]], Judgement[Any]]
Correct = Callable[[list[dict[str, str]], Failure], list[dict[str, str]]]


# --- helpers for callers --------------------------------------------------------------------------


def correct_structured(messages: list[dict[str, str]], failure: Failure) -> list[dict[str, str]]:
    """The correction for JSON answers: an answer that does not parse or fit the schema is shown back with
    what was wrong (JSON-mode models fix their answer when shown the error); anything else is asked again."""
    if failure.kind in ("invalid_json", "schema_violation") and failure.content:
        return [
            *messages,
            {"role": "assistant", "content": failure.content[:QUOTED_CHARS]},
            {
                "role": "user",
                "content": f"That answer is not valid ({failure.detail}). Answer again with one JSON "
                "object that follows the schema exactly, and nothing else.",
            },
        ]
    return list(messages)


def parse_json_object(content: str) -> dict[str, Any] | Judgement[Any]:
    """The JSON object of an answer (a markdown fence around it tolerated), or the failure."""
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:  # JSON mode models sometimes still wrap the object in a markdown fence
        text = fenced.group(1)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        return Judgement.reject("invalid_json", f"not JSON: {exc.msg} at position {exc.pos}")
    if not isinstance(parsed, dict):
        return Judgement.reject("schema_violation", f"a JSON {type(parsed).__name__}, not an object")
    return parsed


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors()[:limit]
    )


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The prompt as counted offline (a few tokens of framing per message)."""
    return sum(count_tokens(m["content"]) + 4 for m in messages) + 3


def _breaker_threshold() -> int:
    from stock_insights.settings import get_settings

    return get_settings().LLM_BREAKER_FAILURES


def _basic_verdict(response: ChatCompletion) -> tuple[str | None, Judgement[Any] | None]:
    """The content, and the failure every caller rejects: no choice, a refusal, a cut or empty answer."""
    if not response.choices:
        return None, Judgement.reject("invalid_json", "the answer has no choices")
    choice = response.choices[0]
    content = choice.message.content
    refusal = getattr(choice.message, "refusal", None)
    if refusal or choice.finish_reason == "content_filter":
        return content, Judgement.reject("refusal", f"refused: {str(refusal or 'content filtered')[:200]}")
    if choice.finish_reason == "length":
        return content, Judgement.reject("truncated", "truncated: finish_reason 'length', the answer was cut")
    if not content or not content.strip():
        return content, Judgement.reject("invalid_json", "empty answer")
    return content, None


# --- the gateway ----------------------------------------------------------------------------------


class Gateway:
    """A registry entry's calls: cache, budget, circuit breaker, retries, usage and cost. Thread-safe; the
    client is made on the first call, so a fully cached run needs no key. One gateway lives for one run
    (its circuit never closes again)."""

    def __init__(
        self,
        entry: ModelSpec,
        *,
        purpose: str,
        client_factory: ClientFactory | None = None,
        cache: AnswerCache | None = None,
        spend: SpendLedger | None = None,
        counters: LLMCounters | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not entry.is_llm or not entry.model or not entry.prices or not entry.parameters:
            raise ValueError(f"model {entry.name} is a {entry.provider}, not an LLM")
        self.entry = entry
        self.name = entry.name
        self.model: str = entry.model
        self.purpose = purpose
        self._client_factory = client_factory or default_client_factory
        self._client: OpenAI | None = None
        self.cache: AnswerCache = cache if cache is not None else MemoryAnswerCache()
        self.spend: SpendLedger = spend if spend is not None else MemorySpendLedger()
        self.counters = counters if counters is not None else COUNTERS
        self.breaker = breaker if breaker is not None else CircuitBreaker(_breaker_threshold())
        self._lock = threading.Lock()
        self._pending_usd = 0.0  # worst cases of calls in flight, so that threads cannot overrun the cap together

    # -- the request ---------------------------------------------------------------------------------
    def request(
        self,
        messages: list[dict[str, str]],
        *,
        prompt_version: str,
        response_format: dict[str, Any],
        schema: dict[str, Any],
        max_tokens: int | None = None,
    ) -> LLMRequest:
        """A request with the entry's parameters (``max_tokens`` replaced if given) and OpenRouter routing."""
        assert self.entry.parameters is not None
        parameters = self.entry.parameters.request_kwargs()
        if max_tokens is not None:
            parameters["max_tokens"] = max_tokens
        if self.entry.openrouter is not None:
            parameters["extra_body"] = self.entry.openrouter.extra_body()
        return LLMRequest(list(messages), prompt_version, parameters, response_format, schema)

    def cache_key(self, request: LLMRequest) -> str:
        return cache_key(
            provider=self.entry.provider,
            model=self.model,
            prompt_version=request.prompt_version,
            messages=request.messages,
            parameters=request.parameters,
            response_format=request.response_format,
            schema=request.schema,
        )

    def estimate(self, messages: list[dict[str, str]], max_tokens: int, schema: dict[str, Any] | None = None) -> float:
        """The worst case of one call: the prompt as counted offline (and the schema, when sent), all of
        max_tokens answered, nothing cached."""
        assert self.entry.prices is not None
        prompt = prompt_tokens(messages) + (count_tokens(canonical_json(schema)) if schema is not None else 0)
        return self.entry.prices.cost(prompt, max_tokens)

    # -- ask -----------------------------------------------------------------------------------------
    def replayed(self, request: LLMRequest, replay: Replay, *, cache_rejections: bool = False) -> Answer[Any] | None:
        """The cached answer to ``request`` as ``replay`` reads it, or None (nothing cached, or unreadable).
        With ``cache_rejections`` a cached rejection is replayed too, as ``LLMAnswerError(replay=True)``."""
        key = self.cache_key(request)
        hit = self.cache.get(key)
        if hit is None:
            return None
        try:
            verdict = replay(hit.response)
        except (KeyError, TypeError, ValueError) as exc:
            verdict = Judgement.reject("unreadable", type(exc).__name__)
        if verdict.failure is None:
            self.counters.increment(self.name, "replays")
            return Answer(verdict.value, hit.response.get("content"), hit.response, CallUsage(), key, replay=True)
        if cache_rejections:
            self.counters.increment(self.name, "replays")
            raise LLMAnswerError(
                self.name, [(verdict.failure, verdict.detail)], CallUsage(), record=hit.response, replay=True
            )
        log.warning(
            "%s: cached answer %s… is unreadable (%s); asking the model again", self.name, key[:12], verdict.detail
        )
        return None

    def ask(
        self,
        request: LLMRequest,
        judge: Judge,
        *,
        replay: Replay | None = None,
        correct: Correct = correct_structured,
        max_attempts: int | None = None,
        grow_truncated: bool = True,
        cache_rejections: bool = False,
    ) -> Answer[Any]:
        """The answer ``judge`` accepts, replayed (``replay`` given) or asked for.

        Raises ``LLMCircuitOpen``, ``CostCapReached`` (no call made), ``LLMCallError`` (the SDK gave up),
        ``LLMAnswerError`` (no accepted answer in ``max_attempts`` calls, or a replayed rejection),
        ``LLMConfigurationError`` (no key).
        """
        if replay is not None:
            hit = self.replayed(request, replay, cache_rejections=cache_rejections)
            if hit is not None:
                return hit
        key = self.cache_key(request)
        attempts = max_attempts or self.entry.max_attempts
        answer = self._converse(key, request, judge, correct, attempts, grow_truncated, cache_rejections)
        self._store(key, answer.record, answer.usage)
        return answer

    def _converse(
        self,
        key: str,
        request: LLMRequest,
        judge: Judge,
        correct: Correct,
        attempts: int,
        grow_truncated: bool,
        cache_rejections: bool,
    ) -> Answer[Any]:
        messages, max_tokens = list(request.messages), request.max_tokens
        total = CallUsage()
        failures: list[tuple[str, str]] = []
        standing: Answer[Any] | None = None  # a usable answer kept while it is asked again once
        record: dict[str, Any] = {}
        for attempt in range(1, attempts + 1):
            response, latency_ms, usage = self._call(request, messages, max_tokens)
            total += usage
            context = AttemptContext(attempt, attempts, corrected=standing is not None)
            content, verdict = _basic_verdict(response)
            verdict = verdict or judge(content or "", context)
            record = self._record(request, response, content, verdict, context, failures, latency_ms)
            if verdict.failure is None:
                answer = Answer(verdict.value, content, record, total, key, failures=tuple(failures))
                if verdict.correction and standing is None and attempt < attempts:
                    self.counters.increment(self.name, verdict.correction_kind)
                    log.warning("%s: %s; asking again", self.name, verdict.detail or verdict.correction_kind)
                    standing = answer
                    messages, max_tokens = self._quoted(request, content, verdict.correction), request.max_tokens
                    continue
                self.counters.increment(self.name, "answers")
                return answer
            assert verdict.failure is not None
            failures.append((verdict.failure, verdict.detail))
            self.counters.increment(self.name, verdict.failure)
            log.warning(
                "%s: attempt %d/%d failed (%s): %s", self.name, attempt, attempts, verdict.failure, verdict.detail
            )
            failure = Failure(verdict.failure, verdict.detail, content)
            if grow_truncated and failure.kind == "truncated":
                # Same question, more room: a cut answer usually means max_tokens was too small.
                messages = list(request.messages)
                max_tokens = min(max_tokens * 2, request.max_tokens * MAX_TOKENS_GROWTH, MAX_TOKENS_CEILING)
            else:
                messages = correct(request.messages, failure)
        if standing is not None:
            # The correction brought no valid answer: the first one stands.
            self.counters.increment(self.name, "answers")
            kinds = [kind for kind, _ in failures]
            return Answer(
                standing.value,
                standing.content,
                {**standing.record, "failures": kinds, "attempts": attempts},
                total,
                key,
                failures=tuple(failures),
            )
        self.counters.increment(self.name, "exhausted")
        if cache_rejections:  # replays must give the same outcome: the rejection is stored with the last answer
            self._store(key, record, total)
        raise LLMAnswerError(self.name, failures, total, record=record)

    @staticmethod
    def _quoted(request: LLMRequest, content: str | None, correction: str) -> list[dict[str, str]]:
        return [
            *request.messages,
            {"role": "assistant", "content": (content or "")[:QUOTED_CHARS]},
            {"role": "user", "content": correction},
        ]

    def _record(
        self,
        request: LLMRequest,
        response: ChatCompletion,
        content: str | None,
        verdict: Judgement[Any],
        context: AttemptContext,
        failures: list[tuple[str, str]],
        latency_ms: int,
    ) -> dict[str, Any]:
        return {
            "content": content,
            "accepted": verdict.failure is None,
            "problems": [] if verdict.failure is None else [verdict.detail],
            "served_model": response.model,
            "provider": (response.model_extra or {}).get("provider"),
            "response_id": response.id,
            "system_fingerprint": response.system_fingerprint,
            "finish_reason": response.choices[0].finish_reason if response.choices else None,
            "attempts": context.attempt,
            "failures": [kind for kind, _ in failures],
            "latency_ms": latency_ms,
            "request": {
                "model": self.model,
                "messages": request.messages,
                "parameters": request.parameters,
                "response_format": request.response_format,
            },
            **verdict.record,
        }

    # -- one call ------------------------------------------------------------------------------------
    def _client_for_call(self) -> OpenAI:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(self.entry)
            return self._client

    def _call(
        self, request: LLMRequest, messages: list[dict[str, str]], max_tokens: int
    ) -> tuple[ChatCompletion, int, CallUsage]:
        from openai import APIError

        self._check_circuit()
        sent_schema = request.schema if request.response_format.get("type") == "json_schema" else None
        reserved = self._reserve(self.estimate(messages, max_tokens, sent_schema))
        kwargs = dict(request.parameters)
        extra_body = kwargs.pop("extra_body", None)
        kwargs["max_tokens"] = max_tokens
        if request.response_format != TEXT_FORMAT:
            kwargs["response_format"] = request.response_format
        if extra_body:
            kwargs["extra_body"] = extra_body
        started = time.monotonic()
        try:
            response = self._client_for_call().chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                **kwargs,
            )
        except APIError as exc:
            self._failed(exc)
        finally:
            self._release(reserved)
        latency_ms = round((time.monotonic() - started) * 1000)
        self.breaker.success()
        self.counters.increment(self.name, "calls")
        usage = self._usage(response, messages)
        self.spend.record(self.name, usage.cost_usd, self.purpose)
        self._log_served(response)
        return response, latency_ms, usage

    def _check_circuit(self) -> None:
        if self.breaker.open:
            self.counters.increment(self.name, "circuit_open")
            raise LLMCircuitOpen(self.name, failures=self.breaker.consecutive_failures, last=self.breaker.last_failure)

    def _failed(self, exc: APIError) -> NoReturn:
        self.counters.increment(self.name, "api_error")
        detail = describe_api_error(exc)
        if self.breaker.failure(detail):
            self.counters.increment(self.name, "circuit_open")
            error = LLMCircuitOpen(self.name, failures=self.breaker.threshold, last=detail)
            log.error("%s", error)
            raise error from exc
        raise LLMCallError(f"model {self.name}: {detail}") from exc

    def _reserve(self, estimate: float) -> float:
        """Reserves the worst case of a call under the daily cap (none: nothing to reserve)."""
        cap = self.entry.daily_cost_cap_usd
        if cap is None:
            return 0.0
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
        return estimate

    def _release(self, estimate: float) -> None:
        with self._lock:
            self._pending_usd = max(0.0, self._pending_usd - estimate)

    def _usage(self, response: ChatCompletion, messages: list[dict[str, str]]) -> CallUsage:
        assert self.entry.prices is not None
        usage = response.usage
        if usage is None:
            # Some local servers answer without usage: count offline so that the cap still means something.
            content = response.choices[0].message.content if response.choices else None
            prompt, completion, cached, reported = prompt_tokens(messages), count_tokens(content or ""), 0, None
        else:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
            details = usage.prompt_tokens_details
            cached = (details.cached_tokens or 0) if details is not None else 0
            reported = (usage.model_extra or {}).get("cost")
        if isinstance(reported, int | float) and not isinstance(reported, bool):
            cost = float(reported)  # OpenRouter: what was actually charged, whatever the upstream provider
        else:
            cost = self.entry.prices.cost(prompt, completion, cached)
        return CallUsage(
            calls=1, prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached, cost_usd=cost
        )

    def _log_served(self, response: ChatCompletion) -> None:
        requested = self.model
        served = response.model or ""
        # OpenAI answers a dated snapshot for an alias (gpt-4o -> gpt-4o-2024-08-06): that is the same model.
        same = served == requested or served.startswith(requested) or requested.startswith(served)
        provider = (response.model_extra or {}).get("provider")
        if not same:
            log.warning("%s: requested %s but %s answered (provider %s)", self.name, requested, served, provider)
        else:
            log.info("%s: answered by %s%s", self.name, served, f" via {provider}" if provider else "")

    def _store(self, key: str, record: dict[str, Any], usage: CallUsage) -> None:
        try:
            self.cache.put(
                key,
                provider=self.entry.provider,
                model=self.model,
                response=record,
                usage={**usage.as_dict(), "replay": False, "registry_model": self.name, "kind": self.purpose},
            )
        except Exception:
            # The answer is paid for: a cache that cannot be written costs a future call, not this answer.
            log.exception("%s: could not store the answer under %s…", self.name, key[:12])
