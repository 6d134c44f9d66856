"""The sealed forecast ledger: each trading day's live forecasts, sealed before the open in a canonical form,
hashed and chained to the previous sealed day, and re-verifiable from the database by anyone
(``python -m stock_insights.ledger verify``). Pure: no Dagster (the asset is ``defs/ledger``)."""

from stock_insights.ledger.canonical import (
    FORMAT,
    FORMAT_V1,
    FORMATS,
    GENESIS,
    canonical_bytes,
    chain_digest,
    forecast_record,
    is_live,
    live_deadline,
    parse,
)
from stock_insights.ledger.store import SealOutcome, canonical_of, day_forecasts, seal_day, seal_for, seals_through
from stock_insights.ledger.verify import DayProblem, VerifyReport, verify

__all__ = [
    "FORMAT",
    "FORMATS",
    "FORMAT_V1",
    "GENESIS",
    "DayProblem",
    "SealOutcome",
    "VerifyReport",
    "canonical_bytes",
    "canonical_of",
    "chain_digest",
    "day_forecasts",
    "forecast_record",
    "is_live",
    "live_deadline",
    "parse",
    "seal_day",
    "seal_for",
    "seals_through",
    "verify",
]
