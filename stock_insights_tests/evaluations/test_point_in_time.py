"""evaluations/daily scores each horizon on its exit day, and its point-in-time check proves, against the
database, that no evaluation uses a price after its horizon: it passes on pipeline data and fails when a row
is tampered with (on SQLite and PostgreSQL, against the sandbox over HTTP)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select, update

from stock_insights import calendar
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import DailyBar, Evaluation, Prediction
from stock_insights_tests.evaluations.conftest import Pipeline

BARS_FROM, FIRST, MIDDLE, LAST = date(2026, 9, 1), date(2026, 10, 1), date(2026, 10, 23), date(2026, 10, 30)
MOMENTUM_ONLY = {"ops": {"predictions__daily": {"config": {"models": ["momentum"]}}}}
CHECK = "no_price_after_horizon"
SESSIONS = calendar.sessions(date(2026, 8, 1), date(2026, 12, 31))


def shift(day: date, sessions: int) -> date:
    return SESSIONS[SESSIONS.index(day) + sessions]


def forecasts_for_october(pipeline: Pipeline) -> None:
    """Bars from September, momentum forecasts (horizons 1 and 5) for every October session, evaluations of
    the exit days up to MIDDLE."""
    assert pipeline.materialize([["universe", "stocks"]]).success
    assert pipeline.materialize([["kis", "daily_bars"], ["kis", "index_bars"]], BARS_FROM, LAST).success
    assert pipeline.materialize([["predictions", "daily"]], FIRST, LAST, run_config=MOMENTUM_ONLY).success
    result = pipeline.materialize([["evaluations", "daily"]], FIRST, MIDDLE)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == CHECK and check.passed
    assert check.metadata["violations"].value == 0 and check.metadata["checked"].value > 0


def rows(url: str) -> list[tuple[Prediction, Evaluation | None]]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        out = list(
            session.execute(
                select(Prediction, Evaluation).outerjoin(Evaluation, Evaluation.prediction_id == Prediction.id)
            ).tuples()
        )
        session.expunge_all()
    engine.dispose()
    return out


def closes(url: str) -> dict[tuple[str, date], float]:
    engine = make_engine(url)
    with session_scope(engine) as session:
        out = {(b.code, b.trading_date): b.close for b in session.execute(select(DailyBar)).scalars()}
    engine.dispose()
    return out


def snapshot(url: str) -> list[tuple]:
    engine = make_engine(url)
    columns = [c for c in Evaluation.__table__.columns if c.name != "scored_at"]
    with session_scope(engine) as session:
        out = sorted(tuple(r) for r in session.execute(select(*columns)))
    engine.dispose()
    return out


def test_each_horizon_is_scored_on_its_exit_day_and_stays_pending_until_then(pipeline: Pipeline) -> None:
    forecasts_for_october(pipeline)
    bars = closes(pipeline.url)
    seen = {"scored": 0, "pending": 0, "unread": 0}
    for p, e in rows(pipeline.url):
        entry = shift(p.target_date, -1)
        exit_ = shift(entry, p.horizon)
        if exit_ <= MIDDLE:
            # Entry: the close before the target day; exit: the horizon-th session's close after it.
            assert e is not None and e.status == "scored", (p.horizon, p.target_date)
            assert (e.entry_date, e.exit_date) == (entry, exit_)
            assert (e.entry_price, e.exit_price) == (bars[(p.code, entry)], bars[(p.code, exit_)])
            assert e.realized_return == pytest.approx(bars[(p.code, exit_)] / bars[(p.code, entry)] - 1, abs=1e-15)
            assert e.market_return is not None and e.excess_return is not None
            seen["scored"] += 1
        elif p.target_date <= MIDDLE:
            # A forecast the evaluated days read but whose exit is still ahead: pending, with nothing realized.
            assert p.horizon == 5 and e is not None and e.status == "pending"
            assert (e.entry_date, e.exit_date, e.entry_price) == (entry, exit_, bars[(p.code, entry)])
            assert e.exit_price is None and e.realized_return is None and e.hit is None and e.brier is None
            seen["pending"] += 1
        else:
            assert e is None
            seen["unread"] += 1
    days_to_middle = len(calendar.sessions(FIRST, MIDDLE))
    stocks = 4
    # Horizon 1: every day to MIDDLE. Horizon 5: targets whose fifth session is MIDDLE at the latest; the
    # four later targets of that range are pending. (Momentum makes no forecast after a week without a move.)
    h1 = sum(1 for p, _ in rows(pipeline.url) if p.horizon == 1 and p.target_date <= MIDDLE)
    assert h1 >= stocks * days_to_middle - 2
    assert seen["pending"] >= 4 * stocks - 2 and seen["scored"] >= h1 + (days_to_middle - 4) * stocks - 2

    # The exit days after MIDDLE score what was pending; re-running the first days then changes nothing: a
    # pending row is never written over a score.
    assert pipeline.materialize([["evaluations", "daily"]], shift(MIDDLE, 1), LAST).success
    assert all(e is None or e.status == "scored" or shift(shift(p.target_date, -1), p.horizon) > LAST
               for p, e in rows(pipeline.url))
    before = snapshot(pipeline.url)
    result = pipeline.materialize([["evaluations", "daily"]], FIRST, MIDDLE)
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    assert snapshot(pipeline.url) == before


def tamper(url: str, prediction_id: int, **values: object) -> None:
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.execute(update(Evaluation).where(Evaluation.prediction_id == prediction_id).values(**values))
    engine.dispose()


def test_the_check_fails_on_a_price_after_the_horizon(pipeline: Pipeline) -> None:
    forecasts_for_october(pipeline)
    bars = closes(pipeline.url)
    everything = rows(pipeline.url)
    day = date(2026, 10, 15)
    one_day = next(e for p, e in everything if p.horizon == 1 and p.target_date == day)
    code_1 = next(p.code for p, e in everything if e is one_day)
    # A five-session forecast exiting that day, of a stock whose next close differs from that day's.
    five_day, code_5 = next(
        (e, p.code)
        for p, e in everything
        if p.horizon == 5 and e is not None and e.exit_date == day
        and bars[(p.code, day)] != bars[(p.code, shift(day, 1))]
    )
    waiting = next(e for p, e in everything if e is not None and e.status == "pending")
    assert pipeline.run_check(day, day).passed

    # The exit moved one session later (with the later close, so prices and return stay consistent).
    later = shift(day, 1)
    tamper(pipeline.url, one_day.prediction_id, exit_date=later, exit_price=bars[(code_1, later)],
           realized_return=bars[(code_1, later)] / one_day.entry_price - 1)
    failed = pipeline.run_check(day, day)
    assert not failed.passed and failed.metadata["violations"].value >= 2
    assert any(f"exit_date {later}" in text for text in failed.metadata["examples"].value)
    tamper(pipeline.url, one_day.prediction_id, exit_date=one_day.exit_date, exit_price=one_day.exit_price,
           realized_return=one_day.realized_return)
    assert pipeline.run_check(day, day).passed

    # The right exit day, but the price of a later day: the sixth session's close on a five-session forecast.
    sixth = shift(day, 1)
    tamper(pipeline.url, five_day.prediction_id, exit_price=bars[(code_5, sixth)])
    failed = pipeline.run_check(day, day)
    # Two violations: the price, and the return it no longer gives.
    assert not failed.passed and failed.metadata["violations"].value == 2
    assert any("exit_price" in text and f"close of {day}" in text for text in failed.metadata["examples"].value)
    tamper(pipeline.url, five_day.prediction_id, exit_price=five_day.exit_price)
    assert pipeline.run_check(day, day).passed

    # A pending forecast that carries an outcome it cannot know yet.
    tamper(pipeline.url, waiting.prediction_id, realized_return=0.01, hit=True)
    failed = pipeline.run_check(MIDDLE, MIDDLE)
    assert not failed.passed
    assert any("pending but carries hit, realized_return" in text for text in failed.metadata["examples"].value)

    # A scored row whose hit or realized direction disagrees with the binary rule (metrics.outcome): e.g. the
    # old flat band's label on a small move.
    assert pipeline.run_check(day, day).passed
    tamper(pipeline.url, one_day.prediction_id, hit=not one_day.hit)
    failed = pipeline.run_check(day, day)
    assert not failed.passed and failed.metadata["violations"].value == 1
    assert any("disagree with the binary rule" in text for text in failed.metadata["examples"].value)
    tamper(pipeline.url, one_day.prediction_id, hit=one_day.hit, realized_direction="flat")
    assert not pipeline.run_check(day, day).passed
    tamper(pipeline.url, one_day.prediction_id, realized_direction=one_day.realized_direction)
    assert pipeline.run_check(day, day).passed
