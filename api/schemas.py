"""Request and response models: the API's contract with the frontend, with examples for OpenAPI."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from api import params
from stock_insights.settings import get_settings

DataMode = Literal["live", "simulated"]
RoleName = Literal["user", "analyst", "admin"]
StockCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]

# Dates outside this range are refused up front: they cannot be real market data, and date
# arithmetic near year 1 or 9999 would overflow.
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2100, 12, 31)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean_text(value: str) -> str:
    """No control characters (PostgreSQL refuses NUL) and valid UTF-8 (no lone surrogates)."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


def _utf8(value: str) -> str:
    """Any characters, but encodable (a password is hashed as UTF-8 bytes)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode") from None
    return value


def _aware(value: datetime) -> datetime:
    """A naive time means UTC; the range is checked before any conversion can overflow."""
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in_range(value: date) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"must be between {MIN_DATE} and {MAX_DATE}")
    return value


# Bounded strings without control characters (the annotations of free-text fields).
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_clean_text)]
Text200 = Annotated[str, StringConstraints(min_length=0, max_length=200), AfterValidator(_clean_text)]
Text2000 = Annotated[str, StringConstraints(min_length=0, max_length=2000), AfterValidator(_clean_text)]


# Strict query/path types (ASCII digits, written forms only): see api/params.py.
AwareDatetime = params.AwareDatetime
MarketDate = params.MarketDate
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s\x00-\x1f]+@[^@\s\x00-\x1f]+$",
    ),
    AfterValidator(_clean_text),
]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _current_data_mode() -> str:
    return get_settings().DATA_MODE


# Every answer says whether its data is live or simulated. Models built from ORM rows or by routes that do not
# pass it get the configured mode.
DataModeField: Any = Field(
    default_factory=_current_data_mode, description="Whether the platform serves live or simulated data"
)


# Every answer of a route that takes ``as_of`` (issue 17) says which moment it was answered for.
AsOfField: Any = Field(
    None,
    description="The moment this answer holds the facts of (the `as_of` asked, in UTC): only what was first seen "
    "by then. Null: answered with everything stored now.",
)


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


# ----------------------------------------------------------------------------------------------
# Health
# ----------------------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]
    data_mode: DataMode
    version: str

    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "ok", "data_mode": "simulated", "version": "0.1.0"}}
    )


class DependencyStatus(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"]
    data_mode: DataMode
    checks: dict[str, DependencyStatus]

    model_config = _examples(
        {
            "status": "degraded",
            "data_mode": "simulated",
            "checks": {
                "database": {"ok": True, "detail": "reachable"},
                "redis": {"ok": False, "detail": "unreachable (ConnectionError); serving from the database"},
                "milvus": {"ok": True, "detail": "reachable"},
            },
        }
    )


# ----------------------------------------------------------------------------------------------
# Auth and users
# ----------------------------------------------------------------------------------------------
class RegisterIn(BaseModel):
    model_config = _examples({"email": "analyst@example.com", "password": "correct horse battery staple"})

    email: Email
    password: Annotated[str, Field(min_length=8, max_length=256), AfterValidator(_utf8)]


class RefreshIn(BaseModel):
    model_config = _examples({"refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..."})

    refresh_token: Annotated[str, Field(min_length=1, max_length=4096), AfterValidator(_utf8)]


class TokenOut(BaseModel):
    model_config = _examples(
        {
            "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
            "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9...",
            "token_type": "bearer",
            "expires_in": 900,
            "refresh_expires_in": 1209600,
            "data_mode": "simulated",
        }
    )

    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_expires_in: int
    data_mode: DataMode = DataModeField


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 7,
                    "email": "analyst@example.com",
                    "role": "analyst",
                    "webhook_url": None,
                    "created_at": "2026-11-25T01:02:03Z",
                    "data_mode": "simulated",
                }
            ]
        },
    )

    id: int
    email: str
    role: RoleName
    webhook_url: str | None
    created_at: datetime
    data_mode: DataMode = DataModeField


class UserList(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 7,
                    "email": "analyst@example.com",
                    "role": "analyst",
                    "webhook_url": None,
                    "created_at": "2026-11-25T01:02:03Z",
                    "data_mode": "simulated",
                }
            ],
            "next_cursor": None,
            "data_mode": "simulated",
        }
    )

    items: list[UserOut]
    next_cursor: str | None
    data_mode: DataMode = DataModeField


class RoleIn(BaseModel):
    model_config = _examples({"role": "analyst"})

    role: RoleName


class WebhookIn(BaseModel):
    model_config = _examples({"url": "https://hooks.slack.com/services/T000/B000/XXXX"}, {"url": None})

    url: Annotated[
        str | None,
        StringConstraints(max_length=1000, pattern=r"^https?://[^\s/$.?#][^\s\x00-\x1f]*$"),
        Field(description="http(s) URL that receives Slack-compatible JSON; null removes it"),
    ] = None


class WatchlistItemOut(BaseModel):
    model_config = _examples(
        {"code": "005930", "name": "삼성전자", "market": "KOSPI", "added_at": "2026-11-25T01:02:03Z"}
    )

    code: StockCode
    name: str
    market: str
    added_at: datetime


class Watchlist(BaseModel):
    model_config = _examples(
        {
            "items": [{"code": "005930", "name": "삼성전자", "market": "KOSPI", "added_at": "2026-11-25T01:02:03Z"}],
            "data_mode": "simulated",
        }
    )

    items: list[WatchlistItemOut]
    data_mode: DataMode = DataModeField


# ----------------------------------------------------------------------------------------------
# Stocks and market data
# ----------------------------------------------------------------------------------------------
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
    data_mode: DataMode = DataModeField
    as_of: datetime | None = AsOfField


class StockChange(StockOut):
    """A stock as an admin's change left it."""

    data_mode: DataMode = DataModeField


