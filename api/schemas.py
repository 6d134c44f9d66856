"""Response models: the API's contract with the frontend, with examples for the OpenAPI schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

StockCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]


class Health(BaseModel):
    status: Literal["ok"]
    data_mode: Literal["live", "simulated"]
    version: str

    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "ok", "data_mode": "simulated", "version": "0.1.0"}}
    )


class DependencyStatus(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    data_mode: Literal["live", "simulated"]
    checks: dict[str, DependencyStatus]


class StockOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "code": "005930",
                "name": "삼성전자",
                "name_en": "Samsung Electronics",
                "market": "KOSPI",
                "dart_corp_code": "00126380",
                "aliases": ["삼성전자", "Samsung Electronics"],
                "active": True,
            }
        },
    )

    code: StockCode
    name: str
    name_en: str | None
    market: str
    dart_corp_code: str | None
    aliases: list[str]
    active: bool


class StockDetail(StockOut):
    last_close: float | None = None
    last_trading_date: date | None = None


class StockList(BaseModel):
    items: list[StockOut]
    data_mode: Literal["live", "simulated"]


class PriceBarOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "trading_date": "2026-11-25",
                "open": 71200,
                "high": 72000,
                "low": 70900,
                "close": 71800,
                "volume": 12345678,
                "trade_value": 884000000000,
                "adjusted": True,
            }
        },
    )

    trading_date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_value: int
    adjusted: bool


class PriceSeries(BaseModel):
    code: StockCode
    interval: Literal["1d"]
    items: list[PriceBarOut]
    data_mode: Literal["live", "simulated"]


class EvaluationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: Literal["pending", "scored"]
    realized_return: float | None
    realized_direction: Literal["up", "down", "flat"] | None
    hit: bool | None
    brier: float | None
    log_loss: float | None


class PredictionOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": 1,
                "model": "momentum",
                "code": "005930",
                "target_date": "2026-11-26",
                "horizon": 1,
                "as_of": "2026-11-25T23:00:00Z",
                "direction": "up",
                "prob_up": 0.61,
                "expected_return": 0.0012,
                "rationale": {"positive": ["5-session return +3.10%"], "concerns": [], "summary": "..."},
                "cited_inputs": {"prices": [], "documents": []},
                "evaluation": None,
            }
        },
    )

    id: int
    model: str
    code: StockCode
    target_date: date
    horizon: int
    as_of: datetime
    direction: Literal["up", "down", "flat"]
    prob_up: float = Field(ge=0, le=1)
    expected_return: float
    rationale: dict[str, object]
    cited_inputs: dict[str, object]
    evaluation: EvaluationOut | None = None


class PredictionList(BaseModel):
    items: list[PredictionOut]
    data_mode: Literal["live", "simulated"]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
