"""The momentum baseline and per-prediction scoring, checked against hand computation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from stock_insights.metrics.scoring import FLAT_BAND, score
from stock_insights.predictors.base import DocumentInput, PredictionInput, PriceBar
from stock_insights.predictors.momentum import MomentumPredictor

AS_OF = datetime(2026, 10, 5, 23, 0, tzinfo=UTC)


def _input(closes: list[float], target: date = date(2026, 10, 20)) -> PredictionInput:
    start = target - timedelta(days=len(closes) + 1)
    bars = [PriceBar(trading_date=start + timedelta(days=i), close=c) for i, c in enumerate(closes)]
    return PredictionInput(code="005930", target_date=target, as_of=AS_OF, prices=bars)


def test_momentum_follows_the_last_five_sessions() -> None:
    out = MomentumPredictor().predict(_input([90, 100, 101, 102, 103, 104, 110]))
    assert out is not None
    momentum = 110 / 100 - 1  # over five sessions: the last six closes, 100 .. 110
    assert out.prob_up == pytest.approx(1 / (1 + math.exp(-8 * momentum)))
    assert out.expected_return == pytest.approx(0.1 * momentum / 5)
    assert out.direction == "up"
    assert [p["close"] for p in out.cited_inputs["prices"]] == [100, 101, 102, 103, 104, 110]  # type: ignore[index]

    falling = MomentumPredictor().predict(_input([100, 99, 98, 97, 96, 95]))
    assert falling is not None and falling.direction == "down" and falling.prob_up < 0.5


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

    small = 100.0 * (1 + FLAT_BAND / 2)
    flat = score(direction="flat", prob_up=0.5, expected_return=0.0, entry_price=100.0, exit_price=small)
    assert flat.realized_direction == "flat" and flat.hit


def test_score_refuses_nonsense_prices() -> None:
    with pytest.raises(ValueError):
        score(direction="up", prob_up=0.5, expected_return=0.0, entry_price=0.0, exit_price=1.0)


def _doc(i: int, title: str, hours_before: float) -> DocumentInput:

    seen = AS_OF - timedelta(hours=hours_before)
    return DocumentInput(doc_type="news", doc_id=str(i), title=title, published_at=seen, first_seen_at=seen)


def test_news_tone_reads_recent_documents_and_cites_only_those_it_scored() -> None:
    from stock_insights.predictors.news_tone import NewsTonePredictor

    docs = [_doc(1, "삼성전자 호실적, 목표주가 상향", 2), _doc(2, "삼성전자 주주총회 개최", 3),
            _doc(3, "삼성전자 급락 우려", 60)]  # the last one is older than the 36-hour window
    data = PredictionInput(code="005930", target_date=date(2026, 10, 20), as_of=AS_OF, prices=[], documents=docs)
    out = NewsTonePredictor().predict(data)
    assert out is not None and out.direction == "up" and out.prob_up == pytest.approx(1 / (1 + math.exp(-0.8)))
    assert [d["doc_id"] for d in out.cited_inputs["documents"]] == ["1"]  # type: ignore[index]

    quiet = NewsTonePredictor().predict(PredictionInput(code="005930", target_date=date(2026, 10, 20), as_of=AS_OF,
                                                        prices=[], documents=[]))
    assert quiet is not None and quiet.direction == "flat" and quiet.prob_up == 0.5


def test_documents_first_seen_after_the_cutoff_are_refused() -> None:
    with pytest.raises(ValidationError, match="first seen at or after the cutoff"):
        PredictionInput(code="005930", target_date=date(2026, 10, 20), as_of=AS_OF, prices=[],
                        documents=[_doc(9, "late", -1)])


def test_lexicon_reads_phrases_once() -> None:
    from stock_insights.predictors.lexicon import tone

    value, matched = tone("목표주가 상향")
    assert value == 1.0 and matched == {"목표주가 상향": 1}
    assert tone("실적 부진에 급락")[0] == -1.0 and tone("보합")[0] == 0.0
