"""The one wall clock of the pipeline, the API and the sandbox.

Everything that asks "what time is it?" asks here, so that a test (or a reproducible demo) can set
"now" in one place and the whole system agrees: which sessions have closed, which partitions
exist, which filings are out, when a token expires. Nothing computed for a past day may depend on
this clock; only *which* days exist so far may.

``frozen(moment)`` fixes the clock for the duration of a ``with`` block (tests use it through the
``frozen_clock`` fixture). Without it the clock is the real one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    """The current moment, timezone-aware, in UTC."""
    moment = _frozen
    return moment if moment is not None else datetime.now(UTC)


def now_kst() -> datetime:
    """The current moment in Korean time."""
    return now().astimezone(KST)


def today_kst() -> date:
    """Today's date in Korea (trading days are KST dates)."""
    return now_kst().date()


def is_frozen() -> bool:
    return _frozen is not None


@contextmanager
def frozen(moment: datetime) -> Iterator[datetime]:
    """Fix the clock at ``moment`` (naive means KST) until the block ends; blocks may nest."""
    global _frozen
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=KST)
    fixed = moment.astimezone(UTC)
    with _lock:
        previous, _frozen = _frozen, fixed
    try:
        yield fixed
    finally:
        with _lock:
            _frozen = previous
