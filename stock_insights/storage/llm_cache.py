"""The LLM answer cache in SQL (table ``llm_cache``): one row per cache key, written once.

The key is computed by the caller (``predictors.llm.cache_key``): a hash of everything that decides
an answer. A row holds the request as sent (without headers: no key ever reaches it), the raw and
parsed answer, the usage and the cost of the call that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
            return CachedAnswer(row.cache_key, row.provider, row.model, dict(row.response), dict(row.usage),
                                row.created_at)

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
            return count(session, LLMCacheEntry.__table__)  # type: ignore[arg-type]
