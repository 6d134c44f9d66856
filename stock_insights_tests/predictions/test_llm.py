"""LLM predictors through the real ``openai`` SDK against the sandbox over HTTP: both providers, every
fault, the answer cache, cost, cached tokens and the daily cap (SQL parts on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine

from stock_insights.llm import (
    CostCapReached,
    LLMAnswerError,
    LLMCallError,
    LLMConfigurationError,
    LLMCounters,
    MemoryAnswerCache,
    MemorySpendLedger,
    SqlLLMCache,
    SqlSpendLedger,
    default_client_factory,
)
from stock_insights.predictors.base import DocumentInput, PredictionOutput
from stock_insights.predictors.llm import LLMPredictor
from stock_insights.predictors.prompts import evidence_id, text_citations
from stock_insights.predictors.store import upsert_predictions
from stock_insights.settings import Settings
from stock_insights.storage.db import make_engine, session_scope, upsert, utcnow
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import Stock
from stock_insights_tests.predictions.conftest import TARGET, doc, entry, make_input


def _stats(sandbox) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]


def _fault(sandbox, kind: str, count: int = 1, path: str = "/chat/completions") -> None:  # type: ignore[no-untyped-def]
    httpx.post(
        f"{sandbox.url}/_sandbox/faults", json={"path_contains": path, "kind": kind, "count": count}
    ).raise_for_status()


def _engine(url: str) -> Engine:
    upgrade(url)
    return make_engine(url)


def _add_stock(engine: Engine, code: str = "005930") -> None:
    now = utcnow()
    with session_scope(engine) as session:
        upsert(session, Stock.__table__, [  # type: ignore[arg-type]
            {"code": code, "name": "삼성전자", "market": "KOSPI", "aliases": [], "active": True,
             "created_at": now, "updated_at": now}
        ])


def _prediction_row(output: PredictionOutput, model: str, created_at: datetime, as_of_minutes: int = 0) -> dict:
    data = make_input()
    return {
        "model": model, "code": data.code, "target_date": TARGET, "horizon": 1,
        "as_of": data.as_of + timedelta(minutes=as_of_minutes), "direction": output.direction,
        "prob_up": output.prob_up, "expected_return": output.expected_return,
        "rationale": output.rationale.model_dump(), "cited_inputs": output.cited_inputs,
        "prompt_version": output.prompt_version, "prompt_tokens": output.usage.prompt_tokens,
        "completion_tokens": output.usage.completion_tokens, "cached_tokens": output.usage.cached_tokens,
        "cost_usd": output.usage.cost_usd, "replay": output.usage.replay, "created_at": created_at,
    }


# --- the two providers ----------------------------------------------------------------------------

def test_gpt4o_answers_through_strict_structured_outputs(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    cache = MemoryAnswerCache()
    gpt = entry("gpt-4o")
    predictor = LLMPredictor(gpt, client_factory=client_factory, cache=cache, counters=counters)
    data = make_input()
    out = predictor.predict(data)

    assert out is not None and out.direction in ("up", "down", "flat") and 0 <= out.prob_up <= 1
    assert out.prompt_version == "v1" and out.rationale.summary and out.rationale.positive
    shown = {evidence_id(d) for d in data.documents}
    cited = {f"{d['doc_type']}:{d['doc_id']}" for d in out.cited_inputs["documents"]}  # type: ignore[index, union-attr]
    assert cited and cited <= shown
    assert [p["close"] for p in out.cited_inputs["prices"]] == [b.close for b in data.prices[-21:]]  # type: ignore[index]

    usage = out.usage
    assert usage.prompt_tokens > 1024 and usage.completion_tokens > 0 and not usage.replay
    assert gpt.prices is not None
    assert usage.cost_usd == pytest.approx(gpt.prices.cost(usage.prompt_tokens, usage.completion_tokens,
                                                           usage.cached_tokens))
    assert counters.get("gpt-4o")["calls"] == 1 and counters.get("gpt-4o")["answers"] == 1
    stats = _stats(sandbox)
    assert stats["chat_requests"] == 1 and stats["chat_openrouter_requests"] == 0

    (row,) = cache._rows.values()
    assert row.response["served_model"] == "gpt-4o-2024-08-06"  # the snapshot the server says answered
    assert row.response["request"]["response_format"]["json_schema"]["strict"] is True
    assert row.usage["cost_usd"] == pytest.approx(usage.cost_usd) and row.model == "gpt-4o-2024-08-06"


def test_deepseek_through_openrouter_json_mode_pinned_and_costed(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    # A model id the sandbox prices differently from the registry: the reported usage.cost must win.
    deepseek = entry("deepseek-v3", model="deepseek/deepseek-chat-v3.1")
    cache = MemoryAnswerCache()
    out = LLMPredictor(deepseek, client_factory=client_factory, cache=cache, counters=counters).predict(make_input())

    assert out is not None and out.usage.cost_usd > 0
    sandbox_price = ((out.usage.prompt_tokens - out.usage.cached_tokens) * 0.50 + out.usage.cached_tokens * 0.125
                     + out.usage.completion_tokens * 1.50) / 1e6
    assert deepseek.prices is not None
    registry_price = deepseek.prices.cost(out.usage.prompt_tokens, out.usage.completion_tokens, out.usage.cached_tokens)
    assert out.usage.cost_usd == pytest.approx(sandbox_price) != pytest.approx(registry_price)

    stats = _stats(sandbox)
    assert stats["chat_openrouter_requests"] == 1
    assert stats["chat_openrouter_attributed"] == 1  # HTTP-Referer and X-Title sent
    assert stats["chat_openrouter_pinned"] == 1  # provider pinned, fallbacks off
    (row,) = cache._rows.values()
    assert row.response["provider"] == "DeepSeek" and row.response["served_model"] == "deepseek/deepseek-chat-v3.1"
    assert row.response["request"]["response_format"] == {"type": "json_object"}


def test_a_local_openai_compatible_entry_uses_its_own_base_url_and_key_variable(
    sandbox, counters, monkeypatch: pytest.MonkeyPatch  # type: ignore[no-untyped-def]
) -> None:
    local = entry("local-llm", enabled=True, base_url=f"{sandbox.url}/v1", model="gpt-4o-mini")
    monkeypatch.setenv("LOCAL_LLM_API_KEY", "sk-local-server-key")  # named by api_key_env
    out = LLMPredictor(local, counters=counters).predict(make_input())  # the default factory
    assert out is not None and out.usage.prompt_tokens > 0 and out.usage.cost_usd == 0.0  # self-hosted: free
    assert _stats(sandbox)["chat_requests"] == 1 and counters.get("local-llm")["answers"] == 1


# --- faults ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["malformed_content", "truncated", "refusal", "invalid_schema"])
def test_a_bad_answer_is_retried_and_counted(sandbox, client_factory, counters, kind: str) -> None:  # type: ignore[no-untyped-def]
    _fault(sandbox, kind)
    name = "gpt-4o" if kind != "malformed_content" else "deepseek-v3"
    predictor = LLMPredictor(entry(name), client_factory=client_factory, counters=counters)
    out = predictor.predict(make_input())

    assert out is not None
    expected = {"malformed_content": "invalid_json", "invalid_schema": "schema_violation"}.get(kind, kind)
    counts = counters.get(name)
    assert counts[expected] == 1 and counts["calls"] == 2 and counts["answers"] == 1 and counts["exhausted"] == 0
    assert _stats(sandbox)["chat_requests"] == 2 and _stats(sandbox)["chat_content_faults"] == 1
    # The failed call is paid for too: usage covers both calls.
    single = LLMPredictor(entry(name), client_factory=client_factory, counters=LLMCounters()).predict(
        make_input("000660", "SK하이닉스"))
    assert single is not None and out.usage.completion_tokens > 0
    assert out.usage.prompt_tokens > 1.5 * single.usage.prompt_tokens


def test_exhausted_retries_are_a_clear_failure_counted_per_model(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    _fault(sandbox, "invalid_schema", count=3)
    cache = MemoryAnswerCache()
    predictor = LLMPredictor(entry("deepseek-v3"), client_factory=client_factory, cache=cache, counters=counters)
    with pytest.raises(LLMAnswerError, match=r"model deepseek-v3 gave no valid answer in 3 attempt\(s\)") as error:
        predictor.predict(make_input())
    assert [kind for kind, _ in error.value.failures] == ["schema_violation"] * 3
    assert "prob_up" in str(error.value) and error.value.usage.cost_usd > 0
    assert counters.get("deepseek-v3")["exhausted"] == 1 and counters.get("deepseek-v3")["schema_violation"] == 3
    assert counters.get("gpt-4o")["exhausted"] == 0 and not cache._rows  # a failure is never cached


def test_rate_limits_are_retried_by_the_sdk(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    _fault(sandbox, "openai_429", count=2)
    out = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, counters=counters).predict(make_input())
    assert out is not None and counters.get("gpt-4o")["calls"] == 1
    assert _stats(sandbox)["chat_requests"] == 1  # two refused, the third answered

    _fault(sandbox, "openai_500", count=10)
    quick = entry("gpt-4o", sdk_max_retries=0)
    with pytest.raises(LLMCallError, match=r"model gpt-4o: .*InternalServerError \(HTTP 500\)"):
        LLMPredictor(quick, client_factory=client_factory, counters=counters).predict(make_input("000660"))
    assert counters.get("gpt-4o")["api_error"] == 1


def _cited(out: PredictionOutput) -> list[str]:
    return [f"{d['doc_type']}:{d['doc_id']}" for d in out.cited_inputs["documents"]]  # type: ignore[index, union-attr]


def _rationale_citations(out: PredictionOutput) -> set[str]:
    texts = [*out.rationale.positive, *out.rationale.concerns, out.rationale.summary]
    return {c for text in texts for c in text_citations(text)}


def _toned_documents() -> list[DocumentInput]:
    """Twelve documents with tone words both ways: the sandbox's lists cite up to six of them, its evidence_ids four."""
    words = ["호실적", "부진", "강세", "약세", "수주", "소송", "보합"]
    return [doc(str(300 + i), f"삼성전자 {words[i % 7]} 소식", f"{words[(3 * i) % 7]} 기사", i + 1) for i in range(12)]