class StockList(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "code": "005930",
                    "name": "삼성전자",
                    "name_en": "Samsung Electronics",
                    "market": "KOSPI",
                    "dart_corp_code": "00126380",
                    "aliases": ["삼성전자", "Samsung Electronics"],
                    "active": True,
                }
            ],
            "next_cursor": None,
            "data_mode": "simulated",
        }
    )

    items: list[StockOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")
    data_mode: DataMode


class StockCreate(BaseModel):
    """Add (or re-activate) a stock. Name and market may be left out for a code the platform knows."""

    model_config = _examples(
        {"code": "373220"},
        {"code": "086520", "name": "에코프로", "name_en": "EcoPro", "market": "KOSDAQ", "aliases": ["에코프로"]},
    )

    code: StockCode
    name: Text100 | None = None
    name_en: Text200 | None = None
    market: Literal["KOSPI", "KOSDAQ"] | None = None
    dart_corp_code: Annotated[str | None, StringConstraints(pattern=r"^[0-9]{8}$")] = None
    aliases: Annotated[list[Text100], Field(max_length=20)] | None = None


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


class MinuteBarOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "bar_time": "2026-11-25T00:01:00Z",
                    "trading_date": "2026-11-25",
                    "open": 71200,
                    "high": 71300,
                    "low": 71100,
                    "close": 71300,
                    "volume": 51234,
                    "cum_trade_value": 3650000000,
                }
            ]
        },
    )

    bar_time: datetime
    trading_date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    cum_trade_value: int


class PriceSeries(BaseModel):
    model_config = _examples(
        {
            "code": "005930",
            "interval": "1d",
            "items": [
                {
                    "trading_date": "2026-11-25",
                    "open": 71200,
                    "high": 72000,
                    "low": 70900,
                    "close": 71800,
                    "volume": 12345678,
                    "trade_value": 884000000000,
                    "adjusted": True,
                }
            ],
            "data_mode": "simulated",
        }
    )

    code: StockCode
    interval: Literal["1d", "1m"]
    items: list[PriceBarOut] | list[MinuteBarOut]
    data_mode: DataMode
    as_of: datetime | None = AsOfField


class OrderBookLevel(BaseModel):
    price: float
    quantity: int


class OrderBookOut(BaseModel):
    model_config = _examples(
        {
            "code": "005930",
            "snapshot_at": "2026-11-25T05:10:00Z",
            "asks": [{"price": 71900, "quantity": 1200}],
            "bids": [{"price": 71800, "quantity": 3400}],
            "total_ask_quantity": 120000,
            "total_bid_quantity": 150000,
            "source": "kis",
            "data_mode": "simulated",
        }
    )

    code: StockCode
    snapshot_at: datetime
    asks: list[OrderBookLevel] = Field(description="Level 1 (best ask) first")
    bids: list[OrderBookLevel] = Field(description="Level 1 (best bid) first")
    total_ask_quantity: int
    total_bid_quantity: int
    source: str
    data_mode: DataMode
    as_of: datetime | None = AsOfField


class FinancialItemOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "source": "dart",
                    "statement": "IS",
                    "period": "202609",
                    "fs_div": "CFS",
                    "account": "ifrs-full_Revenue",
                    "account_name": "매출액",
                    "value": 79000000000000,
                    "unit": "KRW",
                    "report_code": "11014",
                    "rcept_no": "20261114000123",
                    "published_at": "2026-11-14T07:00:00Z",
                }
            ]
        },
    )

    source: str
    statement: str
    period: str
    fs_div: str
    account: str
    account_name: str | None
    value: float | None
    unit: str
    report_code: str | None
    rcept_no: str | None
    published_at: datetime | None


class Financials(BaseModel):
    model_config = _examples(
        {
            "code": "005930",
            "items": [
                {
                    "source": "dart",
                    "statement": "IS",
                    "period": "202609",
                    "fs_div": "CFS",
                    "account": "ifrs-full_Revenue",
                    "account_name": "매출액",
                    "value": 79000000000000,
                    "unit": "KRW",
                    "report_code": "11014",
                    "rcept_no": "20261114000123",
                    "published_at": "2026-11-14T07:00:00Z",
                }
            ],
            "data_mode": "simulated",
        }
    )

    code: StockCode
    items: list[FinancialItemOut]
    data_mode: DataMode
    as_of: datetime | None = AsOfField


# ----------------------------------------------------------------------------------------------
# News and disclosures
# ----------------------------------------------------------------------------------------------
class NewsSourceOut(BaseModel):
    source: str
    url: str


class NewsItemOut(BaseModel):
    model_config = _examples(
        {
            "id": 42,
            "title": "삼성전자, 3분기 영업이익 시장 예상 상회",
            "summary": None,
            "url": "https://www.hankyung.com/article/2026112512345",
            "language": "ko",
            "published_at": "2026-11-25T01:00:00Z",
            "first_seen_at": "2026-11-25T01:04:10Z",
            "sources": [{"source": "hankyung", "url": "https://www.hankyung.com/article/2026112512345"}],
            "codes": ["005930"],
        }
    )

    id: int
    title: str
    summary: str | None
    url: str
    language: str
    published_at: datetime
    first_seen_at: datetime
    sources: list[NewsSourceOut]
    codes: list[StockCode]


class NewsPage(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 42,
                    "title": "삼성전자, 3분기 영업이익 시장 예상 상회",
                    "summary": None,
                    "url": "https://www.hankyung.com/article/2026112512345",
                    "language": "ko",
                    "published_at": "2026-11-25T01:00:00Z",
                    "first_seen_at": "2026-11-25T01:04:10Z",
                    "sources": [{"source": "hankyung", "url": "https://www.hankyung.com/article/2026112512345"}],
                    "codes": ["005930"],
                }
            ],
            "next_cursor": "WyIyMDI2LTExLTI1VDAxOjAwOjAwKzAwOjAwIiw0Ml0",
            "data_mode": "simulated",
        }
    )

    items: list[NewsItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")
    data_mode: DataMode
    as_of: datetime | None = AsOfField


class DisclosureOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "rcept_no": "20261125000321",
                    "corp_code": "00126380",
                    "corp_name": "삼성전자",
                    "code": "005930",
                    "corp_cls": "Y",
                    "report_name": "주요사항보고서(자기주식취득결정)",
                    "filer_name": "삼성전자",
                    "receipt_date": "2026-11-25",
                    "remarks": "",
                    "viewer_url": "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261125000321",
                    "first_seen_at": "2026-11-25T06:31:00Z",
                }
            ]
        },
    )

    rcept_no: str
    corp_code: str
    corp_name: str
    code: str | None
    corp_cls: str
    report_name: str
    filer_name: str
    receipt_date: date
    remarks: str
    viewer_url: str
    first_seen_at: datetime
    version: int = Field(1, description="1 for an original; a correction is one more than the version it amends")
    original_rcept_no: str | None = Field(
        None, description="The first stored filing of this report (this filing itself for an original)"
    )
    amends_rcept_no: str | None = Field(None, description="The version this correction amends")
    original_missing: bool = Field(
        False, description="A correction ([기재정정], [첨부추가], ...) whose original is not stored: kept, unlinked"
    )


class DisclosureItemOut(DisclosureOut):
    """A report as in force: its latest version (first seen by `as_of`), and on request every version."""

    versions: list[DisclosureOut] | None = Field(
        None, description="With `versions=true`: every version of this report (first seen by `as_of`), oldest first"
    )


