"""The daily report written by an LLM from the facts, guarded; the template whenever that fails.

One report is one chat completion (``openai`` SDK, any registry entry: OpenAI, OpenRouter or an
OpenAI-compatible server) with the facts' view as JSON in the prompt. Each news item and filing
carries a source number; the model is asked for Markdown that cites ``[n]`` and copies every number
as written. The answer is then checked (``check``):

- every ``[n]`` names a source of the report, and at least one is cited when there are any;
- every number in the text (signs aside) appears among the numbers of the facts the prompt showed,
  formatted the same way (``71,500``, ``+0.85%``, ``61.5%``): nothing computed, rounded or invented;
- every link is one of the sources' own URLs.

A rejected answer is asked again once, with what was wrong. If the answer is still rejected, the call
fails (after the SDK's own retries), times out, or the model's daily cost cap would be exceeded,
the report is the deterministic template and the reason is returned (``WrittenReport.fallback``);
the run never fails because of the LLM.

The final answer, accepted or rejected, is stored in the LLM answer cache (``llm_cache``) under a
hash of everything that decides it (``predictors.llm.cache_key``), so a re-run of the same facts
makes no call and yields the same Markdown. Reports spend under the registry entry's daily cost cap,
together with that model's forecasts (``ReportSpendLedger``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from stock_insights.embeddings.tokens import count_tokens
from stock_insights.predictors.config import ModelEntry, RegistryError, load_registry
from stock_insights.predictors.llm import (
    AnswerCache,
    CostCapReached,
    LLMCallError,
    LLMError,
    MemoryAnswerCache,
    MemorySpendLedger,
    SpendLedger,
    SqlSpendLedger,
    cache_key,
    default_client_factory,
    describe_api_error,
    kst_day,
    kst_day_bounds,
)
from stock_insights.predictors.registry import _has_key
from stock_insights.reports.facts import ReportFacts, Source, view
from stock_insights.reports.template import TEMPLATE, render
from stock_insights.storage.db import session_scope, utcnow

if TYPE_CHECKING:
    from openai import OpenAI
    from sqlalchemy import Engine

    from stock_insights.settings import Settings

log = logging.getLogger(__name__)

REPORT_PROMPT_VERSION = "report-v1"
# The system prompt starts with this marker; the sandbox recognises a report request by it.
REPORT_MARKER = "[stock_insights daily report v1]"
REPORT_MAX_TOKENS = 1500
MAX_ATTEMPTS = 2
RESPONSE_FORMAT: dict[str, Any] = {"type": "text"}
# Named in the cache key in place of a JSON schema: the guard is what the answer is validated by.
GUARD: dict[str, Any] = {"report_guard": "citations-numbers-links/v1"}

SYSTEM_PROMPT = f"""{REPORT_MARKER}
You write the end-of-day report of a stock-insights platform for the Korean market. You are given
FACTS as JSON: they are the only things you may state.

Rules:
1. State only what FACTS say. Add no outside knowledge, no forecast of your own and no advice.
2. Copy every number exactly as FACTS write it: the same digits, decimals, thousands separators and
   percent sign. Do not calculate, round or convert numbers, and write no number that FACTS do not
   contain (no counts, dates or times of your own).
3. Each filing and news item has a "source" number. Cite it in square brackets right after the
   sentence that uses it, e.g. [2] or [1][3]. Cite no other number; cite at least one source when
   FACTS list any.
