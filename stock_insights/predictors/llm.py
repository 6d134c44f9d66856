"""LLM forecasters: any registry entry of an OpenAI-compatible chat API, as a ``Predictor``.

One forecast is one request to the LLM gateway (``stock_insights.llm.Gateway``): the rendered prompt
(``prompts.render_prompt``), the entry's parameters and the response format. The gateway replays a
cached answer (``usage.replay``, no call, no cost), keeps the model under its daily cost cap and its
circuit breaker, prices and records each call and asks again with a correction; this module keeps the
forecast's own part: the prompt, parsing the answer as a ``ForecastAnswer`` (JSON that does not parse
or violates the schema or our bounds is retried by the gateway, up to ``entry.max_attempts`` calls,
and counted per model), and the citations.

Citations: every document id an answer cites, in ``evidence_ids`` or written in its lists and summary,
must be a document the prompt showed (``prompts.check_citations``); ``cited_inputs`` records all of
them, each with its ``first_seen_at``. An answer citing anything else is asked again once, with a
correction naming the ids it may cite (``citation_retries``); if the answer still cites them (or the
corrected call fails), the unknown citations are removed from the returned rationale and listed in
``PredictionOutput.citations_removed`` (``citations_removed`` per model). The cache keeps the model's
answer as given; a replay is checked and cleaned the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from stock_insights.llm import (
    AnswerCache,
    AttemptContext,
    ClientFactory,
    Gateway,
    Judgement,
    LLMCounters,
    LLMRequest,
    SpendLedger,
    describe_validation_error,
    parse_json_object,
)
from stock_insights.llm import cache_key as llm_cache_key
from stock_insights.llm.breaker import CircuitBreaker
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

log = logging.getLogger(__name__)

PURPOSE = "forecast"  # the ``kind`` of the forecasts' answers in the cache


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
    """The answer-cache key of a forecast request (``stock_insights.llm.cache_key``, the forecast's schema)."""
    return llm_cache_key(
        provider=provider,
        model=model,
        prompt_version=prompt_version,
        messages=messages,
        parameters=parameters,
        response_format=response_format,
        schema=schema,
    )


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
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not entry.is_llm:
            raise ValueError(f"model {entry.name} is a {entry.provider}, not an LLM")
        assert entry.model and entry.prompt_version and entry.response_mode and entry.prices and entry.parameters
        self.entry = entry
        self.name = entry.name
        self.gateway = Gateway(
            entry,
            purpose=PURPOSE,
            client_factory=client_factory,
            cache=cache,
            spend=spend,
            counters=counters,
            breaker=breaker,
        )

    @property
    def cache(self) -> AnswerCache:
        return self.gateway.cache

    @property
    def spend(self) -> SpendLedger:
        return self.gateway.spend

    @property
    def counters(self) -> LLMCounters:
        return self.gateway.counters

    # -- the request ---------------------------------------------------------------------------------
    def render(self, data: PredictionInput) -> RenderedPrompt:
        assert self.entry.prompt_version
        return render_prompt(data, version=self.entry.prompt_version, options=self.entry.prompt.options())

    def request(self, rendered: RenderedPrompt) -> LLMRequest:
        assert self.entry.response_mode
        return self.gateway.request(
            rendered.messages,
            prompt_version=rendered.version,
            response_format=response_format(self.entry.response_mode),
            schema=ANSWER_SCHEMA,
        )

    def cache_key(self, rendered: RenderedPrompt) -> str:
        return self.gateway.cache_key(self.request(rendered))

    def _estimate(self, messages: list[dict[str, str]], max_tokens: int) -> float:
        """The worst case of one call (see ``Gateway.estimate``)."""
        sent = ANSWER_SCHEMA if self.entry.response_mode == "json_schema" else None
        return self.gateway.estimate(messages, max_tokens, sent)

    # -- predict -------------------------------------------------------------------------------------
    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        if not data.prices:
            return None  # nothing to forecast against: the answer is "against the last close shown"
        rendered = self.render(data)
        answer = self.gateway.ask(
            self.request(rendered),
            self._judge(rendered, data.horizon),
            replay=lambda record: Judgement.accept(self._parse(record["answer"], data.horizon)),
        )
        if answer.replay:
            usage = Usage(replay=True)
        else:
            u = answer.usage
            usage = Usage(
                prompt_tokens=u.prompt_tokens,
                completion_tokens=u.completion_tokens,
                cached_tokens=u.cached_tokens,
                cost_usd=u.cost_usd,
            )
        return self._output(data, rendered, answer.value, usage)

    @staticmethod
    def _parse(value: Any, horizon: int) -> ForecastAnswer:
        return ForecastAnswer.model_validate(value, context={"horizon": horizon})

    def _judge(
        self, rendered: RenderedPrompt, horizon: int
    ) -> Callable[[str, AttemptContext], Judgement[ForecastAnswer]]:
        """The forecast's judge: one JSON object, a valid ``ForecastAnswer``, citing only what was shown."""

        def judge(content: str, context: AttemptContext) -> Judgement[ForecastAnswer]:
            parsed = parse_json_object(content)
            if isinstance(parsed, Judgement):
                return parsed
            try:
                answer = self._parse(parsed, horizon)
            except ValidationError as exc:
                return Judgement.reject("schema_violation", describe_validation_error(exc))
            unknown = check_citations(answer, rendered.documents).unknown
            record = {
                "answer": answer.model_dump(),
                "unknown_citations": unknown,
                "citation_retried": context.corrected,
            }
            if unknown and not context.corrected:
                # Asked again once, told which ids it may cite; if it still cites others, they are removed.
                return Judgement.accept(
                    answer,
                    record,
                    correction=citation_correction(unknown, rendered.documents),
                    correction_kind="citation_retries",
                    detail=f"the answer cites documents not in the prompt {unknown[:5]}",
                )
            return Judgement.accept(answer, record)

        return judge

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
            prompt_hash=rendered.sha256,
            citations_removed=check.unknown,
        )