class DisclosurePage(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "rcept_no": "20261125000321",
                    "corp_code": "00126380",
                    "corp_name": "삼성전자",
                    "code": "005930",
                    "corp_cls": "Y",
                    "report_name": "주요사항보고서(자기주식취득결정)",
                    "filer_name": "삼성전자",
                    "receipt_date": "2026-11-25",
                    "remarks": "",
                    "viewer_url": "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261125000321",
                    "first_seen_at": "2026-11-25T06:31:00Z",
                }
            ],
            "next_cursor": None,
            "data_mode": "simulated",
        }
    )

    items: list[DisclosureItemOut]
    next_cursor: str | None
    data_mode: DataMode
    as_of: datetime | None = AsOfField


# ----------------------------------------------------------------------------------------------
# Predictions, experiments, evaluations
# ----------------------------------------------------------------------------------------------
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


class Assignment(BaseModel):
    """The A/B arm the caller was assigned to, when no model was asked for."""

    experiment_id: int
    experiment: str
    arm: str
    model: str


class PredictionList(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 1,
                    "model": "momentum",
                    "code": "005930",
                    "target_date": "2026-11-26",
                    "horizon": 1,
                    "as_of": "2026-11-25T23:00:00Z",
                    "direction": "up",
                    "prob_up": 0.61,
                    "expected_return": 0.0012,
                    "rationale": {"summary": "5-session return +3.10%"},
                    "cited_inputs": {"prices": []},
                    "evaluation": {
                        "status": "scored",
                        "realized_return": 0.004,
                        "realized_direction": "up",
                        "hit": True,
                        "brier": 0.152,
                        "log_loss": 0.494,
                    },
                }
            ],
            "data_mode": "simulated",
            "assignment": {
                "experiment_id": 3,
                "experiment": "gpt4o-vs-momentum",
                "arm": "control",
                "model": "momentum",
            },
        }
    )

    items: list[PredictionOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last page")
    data_mode: DataMode
    assignment: Assignment | None = None
    as_of: datetime | None = AsOfField


class ArmIn(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:-]+$")]
    model: ModelName
    weight: Annotated[float, Field(gt=0, le=1000, description="Relative traffic share")]


class ExperimentIn(BaseModel):
    model_config = _examples(
        {
            "name": "gpt4o-vs-momentum",
            "description": "Does the LLM beat the baseline on next-day direction?",
            "arms": [
                {"name": "control", "model": "momentum", "weight": 1},
                {"name": "treatment", "model": "gpt-4o", "weight": 1},
            ],
        }
    )

    name: Text100
    description: Text2000 = ""
    arms: Annotated[list[ArmIn], Field(min_length=1, max_length=10, description="Arm names must be unique")]

    @model_validator(mode="after")
    def _unique_arm_names(self) -> ExperimentIn:
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return self


class ArmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    model: str
    weight: float


class ExperimentOut(BaseModel):
    model_config = _examples(
        {
            "id": 3,
            "name": "gpt4o-vs-momentum",
            "description": "",
            "status": "running",
            "created_at": "2026-11-20T00:00:00Z",
            "stopped_at": None,
            "arms": [{"name": "control", "model": "momentum", "weight": 1.0}],
        }
    )

    id: int
    name: str
    description: str
    status: Literal["running", "stopped"]
    created_at: datetime
    stopped_at: datetime | None
    arms: list[ArmOut]


class ExperimentChange(ExperimentOut):
    """An experiment as an admin's start or stop left it."""

    data_mode: DataMode = DataModeField


class ExperimentList(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 3,
                    "name": "gpt4o-vs-momentum",
                    "description": "",
                    "status": "running",
                    "created_at": "2026-11-20T00:00:00Z",
                    "stopped_at": None,
                    "arms": [{"name": "control", "model": "momentum", "weight": 1.0}],
                }
            ],
            "data_mode": "simulated",
        }
    )

    items: list[ExperimentOut]
    data_mode: DataMode = DataModeField


class RunningExperiment(BaseModel):
    """Internal (cached): the experiment that assigns arms, if one runs."""

    experiment: ExperimentOut | None


class KnownModels(BaseModel):
    """Internal (cached): the model names a prediction query may ask for (registry and stored)."""

    names: list[str]


class ArmResult(BaseModel):
    arm: str
    model: str
    weight: float
    predictions: int
    scored: int
    hits: int
    hit_rate: float | None
    mean_brier: float | None
    mean_log_loss: float | None


