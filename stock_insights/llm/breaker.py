"""A circuit breaker per model: after ``threshold`` consecutive failed calls, no more calls in this run.

With every call failing (a provider outage, a revoked key), each forecast would still wait for the
SDK's retries and backoff; the breaker turns the rest of the run into immediate, counted refusals.
It never closes again: a gateway lives for one run.
"""

from __future__ import annotations

import threading


class CircuitBreaker:
    """Counts consecutive call failures; ``threshold`` 0 never opens."""

    def __init__(self, threshold: int) -> None:
        if threshold < 0:
            raise ValueError("the breaker's threshold is a number of failures, 0 or more")
        self.threshold = threshold
        self._lock = threading.Lock()
        self._consecutive = 0
        self.last_failure = ""

    @property
    def open(self) -> bool:
        with self._lock:
            return self._is_open()

    @property
    def consecutive_failures(self) -> int:
        with self._lock:
            return self._consecutive

    def _is_open(self) -> bool:
        return self.threshold > 0 and self._consecutive >= self.threshold

    def success(self) -> None:
        with self._lock:
            if not self._is_open():
                self._consecutive = 0

    def failure(self, detail: str) -> bool:
        """Counts a failed call; True when this failure opened the circuit."""
        with self._lock:
            was_open = self._is_open()
            self._consecutive += 1
            self.last_failure = detail
            return not was_open and self._is_open()
