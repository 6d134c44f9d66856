"""One Redis client for the API behind a circuit breaker, so that a dead Redis costs little.

Every caller treats Redis as optional: ``call`` answers ``None`` when Redis is not configured, when
the breaker is open or when the command fails, and the caller falls back to its in-process path.
Short socket timeouts bound the cost of one failed attempt; after a failure the breaker stays open
for ``REDIS_BREAKER_SECONDS`` and then lets one request try again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from api.core.config import REDIS_BREAKER_SECONDS, REDIS_SOCKET_TIMEOUT_SECONDS

log = logging.getLogger(__name__)
T = TypeVar("T")


def _redacted(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


class RedisGate:
    def __init__(self, url: str, *, breaker_seconds: float = REDIS_BREAKER_SECONDS) -> None:
        self.url = url
        self.breaker_seconds = breaker_seconds
        self._open_until = 0.0
        self._last_error: str | None = None
        self.client: Redis | None = None
        if url:
            self.client = Redis.from_url(
                url,
                socket_connect_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
                socket_timeout=REDIS_SOCKET_TIMEOUT_SECONDS,
                # No retries: the breaker decides when to try again, a request never waits on backoff.
                retry=Retry(NoBackoff(), 0),
                health_check_interval=0,
            )

    @property
    def configured(self) -> bool:
        return self.client is not None

    @property
    def available(self) -> bool:
        return self.client is not None and time.monotonic() >= self._open_until

    def status(self) -> tuple[bool, str]:
        if self.client is None:
            return True, "not configured: in-process cache"
        if time.monotonic() < self._open_until:
            return False, f"unreachable ({self._last_error}); serving from the database"
        return True, "reachable"

    async def call(self, operation: Callable[[Redis], Awaitable[T]]) -> T | None:
        if self.client is None or time.monotonic() < self._open_until:
            return None
        try:
            result = await operation(self.client)
        except Exception as exc:  # any Redis failure degrades to the in-process path, never a 500
            self._trip(exc)
            return None
        if self._last_error is not None:
            log.info("Redis at %s is reachable again", _redacted(self.url))
            self._last_error = None
        return result

    def _trip(self, exc: BaseException) -> None:
        if self._last_error is None:
            log.warning(
                "Redis at %s failed (%s); using the in-process fallback for %.0f s",
                _redacted(self.url),
                type(exc).__name__,
                self.breaker_seconds,
            )
        self._last_error = type(exc).__name__
        self._open_until = time.monotonic() + self.breaker_seconds

    async def ping(self) -> tuple[bool, str]:
        """A fresh check that ignores the breaker (readiness must notice a recovery)."""
        if self.client is None:
            return True, "not configured: in-process cache"
        try:
            await self.client.ping()
        except Exception as exc:
            self._trip(exc)
            return False, f"unreachable ({type(exc).__name__}); serving from the database"
        self._open_until = 0.0
        self._last_error = None
        return True, "reachable"

    async def aclose(self) -> None:
        if self.client is not None:
            # Closing a dead connection must not fail shutdown.
            with contextlib.suppress(Exception):
                await self.client.aclose()