class ExperimentResults(BaseModel):
    model_config = _examples(
        {
            "experiment": {
                "id": 3,
                "name": "gpt4o-vs-momentum",
                "description": "",
                "status": "running",
                "created_at": "2026-11-20T00:00:00Z",
                "stopped_at": None,
                "arms": [{"name": "control", "model": "momentum", "weight": 1.0}],
            },
            "arms": [
                {
                    "arm": "control",
                    "model": "momentum",
                    "weight": 1.0,
                    "predictions": 40,
                    "scored": 32,
                    "hits": 17,
                    "hit_rate": 0.53125,
                    "mean_brier": 0.248,
                    "mean_log_loss": 0.69,
                }
            ],
            "significance": None,
            "note": "Counts from the predictions table; significance from the leaderboard of 2026-11-25 (60 days).",
            "data_mode": "simulated",
        }
    )

    experiment: ExperimentOut
    arms: list[ArmResult]
    significance: dict[str, Any] | None = Field(
        None,
        description="Paired tests of every pair of arms from the latest leaderboard (McNemar on hits, "
        "Diebold-Mariano with HLN on Brier, Holm-corrected), with a verdict per pair; null until one is computed.",
    )
    note: str
    data_mode: DataMode


class LeaderboardRow(BaseModel):
    rank: int | None = Field(description="By Brier score, 1 = lowest; null when the model has too few dates")
    model: str
    count: int
    hit_rate: float | None
    brier: float | None
    log_loss: float | None


class Leaderboard(BaseModel):
    model_config = _examples(
        {
            "window": 20,
            "from_date": "2026-10-29",
            "to_date": "2026-11-25",
            "items": [
                {"rank": 1, "model": "momentum", "count": 160, "hit_rate": 0.52, "brier": 0.249, "log_loss": 0.692}
            ],
            "note": "Simple means over scored predictions; ranked by Brier score (lower is better).",
            "data_mode": "simulated",
        }
    )

    window: Literal[20, 60, 250]
    from_date: date | None
    to_date: date | None
    items: list[LeaderboardRow]
    note: str
    data_mode: DataMode


class WilsonHits(BaseModel):
    hits: int
    n: int
    rate: float
    ci_low: float = Field(description="Wilson 95% interval, lower end")
    ci_high: float


class ReliabilityBinOut(BaseModel):
    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    observed_frequency: float | None


class CalibrationOut(BaseModel):
    ece: float = Field(description="Expected calibration error, equal-width bins")
    n_bins: int
    base_rate: float = Field(description="Share of up outcomes (the climatology forecast)")
    bins: list[ReliabilityBinOut]


class AcrossDatesOut(BaseModel):
    """A daily correlation summarised across dates (Qlib's mean, ICIR = mean/std, t)."""

    n_dates: int
    mean: float | None
    std: float | None
    ir: float | None
    t_stat: float | None
    p_value: float | None
    reason: str | None = None


class InformationCoefficient(BaseModel):
    score: Literal["expected_return", "prob_up"]
    ic: AcrossDatesOut
    rank_ic: AcrossDatesOut


class LongShortOut(BaseModel):
    """The daily top-k long-short book after fees and sell tax; null figures with a reason at horizon 5."""

    available: bool
    reason: str | None = None
    k: int | None = None
    fee_per_side: float | None = None
    sell_tax: float | None = None
    n_days: int | None = None
    mean_daily_return: float | None = None
    cumulative_return: float | None = None
    annualised_return: float | None = None
    information_ratio: float | None = None
    max_drawdown: float | None = None
    mean_turnover: float | None = None


class ExcessReturnOut(BaseModel):
    """Mean over the model's "up" calls of realized return minus the stock's index return (same closes)."""

    n: int = Field(description="'up' calls with a known index return")
    n_without_index: int
    mean: float | None
    daily_mean: float | None = Field(description="Per-date mean first, then the mean across dates")
    daily_ci_low: float | None
    daily_ci_high: float | None
    reason: str | None = None


class AfterCutoffOut(BaseModel):
    """A model's figures on the board restricted to target days after its training cutoff (same window)."""

    n: int = Field(description="Scored forecasts in the window whose target day is after the training cutoff")
    n_dates: int
    first_date: date | None
    rank: int | None
    hit_rate: float | None
    brier: float | None
    reason: str | None = None


