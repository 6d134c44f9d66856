"""The sealed forecast ledger: what each day's seal holds, as sealed (``stock_insights.ledger``).

Answers come from the stored seal alone (its canonical bytes), never from the predictions table as it is now:
a forecast changed or added after the seal is not in the answer. ``/canonical`` gives the exact bytes whose
SHA-256 is the digest, so that a client can check the digest and the chain itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AnswersDep, RequireUser
from api.problems import problem_responses
from api.routes.stocks import CACHED
from api.schemas import LedgerCanonical, LedgerDay, LedgerRow, MarketDate
from stock_insights.ledger.canonical import FORMAT, live_deadline, parse
from stock_insights.ledger.store import canonical_of
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.models import LedgerSeal

router = APIRouter(
    prefix="/ledger",
    tags=["ledger"],
    dependencies=[RequireUser],
    responses={**CACHED, **problem_responses(401, 403, 404, 422)},
)

MODEL_PATTERN = r"^[A-Za-z0-9_.:-]+$"
DayPath = Annotated[MarketDate, Path(alias="date", description="Trading day, YYYY-MM-DD")]


async def _seal(session: AsyncSession, day: object) -> LedgerSeal:
    seal = await session.get(LedgerSeal, day)
    if seal is None:
        raise HTTPException(404, f"no sealed forecasts for {day}")
    return seal


@router.get(
    "/{date}",
    response_model=LedgerDay,
    summary="A day's sealed forecasts: rows, digest, previous digest, sealing time",
)
async def ledger_day(
    day: DayPath,
    answers: AnswersDep,
    model: Annotated[str | None, Query(max_length=50, pattern=MODEL_PATTERN, description="Only this model")] = None,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="Only this 6-digit KRX code")] = None,
) -> Response:
    async def build(session: AsyncSession) -> LedgerDay:
        seal = await _seal(session, day)
        header, rows = parse(canonical_of(seal))
        wanted = [r for r in rows if (model is None or r["model"] == model) and (code is None or r["code"] == code)]
        return LedgerDay(
            day=day,
            format=header.get("format", FORMAT),
            digest=seal.digest,
            previous_digest=seal.previous_digest,
            chain_digest=seal.chain_digest,
            sealed_at=seal.sealed_at,
            live_deadline=live_deadline(day),
            sealed_before_open=seal.sealed_at < live_deadline(day),
            row_count=seal.row_count,
            rows=[LedgerRow.model_validate(r) for r in wanted],
            data_mode=answers.data_mode,
        )

    return await answers.json("ledger.day", {"date": day, "model": model, "code": code}, [Dataset.LEDGER], build)


@router.get(
    "/{date}/canonical",
    response_model=LedgerCanonical,
    summary="A day's seal in its canonical form (SHA-256 of its UTF-8 bytes is the digest)",
)
async def ledger_canonical(day: DayPath, answers: AnswersDep) -> Response:
    async def build(session: AsyncSession) -> LedgerCanonical:
        seal = await _seal(session, day)
        return LedgerCanonical(
            day=day,
            digest=seal.digest,
            previous_digest=seal.previous_digest,
            chain_digest=seal.chain_digest,
            sealed_at=seal.sealed_at,
            canonical=canonical_of(seal).decode("utf-8"),
            data_mode=answers.data_mode,
        )

    return await answers.json("ledger.canonical", {"date": day}, [Dataset.LEDGER], build)