def test_every_document_the_rationale_cites_is_recorded_with_its_first_sighting(  # type: ignore[no-untyped-def]
    sandbox, client_factory, counters
) -> None:
    """The cause of issue 13 §2: the answer's lists cite documents its evidence_ids leave out, and cited_inputs
    used to record the evidence_ids only. Now every cited document of the prompt is recorded."""
    data = make_input(documents=_toned_documents())
    cache = MemoryAnswerCache()
    out = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, cache=cache, counters=counters).predict(data)
    assert out is not None and out.citations_removed == []
    (row,) = cache._rows.values()
    in_text = _rationale_citations(out)
    assert not in_text <= set(row.response["answer"]["evidence_ids"])  # the sandbox cites more than it lists
    assert in_text and in_text <= set(_cited(out))
    shown = {evidence_id(d): d for d in data.documents}
    for recorded in out.cited_inputs["documents"]:  # type: ignore[union-attr]
        source = shown[f"{recorded['doc_type']}:{recorded['doc_id']}"]
        assert datetime.fromisoformat(recorded["first_seen_at"]) == source.first_seen_at < data.as_of
    assert _stats(sandbox)["chat_requests"] == 1 and counters.get("gpt-4o")["citation_retries"] == 0


def test_an_answer_citing_documents_never_shown_is_asked_again_once(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    _fault(sandbox, "unknown_evidence")
    data = make_input()
    cache = MemoryAnswerCache()
    out = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, cache=cache, counters=counters).predict(data)
    assert out is not None and out.citations_removed == []
    counts = counters.get("gpt-4o")
    assert counts["calls"] == 2 and counts["citation_retries"] == 1 and counts["citations_removed"] == 0
    assert _stats(sandbox)["chat_requests"] == 2 and _stats(sandbox)["chat_content_faults"] == 1
    cited = _cited(out)
    assert cited and set(cited) <= {evidence_id(d) for d in data.documents}
    assert _rationale_citations(out) <= set(cited)
    (row,) = cache._rows.values()
    assert row.response["citation_retried"] and row.response["unknown_citations"] == []
    # Only the given documents were in the request.
    sent = "\n".join(m["content"] for m in row.response["request"]["messages"])
    assert {evidence_id(d) for d in data.documents} <= set(re.findall(r"\[([a-z]+:\d+)\]", sent))
    assert "news:999999999" not in sent


