"""What KIS data is collected when, inside one app key's request budget (plain Python, no Dagster).

The budget is ``KIS_RATE_LIMIT_PER_SEC`` (20 requests/s per app key for real accounts) times the
limiter's headroom. A whole-market universe (about 2,700 listings) needs:

- **Daily bars** after the close: one request per listing (FHKST03010100 returns up to 100 sessions), so
  2,700 requests, about 142 s at 19 slots/s. Every listing, every session.
- **Minute bars and order books** during the session: one request per listing each for a 5-minute window
  (today's minute chart pages 30 bars back, so a stock fetched at least every 30 minutes costs one
  request). 2 x 2,700 = 5,400 requests per window against 300 s x 19 = 5,700 slots: everything would
  take 95% of the key, leaving nothing for daily/index bars, financials, retries or a second run.

So intraday collection is tiered (``IntradayPolicy``):

- **hot**: the stocks on users' watchlists, then the ``hot_top_n`` most traded (previous session's traded
  value). Fetched every window.
- **rest**: every other tracked stock, rotated: split into ``k`` interleaved groups (by code order), one
  group per window, so each gets a fresh minute series / order book every ``k`` windows.

Each dataset (minute bars, order books) gets ``budget_share x dataset_share`` of the window's slots.
``plan_window`` computes the groups so that the hot tier plus one rest group fit that budget (a rotated
stock fetched every ``k`` windows needs ``ceil(k x window_minutes / 30)`` minute-chart pages), and says the
freshness each tier gets. After the close one catch-up run fetches every stock's minute bars.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from stock_insights.settings import Settings

Dataset = Literal["minute_bars", "orderbook"]
MINUTE_CHART_PAGE = 30  # bars per page of FHKST03010200 (today's minute chart)


class IntradayPolicy(BaseModel):
    """Settings of the intraday tiers (``KIS_INTRADAY_*`` environment variables)."""

    model_config = ConfigDict(frozen=True)

    rate_limit_per_sec: float = Field(default=20.0, gt=0)
    headroom: float = Field(default=0.95, gt=0, le=1)
    window_seconds: int = Field(default=300, ge=60)
    budget_share: float = Field(
        default=0.8, gt=0, le=1, description="Share of a window's slots that intraday collection may use."
    )
    orderbook_share: float = Field(
        default=0.5, ge=0, le=1, description="Share of the intraday slots for order books; the rest minute bars."
    )
    hot_top_n: int = Field(default=300, ge=0, description="Most-traded stocks in the hot tier besides watched ones.")

    @classmethod
    def from_settings(cls, settings: Settings) -> IntradayPolicy:
        return cls(
            rate_limit_per_sec=settings.KIS_RATE_LIMIT_PER_SEC,
            headroom=settings.KIS_RATE_HEADROOM,
            window_seconds=settings.KIS_INTRADAY_WINDOW_SECONDS,
            budget_share=settings.KIS_INTRADAY_BUDGET_SHARE,
            orderbook_share=settings.KIS_INTRADAY_ORDERBOOK_SHARE,
            hot_top_n=settings.KIS_INTRADAY_HOT_TOP_N,
        )

    @property
    def window_slots(self) -> int:
        return math.floor(self.rate_limit_per_sec * self.headroom * self.window_seconds)

    def dataset_budget(self, dataset: Dataset) -> int:
        share = self.orderbook_share if dataset == "orderbook" else 1.0 - self.orderbook_share
        return math.floor(self.window_slots * self.budget_share * share)

    def requests_per_fetch(self, dataset: Dataset, every_windows: int) -> int:
        """Requests one stock costs when fetched every ``every_windows`` windows."""
        if dataset == "orderbook":
            return 1
        minutes = every_windows * self.window_seconds / 60
        return max(1, math.ceil(minutes / MINUTE_CHART_PAGE))


@dataclass(frozen=True)
class WindowPlan:
    dataset: Dataset
    window: int
    budget: int
    hot: list[str]
    rest_total: int
    groups: int | None  # windows per rotation of the rest; None: the rest is never reached
    fetch: list[str] = field(default_factory=list)  # this window: hot first, then the rest's group
    estimated_requests: int = 0
    window_seconds: int = 300

    @property
    def hot_freshness_seconds(self) -> int:
        return self.window_seconds

    @property
    def rest_freshness_seconds(self) -> int | None:
        return None if self.groups is None else self.groups * self.window_seconds

    def summary(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "window": self.window,
            "budget_requests": self.budget,
            "estimated_requests": self.estimated_requests,
            "hot_stocks": len(self.hot),
            "rest_stocks": self.rest_total,
            "rest_groups": self.groups,
            "fetched_stocks": len(self.fetch),
            "hot_freshness_s": self.hot_freshness_seconds,
            "rest_freshness_s": self.rest_freshness_seconds,
        }


def hot_tier(watched: Iterable[str], by_traded_value: Sequence[str], tracked: Sequence[str], top_n: int) -> list[str]:
    """Watched stocks (tracked ones only), then the ``top_n`` most traded not already in; in that order."""
    known = set(tracked)
    out: list[str] = []
    seen: set[str] = set()
    for code in sorted(set(watched)):
        if code in known and code not in seen:
            out.append(code)
            seen.add(code)
    added = 0
    for code in by_traded_value:
        if added >= top_n:
            break
        if code in known and code not in seen:
            out.append(code)
            seen.add(code)
            added += 1
    return out


def plan_window(
    policy: IntradayPolicy,
    dataset: Dataset,
    tracked: Sequence[str],
    *,
    watched: Iterable[str] = (),
    by_traded_value: Sequence[str] = (),
    window: int,
    catch_up: bool = False,
) -> WindowPlan:
    """Which stocks ``dataset`` fetches in window number ``window`` (any integer that grows by one a window).

    The hot tier comes first; if it alone exceeds the budget it is cut to the budget (watched first) and
    the cut stocks join the rotation. ``catch_up`` (after the close) fetches every stock.
    """
    budget = policy.dataset_budget(dataset)
    ordered = sorted(set(tracked))
    hot_all = hot_tier(watched, by_traded_value, ordered, policy.hot_top_n)
    per_hot = policy.requests_per_fetch(dataset, 1)
    hot = hot_all[: budget // per_hot] if per_hot else hot_all
    hot_set = set(hot)
    rest = [c for c in ordered if c not in hot_set]
    if catch_up:
        return WindowPlan(dataset, window, budget, hot, len(rest), 1, fetch=hot + rest,
                          estimated_requests=len(hot) + len(rest), window_seconds=policy.window_seconds)
    spare = budget - per_hot * len(hot)
    groups = rotation_groups(policy, dataset, len(rest), spare)
    fetch = list(hot)
    if groups is not None and rest:
        g = window % groups
        fetch += [code for i, code in enumerate(rest) if i % groups == g]
    cost_rest = 0 if groups is None else policy.requests_per_fetch(dataset, groups) * (len(fetch) - len(hot))
    return WindowPlan(dataset, window, budget, hot, len(rest), groups, fetch=fetch,
                      estimated_requests=per_hot * len(hot) + cost_rest, window_seconds=policy.window_seconds)


def rotation_groups(policy: IntradayPolicy, dataset: Dataset, rest: int, spare: int) -> int | None:
    """The fewest groups ``k`` such that one group (``ceil(rest / k)`` stocks at ``requests_per_fetch(k)``
    each) fits in ``spare`` requests; None when no ``k`` does."""
    if rest == 0:
        return 1
    if spare <= 0:
        return None
    for k in range(1, rest + 1):
        if math.ceil(rest / k) * policy.requests_per_fetch(dataset, k) <= spare:
            return k
    return None


def window_number(now: datetime, window_seconds: int) -> int:
    """The window ``now`` falls in, counted from the epoch: consecutive windows differ by one, so any ``k``
    consecutive windows visit every one of ``k`` rotation groups."""
    return int(now.timestamp() // window_seconds)


def daily_bars_seconds(stocks: int, rate_limit_per_sec: float, headroom: float) -> float:
    """Wall time of one request per stock at the budget's pace."""
    return stocks / (rate_limit_per_sec * headroom)
