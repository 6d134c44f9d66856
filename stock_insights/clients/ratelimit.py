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

Spacing cannot absorb every jitter: on a loaded machine a request delayed by more than the headroom
(50 ms at 20/s) lands in the same upstream second as twenty later ones. The *window* limiters
(``LocalWindowLimiter``, ``FileWindowLimiter``, ``RedisWindowLimiter``) need no headroom, because they
bound what the upstream can see rather than when requests leave. The upstream counts a request at
some moment between its sending and its answer; so a request may leave at ``t`` only if fewer than
``limit`` earlier requests are still *open* at ``t``, where a request is open from its sending until
one window (1 s) after its answer came back (until its lease runs out if it never comes back). Then
no upstream window of 1 s can ever hold more than ``limit`` requests, however late each is counted
(the proof is in ``stock_insights_tests/clients/test_window_limiter.py``). The price is one round trip
per window: with answers in ``L`` seconds the limiter admits ``limit / (1 + L)`` requests a second.
Callers wrap the request: ``with limiter.slot(): send()``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

DEFAULT_HEADROOM = 0.95


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


class _Spacing:
    """``slot()`` for the spacing limiters: take the next slot, then send (nothing to do after)."""

    def acquire(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        yield


class WindowLimiter(Protocol):
    def slot(self) -> contextlib.AbstractContextManager[None]: ...


DEFAULT_WINDOW_SECONDS = 1.0
DEFAULT_LEASE_SECONDS = 60.0  # longer than any request may take (timeouts included)


def _limit(limit: int) -> int:
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return limit


def _interval(per_second: float, headroom: float) -> float:
    if per_second <= 0:
        raise ValueError("per_second must be positive")
    if not 0 < headroom <= 1:
        raise ValueError("headroom must be in (0, 1]")
    return 1.0 / (per_second * headroom)


class LocalRateLimiter(_Spacing):
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


class SlidingWindowLimiter(_Spacing):
    """At most ``limit`` requests in any ``window`` seconds; bursts allowed up to the limit.

    Unlike even spacing this keeps small runs fast while honouring per-minute budgets such as
    Reddit's 100 requests a minute.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                wait = self._times[0] + self.window - now
            self._sleep(max(wait, 0.001))


class FileRateLimiter(_Spacing):
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


class RedisRateLimiter(_Spacing):
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


class LocalWindowLimiter:
    """Open requests of one process (threads)."""

    def __init__(
        self,
        limit: int,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.limit = _limit(limit)
        self.window = window
        self._clock = clock
        self._open: dict[int, float] = {}  # ticket -> when it stops counting (inf while in flight)
        self._ticket = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        with self._cond:
            while True:
                now = self._clock()
                self._open = {t: end for t, end in self._open.items() if end > now}
                if len(self._open) < self.limit:
                    break
                soonest = min(self._open.values())
                self._cond.wait(None if soonest == float("inf") else soonest - now)
            self._ticket += 1
            ticket = self._ticket
            self._open[ticket] = float("inf")
        try:
            yield
        finally:
            with self._cond:
                self._open[ticket] = self._clock() + self.window
                self._cond.notify_all()


class FileWindowLimiter:
    """Open requests of every process on one machine, in a small JSON file under ``flock``."""

    def __init__(
        self,
        path: Path,
        limit: int,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        lease: float = DEFAULT_LEASE_SECONDS,
        poll: float = 0.005,
    ):
        self.limit = _limit(limit)
        self.window = window
        self.lease = lease
        self.poll = poll
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, float]]:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 1 << 20, 0)
            try:
                state = json.loads(raw) if raw else {}
            except ValueError:
                state = {}  # a torn or foreign file: start empty rather than block forever
            if not isinstance(state, dict):
                state = {}
            yield state
            data = json.dumps(state).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)  # closing releases the lock

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        ticket = uuid.uuid4().hex
        while True:
            with self._locked() as state:
                now = time.time()  # wall clock: monotonic clocks are not comparable across processes
                for key in [k for k, end in state.items() if end <= now]:
                    del state[key]
                if len(state) < self.limit:
                    state[ticket] = now + self.lease
                    break
                wait = min(state.values()) - now
            time.sleep(min(max(wait, 0.0), self.poll))
        try:
            yield
        finally:
            with self._locked() as state:
                state[ticket] = time.time() + self.window


# A sorted set of open requests scored by when each stops counting, on Redis's own clock.
# KEYS[1]: the set. ARGV: limit, lease (µs), ticket. Returns 0 when admitted, else µs to wait.
_OPEN_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) / 1000) + 1000)
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - now)
"""
# KEYS[1]: the set. ARGV: window (µs), ticket. The request counts for one window after its answer.
_CLOSE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
return 0
"""


class RedisWindowLimiter:
    """Open requests of every process on every machine, in one Redis sorted set."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        limit: int,
        *,
        window: float = DEFAULT_WINDOW_SECONDS,
        lease: float = DEFAULT_LEASE_SECONDS,
        poll: float = 0.005,
    ):
        import redis

        self.limit = _limit(limit)
        self.key = key
        self.window_us = int(window * 1_000_000)
        self.lease_us = int(lease * 1_000_000)
        self.poll = poll
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._open = self._redis.register_script(_OPEN_SLOT)
        self._close = self._redis.register_script(_CLOSE_SLOT)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        ticket = uuid.uuid4().hex
        while True:
            wait_us = int(self._open(keys=[self.key], args=[self.limit, self.lease_us, ticket]))
            if wait_us == 0:
                break
            time.sleep(min(wait_us / 1_000_000, self.poll))
        try:
            yield
        finally:
            self._close(keys=[self.key], args=[self.window_us, ticket])


def shared_window_limiter(
    name: str,
    limit: int,
    *,
    redis_url: str,
    lock_dir: Path,
    key_prefix: str = "si",
    window: float = DEFAULT_WINDOW_SECONDS,
) -> WindowLimiter:
    """The window budget ``name`` shared by every process: through Redis if configured, else a lock file."""
    if redis_url:
        return RedisWindowLimiter(redis_url, f"{key_prefix}:ratewindow:{name}", limit, window=window)
    return FileWindowLimiter(lock_dir / f"ratewindow-{name}.json", limit, window=window)


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