4. Write no URL and no list of sources: the links are appended to your text.
5. Markdown only: a few short paragraphs or bullet lists, no headings, at most about 250 words."""

_CITATION = re.compile(r"\[(\s*\d+\s*(?:[,;]\s*\d+\s*)*)\]")
_URL = re.compile(r"https?://[^\s)\]>\"'<]+")
# A number as written: thousands separators, decimals, an optional sign and percent sign. Digits glued
# to Latin letters (gpt-4o, v3, 3Q) are part of a name, not a number.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])[+\-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?(?![A-Za-z0-9_])")


# --- the prompt ---------------------------------------------------------------------------------


def facts_json(facts: ReportFacts) -> str:
    return json.dumps(view(facts), ensure_ascii=False, indent=1)


def build_messages(facts: ReportFacts) -> list[dict[str, str]]:
    what = (
        "the market: the indices, how the tracked stocks moved against their index, the notable filings and "
        "news, how each model's forecasts for the day turned out, and the models' standing"
        if facts.kind == "market"
        else "one stock: its move against its index, the notable filings and news about it, each model's "
        "forecast for the day and whether it was right, and the models' standing"
    )
    user = (
        f"Write the daily summary of {what}, for the trading day {facts.trading_date.isoformat()}.\n\n"
        f"FACTS:\n```json\n{facts_json(facts)}\n```"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


# --- the guard ----------------------------------------------------------------------------------


def _unsigned(token: str) -> str:
    return token.lstrip("+-−")


def numbers_in(text: str) -> set[str]:
    """Every number of ``text`` as written, without its sign."""
    return {_unsigned(m.group(0)) for m in _NUMBER.finditer(text)}


@dataclass(frozen=True)
class Verdict:
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check(text: str | None, *, facts_text: str, sources: list[Source]) -> Verdict:
    """Citations, links and numbers of an answer against the facts the prompt showed."""
    if text is None or not text.strip():
        return Verdict(["empty answer"])
    problems: list[str] = []
    known = {s.n for s in sources}
    cited: list[int] = []
    for match in _CITATION.finditer(text):
        cited += [int(n) for n in re.split(r"[,;]", match.group(1))]
    unknown = sorted({n for n in cited if n not in known})
    if unknown:
        problems.append(f"citation(s) of unknown source(s) {unknown} (sources are 1..{len(sources)})")
    if sources and not cited:
        problems.append("no source cited")
    urls = {s.url for s in sources}
    links = [u.rstrip(".,;:!?") for u in _URL.findall(text)]
    strange = [u for u in links if u not in urls]
    if strange:
        problems.append(f"link(s) not among the sources: {[u[:80] for u in strange[:3]]}")
    prose = _URL.sub(" ", _CITATION.sub(" ", text))
    allowed = numbers_in(facts_text)
    invented = sorted(numbers_in(prose) - allowed)
    if invented:
        problems.append(f"number(s) not in the facts: {invented[:8]}")
    return Verdict(problems)


# --- spend --------------------------------------------------------------------------------------


class ReportSpendLedger(SqlSpendLedger):
    """A model's spend today (KST): its forecasts (``predictions.cost_usd``) plus its reports (the
    usage stored with each report answer in ``llm_cache``), plus what this process spent."""

    def recorded(self, model: str, day: date) -> float:
        from stock_insights.storage.reports import report_cost_between

        start, end = kst_day_bounds(day)
        with session_scope(self.engine) as session:
            reports = report_cost_between(session, model, start, end)
        return super().recorded(model, day) + reports


# --- the writer ---------------------------------------------------------------------------------


@dataclass
class WrittenReport:
    scope: str
    markdown: str
    sources: list[dict[str, Any]]
    generator: str  # "template" or the model id that wrote the summary
    fallback: str | None = None  # why the template stands in for a configured LLM
    calls: int = 0
    replay: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts_rejected: list[str] = field(default_factory=list)

    def row(self, trading_date: date) -> dict[str, Any]:
        return {
            "trading_date": trading_date,
            "scope": self.scope,
            "markdown": self.markdown,
            "sources": self.sources,
            "generator": self.generator,
        }


def template_report(facts: ReportFacts, fallback: str | None = None, **usage: Any) -> WrittenReport:
    return WrittenReport(
        scope=facts.scope,
        markdown=render(facts),
        sources=[s.stored() for s in facts.sources()],
        generator=TEMPLATE,
        fallback=fallback,
        **usage,
    )


class ReportRejected(LLMError):
    """The model's last answer broke the guard's rules."""

    def __init__(self, problems: str, usage: dict[str, Any]) -> None:
        self.usage = usage
        super().__init__(problems)


ClientFactory = Callable[[ModelEntry], "OpenAI"]


class ReportWriter:
    """Writes reports with one registry entry; falls back to the template, never raises for the LLM."""

    def __init__(
        self,
        entry: ModelEntry,
        *,
        client_factory: ClientFactory | None = None,
        cache: AnswerCache | None = None,
        spend: SpendLedger | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if not entry.is_llm or not entry.model or not entry.prices or not entry.parameters:
            raise ValueError(f"model {entry.name} is a {entry.provider}, not an LLM")
        self.entry = entry
        self.name = entry.name
        self.model: str = entry.model
        self._client_factory = client_factory or default_client_factory
        self._client: OpenAI | None = None
        self.cache: AnswerCache = cache if cache is not None else MemoryAnswerCache()
        self.spend: SpendLedger = spend if spend is not None else MemorySpendLedger()
        self.max_attempts = max_attempts
        self.stopped: str | None = None  # the cost cap was reached: no more calls in this run

    @property
    def generator(self) -> str:
        return self.model[:50]

    # -- the request --------------------------------------------------------------------------------
    def _parameters(self) -> dict[str, Any]:
        assert self.entry.parameters is not None
        params = {**self.entry.parameters.request_kwargs(), "max_tokens": REPORT_MAX_TOKENS}
        if self.entry.openrouter is not None:
            params["extra_body"] = self.entry.openrouter.extra_body()
        return params

    def cache_key(self, messages: list[dict[str, str]]) -> str:
        return cache_key(
            provider=self.entry.provider,
            model=self.model,
            prompt_version=REPORT_PROMPT_VERSION,
            messages=messages,
            parameters=self._parameters(),
            response_format=RESPONSE_FORMAT,
            schema=GUARD,
        )

    # -- write ---------------------------------------------------------------------------------------
    def write(self, facts: ReportFacts) -> WrittenReport:
        messages = build_messages(facts)
        facts_text = messages[-1]["content"]
        sources = facts.sources()
        key = self.cache_key(messages)
        hit = self.cache.get(key)
        if hit is not None:
            content = hit.response.get("content")
            verdict = check(content, facts_text=facts_text, sources=sources)
            if hit.response.get("accepted") and verdict.ok:
                return self._report(facts, content, replay=True)
            problems = hit.response.get("problems") or verdict.problems
            return template_report(facts, f"replayed answer was rejected: {'; '.join(problems)}", replay=True)
        if self.stopped is not None:
            return template_report(facts, self.stopped)
        try:
            content, usage = self._ask(key, messages, facts_text, sources)
        except CostCapReached as exc:
            self.stopped = f"cost cap: {exc}"
            return template_report(facts, self.stopped)
        except ReportRejected as exc:
            return template_report(facts, f"answer rejected: {exc}", **exc.usage)
        except LLMError as exc:
            return template_report(facts, str(exc))
        except Exception as exc:  # the LLM must never fail the run: whatever went wrong, the template stands
            log.exception("%s: report for %s failed", self.name, facts.scope)
            return template_report(facts, f"unexpected error: {type(exc).__name__}")
        return self._report(facts, content, **usage)

    def _report(self, facts: ReportFacts, content: str, **usage: Any) -> WrittenReport:
        return WrittenReport(
            scope=facts.scope,
            markdown=render(facts, body=content, writer=self.generator),
            sources=[s.stored() for s in facts.sources()],
            generator=self.generator,
            **usage,
        )

    # -- calls ---------------------------------------------------------------------------------------
    def _client_for_call(self) -> OpenAI:
        if self._client is None:
            self._client = self._client_factory(self.entry)
        return self._client

    def _reserve(self, messages: list[dict[str, str]]) -> None:
        assert self.entry.prices is not None
        cap = self.entry.daily_cost_cap_usd
        if cap is None:
            return
        prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 3
        estimate = self.entry.prices.cost(prompt, REPORT_MAX_TOKENS)
        spent = self.spend.spent_today(self.name)
        if spent + estimate > cap + 1e-12:
            now = getattr(self.spend, "now", utcnow)
            raise CostCapReached(self.name, spent_usd=spent, cap_usd=cap, next_call_usd=estimate, day=kst_day(now()))

    def _ask(
        self, key: str, messages: list[dict[str, str]], facts_text: str, sources: list[Source]
    ) -> tuple[str, dict[str, Any]]:
        from openai import APIError

        assert self.entry.prices is not None
        params = self._parameters()
        extra_body = params.pop("extra_body", None)
        conversation = list(messages)
        usage = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        rejected: list[str] = []
        content: str | None = None
        record: dict[str, Any] = {}
        for attempt in range(1, self.max_attempts + 1):
            self._reserve(conversation)
            started = time.monotonic()
            try:
                response = self._client_for_call().chat.completions.create(
                    model=self.model,
                    messages=conversation,  # type: ignore[arg-type]
                    **params,
                    **({"extra_body": extra_body} if extra_body else {}),
                )
            except APIError as exc:
                raise LLMCallError(describe_api_error(exc, limit=200)) from exc
            latency_ms = round((time.monotonic() - started) * 1000)
            usage["calls"] += 1
            choice = response.choices[0] if response.choices else None
            content = choice.message.content if choice is not None else None
            prompt_tokens, completion_tokens, cached, reported = self._usage(response, conversation, content)
            cost = (
                float(reported)
                if reported is not None
                else self.entry.prices.cost(prompt_tokens, completion_tokens, cached)
            )
            self.spend.record(self.name, cost)
            usage["prompt_tokens"] += prompt_tokens
            usage["completion_tokens"] += completion_tokens
            usage["cost_usd"] += cost
            problems = self._judge(choice, content)
            if not problems:
                problems = check(content, facts_text=facts_text, sources=sources).problems
            record = {
                "content": content,
                "accepted": not problems,
                "problems": problems,
                "served_model": response.model,
                "response_id": response.id,
                "finish_reason": choice.finish_reason if choice is not None else None,
                "attempts": attempt,
                "rejected_attempts": list(rejected),
                "latency_ms": latency_ms,
                "request": {"model": self.model, "messages": messages, "parameters": self._parameters()},
            }
            if not problems:
                assert content is not None
                self._store(key, record, usage)
                return content, {**usage, "attempts_rejected": rejected}
            rejected.append("; ".join(problems))
            log.warning("%s: report answer %d/%d rejected: %s", self.name, attempt, self.max_attempts, rejected[-1])
            conversation = [
                *messages,
                {"role": "assistant", "content": (content or "")[:6000]},
                {
                    "role": "user",
                    "content": f"That answer breaks the rules ({rejected[-1]}). Write it again: copy numbers "
                    "exactly as FACTS write them and cite only the listed source numbers.",
                },
            ]
        # Replays must give the same report: the rejection is stored too, with the last answer.
        self._store(key, record, usage)
        raise ReportRejected(rejected[-1], {**usage, "attempts_rejected": rejected})

    @staticmethod
    def _judge(choice: Any, content: str | None) -> list[str]:
        if choice is None:
            return ["the answer has no choices"]
        refusal = getattr(choice.message, "refusal", None)
        if refusal or choice.finish_reason == "content_filter":
            return ["refused"]
        if choice.finish_reason == "length":
            return ["truncated (finish_reason 'length')"]
        if not content or not content.strip():
            return ["empty answer"]
        return []

    @staticmethod
    def _usage(response: Any, messages: list[dict[str, str]], content: str | None) -> tuple[int, int, int, Any]:
        usage = response.usage
        if usage is None:
            prompt = sum(count_tokens(m["content"]) + 4 for m in messages) + 3
            return prompt, count_tokens(content or ""), 0, None
        details = usage.prompt_tokens_details
        cached = (details.cached_tokens or 0) if details is not None else 0
        reported = (usage.model_extra or {}).get("cost")
        if not isinstance(reported, int | float) or isinstance(reported, bool):
            reported = None
        return usage.prompt_tokens, usage.completion_tokens, cached, reported

    def _store(self, key: str, record: dict[str, Any], usage: dict[str, Any]) -> None:
        try:
            self.cache.put(
                key,
                provider=self.entry.provider,
                model=self.model,
                response=record,
                usage={**usage, "registry_model": self.name, "kind": "report"},
            )
        except Exception:
            # The answer is paid for: a cache that cannot be written costs a future call, not this report.
            log.exception("%s: could not store the report answer under %s…", self.name, key[:12])


# --- configuration ------------------------------------------------------------------------------


def configured_writer(
    engine: Engine | None, settings: Settings | None = None, *, client_factory: ClientFactory | None = None
) -> tuple[ReportWriter | None, str]:
    """The writer ``REPORT_MODEL`` asks for, or None and why the template writes every report."""
    from stock_insights.settings import get_settings
    from stock_insights.storage.llm_cache import SqlLLMCache

    settings = settings or get_settings()
    name = settings.REPORT_MODEL.strip()
    if not name:
        return None, "REPORT_MODEL is empty: the template writes every report"
    try:
        entry = load_registry().get(name)
    except (KeyError, RegistryError) as exc:
        return None, f"REPORT_MODEL {name!r}: {exc}"
    if not entry.is_llm:
        return None, f"REPORT_MODEL {name!r} is a {entry.provider}, not an LLM"
    if not _has_key(entry, settings):
        return None, f"REPORT_MODEL {name!r}: no key for provider {entry.provider}"
    cache = SqlLLMCache(engine) if engine is not None else None
    spend = ReportSpendLedger(engine) if engine is not None else None
    writer = ReportWriter(entry, client_factory=client_factory, cache=cache, spend=spend)
    return writer, f"{name} ({entry.model})"
