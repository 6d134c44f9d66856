"""The window limiters: no upstream window ever holds more than the limit, however late each request is counted.

Why it holds: the upstream counts request ``j`` at some ``a_j`` in ``[s_j, r_j]`` (sent, answered). Suppose an
upstream window ``[x, x + w)`` held ``limit + 1`` requests, and let ``j`` be the one sent last. Every other ``i``
among them was sent before ``s_j`` and has ``r_i + w >= a_i + w >= x + w > a_j >= s_j``: it was still open when
``j`` asked for its slot. So ``limit`` requests were open at ``s_j`` and ``j`` would not have been admitted.

The tests drive real threads through each limiter (the file and Redis ones through separate instances, as
separate processes would), let each request be counted at a random moment between its sending and its answer
(answers 0-60 ms late), and count every window. The checker itself is shown to catch an even-spacing limiter,
which this jitter does defeat.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from stock_insights.clients.ratelimit import (
    FileWindowLimiter,
    LocalRateLimiter,
    LocalWindowLimiter,
    RedisWindowLimiter,
)
from stock_insights_tests.conftest import REDIS_URL

LIMIT = 5
WINDOW = 0.2  # a short window keeps the test quick; the argument does not depend on its length


def most_in_any_window(counted: list[float], window: float) -> int:
    times = sorted(counted)
    most, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def drive(slots: list[Callable[[], object]], *, requests: int = 12, seed: int = 7) -> list[float]:
    """Each thread sends ``requests`` requests through its own limiter object; returns the counted moments."""
    counted: list[float] = []
    lock = threading.Lock()

    def work(slot: Callable[[], object], rng: random.Random) -> None:
        for _ in range(requests):
            with slot():  # type: ignore[attr-defined]
                sent = time.monotonic()
                latency = rng.uniform(0.0, 0.06)
                time.sleep(latency)
                answered = time.monotonic()
                with lock:
                    counted.append(rng.uniform(sent, answered))

    threads = [threading.Thread(target=work, args=(slot, random.Random(seed + i))) for i, slot in enumerate(slots)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counted


def test_the_checker_catches_even_spacing_under_jitter() -> None:
    """Spacing at the full rate, requests counted late by up to 60 ms: some window overflows."""
    spacing = LocalRateLimiter(LIMIT / WINDOW, headroom=1.0)

    @contextmanager
    def slot() -> Iterator[None]:
        spacing.acquire()
        yield

    counted = drive([slot] * 4)
    assert most_in_any_window(counted, WINDOW) > LIMIT


def test_local_window_never_overflows() -> None:
    limiter = LocalWindowLimiter(LIMIT, window=WINDOW)
    counted = drive([limiter.slot] * 4)
    assert len(counted) == 48
    assert most_in_any_window(counted, WINDOW) <= LIMIT


def test_file_window_is_shared_by_separate_limiters(tmp_path: Path) -> None:
    path = tmp_path / "window.json"
    limiters = [FileWindowLimiter(path, LIMIT, window=WINDOW) for _ in range(4)]
    counted = drive([limiter.slot for limiter in limiters])
    assert most_in_any_window(counted, WINDOW) <= LIMIT


def test_redis_window_is_shared_by_separate_limiters() -> None:
    key = f"si-test-{uuid.uuid4().hex}:ratewindow"
    try:
        limiters = [RedisWindowLimiter(REDIS_URL, key, LIMIT, window=WINDOW) for _ in range(4)]
        counted = drive([limiter.slot for limiter in limiters])
        assert most_in_any_window(counted, WINDOW) <= LIMIT
    finally:
        redis.Redis.from_url(REDIS_URL).delete(key)


def test_a_request_that_fails_still_counts_for_its_window() -> None:
    limiter = LocalWindowLimiter(1, window=30.0)
    with pytest.raises(RuntimeError), limiter.slot():
        raise RuntimeError("upstream went away")
    admitted = threading.Event()

    def second() -> None:
        with limiter.slot():
            admitted.set()

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    assert not admitted.wait(0.3)  # still open for 30 s after the failed answer


def test_a_lost_process_frees_its_slot_when_its_lease_ends(tmp_path: Path) -> None:
    path = tmp_path / "window.json"
    path.write_text('{"a-dead-process": %f}' % (time.time() + 0.2))  # in flight, lease ends in 0.2 s
    limiter = FileWindowLimiter(path, 1, window=WINDOW)
    with limiter.slot():
        pass  # admitted once the lease ran out: the dead process cannot block the budget forever


def test_a_damaged_state_file_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "window.json"
    path.write_text("{not json")
    with FileWindowLimiter(path, 2, window=WINDOW).slot():
        pass
