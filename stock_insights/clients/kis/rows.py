"""Typed rows of KIS answers, converted from KIS's strings.

KIS sends every number as a string, dates as ``YYYYMMDD`` and times as KST ``HHMMSS``. Each row type
knows its wire keys; ``parse_rows`` turns a list of wire rows into typed rows or one clear error
naming the bad rows (a batch with a bad row is refused whole: no silent partial write downstream).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from stock_insights.clients.errors import SourceDataError
from stock_insights.clock import KST

SOURCE = "KIS"
# Financial statements arrive in 억원 (100 million won).
EOK = 100_000_000

T = TypeVar("T")


def number(value: Any, field: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{field}={value!r} is not a number") from None


def wire_date(value: Any, field: str = "stck_bsop_date") -> date:
    try:
        return datetime.strptime(str(value).strip(), "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"{field}={value!r} is not a YYYYMMDD date") from None


def wire_time(value: Any, field: str) -> time:
    try:
        return datetime.strptime(str(value).strip(), "%H%M%S").time()
    except ValueError:
        raise ValueError(f"{field}={value!r} is not an HHMMSS time") from None


class _Ohlc(BaseModel):
    model_config = ConfigDict(frozen=True)

    open: float
    high: float
    low: float
    close: float

    @field_validator("open", "high", "low", "close")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"price {value} is not positive")
        return value

    @model_validator(mode="after")
    def _ohlc_sane(self) -> _Ohlc:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(
                f"OHLC breaks low <= open, close <= high (o={self.open} h={self.high} l={self.low} c={self.close})"
            )
        return self


class DailyBarRow(_Ohlc):
    """One ``output2`` row of the daily chart (FHKST03010100)."""

    trading_date: date
    volume: int
    trade_value: int
    revised: bool = False

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> DailyBarRow:
        return cls(
            trading_date=wire_date(row.get("stck_bsop_date")),
            open=number(row.get("stck_oprc"), "stck_oprc"),
            high=number(row.get("stck_hgpr"), "stck_hgpr"),
            low=number(row.get("stck_lwpr"), "stck_lwpr"),
            close=number(row.get("stck_clpr"), "stck_clpr"),
            volume=int(number(row.get("acml_vol"), "acml_vol")),
            trade_value=int(number(row.get("acml_tr_pbmn"), "acml_tr_pbmn")),
            revised=str(row.get("mod_yn", "N")).upper() == "Y",
        )

    @field_validator("volume", "trade_value")
    @classmethod
    def _non_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("negative volume or trade value")
        return value


class DailyChart(BaseModel):
    code: str
    name: str | None
    adjusted: bool
    bars: list[DailyBarRow]  # oldest first, one per session


class IndexBarRow(_Ohlc):
    """One ``output2`` row of the index period chart (FHKUP03500100)."""

    trading_date: date
    volume: int
    trade_value: int

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> IndexBarRow:
        return cls(
            trading_date=wire_date(row.get("stck_bsop_date")),
            open=number(row.get("bstp_nmix_oprc"), "bstp_nmix_oprc"),
            high=number(row.get("bstp_nmix_hgpr"), "bstp_nmix_hgpr"),
            low=number(row.get("bstp_nmix_lwpr"), "bstp_nmix_lwpr"),
            close=number(row.get("bstp_nmix_prpr"), "bstp_nmix_prpr"),
            volume=int(number(row.get("acml_vol"), "acml_vol")),
            trade_value=int(number(row.get("acml_tr_pbmn"), "acml_tr_pbmn")),
        )


class MinuteBarRow(_Ohlc):
    """One ``output2`` row of the minute charts (FHKST03010200 today, FHKST03010230 past days).

    ``bar_time`` is the minute KIS stamps the bar with (``stck_cntg_hour``), KST converted to UTC.
    """

    trading_date: date
    bar_time: datetime
    volume: int
    cum_trade_value: int

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> MinuteBarRow:
        day = wire_date(row.get("stck_bsop_date"))
        clock = wire_time(row.get("stck_cntg_hour"), "stck_cntg_hour")
        return cls(
            trading_date=day,
            bar_time=datetime.combine(day, clock, tzinfo=KST).astimezone(UTC),
            open=number(row.get("stck_oprc"), "stck_oprc"),
            high=number(row.get("stck_hgpr"), "stck_hgpr"),
            low=number(row.get("stck_lwpr"), "stck_lwpr"),
            close=number(row.get("stck_prpr"), "stck_prpr"),
            volume=int(number(row.get("cntg_vol"), "cntg_vol")),
            cum_trade_value=int(number(row.get("acml_tr_pbmn"), "acml_tr_pbmn")),
        )


class OrderBook(BaseModel):
    """The ten-level book (FHKST01010200 ``output1``); level 1 first, empty levels dropped."""

    model_config = ConfigDict(frozen=True)

    code: str
    snapshot_at: datetime
    ask_prices: list[float]
    ask_quantities: list[int]
    bid_prices: list[float]
    bid_quantities: list[int]
    total_ask_quantity: int
    total_bid_quantity: int

    @classmethod
    def from_wire(cls, code: str, day: date, output1: dict[str, Any]) -> OrderBook:
        clock = wire_time(output1.get("aspr_acpt_hour"), "aspr_acpt_hour")
        asks, bids = [], []
        for level in range(1, 11):
            ask = number(output1.get(f"askp{level}"), f"askp{level}")
            ask_qty = int(number(output1.get(f"askp_rsqn{level}"), f"askp_rsqn{level}"))
            bid = number(output1.get(f"bidp{level}"), f"bidp{level}")
            bid_qty = int(number(output1.get(f"bidp_rsqn{level}"), f"bidp_rsqn{level}"))
            # A price of 0 is an empty level (e.g. nothing offered above the upper limit).
            if ask > 0:
                asks.append((ask, ask_qty))
            if bid > 0:
                bids.append((bid, bid_qty))
        return cls(
            code=code,
            snapshot_at=datetime.combine(day, clock, tzinfo=KST).astimezone(UTC),
            ask_prices=[p for p, _ in asks],
            ask_quantities=[q for _, q in asks],
            bid_prices=[p for p, _ in bids],
            bid_quantities=[q for _, q in bids],
            total_ask_quantity=int(number(output1.get("total_askp_rsqn"), "total_askp_rsqn")),
            total_bid_quantity=int(number(output1.get("total_bidp_rsqn"), "total_bidp_rsqn")),
        )

    @model_validator(mode="after")
    def _ordered_and_not_crossed(self) -> OrderBook:
        if any(q < 0 for q in (*self.ask_quantities, *self.bid_quantities)):
            raise ValueError("negative quantity in the book")
        if self.ask_prices != sorted(self.ask_prices) or self.bid_prices != sorted(self.bid_prices, reverse=True):
            raise ValueError("book sides are not ordered (asks ascending, bids descending)")
        if self.ask_prices and self.bid_prices and self.bid_prices[0] >= self.ask_prices[0]:
            raise ValueError(f"crossed book: best bid {self.bid_prices[0]} >= best ask {self.ask_prices[0]}")
        return self


Statement = Literal["BS", "IS", "RATIO"]

# Wire keys of the three finance TRs (official chk_* COLUMN_MAPPING) and whether each is an amount
# in 억원 (converted to won) or a ratio/per-share figure kept as it is.
FINANCIAL_FIELDS: dict[Statement, dict[str, bool]] = {
    "BS": {
        k: True
        for k in (
            "cras",
            "fxas",
            "total_aset",
            "flow_lblt",
            "fix_lblt",
            "total_lblt",
            "cpfn",
            "cfp_surp",
            "prfi_surp",
            "total_cptl",
        )
    },
    "IS": {
        k: True
        for k in (
            "sale_account",
            "sale_cost",
            "sale_totl_prfi",
            "depr_cost",
            "sell_mang",
            "bsop_prti",
            "bsop_non_ernn",
            "bsop_non_expn",
            "op_prfi",
            "spec_prfi",
            "spec_loss",
            "thtr_ntin",
        )
    },
    "RATIO": {
        k: False
        for k in ("grs", "bsop_prfi_inrt", "ntin_inrt", "roe_val", "eps", "sps", "bps", "rsrv_rate", "lblt_rate")
    },
}


# KIS fills these statement lines with the literal "99.99" when it has no figure (official examples).
NOT_PROVIDED = "99.99"
SENTINEL_FIELDS = frozenset(
    {"cfp_surp", "prfi_surp", "depr_cost", "sell_mang", "bsop_non_ernn", "bsop_non_expn", "spec_prfi", "spec_loss"}
)


class FinancialRow(BaseModel):
    """One period of one statement; ``values`` in won (amounts) or as published (ratios)."""

    model_config = ConfigDict(frozen=True)

    statement: Statement
    period: str  # stac_yymm, the period end YYYYMM
    values: dict[str, float | None]

    @classmethod
    def from_wire(cls, statement: Statement, row: dict[str, Any]) -> FinancialRow:
        period = str(row.get("stac_yymm", "")).strip()
        if not (len(period) == 6 and period.isdigit() and 1 <= int(period[4:]) <= 12):
            raise ValueError(f"stac_yymm={row.get('stac_yymm')!r} is not a YYYYMM period")
        values: dict[str, float | None] = {}
        for key, is_amount in FINANCIAL_FIELDS[statement].items():
            raw = row.get(key)
            text = "" if raw is None else str(raw).strip()
            if text in ("", "-") or (key in SENTINEL_FIELDS and text == NOT_PROVIDED):
                values[key] = None
                continue
            value = number(raw, key)
            values[key] = value * EOK if is_amount else value
        return cls(statement=statement, period=period, values=values)


def parse_rows(rows: Any, parse: Callable[[dict[str, Any]], T], what: str, *, key: str = "stck_bsop_date") -> list[T]:
    """Typed rows from a wire list; rows blank in ``key`` are padding. Any bad row refuses the batch."""
    if not isinstance(rows, list):
        raise SourceDataError(SOURCE, f"{what}: the row list is missing or not a list")
    parsed: list[T] = []
    problems: list[str] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            problems.append(f"row {index} is not an object")
            continue
        # KIS pads some answers with an all-empty trailing row: it is not data.
        if not str(row.get(key, "")).strip():
            continue
        try:
            parsed.append(parse(row))
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(f"{row.get(key)}: {reason}")
    if problems:
        raise SourceDataError(SOURCE, f"{what} has {len(problems)} bad row(s): " + "; ".join(problems[:5]))
    return parsed
