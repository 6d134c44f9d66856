"""Which stocks the paid LLM models forecast (plain Python, no Dagster).

Baselines forecast every tracked stock every day. LLM models forecast a subset, in priority order:

1. the stocks on users' watchlists (``LLM_SUBSET_WATCHED``), then
2. the ``LLM_SUBSET_TOP_NEWS`` stocks with the most documents first seen in the forecast's window (at least
   ``LLM_SUBSET_MIN_DOCUMENTS``), most first, ties by code.

The order matters: a model that reaches its ``daily_cost_cap_usd`` stops, so the stocks it has not reached
are the least important ones. ``monthly_cost`` gives the expected bill of a subset at list prices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from stock_insights.predictors.config import Prices

if TYPE_CHECKING:
    from stock_insights.settings import Settings

SESSIONS_PER_MONTH = 21  # about 250 KRX sessions a year


class LlmSubsetPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    watched: bool = True
    top_news: int = Field(default=100, ge=0)
    min_documents: int = Field(default=1, ge=0)

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmSubsetPolicy:
        return cls(
            watched=settings.LLM_SUBSET_WATCHED,
            top_news=settings.LLM_SUBSET_TOP_NEWS,
            min_documents=settings.LLM_SUBSET_MIN_DOCUMENTS,
        )

    def select(self, tracked: Sequence[str], watched: Iterable[str], news_counts: Mapping[str, int]) -> list[str]:
        """The subset of ``tracked``, most important first."""
        known = set(tracked)
        out: list[str] = sorted(known.intersection(watched)) if self.watched else []
        chosen = set(out)
        by_news = sorted(
            (code for code in known - chosen if news_counts.get(code, 0) >= max(self.min_documents, 1)),
            key=lambda code: (-news_counts.get(code, 0), code),
        )
        out += by_news[: self.top_news]
        return out


def monthly_cost(
    stocks_per_day: int,
    prices: Prices,
    *,
    prompt_tokens: float,
    completion_tokens: float,
    horizons: int = 1,
    sessions: int = SESSIONS_PER_MONTH,
) -> float:
    """Expected USD a month at list prices: one call per stock, horizon and session, no cache hits."""
    per_call = prices.cost(round(prompt_tokens), round(completion_tokens))
    return per_call * stocks_per_day * horizons * sessions


def capped_stocks_per_day(cap_usd: float, cost_per_call: float) -> int | None:
    """How many calls a day fit under a model's daily cap (None: no cap or free)."""
    if cap_usd <= 0 or cost_per_call <= 0:
        return None
    return int(cap_usd // cost_per_call)