class ScorecardRow(BaseModel):
    rank: int | None = Field(description="By Brier score, 1 = lowest; null when too few dates to rank")
    unranked_reason: str | None = None
    model: str
    n: int = Field(description="Scored forecasts in the window")
    n_dates: int
    n_unchanged: int = Field(description="Outcomes with realized return exactly 0 (scored as 'not up')")
    first_date: date
    last_date: date
    hits: WilsonHits
    mcc: float | None
    mcc_reason: str | None = None
    pesaran_timmermann_p: float | None
    brier: float
    brier_reference: float = Field(description="Brier score of always forecasting the window's up-rate")
    brier_skill: float | None = Field(description="1 - Brier / reference; > 0 beats climatology")
    log_loss: float
    calibration: CalibrationOut
    information_coefficients: list[InformationCoefficient]
    long_short: LongShortOut
    excess_return: ExcessReturnOut
    n_late: int = Field(0, description="Rows of the board that are late forecasts (0 on the live board)")
    training_cutoff: str | None = Field(
        "unknown", description="Last month of the model's training data (YYYY-MM), 'unknown', or null: learns nothing"
    )
    after_cutoff: AfterCutoffOut | None = Field(
        None, description="The same model on the board of target days after its training cutoff (full boards only)"
    )


class HitsTestOut(BaseModel):
    a_only: int = Field(description="Pairs A hit and B missed")
    b_only: int
    method: str
    n_dates: int | None
    mean_differential: float | None = Field(description="Mean per-date hit-rate difference A - B")
    statistic: float | None
    p_value: float | None
    p_holm: float | None
    reason: str | None = None


class LossTestOut(BaseModel):
    mean_differential: float = Field(description="Mean per-date Brier difference A - B (> 0: B better)")
    statistic_hln: float | None
    df: int
    p_value: float | None
    p_holm: float | None
    reason: str | None = None


class PairwiseComparison(BaseModel):
    model_a: str
    model_b: str
    n_pairs: int
    n_dates: int
    hit_rate_a: float | None
    hit_rate_b: float | None
    mean_brier_a: float | None
    mean_brier_b: float | None
    mcnemar: HitsTestOut | None = Field(description="McNemar clustered by date (per-date hit differences)")
    diebold_mariano: LossTestOut | None = Field(description="Diebold-Mariano with HLN on per-date Brier differences")
    better_on_hits: str | None
    better_on_loss: str | None
    verdict: str


class Scorecard(BaseModel):
    model_config = _examples(
        {
            "as_of_date": "2026-10-30",
            "window": 20,
            "horizon": 1,
            "from_date": "2026-10-02",
            "to_date": "2026-10-30",
            "n_dates": 20,
            "min_dates_to_rank": 10,
            "alpha": 0.05,
            "outcome_rule": "binary outcome: went up iff realized_return > 0, ...",
            "items": [],
            "comparisons": [],
            "note": "Served from the evaluations/leaderboard snapshot of 2026-10-30.",
            "forecasts": "live",
            "after_cutoff": False,
            "data_mode": "simulated",
        }
    )

    as_of_date: date | None = Field(description="The snapshot's trading day (latest unless `date` was given)")
    window: Literal[20, 60, 250]
    horizon: Literal[1, 5]
    from_date: date | None
    to_date: date | None
    n_dates: int
    min_dates_to_rank: int
    alpha: float | None = Field(description="Level of the pairwise tests, after Holm")
    outcome_rule: str
    items: list[ScorecardRow]
    comparisons: list[PairwiseComparison]
    note: str
    forecasts: Literal["live", "all"] = Field(
        description="Which forecasts this board is made of: live (cut off and stored before 09:00 KST on the target "
        "day, the ledger's rule) or all (late ones included, counted per model in n_late)"
    )
    after_cutoff: bool = Field(
        description="True: only forecasts whose target day is after the model's training cutoff"
    )
    data_mode: DataMode


# ----------------------------------------------------------------------------------------------
# Dashboard, reports, notifications, search
# ----------------------------------------------------------------------------------------------
class Freshness(BaseModel):
    table: str
    column: str
    newest: datetime | None


class Mover(BaseModel):
    code: StockCode
    name: str
    close: float
    previous_close: float
    change: float = Field(description="close / previous_close - 1")


class Movers(BaseModel):
    trading_date: date | None
    previous_date: date | None
    gainers: list[Mover]
    losers: list[Mover]


