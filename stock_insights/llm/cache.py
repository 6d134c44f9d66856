"""The LLM answer cache: one row per cache key, written once (SQL table ``llm_cache``).

The key (``cache_key``) is a hash of everything that decides an answer. A row holds the request as
sent (without headers: no key ever reaches it), the raw and parsed answer, the usage and the cost of
the calls that produced it, with the registry model and the purpose (``kind``: forecast, report).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, select

from stock_insights.storage.db import count, session_scope, upsert, utcnow
from stock_insights.storage.models import LLMCacheEntry


@dataclass(frozen=True)
class CachedAnswer:
    cache_key: str
    provider: str
    model: str
    response: dict[str, Any]
    usage: dict[str, Any]
    created_at: datetime


class AnswerCache(Protocol):
    def get(self, key: str) -> CachedAnswer | None: ...

    def put(self, key: str, *, provider: str, model: str, response: dict[str, Any], usage: dict[str, Any]) -> None: ...


class MemoryAnswerCache:
    """A process-local ``AnswerCache`` (tests, notebooks); ``SqlLLMCache`` is the real one."""

    def __init__(self) -> None:
        self._rows: dict[str, CachedAnswer] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            return self._rows.get(key)

    def put(self, key: str, *, provider: str, model: str, response: dict[str, Any], usage: dict[str, Any]) -> None:
        with self._lock:
            self._rows.setdefault(key, CachedAnswer(key, provider, model, response, usage, utcnow()))


class SqlLLMCache:
    """``get``/``put`` on ``llm_cache``; ``put`` is an idempotent insert-if-absent.

    The first answer stored under a key wins: a replay must return the answer the first run got,
    so a concurrent second writer never replaces it.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> CachedAnswer | None:
        with session_scope(self.engine) as session:
            row = session.execute(select(LLMCacheEntry).where(LLMCacheEntry.cache_key == key)).scalar_one_or_none()
            if row is None:
                return None
            return CachedAnswer(
                row.cache_key, row.provider, row.model, dict(row.response), dict(row.usage), row.created_at
            )

    def put(self, key: str, *, provider: str, model: str, response: dict[str, Any], usage: dict[str, Any]) -> None:
        row = {
            "cache_key": key,
            "provider": provider,
            "model": model,
            "response": response,
            "usage": usage,
            "created_at": utcnow(),
        }
        with session_scope(self.engine) as session:
            upsert(session, LLMCacheEntry.__table__, [row], update=())

    def count(self) -> int:
        with session_scope(self.engine) as session:
            return count(session, LLMCacheEntry.__table__)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(
    *,
    provider: str,
    model: str,
    prompt_version: str,
    messages: list[dict[str, str]],
    parameters: dict[str, Any],
    response_format: dict[str, Any],
    schema: dict[str, Any],
) -> str:
    """sha256 (hex) of the canonical JSON (sorted keys, no spaces, UTF-8) of everything that decides
    an answer. ``parameters`` holds what is sent besides model, messages and response_format
    (temperature, seed, max_tokens, OpenRouter routing); ``schema`` is what the answer is validated
    by, named even when it is not sent (JSON mode, a text answer checked by a guard)."""
    parts = {
        "provider": provider,
        "model": model,
        "prompt_version": prompt_version,
        "messages": messages,
        "parameters": parameters,
        "response_format": response_format,
        "schema": schema,
    }
    return hashlib.sha256(canonical_json(parts).encode("utf-8")).hexdigest()
