"""The sandbox's chat completions endpoint: OpenAI's and OpenRouter's response objects, response_format,
prompt caching, max_tokens and the error bodies, through raw HTTP and the real SDK."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from stock_insights.predictors.prompts import ANSWER_SCHEMA, render_prompt, response_format
from stock_insights_tests.predictions.conftest import KEY, make_input

AUTH = {"Authorization": f"Bearer {KEY}"}


def _chat(sandbox, body: dict, prefix: str = "") -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{sandbox.url}{prefix}/v1/chat/completions", json=body, headers=AUTH, timeout=30)


def _body(**update: object) -> dict:
    messages = render_prompt(make_input()).messages
    return {"model": "gpt-4o", "messages": messages, "response_format": response_format("json_schema"),
            "temperature": 0, "max_tokens": 900, **update}


def test_the_openai_response_object_is_exact(sandbox) -> None:  # type: ignore[no-untyped-def]
    reply = _chat(sandbox, _body())
    assert reply.status_code == 200
    body = reply.json()
    assert set(body) == {"id", "object", "created", "model", "choices", "usage", "service_tier", "system_fingerprint"}
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-2024-08-06" and body["system_fingerprint"].startswith("fp_")
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["logprobs"] is None and choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    answer = json.loads(choice["message"]["content"])
    assert list(answer) == list(ANSWER_SCHEMA["properties"])  # every property, nothing else
    assert answer["direction"] in ("up", "down", "flat") and 0 <= answer["prob_up"] <= 1
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    # The same answer again (deterministic), now from the prompt cache: all whole 128-token blocks.
    again = _chat(sandbox, _body()).json()
    assert again["choices"][0]["message"]["content"] == choice["message"]["content"]
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert cached >= 1024 and cached % 128 == 0 and usage["prompt_tokens"] - cached < 128 + 3


def test_the_openrouter_response_object_has_cost_and_provider(sandbox) -> None:  # type: ignore[no-untyped-def]
    body = _body(model="deepseek/deepseek-chat-v3-0324", response_format={"type": "json_object"},
                 provider={"order": ["deepseek"], "allow_fallbacks": False})
    reply = _chat(sandbox, body, prefix="/openrouter").json()
    assert reply["id"].startswith("gen-") and reply["provider"] == "DeepSeek"
    assert reply["model"] == "deepseek/deepseek-chat-v3-0324" and reply["object"] == "chat.completion"
    usage = reply["usage"]
    assert usage["cost"] == pytest.approx((usage["prompt_tokens"] * 0.27 + usage["completion_tokens"] * 1.10) / 1e6)
    assert json.loads(reply["choices"][0]["message"]["content"])["evidence_ids"]
    assert _chat(sandbox, {**body, "model": "not a model"}, prefix="/openrouter").status_code == 400


def test_response_formats_are_honoured_and_checked_as_openai_does(sandbox) -> None:  # type: ignore[no-untyped-def]
    client = openai.OpenAI(api_key=KEY, base_url=f"{sandbox.url}/v1", max_retries=0)
    messages = [{"role": "user", "content": "Rate [news:1] 삼성전자 급등 in JSON."}]
    # Any strict schema gets an answer valid against it.
    schema = {"type": "object", "additionalProperties": False, "required": ["score", "label", "tags"],
              "properties": {"score": {"type": "integer"}, "label": {"type": "string", "enum": ["a", "b"]},
                             "tags": {"type": "array", "items": {"type": "string"}}}}
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages,  # type: ignore[arg-type]
                                           response_format={"type": "json_schema", "json_schema": {
                                               "name": "x", "strict": True, "schema": schema}})
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert json.loads(reply.choices[0].message.content or "") == {"score": 0, "label": "a", "tags": []}

    loose = {**schema, "required": ["score"]}
    with pytest.raises(openai.BadRequestError, match=r"Invalid schema for response_format 'x'.*Missing 'label'"):
        client.chat.completions.create(model="gpt-4o", messages=messages,  # type: ignore[arg-type]
                                       response_format={"type": "json_schema", "json_schema": {
                                           "name": "x", "strict": True, "schema": loose}})
    open_ended = {k: v for k, v in schema.items() if k != "additionalProperties"}
    with pytest.raises(openai.BadRequestError, match="'additionalProperties' is required to be supplied"):
        client.chat.completions.create(model="gpt-4o", messages=messages,  # type: ignore[arg-type]
                                       response_format={"type": "json_schema", "json_schema": {
                                           "name": "x", "strict": True, "schema": open_ended}})
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}],
                                       response_format={"type": "json_object"})
    prose = client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert (prose.choices[0].message.content or "").startswith("[Positive Developments]:")
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-5-imaginary", messages=messages)  # type: ignore[arg-type]
    missing = httpx.post(f"{sandbox.url}/v1/chat/completions", json={"model": "gpt-4o"}, headers=AUTH)
    assert missing.status_code == 400 and missing.json()["error"] == {
        "message": "Missing required parameter: 'messages'.", "type": "invalid_request_error", "param": "messages",
        "code": "missing_required_parameter",
    }


def test_max_tokens_cuts_the_answer_and_faults_shape_the_content(sandbox) -> None:  # type: ignore[no-untyped-def]
    cut = _chat(sandbox, _body(max_tokens=20)).json()
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 20
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut["choices"][0]["message"]["content"])

    def faulted(kind: str) -> dict:
        httpx.post(f"{sandbox.url}/_sandbox/faults", json={"path_contains": "/chat/", "kind": kind}).raise_for_status()
        return _chat(sandbox, _body()).json()["choices"][0]

    refused = faulted("refusal")
    assert refused["message"]["content"] is None and refused["message"]["refusal"]
    truncated = faulted("truncated")
    assert truncated["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated["message"]["content"])
    with pytest.raises(json.JSONDecodeError):
        json.loads(faulted("malformed_content")["message"]["content"])
    assert "prob_up" not in json.loads(faulted("invalid_schema")["message"]["content"])
    assert "news:999999999" in json.loads(faulted("unknown_evidence")["message"]["content"])["evidence_ids"]
    assert httpx.get(f"{sandbox.url}/_sandbox/stats").json()["openai"]["chat_content_faults"] == 5


def test_chat_needs_a_key(sandbox) -> None:  # type: ignore[no-untyped-def]
    reply = httpx.post(f"{sandbox.url}/v1/chat/completions", json=_body())
    assert reply.status_code == 401 and "API key" in reply.json()["error"]["message"]
    wrong = httpx.post(f"{sandbox.url}/openrouter/v1/chat/completions", json=_body(),
                       headers={"Authorization": "Bearer nope-123456789"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"


def test_each_simulated_model_reads_with_its_own_skill(sandbox) -> None:  # type: ignore[no-untyped-def]
    """The model is the request's ``model`` field: gpt-4o reads without noise (the same answer under its
    OpenRouter name), the others add their own deterministic noise, so that their answers differ."""
    def prob_up(model: str, prefix: str = "", data: object = None) -> float:
        body = _body(model=model, response_format=response_format("json_object"))
        if data is not None:
            body["messages"] = render_prompt(data).messages  # type: ignore[arg-type]
        reply = _chat(sandbox, body, prefix)
        assert reply.status_code == 200, reply.text
        return json.loads(reply.json()["choices"][0]["message"]["content"])["prob_up"]

    exact = prob_up("gpt-4o")
    assert prob_up("gpt-4o") == exact == prob_up("gpt-4o-2024-08-06") == prob_up("openai/gpt-4o", "/openrouter")
    noisy = {m: prob_up(m, "/openrouter") for m in ("deepseek/deepseek-chat-v3-0324", "openai/gpt-4o-mini")}
    noisy["gpt-4o-mini"] = prob_up("gpt-4o-mini")
    assert len({exact, *noisy.values()}) == 4  # every model its own answer
    assert noisy["deepseek/deepseek-chat-v3-0324"] == prob_up("deepseek/deepseek-chat-v3-0324", "/openrouter")
    # Over many prompts the noisy readers stray from the exact reading; the noise-free one never does.
    spread = {m: [] for m in ("gpt-4o", "gpt-4o-mini")}  # type: ignore[var-annotated]
    for i in range(12):
        data = make_input(code=f"{100000 + i}", name=f"종목{i}")
        for m in spread:
            spread[m].append(prob_up(m, data=data))
    assert len(set(spread["gpt-4o"])) == 1  # same documents, same reading, no noise
    assert len(set(spread["gpt-4o-mini"])) == 12
