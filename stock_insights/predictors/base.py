"""What a predictor sees and what it answers.

A predictor is given only what was known at the cutoff ``as_of``: the caller builds the
``PredictionInput`` from storage with point-in-time filters, and the prediction records exactly
which inputs it saw (``cited_inputs``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

Direction = Literal["up", "down", "flat"]


class PriceBar(BaseModel):
    model_config = ConfigDict(frozen=True)

    trading_date: date
    close: float


class DocumentInput(BaseModel):
    """A news article, filing or report the predictor may read: first seen before the cutoff."""

    model_config = ConfigDict(frozen=True)

    doc_type: Literal["news", "disclosure", "report"]
    doc_id: str
    title: str
    text: str = ""
    source: str = ""
    published_at: datetime
    first_seen_at: datetime


class FinancialInput(BaseModel):
    """One statement line known before the cutoff (amounts in won, ratios as published)."""

    model_config = ConfigDict(frozen=True)

    statement: str
    period: str
    account: str
    value: float | None
    first_seen_at: datetime


class PredictionInput(BaseModel):
    code: str
    name: str = ""
    target_date: date
    horizon: int = Field(default=1, ge=1)
    as_of: datetime
    prices: list[PriceBar]  # closes strictly before target_date, oldest first
    documents: list[DocumentInput] = Field(default_factory=list)  # first seen before as_of, newest first
    financials: list[FinancialInput] = Field(default_factory=list)  # first seen before as_of

    @model_validator(mode="after")
    def _point_in_time(self) -> PredictionInput:
        late = [bar.trading_date for bar in self.prices if bar.trading_date >= self.target_date]
        if late:
            raise ValueError(f"prices on or after the target date {self.target_date} leaked in: {late[:3]}")
        seen_late = [d.doc_id for d in self.documents if d.first_seen_at >= self.as_of]
        seen_late += [f"{f.statement}:{f.period}:{f.account}" for f in self.financials if f.first_seen_at >= self.as_of]
        if seen_late:
            raise ValueError(
                f"inputs first seen at or after the cutoff {self.as_of.isoformat()} leaked in: {seen_late[:3]}"
            )
        return self

    def cited(self, documents: list[DocumentInput] | None = None) -> dict[str, object]:
        """Exactly what a prediction saw, for ``cited_inputs``: prices, documents and financials."""
        docs = self.documents if documents is None else documents
        return {
            "prices": [{"trading_date": b.trading_date.isoformat(), "close": b.close} for b in self.prices],
            "documents": [
                {"doc_type": d.doc_type, "doc_id": d.doc_id, "first_seen_at": d.first_seen_at.isoformat()} for d in docs
            ],
            "financials": sorted({f"{f.statement}:{f.period}" for f in self.financials}),
        }


class Rationale(BaseModel):
    positive: list[str] = Field(default_factory=list)
    concerns: list[str] = Field(default_factory=list)
    summary: str = ""


class Usage(BaseModel):
    """What an LLM answer cost; zero for baselines."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    replay: bool = False  # served from the answer cache, no call made


class PredictionOutput(BaseModel):
    direction: Direction
    prob_up: float = Field(ge=0.0, le=1.0)
    expected_return: float
    rationale: Rationale
    cited_inputs: dict[str, object]
    usage: Usage = Field(default_factory=Usage)
    prompt_version: str | None = None
    # SHA-256 of the canonical JSON of the rendered prompt's messages (LLMs); None without a prompt (baselines).
    prompt_hash: str | None = None
    # Citations of documents the prompt never showed, removed from the rationale before it was returned
    # (an LLM that cited them again after a correction). Counted in the run's metadata, never stored.
    citations_removed: list[str] = Field(default_factory=list)


class Predictor(Protocol):
    name: str

    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        """None when the inputs are not enough to say anything (too little history)."""
        ...


def direction_from_probability(prob_up: float, band: float = 0.02) -> Direction:
    if prob_up > 0.5 + band:
        return "up"
    if prob_up < 0.5 - band:
        return "down"
    return "flat"
