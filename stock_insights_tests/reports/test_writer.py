"""The LLM report writer against OpenAI-shaped servers over HTTP: a local one whose answers the test
controls (the guard, retries, failures, the cost cap, the cache) and the sandbox's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openai import OpenAI

from stock_insights.llm import MemoryAnswerCache, default_client_factory
from stock_insights.predictors.config import ModelEntry, load_registry
from stock_insights.reports.template import render
from stock_insights.reports.writer import REPORT_MARKER, ReportWriter, build_messages, check, configured_writer
from stock_insights.sandbox.openai_api import is_report_request
from stock_insights.settings import Settings
from stock_insights_tests.conftest import ServerThread
from stock_insights_tests.reports.facts_samples import market_facts, stock_facts

KEY = "sk-writer-test-key-never-logged"
FAITHFUL = (
    "삼성전자 closed at 71,500 (+0.85%), ahead of KOSPI (+0.40%): an excess of +0.45%. It announced a share "
    "buyback [1], and its third-quarter profit made the news [2][3].\n\n"
    "news_tone called up with P(up) 61.5% and was right; momentum called down and missed. Over 20 trading days "
    "news_tone leads with a hit rate of 56.2%."
)


class FakeOpenAI:
    """Answers /v1/chat/completions from a queue: a content string, (content, finish_reason), an HTTP
    status, or "sleep"; the last item repeats. Keeps every request body."""

    def __init__(self) -> None:
        self.answers: list[Any] = [FAITHFUL]
        self.requests: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            self.requests.append(await request.json())
            item = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            if item == "sleep":
                await asyncio.sleep(3)
                item = FAITHFUL
            if isinstance(item, int):
                message = f"Incorrect API key provided: {KEY}" if item == 401 else "The server had an error"
                return JSONResponse(
                    {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
                    status_code=item,
                )
            content, finish = item if isinstance(item, tuple) else (item, "stop")
            return JSONResponse(
                {
                    "id": f"chatcmpl-{len(self.requests)}",
                    "object": "chat.completion",
                    "created": 1760000000,
                    "model": "gpt-4o-2024-08-06",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content, "refusal": None},
                            "logprobs": None,
                            "finish_reason": finish,
                        }
                    ],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 180, "total_tokens": 1380},
                }
            )


@pytest.fixture
def fake() -> Iterator[tuple[FakeOpenAI, ServerThread]]:
    server = FakeOpenAI()
    with ServerThread(server.app) as thread:
        yield server, thread


def _entry(**update: Any) -> ModelEntry:
    return load_registry().get("gpt-4o").model_copy(update=update)


def _writer(
    thread: ServerThread, entry: ModelEntry | None = None, cache: MemoryAnswerCache | None = None, timeout: float = 30.0
) -> ReportWriter:
    def factory(_: ModelEntry) -> OpenAI:
        return OpenAI(api_key=KEY, base_url=f"{thread.url}/v1", max_retries=0, timeout=timeout)

    return ReportWriter(entry or _entry(), client_factory=factory, cache=cache or MemoryAnswerCache())


def test_a_faithful_answer_is_framed_and_a_rewrite_replays_it(fake) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    cache = MemoryAnswerCache()
    facts = stock_facts()
    report = _writer(thread, cache=cache).write(facts)
    assert report.fallback is None and report.generator == "gpt-4o-2024-08-06" and report.calls == 1
    assert report.markdown == render(facts, body=FAITHFUL, writer="gpt-4o-2024-08-06")
    assert report.markdown.startswith("# 삼성전자 (005930): 2026-10-15") and "## Sources" in report.markdown
    assert report.cost_usd == pytest.approx((1200 * 2.50 + 180 * 10.00) / 1e6)
    # What was sent: the system prompt with the marker, the facts as JSON, no response_format.
    sent = server.requests[0]
    assert sent["messages"][0]["content"].startswith(REPORT_MARKER) and "response_format" not in sent
    assert '"close": "71,500"' in sent["messages"][1]["content"] and sent["max_tokens"] >= 1000

    again = _writer(thread, cache=cache).write(facts)
    assert len(server.requests) == 1  # a replay: no call
    assert again.replay and again.calls == 0 and again.markdown == report.markdown


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (FAITHFUL + " Turnover rose 12.34% [1].", "number(s) not in the facts: ['12.34%']"),
        (FAITHFUL.replace("+0.85%", "+0.9%"), "number(s) not in the facts: ['0.9%']"),  # rounded: not as written
        (FAITHFUL + " Foreigners bought for a third day [4].", "citation(s) of unknown source(s) [4]"),
        (FAITHFUL.replace("[2][3]", "[2, 7]"), "citation(s) of unknown source(s) [7]"),
        (FAITHFUL + " See https://example.com/x.", "link(s) not among the sources"),
        ("삼성전자 closed at 71,500 (+0.85%).", "no source cited"),
        ((FAITHFUL[:80], "length"), "truncated"),
        ("   ", "empty answer"),
    ],
)
def test_the_guard_rejects_and_the_template_stands_in(fake, answer: Any, reason: str) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    server.answers = [answer]
    facts = stock_facts()
    report = _writer(thread).write(facts)
    assert report.generator == "template" and report.markdown == render(facts)
    assert report.fallback is not None and reason in report.fallback
    # Asked twice: the second time told what was wrong.
    assert len(server.requests) == 2 and report.calls == 2
    retry = server.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant" and retry[-1]["role"] == "user"
    assert "breaks the rules" in retry[-1]["content"]


def test_a_rejected_answer_corrected_on_the_retry_is_used(fake) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    server.answers = [FAITHFUL + " It rose 3.1% [1].", FAITHFUL]
    report = _writer(thread).write(stock_facts())
    assert report.fallback is None and report.generator == "gpt-4o-2024-08-06"
    assert report.calls == 2 and report.attempts_rejected == ["number(s) not in the facts: ['3.1%']"]


def test_a_rejection_is_replayed_without_a_call(fake) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    server.answers = [FAITHFUL + " [9]"]
    cache = MemoryAnswerCache()
    first = _writer(thread, cache=cache).write(stock_facts())
    second = _writer(thread, cache=cache).write(stock_facts())
    assert len(server.requests) == 2  # the first write's two attempts only
    assert first.markdown == second.markdown == render(stock_facts())
    assert second.replay and second.fallback is not None and "[9]" in second.fallback


@pytest.mark.parametrize(("failure", "reason"), [(500, "HTTP 500"), (401, "HTTP 401"), ("sleep", "APITimeoutError")])
def test_api_failures_fall_back_without_secrets_and_are_not_cached(fake, failure: Any, reason: str) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    server.answers = [failure]
    cache = MemoryAnswerCache()
    report = _writer(thread, cache=cache, timeout=0.5).write(stock_facts())
    assert report.generator == "template" and report.fallback is not None and reason in report.fallback
    assert KEY not in report.fallback and KEY not in report.markdown
    # Nothing stored: the next run asks again.
    server.answers = [FAITHFUL]
    requests = len(server.requests)
    assert _writer(thread, cache=cache).write(stock_facts()).fallback is None
    assert len(server.requests) == requests + 1


def test_the_cost_cap_stops_the_writer_before_any_call(fake) -> None:  # type: ignore[no-untyped-def]
    server, thread = fake
    writer = _writer(thread, entry=_entry(daily_cost_cap_usd=0.001))
    first, second = writer.write(stock_facts()), writer.write(market_facts())
    assert server.requests == []
    assert first.generator == second.generator == "template"
    assert first.fallback is not None and first.fallback.startswith("cost cap") and second.fallback == first.fallback


def test_the_sandbox_answers_a_faithful_report_and_its_faults_break_the_rules(sandbox) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"{sandbox.url}/v1")  # type: ignore[call-arg]
    writer = ReportWriter(_entry(), client_factory=lambda e: default_client_factory(e, settings))
    for facts in (stock_facts(), market_facts()):
        report = writer.write(facts)
        assert report.fallback is None and report.generator == "gpt-4o-2024-08-06", report.fallback
        assert "[1]" in report.markdown.split("## Summary")[1]
    stats = httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]
    assert stats["chat_report_requests"] == 2 and stats["chat_requests"] == 2

    for kind, reason in (
        ("report_invented_number", "12.34%"),
        ("report_unknown_citation", "unknown source"),
        ("malformed_content", "link(s) not among the sources"),
        ("refusal", "refused"),
    ):
        fault = {"path_contains": "/v1/chat/completions", "kind": kind, "count": 2}
        assert httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).status_code == 200
        report = ReportWriter(_entry(), client_factory=lambda e: default_client_factory(e, settings)).write(
            stock_facts()
        )
        assert report.generator == "template" and report.fallback is not None and reason in report.fallback, kind


def test_report_model_setting_chooses_the_writer() -> None:
    def settings(**values: str) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[arg-type]

    assert configured_writer(None, settings(REPORT_MODEL=""))[0] is None
    writer, note = configured_writer(None, settings(REPORT_MODEL="gpt-4o"))
    assert writer is None and "no key for provider openai" in note
    writer, note = configured_writer(None, settings(REPORT_MODEL="gpt-4o", OPENAI_API_KEY=KEY))
    assert writer is not None and writer.generator == "gpt-4o-2024-08-06" and KEY not in note
    assert "not an LLM" in configured_writer(None, settings(REPORT_MODEL="momentum"))[1]
    assert "unknown model" in configured_writer(None, settings(REPORT_MODEL="nope"))[1]


def test_the_sandbox_recognises_the_writers_marker() -> None:
    assert is_report_request(build_messages(stock_facts())[0]["content"])
    assert not is_report_request("You are a financial analyst. Answer with one JSON object.")


def test_check_reads_numbers_as_written() -> None:
    facts = stock_facts()
    text = build_messages(facts)[1]["content"]
    sources = facts.sources()

    def problems(answer: str) -> list[str]:
        return check(answer, facts_text=text, sources=sources).problems

    assert problems("삼성전자 fell -0.85%? No: it rose 0.85% [1].") == []  # signs aside, as written
    assert problems("gpt-4o and deepseek-v3 agree with news_tone [1].") == []  # digits in names are not numbers
    assert problems("Sources [1, 2; 3] and [2][3].") == []
    assert problems("4분기 실적 [1].") == ["number(s) not in the facts: ['4']"]  # digits before Hangul count
    assert problems("3분기 영업이익 9조원 [2].") == []  # as the headline writes them
    assert problems("It closed at 71500 [1].") == ["number(s) not in the facts: ['71500']"]
    assert problems("[0] and [1]")[0].startswith("citation(s) of unknown source(s) [0]")
