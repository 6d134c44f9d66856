"""The LLM gateway's circuit breaker, the forecasts' coverage check and the one spend ledger.

A local server answers the OpenAI chat-completions wire format with HTTP 500 and counts the requests: the
breaker must stop calling after LLM_BREAKER_FAILURES calls (call counts, not time). Malformed answers from
the sandbox leave forecasts missing: the non-blocking coverage check of predictions/daily fails on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import dagster as dg
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openai import OpenAI

from stock_insights.llm import (
    CircuitBreaker,
    CostCapReached,
    LLMCallError,
    LLMCircuitOpen,
    LLMCounters,
    MemoryAnswerCache,
    MemorySpendLedger,
    SqlLLMCache,
    SqlSpendLedger,
    default_client_factory,
)
from stock_insights.predictors.config import ModelEntry
from stock_insights.predictors.daily import DailyInputs, cutoff_for, forecast_days
from stock_insights.predictors.llm import LLMPredictor
from stock_insights.reports.writer import ReportWriter
from stock_insights.settings import Settings, reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope, utcnow
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import User, WatchlistItem
from stock_insights_tests.conftest import ServerThread
from stock_insights_tests.predictions.conftest import KEY, entry, make_input
from stock_insights_tests.reports.facts_samples import stock_facts
from stock_insights_tests.test_slice_end_to_end import materialize


class FailingOpenAI:
    """/v1/chat/completions answers 500 (an OpenAI-shaped error body) to every request, and counts them."""

    def __init__(self) -> None:
        self.requests = 0
        self.app = FastAPI()

        @self.app.post("/v1/chat/completions")
        async def chat(request: Request) -> JSONResponse:
            await request.json()
            self.requests += 1
            return JSONResponse(
                {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}},
                status_code=500,
            )


@pytest.fixture
def failing() -> Iterator[tuple[FailingOpenAI, ServerThread]]:
    server = FailingOpenAI()
    with ServerThread(server.app) as thread:
        yield server, thread


def _factory(thread: ServerThread) -> Any:
    def factory(e: ModelEntry) -> OpenAI:
        return OpenAI(api_key=KEY, base_url=f"{thread.url}/v1", max_retries=e.sdk_max_retries, timeout=5)

    return factory


def _inputs(n_stocks: int, day: date = date(2026, 10, 5)) -> DailyInputs:
    codes = [f"{i:06d}" for i in range(1, n_stocks + 1)]
    closes = {code: {day - timedelta(days=k): 10_000.0 + k for k in range(1, 31)} for code in codes}
    return DailyInputs(
        days=[day],
        cutoffs={day: cutoff_for(day)},
        stocks={code: f"stock {code}" for code in codes},
        closes=closes,
        documents={(day, code): [] for code in codes},
        llm_codes={day: codes},
    )


class _Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(msg)


# --- the circuit breaker ----------------------------------------------------------------------------


def test_the_breaker_opens_after_n_failed_calls_and_refuses_the_rest(  # type: ignore[no-untyped-def]
    failing, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, thread = failing
    monkeypatch.setenv("LLM_BREAKER_FAILURES", "3")
    reset_settings_cache()
    counters = LLMCounters()
    # One SDK retry per call: every failed call is two HTTP requests.
    predictor = LLMPredictor(entry("gpt-4o", sdk_max_retries=1), client_factory=_factory(thread), counters=counters)
    assert predictor.gateway.breaker.threshold == 3  # from the setting

    for i in range(2):
        with pytest.raises(LLMCallError) as error:
            predictor.predict(make_input(f"00000{i}"))
        assert not isinstance(error.value, LLMCircuitOpen) and "HTTP 500" in str(error.value)
    with pytest.raises(LLMCircuitOpen, match=r"model gpt-4o: circuit open after 3 consecutive failed call\(s\)"):
        predictor.predict(make_input("000002"))
    assert server.requests == 3 * 2
    for i in range(3, 10):  # refused at once: no request, no reservation, counted
        with pytest.raises(LLMCircuitOpen, match="HTTP 500"):
            predictor.predict(make_input(f"00000{i}"))
    assert server.requests == 3 * 2
    counts = counters.get("gpt-4o")
    assert counts["api_error"] == 3 and counts["circuit_open"] == 1 + 7 and counts["calls"] == 0
    assert KEY not in str(predictor.gateway.breaker.last_failure)
    reset_settings_cache()


def test_a_success_resets_the_count_and_zero_never_opens() -> None:
    breaker = CircuitBreaker(2)
    assert not breaker.failure("a")
    breaker.success()
    assert not breaker.failure("b") and breaker.failure("c") and breaker.open
    breaker.success()  # an answer in flight does not close an open circuit
    assert breaker.open
    never = CircuitBreaker(0)
    assert not any(never.failure(str(i)) for i in range(50)) and not never.open


def test_64_forecasts_with_every_call_failing_make_three_calls(failing) -> None:  # type: ignore[no-untyped-def]
    """The hardening issue's run: every chat call fails. The breaker stops the model after three calls, the
    rest of the forecasts are missing (counted, and under the coverage threshold), none waits for a call."""
    server, thread = failing
    counters = LLMCounters()
    predictor = LLMPredictor(entry("gpt-4o", sdk_max_retries=0), client_factory=_factory(thread), counters=counters,
                             breaker=CircuitBreaker(3))
    log = _Log()
    result = forecast_days({"gpt-4o": predictor}, _inputs(64), [1], log)

    assert server.requests == 3 and counters.get("gpt-4o")["api_error"] == 3
    assert result.rows == [] and result.failures["gpt-4o"] == 2 and "circuit open" in result.circuit_open["gpt-4o"]
    (tally,) = result.tallies.values()
    assert (tally.expected, tally.made, tally.failed, tally.stopped, tally.missing) == (64, 0, 2, 62, 64)
    assert result.missing == 64 and result.missing_by_model() == {"gpt-4o": 64}
    assert result.below(0.9) == ["gpt-4o 2026-10-05: 0 of 64 forecasts (0% < 90%)"]
    assert any("stopped for the run" in w for w in log.warnings)


def test_the_report_writer_falls_back_once_the_circuit_is_open(failing) -> None:  # type: ignore[no-untyped-def]
    server, thread = failing
    writer = ReportWriter(entry("gpt-4o", sdk_max_retries=0), client_factory=_factory(thread),
                          cache=MemoryAnswerCache(), breaker=CircuitBreaker(2))
    reports = [writer.write(stock_facts()) for _ in range(5)]
    assert server.requests == 2
    assert all(r.generator == "template" for r in reports)
    assert "HTTP 500" in (reports[0].fallback or "") and "circuit open" in (reports[1].fallback or "")
    assert all("circuit open" in (r.fallback or "") for r in reports[2:])


# --- coverage through Dagster -----------------------------------------------------------------------


def test_malformed_answers_fail_the_coverage_check_but_not_the_run(  # type: ignore[no-untyped-def]
    sandbox_env: str, sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sandbox-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", f"{sandbox.url}/v1")
    monkeypatch.setenv("LLM_SUBSET_TOP_NEWS", "0")  # the watched stocks only
    reset_settings_cache()

    def no_milvus() -> None:
        raise ConnectionError("no Milvus in this test")

    monkeypatch.setattr("stock_insights.defs.predictions.assets._open_store", lambda embeddings: no_milvus())
    day = date(2026, 10, 28)
    assert materialize([["universe", "stocks"]]).success
    assert materialize([["kis", "daily_bars"]], date(2026, 9, 1), day).success
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        user = User(email="c@example.com", password_hash="x", role="user", created_at=utcnow())
        session.add(user)
        session.flush()
        for code in ("005930", "000660"):
            session.add(WatchlistItem(user_id=user.id, code=code, added_at=utcnow()))
    engine.dispose()
    # Three malformed answers: gpt-4o's first forecast exhausts its three attempts, the second is answered.
    fault = {"path_contains": "/chat/completions", "kind": "malformed_content", "count": 3}
    httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault).raise_for_status()

    instance = dg.DagsterInstance.ephemeral()
    result = materialize([["predictions", "daily"]], day, day, instance)
    assert result.success  # the check does not block
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "forecast_coverage"]
    assert not check.passed
    below = check.metadata["below_threshold"].value
    assert below == ["gpt-4o 2026-10-28: 1 of 2 forecasts (50% < 90%)"]
    assert check.metadata["forecasts_missing_by_model"].value == {"gpt-4o": 1}
    metadata = instance.get_latest_materialization_event(
        dg.AssetKey(["predictions", "daily"])
    ).asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["forecasts_missing"].value == 1 and metadata["answer_failures"].value == {"gpt-4o": 1}
    coverage = metadata["coverage"].value
    assert coverage["gpt-4o"][day.isoformat()] == {
        "expected": 2, "made": 1, "declined": 0, "missing": 1, "coverage": 0.5,
    }  # fmt: skip
    assert all(c[day.isoformat()]["missing"] == 0 for m, c in coverage.items() if m != "gpt-4o")
    assert "Milvus unavailable (ConnectionError)" in metadata["retrieval"].value
    reset_settings_cache()


# --- one spend ledger -------------------------------------------------------------------------------


def test_forecasts_and_reports_spend_in_one_ledger(sandbox, client_factory) -> None:  # type: ignore[no-untyped-def]
    ledger = MemorySpendLedger()
    cache = MemoryAnswerCache()
    forecast = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, cache=cache, spend=ledger,
                            counters=LLMCounters()).predict(make_input())
    settings = Settings(_env_file=None, OPENAI_API_KEY=KEY, OPENAI_BASE_URL=f"{sandbox.url}/v1")  # type: ignore[call-arg]
    report = ReportWriter(entry("gpt-4o"), client_factory=lambda e: default_client_factory(e, settings), cache=cache,
                          spend=ledger).write(stock_facts())
    assert forecast is not None and report.fallback is None and report.cost_usd > 0
    by_purpose = ledger.spent_by_purpose("gpt-4o")
    assert by_purpose == pytest.approx({"forecast": forecast.usage.cost_usd, "report": report.cost_usd})
    assert ledger.spent_today("gpt-4o") == pytest.approx(forecast.usage.cost_usd + report.cost_usd)
    assert sorted(row.usage["kind"] for row in cache._rows.values()) == ["forecast", "report"]


def test_report_spend_stops_the_forecasts_of_the_same_model(sandbox, client_factory, database_url) -> None:  # type: ignore[no-untyped-def]
    """The reports' spend (llm_cache, kind "report") counts toward the forecasts' daily cap, as the forecasts'
    spend (predictions.cost_usd) counts toward the reports'."""
    upgrade(database_url)
    engine = make_engine(database_url)
    now = utcnow()
    SqlLLMCache(engine).put("r" * 64, provider="openai", model="gpt-4o-2024-08-06", response={},
                            usage={"cost_usd": 4.995, "registry_model": "gpt-4o", "kind": "report"})
    ledger = SqlSpendLedger(engine, now=lambda: now)
    assert ledger.spent_today("gpt-4o") == pytest.approx(4.995)
    predictor = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, spend=ledger, counters=LLMCounters())
    with pytest.raises(CostCapReached):
        predictor.predict(make_input())
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]["chat_requests"] == 0
    engine.dispose()