class DashboardStats(BaseModel):
    model_config = _examples(
        {
            "counts": {"stocks": 8, "daily_bars": 3920, "predictions": 160},
            "freshness": [{"table": "daily_bars", "column": "fetched_at", "newest": "2026-11-25T06:40:00Z"}],
            "movers": {"trading_date": "2026-11-25", "previous_date": "2026-11-24", "gainers": [], "losers": []},
            "models": [
                {"rank": 1, "model": "momentum", "count": 160, "hit_rate": 0.52, "brier": 0.249, "log_loss": 0.692}
            ],
            "models_forecasts": "live",
            "dataset_versions": {"daily_bars": 12, "predictions": 20},
            "data_mode": "simulated",
        }
    )

    counts: dict[str, int]
    freshness: list[Freshness]
    movers: Movers
    models: list[LeaderboardRow]
    models_forecasts: Literal["live", "all"] = Field(
        "live", description="Which forecasts the standings are made of (the leaderboard's default: live)"
    )
    dataset_versions: dict[str, int]
    data_mode: DataMode


class ReportSource(BaseModel):
    """A numbered source of a report: what ``[n]`` in its Markdown refers to."""

    n: int = Field(ge=1, description="The number the report cites as [n]")
    kind: Literal["filing", "news"]
    key: str = Field(description="disclosure:<rcept_no> or news:<article id>")
    title: str
    url: str = Field(description="DART viewer link for a filing, the article's canonical URL for news")
    outlet: str = Field(description='"DART", or the news sources that carried the story by the close')
    codes: list[str] = Field(description="Tracked stocks it is about")
    first_seen_at: datetime = Field(description="When the pipeline first saw it: on or before the day's close")


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    scope: str = Field(description='"market" or a 6-digit stock code')
    markdown: str
    sources: list[ReportSource]
    generator: str = Field(description='"template", or the LLM model that wrote the summary')
    created_at: datetime


class DailyReport(BaseModel):
    model_config = _examples(
        {
            "trading_date": "2026-11-25",
            "market": {
                "scope": "market",
                "markdown": "# Market: 2026-11-25\n...\n## Sources\n\n1. [삼성전자 주요사항보고서(자기주식취득결정)]"
                "(https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261125000123): DART filing, first seen "
                "2026-11-25 09:15 KST\n",
                "sources": [
                    {
                        "n": 1,
                        "kind": "filing",
                        "key": "disclosure:20261125000123",
                        "title": "삼성전자 주요사항보고서(자기주식취득결정)",
                        "url": "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261125000123",
                        "outlet": "DART",
                        "codes": ["005930"],
                        "first_seen_at": "2026-11-25T00:15:00Z",
                    }
                ],
                "generator": "template",
                "created_at": "2026-11-25T07:00:00Z",
            },
            "stocks": [],
            "data_mode": "simulated",
        }
    )

    trading_date: date
    market: ReportOut | None
    stocks: list[ReportOut]
    data_mode: DataMode


class NotificationOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 5,
                    "kind": "disclosure",
                    "code": "005930",
                    "title": "삼성전자: 주요사항보고서",
                    "body": "A new filing for a stock on your watchlist.",
                    "created_at": "2026-11-25T06:32:00Z",
                    "read_at": None,
                }
            ]
        },
    )

    id: int
    kind: str
    code: str | None
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class NotificationMarked(NotificationOut):
    """A notification as marking it read left it."""

    data_mode: DataMode = DataModeField


class NotificationPage(BaseModel):
    model_config = _examples(
        {
            "items": [
                {
                    "id": 5,
                    "kind": "disclosure",
                    "code": "005930",
                    "title": "삼성전자: 주요사항보고서",
                    "body": "A new filing for a stock on your watchlist.",
                    "created_at": "2026-11-25T06:32:00Z",
                    "read_at": None,
                }
            ],
            "next_cursor": None,
            "data_mode": "simulated",
        }
    )

    items: list[NotificationOut]
    next_cursor: str | None
    data_mode: DataMode = DataModeField


class SearchHit(BaseModel):
    doc_type: Literal["news", "disclosure"]
    id: str
    title: str
    url: str
    published_at: datetime | None
    first_seen_at: datetime
    codes: list[str]
    score: float | None = None  # cosine similarity (semantic mode)


