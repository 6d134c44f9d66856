"""The model registry, the prompt, the answer schema and the answer's validation (offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from stock_insights.embeddings.tokens import count_tokens
from stock_insights.predictors.base import PredictionInput
from stock_insights.predictors.config import RegistryError, load_registry, parse_registry
from stock_insights.predictors.llm import LLMPredictor, cache_key
from stock_insights.predictors.prompts import (
    ANSWER_SCHEMA,
    PROMPT_VERSION,
    ForecastAnswer,
    check_citations,
    filter_evidence,
    render_prompt,
    response_format,
    text_citations,
    without_citations,
)
from stock_insights_tests.predictions.conftest import doc, entry, make_input

LLM_ENTRY = {
    "name": "m",
    "provider": "openai",
    "model": "gpt-4o",
    "prompt_version": "v1",
    "response_mode": "json_schema",
    "prices": {"input_per_million": 2.5, "output_per_million": 10},
    "daily_cost_cap_usd": 1,
}


# --- registry -------------------------------------------------------------------------------------

def test_the_packaged_registry_lists_llms_and_baselines() -> None:
    registry = load_registry()
    assert registry.names == ["momentum", "news_tone", "gpt-4o", "deepseek-v3", "local-llm"]
    assert [m.name for m in registry.enabled(llm=False)] == ["momentum", "news_tone"]
    assert [m.name for m in registry.enabled(llm=True)] == ["gpt-4o", "deepseek-v3"]

    gpt = registry.get("gpt-4o")
    assert (gpt.provider, gpt.model, gpt.response_mode, gpt.prompt_version) == (
        "openai", "gpt-4o-2024-08-06", "json_schema", PROMPT_VERSION
    )
    assert gpt.prices is not None and gpt.prices.cost(1_000_000, 1_000_000, cached_tokens=500_000) == pytest.approx(
        0.5 * 2.5 + 0.5 * 1.25 + 10.0
    )
    deepseek = registry.get("deepseek-v3")
    assert (deepseek.provider, deepseek.model, deepseek.response_mode) == (
        "openrouter", "deepseek/deepseek-chat-v3-0324", "json_object"
    )
    assert deepseek.openrouter is not None
    assert deepseek.openrouter.extra_body() == {
        "provider": {"allow_fallbacks": False, "require_parameters": True, "order": ["deepseek"]}
    }
    assert set(deepseek.openrouter.headers()) == {"HTTP-Referer", "X-Title"}
    local = registry.get("local-llm")
    assert local.provider == "openai_compatible" and not local.enabled and local.base_url
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        registry.get("nope")


def test_the_registry_path_and_values_come_from_the_environment(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "version: 1\nmodels:\n"
        "  - name: ds\n    provider: openrouter\n    model: ${DS_MODEL:-deepseek/deepseek-chat}\n"
        "    prompt_version: v1\n    response_mode: json_object\n    daily_cost_cap_usd: 1\n"
        "    prices: {input_per_million: 0.3, output_per_million: 1.1}\n"
        "  - name: local\n    provider: openai_compatible\n    base_url: ${LOCAL_URL}\n    model: llama3\n"
        "    prompt_version: v1\n    response_mode: json_object\n    daily_cost_cap_usd: 0\n"
        "    prices: {input_per_million: 0, output_per_million: 0}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MODEL_REGISTRY_PATH", str(path))
    monkeypatch.setenv("LOCAL_URL", "http://127.0.0.1:11434/v1")
    registry = load_registry()
    assert registry.get("ds").model == "deepseek/deepseek-chat"
    assert registry.get("local").base_url == "http://127.0.0.1:11434/v1"
    monkeypatch.setenv("DS_MODEL", "deepseek/deepseek-chat-v3.1")
    assert load_registry().get("ds").model == "deepseek/deepseek-chat-v3.1"
    monkeypatch.delenv("LOCAL_URL")
    with pytest.raises(RegistryError, match=r"\$\{LOCAL_URL\} is not set"):
        load_registry()


def test_registry_errors_are_clear_and_never_echo_a_key(tmp_path: Path) -> None:
    secret = "sk-live-should-never-be-printed"
    with pytest.raises(RegistryError) as error:
        parse_registry({"version": 1, "models": [
            {**LLM_ENTRY, "api_key": secret},
            {**LLM_ENTRY, "name": "n", "prices": None},
            {"name": "b", "provider": "baseline", "model": "x"},
            {**LLM_ENTRY, "name": "c", "provider": "anthropic"},
            {**LLM_ENTRY, "name": "d", "provider": "openai_compatible"},
        ]})
    message = str(error.value)
    assert secret not in message
    assert "models[0] (m): field(s) ['api_key'] look like a secret" in message
    assert "models[1] (n): an openai model needs ['prices']" in message
    assert "models[2] (b): a baseline takes no ['model']" in message
    assert "models[3] (c).provider: Input should be 'baseline', 'openai', 'openrouter' or 'openai_compatible'" \
        in message
    assert "models[4] (d): an openai_compatible model needs base_url" in message

    with pytest.raises(RegistryError, match=r"model names must be unique; repeated: \['m'\]"):
        parse_registry({"models": [LLM_ENTRY, LLM_ENTRY]})
    with pytest.raises(RegistryError, match="unknown prompt_version 'v9'"):
        parse_registry({"models": [{**LLM_ENTRY, "prompt_version": "v9"}]})
    (tmp_path / "bad.yaml").write_text("models: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(tmp_path / "bad.yaml")
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "missing.yaml")


# --- prompt ---------------------------------------------------------------------------------------

def test_the_prompt_puts_the_static_part_first_and_the_stock_last() -> None:
    samsung, hynix = render_prompt(make_input()), render_prompt(make_input("000660", "SK하이닉스"))
    assert [m["role"] for m in samsung.messages] == ["system", "user"]
    # Identical static system message: a cacheable prefix (>= 1024 tokens) shared by every stock.
    assert samsung.messages[0] == hynix.messages[0]
    assert count_tokens(samsung.messages[0]["content"]) >= 1024
    assert json.dumps(ANSWER_SCHEMA, indent=2) in samsung.messages[0]["content"]
    assert "삼성전자" not in samsung.messages[0]["content"] and "삼성전자 (005930)" in samsung.messages[1]["content"]

    user = samsung.messages[1]["content"]
    ids = re.findall(r"^\[([a-z]+:[^\]]+)\]", user, flags=re.MULTILINE)
    assert ids == ["news:101", "news:102", "disclosure:20261002000123"]  # newest first
    assert list(samsung.documents) == ids
    # 20 returns: 21 closes, the first only as a base; the last close is the previous session's.
    assert len(samsung.prices) == 21 and user.count("| +") + user.count("| -") == 20
    assert "5-session return:" in user and "20-session return:" in user
    assert "IS 202606 revenue: 74.10 조원" in user and "RATIO 202606 roe: 8.30" in user
    assert user.index("## Recent closes") < user.index("## Financial highlights") < user.index("## Documents")


def test_the_prompt_shows_only_the_given_documents_never_a_later_one() -> None:
    given = [doc("1", "삼성전자 신고가", "급등", 2), doc("2", "삼성전자 어닝쇼크", "급락", 30)]
    late = doc("3", "삼성전자 상한가", "cutoff 뒤에 처음 본 기사", -1)  # first seen after the cutoff
    with pytest.raises(ValidationError, match="first seen at or after the cutoff"):
        make_input(documents=[*given, late])

    data = make_input(documents=given)
    rendered = render_prompt(data)
    text = "\n".join(m["content"] for m in rendered.messages)
    assert set(re.findall(r"\[((?:news|disclosure|report):[^\]]+)\]", text)) == {"news:1", "news:2"}
    assert "상한가" not in rendered.messages[1]["content"] and "cutoff 뒤에" not in text
    assert all(d.first_seen_at < data.as_of for d in rendered.documents.values())


def test_the_document_cap_keeps_the_newest_and_cited_inputs_are_what_was_shown() -> None:
    docs = [doc(str(i), f"기사 {i}", "본문", hours_before=i + 1) for i in range(15)]
    data = make_input(documents=docs)
    predictor = LLMPredictor(entry("gpt-4o", prompt=entry("gpt-4o").prompt.model_copy(update={"max_documents": 3})))
    rendered = predictor.render(data)
    assert list(rendered.documents) == ["news:0", "news:1", "news:2"]
    cited = rendered.cited_inputs(data, ["news:2", "news:0"])
    assert [d["doc_id"] for d in cited["documents"]] == ["0", "2"]  # type: ignore[index]
    assert len(cited["prices"]) == 21 and cited["financials"] == ["IS:202606", "RATIO:202606"]  # type: ignore[arg-type]


def test_the_answer_schema_is_strict() -> None:
    assert ANSWER_SCHEMA["additionalProperties"] is False
    assert set(ANSWER_SCHEMA["required"]) == set(ANSWER_SCHEMA["properties"])
    assert set(ANSWER_SCHEMA["properties"]) == {
        "direction", "prob_up", "expected_return", "positive_developments", "potential_concerns", "summary",
        "evidence_ids",
    }
    constraints = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems", "maxItems",
                   "minLength", "maxLength", "multipleOf", "pattern"}
    assert not constraints & set(json.dumps(ANSWER_SCHEMA).replace('"', " ").split())
    fmt = response_format("json_schema")
    assert fmt["json_schema"]["strict"] is True and fmt["json_schema"]["schema"] is ANSWER_SCHEMA
    assert response_format("json_object") == {"type": "json_object"}


def _answer(**update: object) -> dict[str, object]:
    base: dict[str, object] = {
        "positive_developments": [" 수주 ", ""], "potential_concerns": [], "summary": " ok ", "direction": "up",
        "prob_up": 0.6, "expected_return": 0.01, "evidence_ids": ["news:1"],
    }
    return {**base, **update}


def test_answers_are_validated_on_our_side() -> None:
    answer = ForecastAnswer.model_validate(_answer())
    assert answer.positive_developments == ["수주"] and answer.summary == "ok"
    for bad in ({"prob_up": 1.2}, {"prob_up": -0.1}, {"expected_return": 1.5}, {"direction": "sideways"}):
        with pytest.raises(ValidationError):
            ForecastAnswer.model_validate(_answer(**bad))
    with pytest.raises(ValidationError, match="not a percentage"):
        ForecastAnswer.model_validate(_answer(expected_return=2.5), context={"horizon": 1})
    assert ForecastAnswer.model_validate(_answer(expected_return=0.9), context={"horizon": 5}).expected_return == 0.9
    missing = _answer()
    del missing["evidence_ids"]
    with pytest.raises(ValidationError, match="evidence_ids"):
        ForecastAnswer.model_validate(missing)


def test_evidence_ids_outside_the_prompt_are_dropped() -> None:
    shown = render_prompt(make_input()).documents
    kept, dropped = filter_evidence(
        ["news:101", "[news:102]", "20261002000123", "news:101", "news:999", "disclosure:101", ""], shown
    )
    assert kept == ["news:101", "news:102", "disclosure:20261002000123"]
    assert dropped == ["news:999", "disclosure:101", ""]


def test_rationale_citations_are_found_wherever_written_and_unknown_ones_removed() -> None:
    shown = render_prompt(make_input()).documents
    answer = ForecastAnswer.model_validate(_answer(
        positive_developments=["Orders rose [news:101]", "Guidance [news:555, news:102]"],
        potential_concerns=["A lawsuit (news:777)", "Nothing else"],
        summary="Filed disclosure:20261002000123; see also news:555.",
        evidence_ids=["news:101", "news:999"],
    ))  # fmt: skip
    check = check_citations(answer, shown)
    # Recorded: every shown document cited anywhere, in prompt order; unknown: evidence first, then the text.
    assert set(check.cited) == {"news:101", "news:102", "disclosure:20261002000123"}
    assert check.cited == [e for e in shown if e in set(check.cited)]
    assert check.unknown == ["news:999", "news:555", "news:777"] and check.unknown_evidence == ["news:999"]
    clean = without_citations(answer, check.unknown)
    assert clean.positive_developments == ["Orders rose [news:101]", "Guidance [news:102]"]
    assert clean.potential_concerns == ["A lawsuit", "Nothing else"]
    assert clean.summary == "Filed disclosure:20261002000123; see also."
    assert clean.evidence_ids == ["news:101"]
    assert check_citations(clean, shown).unknown == []
    assert text_citations("no ids here, just 2026-10-05 and [1]") == []


def test_the_cache_key_covers_everything_that_decides_an_answer() -> None:
    rendered = render_prompt(make_input())
    base = {
        "provider": "openai", "model": "gpt-4o-2024-08-06", "prompt_version": "v1", "messages": rendered.messages,
        "parameters": {"temperature": 0.0, "seed": 1, "max_tokens": 900}, "response_format": response_format(
            "json_schema"),
    }
    key = cache_key(**base)  # type: ignore[arg-type]
    assert re.fullmatch(r"[0-9a-f]{64}", key) and key == cache_key(**base)  # type: ignore[arg-type]
    changes = [
        {"provider": "openrouter"}, {"model": "gpt-4o-2024-11-20"}, {"prompt_version": "v2"},
        {"messages": render_prompt(make_input("000660")).messages},
        {"parameters": {"temperature": 0.2, "seed": 1, "max_tokens": 900}},
        {"response_format": response_format("json_object")},
    ]
    assert len({cache_key(**{**base, **change}) for change in changes} | {key}) == len(changes) + 1  # type: ignore[arg-type]
    # The same inputs in another order render the same text, hence the same key.
    data = make_input()
    shuffled = PredictionInput(**{**data.model_dump(), "documents": list(reversed(data.documents))})
    assert render_prompt(shuffled).messages == rendered.messages
