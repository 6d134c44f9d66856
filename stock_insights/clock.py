"""The one wall clock of the pipeline, the API and the sandbox.

Everything that asks "what time is it?" asks here, so that a test (or a reproducible demo) can set
"now" in one place and the whole system agrees: which sessions have closed, which partitions
exist, which filings are out, when a token expires. Nothing computed for a past day may depend on
this clock; only *which* days exist so far may.

``frozen(moment)`` fixes the clock for the duration of a ``with`` block; ``frozen(moment, ticking=True)``
starts it at ``moment`` and lets it run at the real pace (tests use that through the ``frozen_clock``
fixture: "today" is fixed, yet two stamps taken a moment apart still differ). Without either the clock
is the real one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

KST_NAME = "Asia/Seoul"  # the exchange's zone, for Dagster schedules and partitions (a name, not a ZoneInfo)
KST = ZoneInfo(KST_NAME)

_lock = threading.Lock()
_frozen: tuple[datetime, float | None] | None = None  # (moment, monotonic start when ticking)


def now() -> datetime:
    """The current moment, timezone-aware, in UTC."""
    state = _frozen
    if state is None:
        return datetime.now(UTC)
    moment, started = state
    return moment if started is None else moment + timedelta(seconds=time.monotonic() - started)


def now_kst() -> datetime:
    """The current moment in Korean time."""
    return now().astimezone(KST)


def today_kst() -> date:
    """Today's date in Korea (trading days are KST dates)."""
    return now_kst().date()


def is_frozen() -> bool:
    return _frozen is not None


@contextmanager
def frozen(moment: datetime, *, ticking: bool = False) -> Iterator[datetime]:
    """Set the clock to ``moment`` (naive means KST) until the block ends; blocks may nest.

    Stopped by default; with ``ticking`` it runs on from ``moment`` at the real pace.
    """
    global _frozen
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    fixed = moment.astimezone(UTC)
    with _lock:
        previous, _frozen = _frozen, (fixed, time.monotonic() if ticking else None)
    try:
        yield fixed
    finally:
        with _lock:
            _frozen = previous