class SearchResults(BaseModel):
    model_config = _examples(
        {
            "mode": "lexical-fallback",
            "query": "자사주",
            "items": [
                {
                    "doc_type": "disclosure",
                    "id": "20261125000321",
                    "title": "주요사항보고서(자기주식취득결정)",
                    "url": "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20261125000321",
                    "published_at": None,
                    "first_seen_at": "2026-11-25T06:31:00Z",
                    "codes": ["005930"],
                }
            ],
            "note": "Semantic search is not available yet; this is a substring match over titles.",
            "data_mode": "simulated",
        }
    )

    mode: Literal["semantic", "lexical-fallback"]
    query: str
    items: list[SearchHit]
    note: str
    data_mode: DataMode


# ----------------------------------------------------------------------------------------------
# Forecast ledger
# ----------------------------------------------------------------------------------------------
_DIGEST = "9f2c1e4b7a0d3c5e8f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e"
_PREVIOUS = "4d1a7c2e9b0f3a6c8e1d4b7a0c3f6e9d2b5a8c1f4e7d0a3b6c9f2e5d8a1b4c7e"
_CHAIN = "b3e8f1a6c9d2e5f8a1b4c7d0e3f6a9b2c5d8e1f4a7b0c3d6e9f2a5b8c1d4e7f0"


class LedgerDocument(BaseModel):
    doc_type: str
    doc_id: str
    first_seen_at: datetime | None  # as the forecast recorded it


class LedgerRow(BaseModel):
    """One sealed forecast (the canonical line, with its numbers as numbers)."""

    model: str
    code: str
    horizon: int
    as_of: datetime  # the forecast's cutoff
    created_at: datetime  # when the pipeline first stored it: before the open, or it is late
    direction: str
    prob_up: float
    expected_return: float
    documents: list[LedgerDocument]
    financials: list[str]
    prompt_version: str | None
    # Format 2: SHA-256 of the canonical JSON of the messages it sent (null for baselines; absent in format 1)
    prompt_hash: str | None = None
    inputs_sha256: str  # of the canonical JSON of everything it cited (prices, documents, financials)
    rationale_sha256: str


class LedgerDay(BaseModel):
    model_config = _examples(
        {
            "day": "2026-12-04",
            "format": "stock_insights.ledger/2",
            "digest": _DIGEST,
            "previous_digest": _PREVIOUS,
            "chain_digest": _CHAIN,
            "sealed_at": "2026-12-03T23:01:12.345678Z",
            "live_deadline": "2026-12-04T00:00:00Z",
            "sealed_before_open": True,
            "row_count": 1,
            "rows": [
                {
                    "model": "gpt-4o",
                    "code": "005930",
                    "horizon": 1,
                    "as_of": "2026-12-03T23:00:00Z",
                    "created_at": "2026-12-03T23:00:41.120000Z",
                    "direction": "up",
                    "prob_up": 0.612,
                    "expected_return": 0.0012,
                    "documents": [{"doc_type": "news", "doc_id": "18231", "first_seen_at": "2026-12-03T09:14:00Z"}],
                    "financials": ["IS:202609"],
                    "prompt_version": "v1",
                    "inputs_sha256": _DIGEST,
                    "rationale_sha256": _PREVIOUS,
                }
            ],
            "data_mode": "simulated",
        }
    )

    day: date
    format: str
    digest: str  # SHA-256 of the canonical form (GET /ledger/{date}/canonical)
    previous_digest: str  # the chain digest of the previous sealed day (64 zeros for the first)
    chain_digest: str  # SHA-256(previous_digest + digest), hex strings
    sealed_at: datetime
    live_deadline: datetime  # 09:00 KST on the day: forecasts first stored after it are late, never sealed
    sealed_before_open: bool
    row_count: int  # rows in the seal (``rows`` may be filtered)
    rows: list[LedgerRow]
    data_mode: DataMode = DataModeField


class LedgerCanonical(BaseModel):
    model_config = _examples(
        {
            "day": "2026-12-04",
            "digest": _DIGEST,
            "previous_digest": _PREVIOUS,
            "chain_digest": _CHAIN,
            "sealed_at": "2026-12-03T23:01:12.345678Z",
            "canonical": '{"day":"2026-12-04","format":"stock_insights.ledger/2",'
            '"live_deadline":"2026-12-04T00:00:00.000000Z","rows":0,"sealed_at":"2026-12-03T23:01:12.345678Z"}\n',
            "data_mode": "simulated",
        }
    )

    day: date
    digest: str
    previous_digest: str
    chain_digest: str
    sealed_at: datetime
    canonical: str  # the sealed JSON Lines: SHA-256 of its UTF-8 bytes is ``digest``
    data_mode: DataMode = DataModeField