def test_citations_still_unknown_after_the_correction_are_removed_and_counted(  # type: ignore[no-untyped-def]
    sandbox, client_factory, counters
) -> None:
    _fault(sandbox, "unknown_evidence", count=2)
    data = make_input()
    cache = MemoryAnswerCache()
    predictor = LLMPredictor(entry("deepseek-v3"), client_factory=client_factory, cache=cache, counters=counters)
    out = predictor.predict(data)
    assert out is not None
    unknown = ["news:999999999", "disclosure:00000000000000", "news:888888888"]
    assert out.citations_removed == unknown
    counts = counters.get("deepseek-v3")
    assert counts["calls"] == 2 and counts["citation_retries"] == 1  # asked again once, not more
    assert counts["citations_removed"] == 3 and counts["dropped_evidence_ids"] == 2
    stored = out.rationale.model_dump_json()
    assert not any(u in stored for u in unknown) and "A lawsuit is said to be coming" in stored
    assert set(_cited(out)) <= {evidence_id(d) for d in data.documents}
    assert _rationale_citations(out) <= set(_cited(out))
    (row,) = cache._rows.values()
    assert row.response["unknown_citations"] == unknown  # the model's answer is cached as given
    # A replay is checked the same way: the same clean rationale, the removal counted again.
    again = predictor.predict(data)
    assert again is not None and again.usage.replay and _stats(sandbox)["chat_requests"] == 2
    assert again.model_dump(exclude={"usage"}) == out.model_dump(exclude={"usage"})
    assert counters.get("deepseek-v3")["citations_removed"] == 6


