"""The spend ledger: what a model has spent today (KST), in USD, whatever the purpose of its calls.

One ledger for every caller of the gateway: a registry model's forecasts and its reports spend under
the same daily cap (``daily_cost_cap_usd``). Forecasts are recorded in ``predictions.cost_usd``;
reports have no table of their own for cost, so theirs is the usage stored with each report answer
in ``llm_cache`` (``kind`` "report"). This process's calls are recorded per purpose as well.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Protocol

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from stock_insights.calendar import KST
from stock_insights.storage.db import session_scope, utcnow
from stock_insights.storage.models import LLMCacheEntry, Prediction

# Purposes whose spend is recorded only with their answers in llm_cache (forecasts have predictions.cost_usd).
CACHE_RECORDED_PURPOSES = ("report",)


class SpendLedger(Protocol):
    """What a model has spent today (KST), in USD."""

    def spent_today(self, model: str) -> float: ...

    def record(self, model: str, cost_usd: float, purpose: str = "") -> None: ...


def kst_day(moment: datetime) -> date:
    return moment.astimezone(KST).date()


def kst_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The KST calendar day as a half-open UTC interval."""
    start = datetime.combine(day, dtime(0), tzinfo=KST)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


class MemorySpendLedger:
    """What this process spent, per model and KST day (and per purpose, for attribution)."""

    def __init__(self, now: Callable[[], datetime] = utcnow) -> None:
        self.now = now
        self._lock = threading.Lock()
        self._spent: dict[tuple[str, date], float] = defaultdict(float)
        self._by_purpose: dict[tuple[str, date, str], float] = defaultdict(float)

    def process_spent(self, model: str, day: date | None = None) -> float:
        with self._lock:
            return self._spent.get((model, day or kst_day(self.now())), 0.0)

    def spent_by_purpose(self, model: str, day: date | None = None) -> dict[str, float]:
        day = day or kst_day(self.now())
        with self._lock:
            return {p: v for (m, d, p), v in self._by_purpose.items() if m == model and d == day}

    def spent_today(self, model: str) -> float:
        return self.process_spent(model)

    def record(self, model: str, cost_usd: float, purpose: str = "") -> None:
        if cost_usd:
            day = kst_day(self.now())
            with self._lock:
                self._spent[(model, day)] += cost_usd
                self._by_purpose[(model, day, purpose)] += cost_usd


def cached_answer_cost(
    session: Session, registry_model: str, start: datetime, end: datetime, purposes: tuple[str, ...]
) -> float:
    """USD spent on the answers of ``purposes`` of a registry model stored in ``llm_cache`` in [start, end)."""
    usages = session.execute(
        select(LLMCacheEntry.usage).where(LLMCacheEntry.created_at >= start, LLMCacheEntry.created_at < end)
    ).scalars()
    return float(
        sum(
            float(u.get("cost_usd") or 0.0)
            for u in usages
            if isinstance(u, dict) and u.get("kind") in purposes and u.get("registry_model") == registry_model
        )
    )


class SqlSpendLedger(MemorySpendLedger):
    """Today's (KST) recorded spend of the model plus what this process spent.

    Recorded: ``predictions.cost_usd`` of the model's predictions created today (its forecasts) and the
    cost stored with its report answers in ``llm_cache`` today (read-only queries).

    This process's own calls reach the tables only when their answers are written, so the two
    overlap once written. Adding them would stop a model early; ignoring the process would overrun.
    The ledger therefore takes the tables' sum at its first look each day as the baseline and
    answers ``max(tables now, baseline + this process)``: never counts a cost twice, and still sees
    other processes' spending once it shows in the tables.
    """

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime] = utcnow,
        cache_purposes: tuple[str, ...] = CACHE_RECORDED_PURPOSES,
    ) -> None:
        super().__init__(now)
        self.engine = engine
        self.cache_purposes = cache_purposes
        self._baseline: dict[tuple[str, date], float] = {}

    def recorded(self, model: str, day: date) -> float:
        start, end = kst_day_bounds(day)
        with session_scope(self.engine) as session:
            forecasts = session.execute(
                select(func.coalesce(func.sum(Prediction.cost_usd), 0.0)).where(
                    Prediction.model == model, Prediction.created_at >= start, Prediction.created_at < end
                )
            ).scalar_one()
            others = cached_answer_cost(session, model, start, end, self.cache_purposes)
        return float(forecasts or 0.0) + others

    def spent_today(self, model: str) -> float:
        day = kst_day(self.now())
        recorded = self.recorded(model, day)
        with self._lock:
            baseline = self._baseline.setdefault((model, day), recorded)
        return max(recorded, baseline + self.process_spent(model, day))
