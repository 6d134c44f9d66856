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


class PredictionInput(BaseModel):
    code: str
    target_date: date
    horizon: int = Field(default=1, ge=1)
    as_of: datetime
    prices: list[PriceBar]  # closes strictly before target_date, oldest first

    @model_validator(mode="after")
    def _point_in_time(self) -> PredictionInput:
        late = [bar.trading_date for bar in self.prices if bar.trading_date >= self.target_date]
        if late:
            raise ValueError(f"prices on or after the target date {self.target_date} leaked in: {late[:3]}")
        return self


class Rationale(BaseModel):
    positive: list[str] = Field(default_factory=list)
    concerns: list[str] = Field(default_factory=list)
    summary: str = ""


class PredictionOutput(BaseModel):
    direction: Direction
    prob_up: float = Field(ge=0.0, le=1.0)
    expected_return: float
    rationale: Rationale
    cited_inputs: dict[str, object]


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