def test_without_a_retry_left_the_unknown_citations_are_removed(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    _fault(sandbox, "unknown_evidence")
    out = LLMPredictor(entry("gpt-4o", max_attempts=1), client_factory=client_factory, counters=counters).predict(
        make_input())
    assert out is not None and len(out.citations_removed) == 3
    assert counters.get("gpt-4o")["calls"] == 1 and counters.get("gpt-4o")["citation_retries"] == 0


# --- cache, cached tokens, cost cap ---------------------------------------------------------------

def test_a_cached_answer_is_replayed_without_a_call(sandbox, client_factory, database_url) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(database_url)
    counters = LLMCounters()
    first = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, cache=SqlLLMCache(engine),
                         counters=counters).predict(make_input())

    def no_client(_entry):  # type: ignore[no-untyped-def]
        raise AssertionError("a replay must not build a client")

    # Another process: fresh predictor, same SQL cache, no key at all.
    again = LLMPredictor(entry("gpt-4o"), client_factory=no_client, cache=SqlLLMCache(engine),
                         counters=counters).predict(make_input())
    assert first is not None and again is not None
    assert again.usage.replay and again.usage.cost_usd == 0 and again.usage.prompt_tokens == 0
    assert again.model_dump(exclude={"usage"}) == first.model_dump(exclude={"usage"})
    assert _stats(sandbox)["chat_requests"] == 1
    assert counters.get("gpt-4o")["replays"] == 1 and counters.get("gpt-4o")["calls"] == 1
    assert SqlLLMCache(engine).count() == 1

    # Another model or other parameters are another key: a call.
    warmer = entry("gpt-4o", parameters=entry("gpt-4o").parameters.model_copy(update={"temperature": 0.3}))  # type: ignore[union-attr]
    LLMPredictor(warmer, client_factory=client_factory, cache=SqlLLMCache(engine)).predict(make_input())
    assert _stats(sandbox)["chat_requests"] == 2 and SqlLLMCache(engine).count() == 2
    # put is insert-if-absent: the first answer stays.
    cache = SqlLLMCache(engine)
    probe = LLMPredictor(entry("gpt-4o"))
    key = probe.cache_key(probe.render(make_input()))
    before = cache.get(key)
    cache.put(key, provider="openai", model="x", response={"answer": {}}, usage={})
    assert before is not None and cache.get(key) == before
    engine.dispose()


