"""An OpenAI-compatible API: ``POST /v1/embeddings`` (chat completions join in the predictions issue).

Shapes follow OpenAI's API reference and the error bodies its clients report:
- success: ``{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}],
  "model": ..., "usage": {"prompt_tokens": n, "total_tokens": n}}``;
- more than 2048 inputs, an empty string, or a non-string input: HTTP 400
  ``{"error": {"message": "'$.input' is invalid. Please check the API reference: ...",
  "type": "invalid_request_error", "param": null, "code": null}}``;
- an input over 8192 tokens: HTTP 400 "This model's maximum context length is 8192 tokens, ...";
- no or a bad key: HTTP 401 with ``code: "invalid_api_key"``; a 429 ``rate_limit_exceeded`` and a 500
  on demand through the fault queue.
Keys: any bearer token starting with ``sk-`` is accepted (the sandbox has no accounts).

The vectors are the offline ``HashingEmbedder``'s at the requested dimension: deterministic and
lexical, so tests of search through the real SDK find what shares words with the query.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from stock_insights.embeddings.embedders import HashingEmbedder
from stock_insights.embeddings.tokens import count_tokens
from stock_insights.sandbox.kis import FaultQueue

OPENAI_FAULT_KINDS = ("openai_429", "openai_500", "delay")
EMBEDDING_MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048
MAX_TOKENS = 8192
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


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


async def _fault(faults: FaultQueue, path: str) -> JSONResponse | None:
    fault = faults.take(path)
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


def build_openai_router(faults: FaultQueue) -> APIRouter:
    faults.allow(OPENAI_FAULT_KINDS)
    router = APIRouter()
    embedders: dict[int, HashingEmbedder] = {}
    stats: dict[str, int] = {"embedding_requests": 0, "embedding_inputs": 0}
    router.stats = stats  # type: ignore[attr-defined]

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

    return router
