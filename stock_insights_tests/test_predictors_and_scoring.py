"""The baselines and per-prediction scoring, checked against hand computation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from stock_insights.metrics.scoring import score
from stock_insights.predictors.base import DocumentInput, PredictionInput, PriceBar
from stock_insights.predictors.momentum import MomentumPredictor
from stock_insights.predictors.news_tone import PROBIT_SLOPE, NewsTonePredictor

AS_OF = datetime(2026, 10, 5, 23, 0, tzinfo=UTC)  # 08:00 KST on Tuesday 2026-10-06


def phi(x: float) -> float:
    """Standard normal CDF, written out independently of the predictors' helper."""
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _input(closes: list[float], target: date = date(2026, 10, 20)) -> PredictionInput:
    start = target - timedelta(days=len(closes) + 1)
    bars = [PriceBar(trading_date=start + timedelta(days=i), close=c) for i, c in enumerate(closes)]
    return PredictionInput(code="005930", target_date=target, as_of=AS_OF, prices=bars)


def test_momentum_follows_the_last_five_sessions() -> None:
    out = MomentumPredictor().predict(_input([90, 100, 101, 102, 103, 104, 110]))
    assert out is not None
    momentum = 110 / 100 - 1  # over five sessions: the last six closes, 100 .. 110
    # The sign of the move with news_tone's edge: Φ(0.0065 · 0.62 / 0.02) for one session.
    assert out.prob_up == pytest.approx(phi(0.0065 * 0.62 / 0.02), abs=1e-12)
    assert out.prob_up == pytest.approx(0.5798, abs=1e-4)
    assert out.expected_return == pytest.approx(0.1 * momentum / 5)
    assert out.direction == "up"
    assert [p["close"] for p in out.cited_inputs["prices"]] == [100, 101, 102, 103, 104, 110]  # type: ignore[index]

    falling = MomentumPredictor().predict(_input([100, 99, 98, 97, 96, 95]))
    assert falling is not None and falling.direction == "down"
    assert falling.prob_up == pytest.approx(1 - out.prob_up, abs=1e-12)

    # Five sessions ahead: the same call with its edge spread over sqrt(5) sessions of noise.
    week = MomentumPredictor().predict(_input([90, 100, 101, 102, 103, 104, 110]).model_copy(update={"horizon": 5}))
    assert week is not None and week.prob_up == pytest.approx(phi(PROBIT_SLOPE / math.sqrt(5)), abs=1e-12)
    assert week.expected_return == pytest.approx(0.1 * momentum)


def test_momentum_without_a_move_has_no_view() -> None:
    assert MomentumPredictor().predict(_input([100, 100, 101, 99, 102, 100])) is None


def test_momentum_needs_enough_history() -> None:
    assert MomentumPredictor().predict(_input([100, 101, 102])) is None


def test_prices_on_or_after_the_target_day_are_refused() -> None:
    with pytest.raises(ValidationError, match="leaked"):
        PredictionInput(
            code="005930",
            target_date=date(2026, 10, 20),
            as_of=AS_OF,
            prices=[PriceBar(trading_date=date(2026, 10, 20), close=1.0)],
        )


def test_score_by_hand() -> None:
    s = score(direction="up", prob_up=0.7, expected_return=0.01, entry_price=100.0, exit_price=102.0)
    assert s.realized_return == pytest.approx(0.02)
    assert s.realized_direction == "up" and s.hit
    assert s.brier == pytest.approx(0.09)
    assert s.log_loss == pytest.approx(-math.log(0.7))
    assert s.return_error == pytest.approx(-0.01)

    miss = score(direction="up", prob_up=0.7, expected_return=0.01, entry_price=100.0, exit_price=97.0)
    assert not miss.hit and miss.brier == pytest.approx(0.49) and miss.log_loss == pytest.approx(-math.log(0.3))

    # One binary event (metrics.outcome): no flat band. A -0.19% day is "down" for the hit and for Brier alike,
    # so a "down" call is a hit there; a "flat" call is a not-up call; an unchanged close is not up.
    small_drop = score(direction="down", prob_up=0.4, expected_return=-0.001, entry_price=100.0, exit_price=99.81)
    assert small_drop.realized_direction == "down" and small_drop.hit and small_drop.brier == pytest.approx(0.16)
    tiny_rise = score(direction="flat", prob_up=0.5, expected_return=0.0, entry_price=100.0, exit_price=100.1)
    assert tiny_rise.realized_direction == "up" and not tiny_rise.hit
    unchanged = score(direction="flat", prob_up=0.5, expected_return=0.0, entry_price=100.0, exit_price=100.0)
    assert unchanged.realized_direction == "down" and unchanged.hit and unchanged.brier == pytest.approx(0.25)
    assert not score(direction="up", prob_up=0.9, expected_return=0.0, entry_price=100.0, exit_price=100.0).hit


