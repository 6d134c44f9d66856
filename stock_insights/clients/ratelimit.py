"""Request budgets.

``RateLimiter`` is the protocol clients call before each request. ``LocalRateLimiter`` spaces
requests evenly inside one process (a token bucket of size one, so bursts never exceed the limit
within any one-second window).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


class LocalRateLimiter:
    def __init__(self, per_second: float, *, clock=time.monotonic, sleep=time.sleep):  # type: ignore[no-untyped-def]
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
