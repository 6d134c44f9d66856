"""What each MCP tool answers, built from the REST API's own read functions (no query of its own).

Every function takes a database session and returns a JSON-ready dict; ``api.mcp.server`` adds the envelope
(``data_mode``, ``as_of``) and the size bound. A refusal the REST API would answer with 404 or 422 is a
``Refused`` here, which the server turns into a tool error the assistant can read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.core.state import ApiState
from api.queries import (
    daily_bar_rows_query,
    disclosures_page_query,
    last_daily_bar_query,
    news_page_query,
    news_sources_and_codes,
    stocks_matching,
)
from api.routes.evaluations import leaderboard_scorecard
from api.routes.experiments import experiment_list, experiment_results_of
from api.routes.predictions import assignment_of, known_models_in, running_experiment_in
from api.routes.reports import daily_report_of
from api.routes.search import search_results
from api.schemas import DataMode, DisclosureOut, EvaluationOut, PredictionOut, StockOut
from stock_insights import clock
from stock_insights.clients.kis.client import INDEX_CODES
from stock_insights.market.store import index_closes
from stock_insights.predictors.store import latest_predictions_query
from stock_insights.storage.models import Stock

Json = dict[str, Any]


class Refused(Exception):
    """A request the data cannot answer (unknown stock or model, missing argument): said to the assistant."""


BAR_LOOKBACK_DAYS = 45  # calendar days read back from the latest bar: room for 10 sessions and holidays


def _json(model: Any, **exclude: Any) -> Any:
    return model.model_dump(mode="json", exclude=exclude or None)


async def find_stock(session: AsyncSession, query: str, limit: int) -> Json:
    rows, total = await stocks_matching(session, query, limit=limit)
    return {"query": query, "total_matches": total, "items": [_json(StockOut.model_validate(r)) for r in rows]}


def _move(closes: list[tuple[date, float]], index: dict[date, float], sessions: int) -> Json | None:
    """The stock's and its index's return over the last ``sessions`` sessions of ``closes``, and the difference."""
    if sessions < 1 or len(closes) <= sessions:
        return None
    (start, first), (end, last) = closes[-1 - sessions], closes[-1]
    out: Json = {"sessions": sessions, "from": start.isoformat(), "to": end.isoformat(), "return": last / first - 1}
    if start in index and end in index and index[start]:
        out["index_return"] = index[end] / index[start] - 1
        out["excess_return"] = out["return"] - out["index_return"]
    else:
        out["index_return"] = out["excess_return"] = None
    return out


async def stock_snapshot(session: AsyncSession, code: str, as_of: datetime | None, items: int) -> Json:
    stock = await session.get(Stock, code)
    if stock is None:
        raise Refused(f"stock {code} is not tracked: find_stock gives the codes")
    last = (await session.execute(last_daily_bar_query(code, as_of=as_of))).scalar_one_or_none()
    end = last.trading_date if last else (as_of or clock.now()).astimezone(clock.KST).date()
    start = end - timedelta(days=BAR_LOOKBACK_DAYS)
    stmt = daily_bar_rows_query(code, start=start, end=end, as_of=as_of)
    bars = [dict(r) for r in (await session.execute(stmt)).mappings()]
    index_code = INDEX_CODES.get(stock.market)
    index = (
        await session.run_sync(lambda sync: index_closes(sync, index_code, start, end)) if index_code and bars else {}
    )
    closes = [(b["trading_date"], b["close"]) for b in bars]
    filings = (
        await session.execute(disclosures_page_query(code=code, since=None, after=None, limit=items, as_of=as_of))
    ).scalars()
    news_stmt = news_page_query(code=code, source=None, since=None, after=None, limit=items, as_of=as_of)
    news = (await session.execute(news_stmt)).scalars().all()
    sources, codes = await news_sources_and_codes(session, [a.id for a in news], as_of=as_of)
    return {
        "stock": _json(StockOut.model_validate(stock)),
        "bars": [{**b, "trading_date": b["trading_date"].isoformat()} for b in bars[-items:]],
        "index": stock.market if index_code else None,
        "move_1d": _move(closes, index, 1),  # the last session against the one before, stock and index
        "move_window": _move(closes, index, min(len(closes) - 1, items)),  # over the bars listed
        "filings": [_json(DisclosureOut.model_validate(d)) for d in filings],
        "news": [
            {
                "id": a.id,
                "title": a.title,
                "url": a.canonical_url,
                "published_at": a.published_at.isoformat(),
                "first_seen_at": a.first_seen_at.isoformat(),
                "sources": [s for s, _ in sources[a.id]],
                "codes": codes[a.id],
            }
            for a in news
        ],
    }


async def forecasts(
    session: AsyncSession,
    user_id: int,
    *,
    code: str | None,
    target_date: date | None,
    model: str | None,
    horizon: int | None,
    as_of: datetime | None,
    limit: int,
) -> Json:
    if code is None and target_date is None:
        raise Refused("give a stock code or a target date (or both)")
    if model is not None:
        names = await known_models_in(session)
        if model not in names:
            raise Refused(f"model {model!r} is not known; known models: {', '.join(names) or 'none yet'}")
    # Without a model, the caller's arm of the running A/B experiment, exactly as GET /api/v1/predictions.
    assignment = assignment_of(user_id, await running_experiment_in(session)) if model is None else None
    chosen = assignment.model if assignment else model
    stmt = latest_predictions_query(code=code, target_date=target_date, model=chosen, horizon=horizon, as_of=as_of)
    rows = (await session.execute(stmt.limit(limit + 1))).all()
    items = []
    for prediction, evaluation in rows[:limit]:
        item = _json(PredictionOut.model_validate(prediction), evaluation=True)
        item["outcome"] = _json(EvaluationOut.model_validate(evaluation)) if evaluation is not None else None
        items.append(item)
    return {
        "items": items,
        "more": len(rows) > limit,
        "assignment": _json(assignment) if assignment else None,
        "note": "outcome: the forecast's evaluation once scored (null until its target session has closed and been "
        "scored); cited_inputs: what the model read.",
    }


async def track_record(
    session: AsyncSession, data_mode: DataMode, *, model: str | None, window: int, horizon: int, day: date | None
) -> Json:
    card = await leaderboard_scorecard(session, window, horizon, day, model, data_mode)
    # The per-bin reliability table is left out (ece and the calibration summary stay): the rest is the scorecard.
    answer = card.model_dump(mode="json", exclude={"data_mode": True, "items": {"__all__": {"calibration": {"bins"}}}})
    return answer


async def search_documents(
    session: AsyncSession, state: ApiState, *, query: str, code: str | None, before: datetime | None, limit: int
) -> Json:
    results = await search_results(session, state, query.strip(), code, before, limit)
    return _json(results, data_mode=True)


async def daily_report(session: AsyncSession, data_mode: DataMode, *, day: date, code: str | None) -> Json:
    report = await daily_report_of(session, day, data_mode)
    scopes = [r.scope for r in report.stocks]
    if code is None:
        chosen = [report.market] if report.market else []
    else:
        chosen = [r for r in report.stocks if r.scope == code]
        if not chosen:
            raise Refused(f"no report for {code} on {day.isoformat()}; stock reports that day: {scopes}")
    return {
        "trading_date": day.isoformat(),
        "reports": [_json(r) for r in chosen],
        "stock_reports": scopes,  # ask again with one of these codes for its report
    }


async def experiments(session: AsyncSession, data_mode: DataMode, *, experiment_id: int | None) -> Json:
    if experiment_id is None:
        return _json(await experiment_list(session, data_mode), data_mode=True)
    return _json(await experiment_results_of(session, experiment_id, data_mode), data_mode=True)