def test_score_refuses_nonsense_prices() -> None:
    with pytest.raises(ValueError):
        score(direction="up", prob_up=0.5, expected_return=0.0, entry_price=0.0, exit_price=1.0)


def _doc(i: int, title: str, hours_before: float) -> DocumentInput:

    seen = AS_OF - timedelta(hours=hours_before)
    return DocumentInput(doc_type="news", doc_id=str(i), title=title, published_at=seen, first_seen_at=seen)


def test_news_tone_reads_the_news_since_the_previous_session_and_cites_only_what_it_scored() -> None:
    # Target Tuesday 2026-10-13, cutoff 08:00 KST: the window opens at 00:00 KST on Monday 10-12.
    tuesday = datetime(2026, 10, 12, 23, 0, tzinfo=UTC)

    def news(i: int, title: str, hours_before: float, as_of: datetime = tuesday) -> DocumentInput:
        seen = as_of - timedelta(hours=hours_before)
        return DocumentInput(doc_type="news", doc_id=str(i), title=title, published_at=seen, first_seen_at=seen)

    docs = [news(1, "삼성전자 호실적, 목표주가 상향", 2), news(2, "삼성전자 주주총회 개최", 3),
            news(3, "삼성전자 실적 부진", 20), news(4, "삼성전자 급락 우려", 33)]  # 4: Sunday 23:00, outside
    data = PredictionInput(code="005930", target_date=date(2026, 10, 13), as_of=tuesday, prices=[], documents=docs)
    # Reading: (+1 for doc 1, -1 for doc 3) / 2 = 0, as much good news as bad: no view.
    assert NewsTonePredictor().predict(data) is None
    docs[2] = news(3, "삼성전자 신제품 출시", 20)  # no tone word: read but not scored
    out = NewsTonePredictor().predict(data.model_copy(update={"documents": docs}))
    assert out is not None and out.direction == "up"
    assert out.prob_up == pytest.approx(phi(0.0065 * 0.62 / 0.02), abs=1e-12)  # reading +1
    assert out.expected_return == pytest.approx(0.0065 * 0.62)
    assert [d["doc_id"] for d in out.cited_inputs["documents"]] == ["1"]  # type: ignore[index]

    # A Monday forecast reads Friday's news (the window starts at the previous session's day, not 36 h back).
    monday = datetime(2026, 10, 18, 23, 0, tzinfo=UTC)  # 08:00 KST Monday 2026-10-19; Friday 10-16 before it
    friday = [news(9, "삼성전자 어닝쇼크에 급락", 60, monday)]
    gloomy = NewsTonePredictor().predict(
        PredictionInput(code="005930", target_date=date(2026, 10, 19), as_of=monday, prices=[], documents=friday)
    )
    assert gloomy is not None and gloomy.direction == "down" and gloomy.prob_up == pytest.approx(1 - out.prob_up)

    five = NewsTonePredictor().predict(data.model_copy(update={"documents": docs, "horizon": 5}))
    assert five is not None and five.prob_up == pytest.approx(phi(PROBIT_SLOPE / math.sqrt(5)), abs=1e-12)
    assert five.expected_return == pytest.approx(out.expected_return)  # the news moves the first session only

    assert NewsTonePredictor().predict(data.model_copy(update={"documents": []})) is None  # no news: no view


def test_documents_first_seen_after_the_cutoff_are_refused() -> None:
    with pytest.raises(ValidationError, match="first seen at or after the cutoff"):
        PredictionInput(code="005930", target_date=date(2026, 10, 20), as_of=AS_OF, prices=[],
                        documents=[_doc(9, "late", -1)])


def test_lexicon_reads_phrases_once() -> None:
    from stock_insights.predictors.lexicon import tone

    value, matched = tone("목표주가 상향")
    assert value == 1.0 and matched == {"목표주가 상향": 1}
    assert tone("실적 부진에 급락")[0] == -1.0 and tone("보합")[0] == 0.0
