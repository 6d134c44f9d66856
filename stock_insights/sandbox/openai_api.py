"""An OpenAI-compatible API: ``POST /v1/embeddings`` and ``POST /v1/chat/completions``.

The app mounts this router twice: at ``/v1/...`` (OpenAI) and at ``/openrouter/v1/...`` (OpenRouter);
the chat endpoint answers each prefix's own response object.

Shapes follow OpenAI's API reference and the error bodies its clients report:
- embeddings: ``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}],
  "model": ..., "usage": {"prompt_tokens": n, "total_tokens": n}}``; more than 2048 inputs, an empty
  string, or a non-string input: HTTP 400 ``{"error": {"message": "'$.input' is invalid. Please check
  the API reference: ...", "type": "invalid_request_error", "param": null, "code": null}}``; an input
  over 8192 tokens: HTTP 400 "This model's maximum context length is 8192 tokens, ...";
- chat completions: ``{"id": "chatcmpl-…", "object": "chat.completion", "created", "model",
  "choices": [{"index": 0, "message": {"role": "assistant", "content", "refusal": null,
  "annotations": []}, "logprobs": null, "finish_reason"}], "usage": {"prompt_tokens",
  "completion_tokens", "total_tokens", "prompt_tokens_details": {"cached_tokens", "audio_tokens"},
  "completion_tokens_details": {"reasoning_tokens", ...}}, "service_tier", "system_fingerprint"}``.
  Under ``/openrouter`` the id is ``gen-…``, and the object also has ``provider`` and ``usage.cost``
  (USD, from ``OPENROUTER_PRICES``), as OpenRouter answers. ``/v1`` knows the ``gpt-4o`` family and
  answers the dated snapshot for an alias (``gpt-4o`` -> ``gpt-4o-2024-08-06``); ``/openrouter``
  takes any ``vendor/model`` id;
- no or a bad key: HTTP 401 with ``code: "invalid_api_key"``.
Keys: any bearer token starting with ``sk-`` is accepted (the sandbox has no accounts).

The vectors are the offline ``HashingEmbedder``'s at the requested dimension: deterministic and
lexical, so tests of search through the real SDK find what shares words with the query.

The chat answers are deterministic and not clever. From the user messages the sandbox reads the
bracketed document ids (``[news:123]``), each document's date and the tone words of
``newsroom.LEXICON`` in its lines. The reading is ``m = tanh(sum of tones / 3)`` over the documents of
the latest day before the prompt's ``Cutoff:`` day (the previous session's news: what the planted
relation says moves the target session). Each simulated model reads ``m`` with its own skill, so that
an A/B comparison has a true ordering to find: it adds Gaussian noise of its own standard deviation,
``m' = m + noise * z`` with ``z = Φ⁻¹(u)`` and ``u`` from a SHA-256 of the request's ``model`` and the
whole prompt (an answer is a pure function of (model, prompt)), and answers
``prob_up = Φ(0.2 * m')`` within [0.03, 0.97] (``PROBIT_PER_READING``: calibrated for the noise-free
reader, as the news-tone baseline's ``Φ(0.20·m)``; a noisy reader is as confident as if it were not
noisy, so it is overconfident), ``direction`` "up" above 0.52, "down" below 0.48, else "flat". The
model is the request's ``model`` field, matched by prefix, longest first (``MODEL_SKILLS``):

    =================================================  =====  ======================================
    model id (prefix)                                  noise  skill
    =================================================  =====  ======================================
    gpt-4o, openai/gpt-4o (gpt-4o-2024-08-06, ...)     0      reads the planted tone exactly
    gpt-4o-mini, openai/gpt-4o-mini                    3.0    mostly noise, overconfident
    deepseek/deepseek-chat (-v3, -v3-0324, ...)        3.0    as gpt-4o-mini: the equal-skill pair
    anything else (any vendor/model on /openrouter)    1.0    in between
    =================================================  =====  ======================================

``gpt-4o-mini`` and ``deepseek/deepseek-chat`` share a skill but not their noise (their hashes differ):
two models of equal planted skill whose answers still differ, for the null comparison.
``benchmarks/sandbox_model_skill.py`` runs the graph over the sandbox year with the three and prints the
comparison; ``stock_insights_tests/evaluations/test_sandbox_significance.py`` runs a shorter window.
The answer's lists cite the toned documents they rest on (``Title [news:123]``, up to three each way)
and ``evidence_ids`` names at most four of them, as real models cite less consistently than asked; the
predictor records every cited document, wherever it is cited. ``response_format`` is honoured:
``json_schema`` answers an object valid against the given schema (strict schemas are checked as
OpenAI checks them: every property required, ``additionalProperties: false``), ``json_object``
answers the forecast object (and, as OpenAI, refuses a request whose messages never say "json"),
no format answers FinGPT-style prose. ``max_tokens`` cuts the answer (``finish_reason: "length"``).
Prompt caching as OpenAI's: prompts of >= 1024 tokens report ``cached_tokens`` for the longest prefix
seen before (same model), in 128-token blocks (the schema counts as part of the prefix).

Faults (``POST /_sandbox/faults``): ``openai_429``, ``openai_500``, ``delay`` on both endpoints;
on chat only, content faults answered with HTTP 200: ``malformed_content`` (prose, not JSON),
``truncated`` (half the JSON, ``finish_reason: "length"``), ``refusal`` (``message.refusal`` set,
``content`` null), ``invalid_schema`` (JSON without the required ``prob_up``), ``unknown_evidence``
(cites ids that the prompt never showed: two in ``evidence_ids``, one in the concerns' text).

Daily reports: a request whose system prompt starts with the report writer's marker
(``[stock_insights daily report v1]``) is answered, whatever its ``response_format``, with a Markdown
summary built from the FACTS JSON of the user message: every number copied as the facts write it,
every filing and news item cited by its source number (``report_answer``). Content faults for them:
``report_invented_number`` (adds a number the facts do not have), ``report_unknown_citation`` and
``unknown_evidence`` (cite a source number that does not exist), ``malformed_content`` (adds a link
that is not a source); ``truncated`` and ``refusal`` as for forecasts. Counted in
``chat_report_requests`` (and ``chat_requests``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import secrets
import time
from statistics import NormalDist
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stock_insights.embeddings.embedders import HashingEmbedder
from stock_insights.embeddings.tokens import count_tokens, encoding
from stock_insights.sandbox.kis import Fault, FaultQueue
from stock_insights.sandbox.newsroom import LEXICON, LEXICON_EN

CHAT_FAULT_KINDS = (
    "malformed_content",
    "truncated",
    "refusal",
    "invalid_schema",
    "unknown_evidence",
    "report_invented_number",
    "report_unknown_citation",
)
OPENAI_FAULT_KINDS = ("openai_429", "openai_500", "delay", *CHAT_FAULT_KINDS)
EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048
MAX_TOKENS = 8192
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."

# /v1 chat models: alias -> the snapshot OpenAI answers with.
CHAT_MODELS = {
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-2024-05-13": "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "gpt-4o-2024-11-20": "gpt-4o-2024-11-20",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
}
CHAT_CONTEXT_TOKENS = 128_000
# OpenRouter usage.cost: USD per 1M (input, cached input, output); other ids use the default.
OPENROUTER_PRICES: dict[str, tuple[float, float, float]] = {
    "deepseek/deepseek-chat-v3-0324": (0.27, 0.07, 1.10),
    "deepseek/deepseek-chat": (0.27, 0.07, 1.10),
    "openai/gpt-4o": (2.50, 1.25, 10.00),
}
OPENROUTER_DEFAULT_PRICE = (0.50, 0.125, 1.50)
OPENROUTER_PROVIDERS = {
    "deepseek": "DeepSeek",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "google": "Google",
    "meta-llama": "Together",
    "qwen": "Alibaba",
    "mistralai": "Mistral",
}
OPENROUTER_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:-]*$")
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK = 128
_MAX_CACHED_PREFIXES = 200_000
_EVIDENCE = re.compile(r"\[((?:news|disclosure|report):[^\]\s]+)\]")
_RETURN_LINE = re.compile(r"(\d+)-session return: ([+-]?\d+(?:\.\d+)?)%")
# Simulated forecasters (module docstring): request model id prefix -> sd of the noise on the tone reading.
# Longest prefixes first, so that gpt-4o-mini is not read as gpt-4o.
MODEL_SKILLS: tuple[tuple[str, float], ...] = (
    ("openai/gpt-4o-mini", 3.0),
    ("gpt-4o-mini", 3.0),
    ("deepseek/deepseek-chat", 3.0),
    ("openai/gpt-4o", 0.0),
    ("gpt-4o", 0.0),
)
DEFAULT_MODEL_NOISE = 1.0
# P(up) = Φ(PROBIT_PER_READING * reading): calibrated for the noise-free reader, as the news-tone baseline's
# Φ(0.20·m) (stock_insights/predictors/news_tone.py derives it from the planted BETA and SIGMA).
PROBIT_PER_READING = 0.2
_DOC_DATE = re.compile(r"\s*(\d{4}-\d{2}-\d{2}) \d{2}:\d{2} KST")
_CUTOFF = re.compile(r"^Cutoff: (\d{4}-\d{2}-\d{2})", re.MULTILINE)
_TONE_WEIGHTS = {"strong_positive": 2, "positive": 1, "neutral": 0, "negative": -1, "strong_negative": -2}
REFUSAL = "I'm sorry, but I can't assist with that request."


def openai_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": type_, "param": param, "code": code}},
        status_code=status,
        headers=headers,
    )


def _auth_error(request: Request) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    key = header[7:].strip()
    if not key.startswith("sk-"):
        shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
        return openai_error(
            401,
            f"Incorrect API key provided: {shown}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return None


async def _http_fault(fault: Fault | None) -> JSONResponse | None:
    """The HTTP-level faults (429, 500, delay); content faults are the chat endpoint's business."""
    if fault is None:
        return None
    if fault.kind == "openai_429":
        return openai_error(
            429,
            "Rate limit reached for requests per min (RPM): Limit 3000, Used 3000, Requested 1. "
            "Please try again in 20ms.",
            type_="requests",
            code="rate_limit_exceeded",
            headers={
                "retry-after-ms": "20",
                "x-ratelimit-limit-requests": "3000",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "20ms",
            },
        )
    if fault.kind == "openai_500":
        return openai_error(
            500, "The server had an error while processing your request. Sorry about that!", type_="server_error"
        )
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
    return None


