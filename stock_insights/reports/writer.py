"""The daily report written by an LLM from the facts, guarded; the template whenever that fails.

One report is one request to the LLM gateway (``stock_insights.llm.Gateway``: any registry entry,
OpenAI, OpenRouter or an OpenAI-compatible server) with the facts' view as JSON in the prompt. Each news item and filing
carries a source number; the model is asked for Markdown that cites ``[n]`` and copies every number
as written. The answer is then checked (``check``):

- every ``[n]`` names a source of the report, and at least one is cited when there are any;
- every number in the text (signs aside) appears among the numbers of the facts the prompt showed,
  formatted the same way (``71,500``, ``+0.85%``, ``61.5%``): nothing computed, rounded or invented;
- every link is one of the sources' own URLs.

A rejected answer is asked again once, with what was wrong. If the answer is still rejected, the call
fails (after the SDK's own retries), times out, the model's circuit is open, or its daily cost cap
would be exceeded, the report is the deterministic template and the reason is returned
(``WrittenReport.fallback``); the run never fails because of the LLM.

The final answer, accepted or rejected, is stored by the gateway in the LLM answer cache
(``llm_cache``, ``kind`` "report") under a hash of everything that decides it, so a re-run of the same
facts makes no call and yields the same Markdown. Reports spend under the registry entry's daily cost
cap, in the same ledger as that model's forecasts (``stock_insights.llm.SqlSpendLedger``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from stock_insights.llm import (
    Answer,
    AnswerCache,
    AttemptContext,
    CallUsage,
    ClientFactory,
    CostCapReached,
    Failure,
    Gateway,
    Judgement,
    LLMAnswerError,
    LLMCounters,
    LLMError,
    LLMRequest,
    SpendLedger,
)
from stock_insights.llm.breaker import CircuitBreaker
from stock_insights.predictors.config import ModelEntry, RegistryError, load_registry
from stock_insights.predictors.registry import _has_key
from stock_insights.reports.facts import ReportFacts, Source, view
from stock_insights.reports.template import TEMPLATE, render

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from stock_insights.settings import Settings

log = logging.getLogger(__name__)

PURPOSE = "report"  # the ``kind`` of report answers in the cache, where the spend ledger finds their cost
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


def _spent(usage: CallUsage, failures: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "calls": usage.calls,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "attempts_rejected": [detail for _, detail in failures],
    }


@dataclass(frozen=True)
class Guard:
    """``check`` as the gateway's judge of a report answer, and of a cached one."""

    facts_text: str
    sources: list[Source]

    def judge(self, content: str, _: AttemptContext) -> Judgement[str]:
        problems = check(content, facts_text=self.facts_text, sources=self.sources).problems
        return Judgement.reject("rejected", "; ".join(problems)) if problems else Judgement.accept(content)

    def replay(self, record: dict[str, Any]) -> Judgement[str]:
        content = record.get("content")
        verdict = check(content, facts_text=self.facts_text, sources=self.sources)
        if record.get("accepted") and verdict.ok and content is not None:
            return Judgement.accept(content)
        return Judgement.reject("rejected", "; ".join(record.get("problems") or verdict.problems))


def correct_report(messages: list[dict[str, str]], failure: Failure) -> list[dict[str, str]]:
    """Every rejected report answer is shown back with what was wrong."""
    return [
        *messages,
        {"role": "assistant", "content": (failure.content or "")[:6000]},
        {
            "role": "user",
            "content": f"That answer breaks the rules ({failure.detail}). Write it again: copy numbers "
            "exactly as FACTS write them and cite only the listed source numbers.",
        },
    ]


