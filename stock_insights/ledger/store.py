"""Seals as stored (``ledger_seals``): sealing a day once, reading seals, and the forecasts a seal is made of.

A seal is written once and never rewritten: sealing a sealed day recomputes its canonical form from the
database and says whether it still matches, and changes nothing. Seals are appended in day order (a day
before the latest sealed day is refused: sealing it now would prove nothing, and it would break the chain).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from stock_insights import clock
from stock_insights.ledger.canonical import (
    FORMAT,
    GENESIS,
    canonical_bytes,
    chain_digest,
    digest_of,
    forecast_record,
    is_live,
    parse,
)
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version
from stock_insights.storage.models import LedgerSeal, Prediction

SealStatus = Literal["sealed", "already_sealed", "refused"]


@dataclass(frozen=True)
class DayForecasts:
    """A day's forecasts as they stand in the database, split by the ledger's rule."""

    sealable: list[dict[str, Any]]  # live and stored by the sealing moment: canonical records
    late: int  # first stored (or cut off) at or after the open
    live_after_seal: int  # live, but stored after the seal was made (before the open)


@dataclass(frozen=True)
class SealOutcome:
    day: date
    status: SealStatus
    seal: LedgerSeal | None
    matches: bool | None  # already sealed: does the database still give the sealed bytes?
    detail: str
    late: int
    live_after_seal: int


def day_forecasts(session: Session, day: date, sealed_at: datetime, fmt: str = FORMAT) -> DayForecasts:
    """The forecasts for ``day`` a seal made at ``sealed_at`` holds: live ones stored by then, as records of the
    ledger format ``fmt``."""
    rows = session.execute(
        select(
            Prediction.model,
            Prediction.code,
            Prediction.horizon,
            Prediction.as_of,
            Prediction.created_at,
            Prediction.direction,
            Prediction.prob_up,
            Prediction.expected_return,
            Prediction.cited_inputs,
            Prediction.rationale,
            Prediction.prompt_version,
            Prediction.prompt_hash,
        ).where(Prediction.target_date == day)
    ).all()
    sealable: list[dict[str, Any]] = []
    late = after = 0
    for r in rows:
        if not is_live(day, r.as_of, r.created_at):
            late += 1
        elif r.created_at > sealed_at:
            after += 1
        else:
            sealable.append(
                forecast_record(
                    model=r.model,
                    code=r.code,
                    horizon=r.horizon,
                    as_of=r.as_of,
                    created_at=r.created_at,
                    direction=r.direction,
                    prob_up=r.prob_up,
                    expected_return=r.expected_return,
                    cited_inputs=r.cited_inputs,
                    rationale=r.rationale,
                    prompt_version=r.prompt_version,
                    prompt_hash=r.prompt_hash,
                    fmt=fmt,
                )
            )
    return DayForecasts(sealable=sealable, late=late, live_after_seal=after)


def recompute(session: Session, day: date, sealed_at: datetime, fmt: str = FORMAT) -> tuple[bytes, DayForecasts]:
    """The canonical bytes the database gives for ``day`` sealed at ``sealed_at``, in the ledger format ``fmt``
    (a seal is always recomputed in the format it was made in)."""
    forecasts = day_forecasts(session, day, sealed_at, fmt)
    return canonical_bytes(day, sealed_at, forecasts.sealable, fmt), forecasts


def format_of(data: bytes) -> str:
    """The ledger format named in sealed bytes' header (the current one if the bytes do not parse: they will
    not verify anyway)."""
    try:
        return str(parse(data)[0]["format"])
    except (ValueError, KeyError):
        return FORMAT


def canonical_of(seal: LedgerSeal) -> bytes:
    return zlib.decompress(seal.canonical_zlib)


def seal_for(session: Session, day: date) -> LedgerSeal | None:
    return session.get(LedgerSeal, day)


def seals_through(session: Session, last: date | None = None) -> list[LedgerSeal]:
    """Every seal up to ``last`` (all without it), in day order."""
    stmt = select(LedgerSeal).order_by(LedgerSeal.day)
    if last is not None:
        stmt = stmt.where(LedgerSeal.day <= last)
    return list(session.execute(stmt).scalars())


def seal_day(session: Session, day: date, now: datetime | None = None, fmt: str = FORMAT) -> SealOutcome:
    """Seal ``day`` at ``now`` (the clock's) in the ledger format ``fmt`` (the current one; an older one only to
    reproduce an old seal) if it is not sealed yet; never rewrite a seal."""
    existing = seal_for(session, day)
    if existing is not None:
        stored = canonical_of(existing)
        data, forecasts = recompute(session, day, existing.sealed_at, format_of(stored))
        matches = data == stored and digest_of(stored) == existing.digest
        detail = (
            "sealed before; the database still gives the sealed bytes"
            if matches
            else (
                "sealed before; the database no longer gives the sealed bytes (the seal is kept): "
                "run `python -m stock_insights.ledger verify` for the first difference"
            )
        )
        return SealOutcome(day, "already_sealed", existing, matches, detail, forecasts.late, forecasts.live_after_seal)

    later = session.execute(select(func.max(LedgerSeal.day)).where(LedgerSeal.day > day)).scalar()
    if later is not None:
        forecasts = day_forecasts(session, day, clock.now())
        return SealOutcome(
            day,
            "refused",
            None,
            None,
            f"not sealed: {later.isoformat()} is sealed already and seals are appended in day order",
            forecasts.late,
            0,
        )

    sealed_at = now or clock.now()
    head = session.execute(select(LedgerSeal).where(LedgerSeal.day < day).order_by(LedgerSeal.day.desc()).limit(1))
    previous_seal = head.scalar_one_or_none()
    previous = previous_seal.chain_digest if previous_seal is not None else GENESIS
    data, forecasts = recompute(session, day, sealed_at, fmt)
    digest = digest_of(data)
    row = {
        "day": day,
        "digest": digest,
        "previous_digest": previous,
        "chain_digest": chain_digest(previous, digest),
        "row_count": len(forecasts.sealable),
        "byte_count": len(data),
        "sealed_at": sealed_at,
        "canonical_zlib": zlib.compress(data, 6),
    }
    session.execute(insert(LedgerSeal.__table__).values(**row))
    bump_dataset_version(session, Dataset.LEDGER)
    seal = seal_for(session, day)
    return SealOutcome(day, "sealed", seal, True, "sealed", forecasts.late, forecasts.live_after_seal)