async def _fault(faults: FaultQueue, path: str) -> JSONResponse | None:
    return await _http_fault(faults.take(path))


# --- chat completions ---------------------------------------------------------------------------


class _ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(pattern=r"^(system|developer|user|assistant|tool)$")
    content: str | list[dict[str, Any]] | None = None
    refusal: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class _ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # provider routing, user, metadata, ... are accepted and ignored

    model: str
    messages: list[_ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    seed: int | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int = Field(default=1, ge=1, le=1)
    stream: bool = False
    response_format: dict[str, Any] | None = None


def _request_error(exc: ValidationError) -> JSONResponse:
    error = exc.errors()[0]
    param = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return openai_error(
            400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    if param == "n":
        return openai_error(400, "The sandbox answers one choice per request (n=1).", param="n", code="invalid_value")
    return openai_error(400, f"Invalid value for '{param}': {error['msg']}.", param=param, code="invalid_value")


def _strict_schema_problem(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode refuses in a schema (the two rules every client meets first)."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return f"In context={context}, 'additionalProperties' is required to be supplied and to be false."
        required = schema.get("required")
        missing = [k for k in properties if not isinstance(required, list) or k not in required]
        if missing:
            return (
                f"In context={context}, 'required' is required to be supplied and to be an array including every "
                f"key in properties. Missing '{missing[0]}'."
            )
        for name, sub in properties.items():
            if (problem := _strict_schema_problem(sub, (*context, "properties", name))) is not None:
                return problem
    if "items" in schema and (problem := _strict_schema_problem(schema["items"], (*context, "items"))) is not None:
        return problem
    for keyword in ("anyOf", "allOf"):
        for i, sub in enumerate(schema.get(keyword) or []):
            if (problem := _strict_schema_problem(sub, (*context, keyword, str(i)))) is not None:
                return problem
    for name, sub in (schema.get("$defs") or {}).items():
        if (problem := _strict_schema_problem(sub, (*context, "$defs", name))) is not None:
            return problem
    return None


def _response_mode(body: _ChatRequest, prompt_text: str) -> tuple[str, dict[str, Any] | None] | JSONResponse:
    """("text" | "json_object" | "json_schema", the schema) or the 400 OpenAI answers."""
    fmt = body.response_format
    if fmt is None or fmt.get("type") == "text":
        return "text", None
    kind = fmt.get("type")
    if kind == "json_object":
        if "json" not in prompt_text.lower():
            return openai_error(
                400,
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
                param="messages",
            )
        return "json_object", None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not spec.get("name"):
            return openai_error(
                400,
                "Missing required parameter: 'response_format.json_schema.name'.",
                param="response_format.json_schema.name",
                code="missing_required_parameter",
            )
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            return openai_error(
                400,
                "Invalid type for 'response_format.json_schema.schema': expected an object.",
                param="response_format.json_schema.schema",
                code="invalid_type",
            )
        if spec.get("strict") and (problem := _strict_schema_problem(schema)) is not None:
            return openai_error(
                400,
                f"Invalid schema for response_format '{spec['name']}': {problem}",
                param="response_format",
                code="invalid_json_schema",
            )
        return "json_schema", schema
    return openai_error(
        400,
        f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
        param="response_format.type",
        code="invalid_value",
    )


def _documents(user_text: str) -> dict[str, str]:
    """Evidence id -> the lines under its header, up to the next id (a crude read of the prompt)."""
    blocks: dict[str, str] = {}
    matches = list(_EVIDENCE.finditer(user_text))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(user_text)
        blocks.setdefault(match.group(1), user_text[match.end() : end])
    return blocks


def _tone(text: str) -> int:
    score = 0
    lowered = text.lower()
    for band, words in LEXICON.items():
        score += _TONE_WEIGHTS[band] * sum(text.count(w) for w in words)
    for band, words in LEXICON_EN.items():
        score += _TONE_WEIGHTS[band] * sum(lowered.count(w) for w in words)
    return score


def _title(block: str) -> str:
    for line in block.splitlines()[1:]:
        line = line.strip()
        if line:
            return line.removeprefix("Title:").strip()[:120]
    return block.strip().splitlines()[0][:120] if block.strip() else ""


def model_noise(model: str) -> float:
    """The simulated model's reading noise (``MODEL_SKILLS``, longest matching prefix; the module docstring)."""
    for prefix, noise in MODEL_SKILLS:
        if model.startswith(prefix):
            return noise
    return DEFAULT_MODEL_NOISE


def _standard_normal(*parts: str) -> float:
    """A deterministic N(0, 1) draw from a hash of ``parts``."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    u = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64  # in (0, 1)
    return NormalDist().inv_cdf(u)


def _forecast(prompt_text: str, user_text: str, model: str = "gpt-4o") -> dict[str, Any]:
    """The sandbox's forecast: document tone read with the model's own noise, and the price trend line."""
    docs = _documents(user_text)
    tones = {doc_id: _tone(block) for doc_id, block in docs.items()}
    dates = {doc_id: match.group(1) for doc_id, block in docs.items() if (match := _DOC_DATE.match(block))}
    cutoff = _CUTOFF.search(user_text)
    before = sorted({d for d in dates.values() if cutoff is None or d < cutoff.group(1)})
    latest = [doc_id for doc_id, d in dates.items() if before and d == before[-1]]
    tone = math.tanh(sum(tones[d] for d in latest) / 3)  # the reading m, in (-1, 1)
    noise = model_noise(model)
    reading = tone + noise * _standard_normal(model, prompt_text) if noise else tone
    prob_up = min(0.97, max(0.03, NormalDist().cdf(PROBIT_PER_READING * reading)))
    direction = "up" if prob_up > 0.52 else "down" if prob_up < 0.48 else "flat"
    positive = [f"{_title(docs[d])} [{d}]" for d, t in tones.items() if t > 0][:3]
    concerns = [f"{_title(docs[d])} [{d}]" for d, t in tones.items() if t < 0][:3]
    trend = _RETURN_LINE.search(user_text)
    if trend:
        move = float(trend.group(2))
        (positive if move > 0 else concerns).append(f"{trend.group(1)}-session price return {move:+.2f}%")
    cited = [d for d, t in tones.items() if t != 0][:4] or list(docs)[:2]
    summary = (
        f"Sandbox forecast from {len(docs)} document(s): {sum(t > 0 for t in tones.values())} positive and "
        f"{sum(t < 0 for t in tones.values())} negative by their wording; the latest day's {len(latest)} read "
        f"{tone:+.2f}. "
        "Deterministic and simple; not investment advice."
    )
    return {
        "positive_developments": positive,
        "potential_concerns": concerns,
        "summary": summary,
        "direction": direction,
        "prob_up": round(prob_up, 4),
        "expected_return": round((prob_up - 0.5) * 0.03, 5),
        "evidence_ids": cited,
    }


def _conform(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` reshaped to be valid against ``schema`` (our forecast where it fits, defaults elsewhere)."""
    for keyword in ("anyOf", "oneOf"):
        if schema.get(keyword):
            return _conform(value, schema[keyword][0])
    types = schema.get("type")
    kind = types[0] if isinstance(types, list) else types
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    if kind == "object" or "properties" in schema:
        source = value if isinstance(value, dict) else {}
        return {name: _conform(source.get(name), sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        items = value if isinstance(value, list) else []
        return [_conform(v, schema.get("items") or {}) for v in items]
    if kind == "string":
        return value if isinstance(value, str) else ""
    if kind == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else 0
    if kind == "boolean":
        return value if isinstance(value, bool) else False
    if kind == "null":
        return None
    return value


def _prose(forecast: dict[str, Any]) -> str:
    def numbered(items: list[str]) -> str:
        return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1)) or "1. None in the inputs."

    move = forecast["expected_return"] * 100
    return (
        f"[Positive Developments]:\n{numbered(forecast['positive_developments'])}\n\n"
        f"[Potential Concerns]:\n{numbered(forecast['potential_concerns'])}\n\n"
        f"[Prediction & Analysis]:\nPrediction: {forecast['direction'].capitalize()} by {abs(move):.1f}%\n"
        f"Analysis: {forecast['summary']}"
    )


class _PromptCache:
    """OpenAI-style automatic prompt caching: exact prefixes, 128-token blocks, from 1024 tokens."""

    def __init__(self) -> None:
        self._seen: set[bytes] = set()

    def cached_tokens(self, scope: str, tokens: list[int]) -> int:
        chain = hashlib.sha256(scope.encode()).digest()
        blocks: list[bytes] = []
        for start in range(0, len(tokens) - CACHE_BLOCK + 1, CACHE_BLOCK):
            block = tokens[start : start + CACHE_BLOCK]
            chain = hashlib.sha256(chain + b"".join(t.to_bytes(4, "big") for t in block)).digest()
            blocks.append(chain)
        matched = 0
        for digest in blocks:
            if digest not in self._seen:
                break
            matched += 1
        if len(self._seen) + len(blocks) > _MAX_CACHED_PREFIXES:
            self._seen.clear()  # an eviction, as the real cache evicts after minutes of inactivity
        if len(tokens) >= CACHE_MIN_TOKENS:
            self._seen.update(blocks)
        cached = matched * CACHE_BLOCK
        return cached if cached >= CACHE_MIN_TOKENS else 0


def _prompt_tokens(body: _ChatRequest, schema: dict[str, Any] | None) -> list[int]:
    """The prompt as one token sequence: the schema first (OpenAI caches it with the prefix), then the messages."""
    enc = encoding()
    tokens: list[int] = []
    if schema is not None:
        tokens += enc.encode(json.dumps(schema, sort_keys=True), disallowed_special=())
    for message in body.messages:
        tokens += enc.encode(f"<|{message.role}|>\n{message.text()}\n", disallowed_special=())
    return tokens


def _cut(content: str, max_tokens: int) -> tuple[str, bool]:
    enc = encoding()
    tokens = enc.encode(content, disallowed_special=())
    if len(tokens) <= max_tokens:
        return content, False
    return enc.decode(tokens[:max_tokens]), True


def _openrouter_provider(body: _ChatRequest) -> str:
    routing = (body.model_extra or {}).get("provider")
    order = routing.get("order") if isinstance(routing, dict) else None
    slug = order[0] if isinstance(order, list) and order else body.model.split("/", 1)[0]
    return OPENROUTER_PROVIDERS.get(str(slug).lower(), str(slug).title())


# --- daily reports ------------------------------------------------------------------------------
# The report writer's system prompt starts with this marker (stock_insights.reports.writer.REPORT_MARKER).
_REPORT_MARKER = re.compile(r"^\[stock_insights daily report v\d+\]")
_FACTS_BLOCK = re.compile(r"```json\s*\n(.*?)\n```", re.DOTALL)


def is_report_request(system_text: str) -> bool:
    return bool(_REPORT_MARKER.match(system_text.strip()))


def _report_facts(user_text: str) -> dict[str, Any] | None:
    match = _FACTS_BLOCK.search(user_text)
    if match is None:
        return None
    try:
        facts = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return facts if isinstance(facts, dict) else None


def _as_float(text: str) -> float | None:
    try:
        return float(text.replace(",", "").replace("%", "").replace("+", ""))
    except (AttributeError, ValueError):
        return None


def _report_body(facts: dict[str, Any]) -> str:
    """A faithful summary: every number copied from the facts as written, every document cited by its number."""
    paragraphs: list[str] = []
    if facts.get("report") == "stock":
        stock, index = facts.get("stock") or {}, facts.get("index")
        if stock.get("close", "n/a") == "n/a":
            name = stock.get("name", "the stock")
            paragraphs.append(f"No close is in yet for {name} on {facts.get('trading_date')}.")
        else:
            line = f"{stock['name']} closed at {stock['close']}, {stock['change']} from {stock['previous_close']}"
            if index:
                line += (
                    f", while {index['name']} moved {index['change']} to {index['close']}: an excess of "
                    f"{facts.get('excess_over_index')} over its index"
                )
            paragraphs.append(line + ".")
    else:
        indices = [i for i in facts.get("indices") or [] if i]
        if indices:
            levels = " and ".join(f"{i['close']} for {i['name']} ({i['change']})" for i in indices)
            paragraphs.append(f"The indices closed at {levels}.")
        moved = [s for s in facts.get("stocks") or [] if _as_float(s.get("change", "")) is not None]
        line = (
            f"Of the {facts.get('stocks_tracked')} tracked stocks, {facts.get('stocks_up')} rose and "
            f"{facts.get('stocks_down')} fell."
        )
        if moved:
            best = max(moved, key=lambda s: _as_float(s["change"]) or 0.0)
            worst = min(moved, key=lambda s: _as_float(s["change"]) or 0.0)
            line += f" {best['name']} did best ({best['change']}); {worst['name']} did worst ({worst['change']})."
        paragraphs.append(line)
    filings, news = facts.get("filings") or [], facts.get("news") or []
    if filings:
        paragraphs.append(
            "Filings: " + "; ".join(f"{f['company']} filed {f['title']} [{f['source']}]" for f in filings[:3]) + "."
        )
    if news:
        quoted = "; ".join(f"\u201c{n['title']}\u201d [{n['source']}]" for n in news[:3])
        paragraphs.append(f"In the news: {quoted}.")
    outcome = {"hit": "was right", "miss": "was wrong", "pending": "is still pending"}
    calls = [
        f"{p['model']} called {p['call']} with P(up) {p['prob_up']} and {outcome.get(p['outcome'], p['outcome'])}"
        for p in facts.get("forecasts") or []
    ]
    if calls:
        paragraphs.append("Forecasts: " + "; ".join(calls) + ".")
    days = [
        f"{m['model']} had {_count(m['hits'], 'hit')} and {_count(m['misses'], 'miss', 'misses')} "
        f"({m['hit_rate_today']})"
        for m in facts.get("models_today") or []
    ]
    if days:
        paragraphs.append("Today's forecasts: " + "; ".join(days) + ".")
    standings = facts.get("standings") or {}
    leader = (standings.get("models") or [None])[0]
    if leader:
        paragraphs.append(
            f"Over {standings['window_trading_days']} trading days, {leader['model']} leads with a hit rate of "
            f"{leader['hit_rate']} and a Brier score of {leader['brier']}."
        )
    return "\n\n".join(paragraphs) or "Nothing to report."


def report_answer(user_text: str, content_fault: str | None = None) -> str:
    """The sandbox's answer to a report request; the ``report_*`` faults (and ``unknown_evidence``,
    ``malformed_content``) make it break the writer's rules the way a careless model would."""
    facts = _report_facts(user_text)
    body = _report_body(facts) if facts is not None else "The facts could not be read."
    if content_fault == "report_invented_number":
        body += "\n\nIt was the busiest session in 17 years, with turnover up 12.34%."
    elif content_fault in ("report_unknown_citation", "unknown_evidence"):
        known = len((facts or {}).get("filings") or []) + len((facts or {}).get("news") or [])
        body += f" Analysts expect more to come [{known + 40}]."
    elif content_fault == "malformed_content":
        body += "\n\nMore at https://example.com/markets/today."
    return body


class OpenAIRouter(APIRouter):
    """The simulated OpenAI routes, with the counts of what they answered (``/_sandbox/stats``)."""

    stats: dict[str, int]


def build_openai_router(faults: FaultQueue) -> OpenAIRouter:
    faults.allow(OPENAI_FAULT_KINDS)
    router = OpenAIRouter()
    embedders: dict[int, HashingEmbedder] = {}
    # Requests answered (faulted HTTP requests are not counted; content faults are, as answers).
    stats: dict[str, int] = {
        "embedding_requests": 0,
        "embedding_inputs": 0,
        "chat_requests": 0,
        "chat_prompt_tokens": 0,
        "chat_completion_tokens": 0,
        "chat_cached_tokens": 0,
        "chat_content_faults": 0,
        "chat_report_requests": 0,  # daily-report prompts (recognised by their system prompt's marker)
        "chat_openrouter_requests": 0,
        "chat_openrouter_attributed": 0,  # sent HTTP-Referer and X-Title
        "chat_openrouter_pinned": 0,  # provider.allow_fallbacks false, no fallback model list
    }
    router.stats = stats
    prompt_cache = _PromptCache()

    @router.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        if (refused := _auth_error(request)) is not None:
            return refused
        if (failed := await _fault(faults, request.url.path)) is not None:
            return failed
        try:
            body: dict[str, Any] = await request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.")
        model = body.get("model")
        if model not in EMBEDDING_MODELS:
            return openai_error(
                404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
            )
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if (
            not isinstance(inputs, list)
            or not inputs
            or len(inputs) > MAX_INPUTS
            or any(not isinstance(x, str) or x == "" for x in inputs)
        ):
            return openai_error(400, INVALID_INPUT)
        dimension = body.get("dimensions") or EMBEDDING_MODELS[model]
        if not isinstance(dimension, int) or not 1 <= dimension <= EMBEDDING_MODELS[model]:
            return openai_error(400, f"Invalid value for 'dimensions': {dimension}.", param="dimensions")
        tokens = [count_tokens(x) for x in inputs]
        too_long = max(tokens)
        if too_long > MAX_TOKENS:
            return openai_error(
                400,
                f"This model's maximum context length is {MAX_TOKENS} tokens, however you "
                f"requested {too_long} tokens ({too_long} in your prompt; 0 for the completion). "
                "Please reduce your prompt; or completion length.",
            )
        embedder = embedders.setdefault(dimension, HashingEmbedder(dimension=dimension))
        vectors = embedder.embed(inputs).vectors
        stats["embedding_requests"] += 1
        stats["embedding_inputs"] += len(inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": [round(float(v), 7) for v in vector]}
                    for i, vector in enumerate(vectors)
                ],
                "model": model,
                "usage": {"prompt_tokens": sum(tokens), "total_tokens": sum(tokens)},
            }
        )

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        if (refused := _auth_error(request)) is not None:
            return refused
        fault = faults.take(request.url.path)
        if (failed := await _http_fault(fault)) is not None:
            return failed
        try:
            raw = await request.json()
        except ValueError:
            raw = None
        if not isinstance(raw, dict):
            return openai_error(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            )
        try:
            body = _ChatRequest.model_validate(raw)
        except ValidationError as exc:
            return _request_error(exc)
        if body.stream:
            return openai_error(400, "The sandbox does not stream answers; send stream=false.", param="stream")
        openrouter = request.url.path.startswith("/openrouter/")
        if openrouter:
            if not OPENROUTER_MODEL_ID.match(body.model):
                return openai_error(400, f"{body.model} is not a valid model ID", param="model")
            served = body.model
        else:
            served = CHAT_MODELS.get(body.model, "")
            if not served:
                return openai_error(
                    404,
                    f"The model `{body.model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
        prompt_text = "\n".join(m.text() for m in body.messages)
        user_text = "\n".join(m.text() for m in body.messages if m.role == "user")
        mode = _response_mode(body, prompt_text)
        if isinstance(mode, JSONResponse):
            return mode
        kind, schema = mode
        tokens = _prompt_tokens(body, schema)
        prompt_tokens = len(tokens) + 3  # every reply is primed with <|start|>assistant<|message|>
        max_tokens = body.max_completion_tokens or body.max_tokens
        if prompt_tokens + (max_tokens or 0) > CHAT_CONTEXT_TOKENS:
            return openai_error(
                400,
                f"This model's maximum context length is {CHAT_CONTEXT_TOKENS} tokens. However, you requested "
                f"{prompt_tokens + (max_tokens or 0)} tokens ({prompt_tokens} in the messages, {max_tokens or 0} in "
                "the completion). Please reduce the length of the messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
        cached = prompt_cache.cached_tokens(f"{'openrouter' if openrouter else 'openai'}:{served}", tokens)

        content_fault = fault.kind if fault is not None and fault.kind in CHAT_FAULT_KINDS else None
        refusal: str | None = None
        finish_reason = "stop"
        content: str | None
        if is_report_request(body.messages[0].text() if body.messages else ""):
            stats["chat_report_requests"] += 1
            content = report_answer(user_text, content_fault)
        else:
            forecast = _forecast(prompt_text, user_text, body.model)
            if content_fault == "unknown_evidence":
                forecast["evidence_ids"] = [*forecast["evidence_ids"], "news:999999999", "disclosure:00000000000000"]
                forecast["potential_concerns"] = [
                    *forecast["potential_concerns"], "A lawsuit is said to be coming [news:888888888]"
                ]
            answer: Any = _conform(forecast, schema) if schema is not None else forecast
            if content_fault == "invalid_schema" and isinstance(answer, dict) and answer:
                answer.pop("prob_up" if "prob_up" in answer else next(iter(answer)))
            content = _prose(forecast) if kind == "text" else json.dumps(answer, ensure_ascii=False)
            if content_fault == "malformed_content":
                content = (
                    f"Sure! Based on the documents I would say the stock goes {forecast['direction']}, with a "
                    f"probability of about {forecast['prob_up']:.0%}. The main risks are listed above."
                )
        if content_fault == "truncated":
            content = (content or "")[: max(1, len(content or "") // 2)]
            finish_reason = "length"
        elif content_fault == "refusal":
            content, refusal = None, REFUSAL
        if content is not None and max_tokens and finish_reason == "stop":
            content, was_cut = _cut(content, max_tokens)
            finish_reason = "length" if was_cut else "stop"
        completion_tokens = count_tokens(content if content is not None else refusal or "")

        stats["chat_requests"] += 1
        stats["chat_prompt_tokens"] += prompt_tokens
        stats["chat_completion_tokens"] += completion_tokens
        stats["chat_cached_tokens"] += cached
        stats["chat_content_faults"] += 1 if content_fault else 0
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal, "annotations": []}
        choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        fingerprint = "fp_" + hashlib.sha256(served.encode()).hexdigest()[:10]
        if not openrouter:
            return JSONResponse(
                {
                    "id": f"chatcmpl-{secrets.token_urlsafe(21)[:29]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": served,
                    "choices": [choice],
                    "usage": usage,
                    "service_tier": "default",
                    "system_fingerprint": fingerprint,
                }
            )

        stats["chat_openrouter_requests"] += 1
        routing = (body.model_extra or {}).get("provider")
        if request.headers.get("http-referer") and request.headers.get("x-title"):
            stats["chat_openrouter_attributed"] += 1
        if isinstance(routing, dict) and routing.get("allow_fallbacks") is False and "models" not in raw:
            stats["chat_openrouter_pinned"] += 1
        price_in, price_cached, price_out = OPENROUTER_PRICES.get(served, OPENROUTER_DEFAULT_PRICE)
        cost = ((prompt_tokens - cached) * price_in + cached * price_cached + completion_tokens * price_out) / 1e6
        usage["cost"] = round(cost, 10)
        usage["is_byok"] = False
        usage["cost_details"] = {"upstream_inference_cost": None}
        message["reasoning"] = None
        choice["native_finish_reason"] = finish_reason
        return JSONResponse(
            {
                "id": f"gen-{int(time.time())}-{secrets.token_hex(10)}",
                "provider": _openrouter_provider(body),
                "model": served,
                "object": "chat.completion",
                "created": int(time.time()),
                "choices": [choice],
                "usage": usage,
                "system_fingerprint": fingerprint,
            }
        )

    return router


def _count(n: object, one: str, many: str | None = None) -> str:
    """``1 hit``, ``2 hits`` (counts arrive as formatted strings or ints)."""
    return f"{n} {one if str(n) == '1' else (many or one + 's')}"
