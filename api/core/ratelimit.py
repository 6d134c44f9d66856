"""Sliding-window limits on login (failures per account and per address) and registration.

In Redis (one sorted set of event times per key) when ``REDIS_URL`` is set, so every worker sees
the same counts; in process otherwise, and also whenever Redis is unreachable (the limit then holds
per worker, which is weaker but never fails open entirely).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import deque
from collections.abc import Sequence
from functools import partial

from redis.asyncio import Redis

from api.core.redis import RedisGate


class _MemoryWindows:
    def __init__(self, max_keys: int = 100_000) -> None:
        self._events: dict[str, deque[float]] = {}
        self._max_keys = max_keys

    def _window(self, key: str, now: float, window: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self._max_keys:
                self._sweep(now, window)
            events = self._events.setdefault(key, deque())
        while events and events[0] <= now - window:
            events.popleft()
        return events

    def _sweep(self, now: float, window: float) -> None:
        # Bounded memory under a flood of distinct keys: forget keys with no recent event.
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - window]:
            del self._events[key]

    def retry_after(self, key: str, limit: int, window: float) -> float | None:
        now = time.time()
        events = self._window(key, now, window)
        if len(events) < limit:
            return None
        return events[-limit] + window - now

    def add(self, key: str, window: float) -> None:
        now = time.time()
        self._window(key, now, window).append(now)


class SlidingWindowLimiter:
    def __init__(self, gate: RedisGate, *, namespace: str) -> None:
        self.gate = gate
        self.namespace = namespace
        self._memory = _MemoryWindows()

    def key(self, kind: str, value: str) -> str:
        # Hashed: emails and addresses do not sit in Redis in clear.
        return f"{self.namespace}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    async def retry_after(self, limits: Sequence[tuple[str, int]], *, window: float) -> int | None:
        """Seconds until every (key, limit) is under its limit again, or None if none is at it."""
        waits: list[float] = []
        for key, limit in limits:
            wait = await self.gate.call(partial(self._redis_retry_after, key=key, limit=limit, window=window))
            if wait is None:  # Redis not configured or not answering
                wait = self._memory.retry_after(key, limit, window)
            elif wait < 0:
                wait = None
            if wait is not None:
                waits.append(wait)
        return max(1, math.ceil(max(waits))) if waits else None

    async def hit(self, keys: Sequence[str], *, window: float) -> None:
        for key in keys:
            done = await self.gate.call(partial(self._redis_add, key=key, window=window))
            if done is None:
                self._memory.add(key, window)

    @staticmethod
    async def _redis_retry_after(redis: Redis, key: str, limit: int, window: float) -> float:
        now = time.time()
        pipe = redis.pipeline(transaction=False)
        pipe.zremrangebyscore(key, 0, now - window)
        pipe.zrevrange(key, limit - 1, limit - 1, withscores=True)
        _, nth = await pipe.execute()
        # -1 means "under the limit" (a float, so that None keeps meaning "Redis did not answer").
        return float(nth[0][1]) + window - now if nth else -1.0

    @staticmethod
    async def _redis_add(redis: Redis, key: str, window: float) -> bool:
        now = time.time()
        pipe = redis.pipeline(transaction=False)
        pipe.zadd(key, {f"{now:.6f}:{secrets.token_hex(4)}": now})
        pipe.expire(key, math.ceil(window) + 1)
        await pipe.execute()
        return True
