"""Request budgets shared by every process that spends them.

An upstream's limit (KIS: 20 requests a second per app key) is a budget of the *key*, not of a
process: two Dagster runs, their steps and a backfill all spend the same one. Every limiter here
hands out evenly spaced slots (a token bucket of depth one), so no one-second window ever holds more
than the budget, whatever the number of callers:

- ``LocalRateLimiter``: threads of one process.
- ``FileRateLimiter``: processes of one machine, through a lock file (the embedded default).
- ``RedisRateLimiter``: processes of many machines, through one Redis key (when ``REDIS_URL`` is set).

Each keeps its next free slot as shared state; a caller takes the slot and sleeps until it comes.
Slots are spaced by ``1 / (per_second * headroom)``: the headroom (default 0.95) absorbs the jitter
between the moment a request leaves and the moment the upstream counts it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

DEFAULT_HEADROOM = 0.95


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


def _interval(per_second: float, headroom: float) -> float:
    if per_second <= 0:
        raise ValueError("per_second must be positive")
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    return 1.0 / (per_second * headroom)


class LocalRateLimiter:
    def __init__(
        self,
        per_second: float,
        *,
        headroom: float = DEFAULT_HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = _interval(per_second, headroom)
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class FileRateLimiter:
    """Slots shared through a small file under an exclusive ``flock`` (POSIX, one machine)."""

    _FORMAT = "d"

    def __init__(self, path: Path, per_second: float, *, headroom: float = DEFAULT_HEADROOM):
        self.interval = _interval(per_second, headroom)
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.Lock()  # flock is per open file, so threads also queue here

    def acquire(self) -> None:
        with self._local:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw = os.pread(fd, 8, 0)
                next_slot = struct.unpack(self._FORMAT, raw)[0] if len(raw) == 8 else 0.0
                now = time.time()  # wall clock: monotonic clocks are not comparable across processes
                slot = max(now, next_slot)
                os.pwrite(fd, struct.pack(self._FORMAT, slot + self.interval), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        if slot > now:
            time.sleep(slot - now)


# KEYS[1]: the budget's key. ARGV[1]: interval in microseconds. Returns the microseconds to wait.
# Redis's own clock decides, so callers on machines with skewed clocks still share one schedule.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], slot + interval, 'PX', math.ceil((slot + interval - now) / 1000) + 1000)
return slot - now
"""


class RedisRateLimiter:
    def __init__(self, redis_url: str, key: str, per_second: float, *, headroom: float = DEFAULT_HEADROOM):
        import redis

        self.interval = _interval(per_second, headroom)
        self.key = key
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._take = self._redis.register_script(_TAKE_SLOT)

    def acquire(self) -> None:
        wait_us = int(self._take(keys=[self.key], args=[int(self.interval * 1_000_000)]))
        if wait_us > 0:
            time.sleep(wait_us / 1_000_000)


def shared_rate_limiter(
    name: str,
    per_second: float,
    *,
    redis_url: str,
    lock_dir: Path,
    key_prefix: str = "si",
    headroom: float = DEFAULT_HEADROOM,
) -> RateLimiter:
    """The budget ``name`` shared by every process: through Redis if configured (the key under
    ``key_prefix``, the deployment's ``REDIS_KEY_PREFIX``), else a lock file."""
    if redis_url:
        return RedisRateLimiter(redis_url, f"{key_prefix}:ratelimit:{name}", per_second, headroom=headroom)
    return FileRateLimiter(lock_dir / f"ratelimit-{name}.slot", per_second, headroom=headroom)