class ReportWriter:
    """Writes reports with one registry entry through the LLM gateway; falls back to the template, never
    raises for the LLM."""

    def __init__(
        self,
        entry: ModelEntry,
        *,
        client_factory: ClientFactory | None = None,
        cache: AnswerCache | None = None,
        spend: SpendLedger | None = None,
        counters: LLMCounters | None = None,
        breaker: CircuitBreaker | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        # Reports keep their own counters by default: the forecasts' failure rates are an A/B metric.
        self.gateway = Gateway(
            entry,
            purpose=PURPOSE,
            client_factory=client_factory,
            cache=cache,
            spend=spend,
            counters=counters if counters is not None else LLMCounters(),
            breaker=breaker,
        )
        self.entry = entry
        self.name = entry.name
        self.model: str = self.gateway.model
        self.max_attempts = max_attempts
        self.stopped: str | None = None  # the cost cap was reached: no more calls in this run

    @property
    def generator(self) -> str:
        return self.model[:50]

    @property
    def cache(self) -> AnswerCache:
        return self.gateway.cache

    @property
    def spend(self) -> SpendLedger:
        return self.gateway.spend

    # -- the request --------------------------------------------------------------------------------
    def request(self, messages: list[dict[str, str]]) -> LLMRequest:
        return self.gateway.request(
            messages,
            prompt_version=REPORT_PROMPT_VERSION,
            response_format=RESPONSE_FORMAT,
            schema=GUARD,
            max_tokens=REPORT_MAX_TOKENS,
        )

    def cache_key(self, messages: list[dict[str, str]]) -> str:
        return self.gateway.cache_key(self.request(messages))

    # -- write ---------------------------------------------------------------------------------------
    def write(self, facts: ReportFacts) -> WrittenReport:
        messages = build_messages(facts)
        guard = Guard(messages[-1]["content"], facts.sources())
        try:
            answer = self._answer(self.request(messages), guard)
        except CostCapReached as exc:
            self.stopped = f"cost cap: {exc}"
            return template_report(facts, self.stopped)
        except LLMAnswerError as exc:
            if exc.replay:
                return template_report(facts, f"replayed answer was rejected: {exc.last_detail}", replay=True)
            return template_report(facts, f"answer rejected: {exc.last_detail}", **_spent(exc.usage, exc.failures))
        except LLMError as exc:
            return template_report(facts, str(exc))
        except Exception as exc:  # the LLM must never fail the run: whatever went wrong, the template stands
            log.exception("%s: report for %s failed", self.name, facts.scope)
            return template_report(facts, f"unexpected error: {type(exc).__name__}")
        if answer is None:
            return template_report(facts, self.stopped)
        if answer.replay:
            return self._report(facts, answer.value, replay=True)
        return self._report(facts, answer.value, **_spent(answer.usage, answer.failures))

    def _answer(self, request: LLMRequest, guard: Guard) -> Answer[str] | None:
        """The cached answer (accepted, or a rejection raised), else a new one; None once the cost cap stopped us."""
        answer = self.gateway.replayed(request, guard.replay, cache_rejections=True)
        if answer is not None or self.stopped is not None:
            return answer
        return self.gateway.ask(
            request,
            guard.judge,
            correct=correct_report,
            max_attempts=self.max_attempts,
            grow_truncated=False,
            cache_rejections=True,
        )

    def _report(self, facts: ReportFacts, content: str, **usage: Any) -> WrittenReport:
        return WrittenReport(
            scope=facts.scope,
            markdown=render(facts, body=content, writer=self.generator),
            sources=[s.stored() for s in facts.sources()],
            generator=self.generator,
            **usage,
        )


# --- configuration ------------------------------------------------------------------------------


def configured_writer(
    engine: Engine | None, settings: Settings | None = None, *, client_factory: ClientFactory | None = None
) -> tuple[ReportWriter | None, str]:
    """The writer ``REPORT_MODEL`` asks for, or None and why the template writes every report."""
    from stock_insights.llm import SqlLLMCache, SqlSpendLedger
    from stock_insights.settings import get_settings

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
    spend = SqlSpendLedger(engine) if engine is not None else None
    writer = ReportWriter(entry, client_factory=client_factory, cache=cache, spend=spend)
    return writer, f"{name} ({entry.model})"