def test_cached_prompt_tokens_are_reported_and_priced(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    gpt = entry("gpt-4o")
    predictor = LLMPredictor(gpt, client_factory=client_factory, counters=counters)
    cold = predictor.predict(make_input())
    warm = predictor.predict(make_input("000660", "SK하이닉스"))  # another stock: same static prefix
    assert cold is not None and warm is not None
    assert cold.usage.cached_tokens == 0
    assert warm.usage.cached_tokens >= 1024 and warm.usage.cached_tokens % 128 == 0
    assert warm.usage.cached_tokens < warm.usage.prompt_tokens
    assert gpt.prices is not None
    full = gpt.prices.cost(warm.usage.prompt_tokens, warm.usage.completion_tokens)
    assert warm.usage.cost_usd == pytest.approx(
        full - warm.usage.cached_tokens * (2.50 - 1.25) / 1e6
    )
    assert _stats(sandbox)["chat_cached_tokens"] == warm.usage.cached_tokens


def test_the_daily_cost_cap_stops_the_model_before_a_call(sandbox, client_factory, database_url) -> None:  # type: ignore[no-untyped-def]
    engine = _engine(database_url)
    _add_stock(engine)
    now = utcnow()
    ledger = SqlSpendLedger(engine, now=lambda: now)
    template = PredictionOutput(direction="up", prob_up=0.6, expected_return=0.01, rationale={"summary": ""},  # type: ignore[arg-type]
                                cited_inputs={}, usage={"cost_usd": 4.995})  # type: ignore[arg-type]
    with session_scope(engine) as session:
        upsert_predictions(session, [_prediction_row(template, "gpt-4o", created_at=now)])
    counters = LLMCounters()
    cache = SqlLLMCache(engine)
    predictor = LLMPredictor(entry("gpt-4o"), client_factory=client_factory, cache=cache, spend=ledger,
                             counters=counters)
    with pytest.raises(CostCapReached) as error:
        predictor.predict(make_input())
    message = str(error.value)
    assert "model gpt-4o stopped: daily cost cap $5.00 reached" in message and "No call was made" in message
    assert error.value.spent_usd == pytest.approx(4.995)
    assert _stats(sandbox)["chat_requests"] == 0 and counters.get("gpt-4o")["cost_cap"] == 1
    # Other models have their own cap.
    other = LLMPredictor(entry("deepseek-v3"), client_factory=client_factory, spend=ledger, counters=counters)
    assert other.predict(make_input()) is not None
    engine.dispose()


def test_process_spend_counts_toward_the_cap(sandbox, client_factory, counters) -> None:  # type: ignore[no-untyped-def]
    probe = LLMPredictor(entry("gpt-4o"))
    rendered = probe.render(make_input())
    estimate = probe._estimate(rendered.messages, 900)
    ledger = MemorySpendLedger()
    predictor = LLMPredictor(entry("gpt-4o", daily_cost_cap_usd=estimate * 1.2), client_factory=client_factory,
                             spend=ledger, counters=counters)
    first = predictor.predict(make_input())
    assert first is not None and ledger.spent_today("gpt-4o") == pytest.approx(first.usage.cost_usd)
    with pytest.raises(CostCapReached):
        predictor.predict(make_input("000660", "SK하이닉스"))
    assert _stats(sandbox)["chat_requests"] == 1
    # A replay costs nothing and stays available once capped.
    replay = predictor.predict(make_input())
    assert replay is not None and replay.usage.replay


def test_the_sql_ledger_sums_today_kst_without_counting_twice(database_url: str) -> None:
    engine = _engine(database_url)
    _add_stock(engine)
    # 2026-10-05 00:30 KST is 2026-10-04 15:30 UTC: the KST day has started, the UTC one has not.
    now = datetime(2026, 10, 4, 15, 30, tzinfo=UTC)
    template = PredictionOutput(direction="up", prob_up=0.6, expected_return=0.01, rationale={"summary": ""},  # type: ignore[arg-type]
                                cited_inputs={}, usage={"cost_usd": 0.5})  # type: ignore[arg-type]

    def write(cost: float, created_at: datetime, minutes: int, model: str = "gpt-4o") -> None:
        row = _prediction_row(template.model_copy(update={"usage": template.usage.model_copy(
            update={"cost_usd": cost})}), model, created_at, minutes)
        with session_scope(engine) as session:
            upsert_predictions(session, [row])

    write(0.5, now - timedelta(minutes=10), 0)  # 00:20 KST today
    write(9.0, now - timedelta(minutes=31), 1)  # 23:59 KST yesterday: not today
    write(7.0, now - timedelta(minutes=5), 2, model="deepseek-v3")  # another model
    ledger = SqlSpendLedger(engine, now=lambda: now)
    assert ledger.spent_today("gpt-4o") == pytest.approx(0.5)
    ledger.record("gpt-4o", 0.2)  # this process's call
    assert ledger.spent_today("gpt-4o") == pytest.approx(0.7)
    write(0.2, now, 3)  # this process writes that prediction: not counted twice
    assert ledger.spent_today("gpt-4o") == pytest.approx(0.7)
    write(0.6, now, 4)  # another process spends: seen once it shows in the table
    assert ledger.spent_today("gpt-4o") == pytest.approx(1.3)
    engine.dispose()


# --- configuration errors -------------------------------------------------------------------------

def test_a_missing_key_is_a_clear_error_only_when_a_call_is_needed(sandbox) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(_env_file=None, OPENAI_BASE_URL=f"{sandbox.url}/v1")  # type: ignore[call-arg]
    predictor = LLMPredictor(entry("gpt-4o"), client_factory=lambda e: default_client_factory(e, settings))
    with pytest.raises(LLMConfigurationError, match="model gpt-4o needs OPENAI_API_KEY, which is not set"):
        predictor.predict(make_input())
    assert predictor.predict(make_input(n_prices=0)) is None  # nothing to forecast against


def test_a_bad_key_is_refused_without_echoing_it(sandbox) -> None:  # type: ignore[no-untyped-def]
    secret = "not-a-real-key-123456"
    settings = Settings(_env_file=None, OPENAI_API_KEY=secret, OPENAI_BASE_URL=f"{sandbox.url}/v1")  # type: ignore[call-arg]
    predictor = LLMPredictor(entry("gpt-4o", sdk_max_retries=0),
                             client_factory=lambda e: default_client_factory(e, settings))
    with pytest.raises(LLMCallError) as error:
        predictor.predict(make_input())
    assert secret not in str(error.value) and "AuthenticationError (HTTP 401)" in str(error.value)
