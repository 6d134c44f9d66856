"""News-tone baseline: the lexicon tone of the stock's recent documents, squashed into a probability.

Offline and cheap. The steepness keeps it modest (tone +1 reads as P(up) 0.69): a day's news moves a
Korean large cap a little, not a lot. It reads only the documents it is given (first seen before the cutoff, within
``lookback``), weights each by recency, and says flat with probability 0.5 when there is no news.
"""

from __future__ import annotations

import math
from datetime import timedelta

from stock_insights.predictors.base import (
    DocumentInput,
    PredictionInput,
    PredictionOutput,
    Rationale,
    direction_from_probability,
)
from stock_insights.predictors.lexicon import tone


class NewsTonePredictor:
    def __init__(
        self,
        name: str = "news_tone",
        lookback: timedelta = timedelta(hours=36),
        steepness: float = 0.8,
        scale: float = 0.0065,
        half_life: timedelta = timedelta(hours=12),
    ) -> None:
        self.name = name
        self.lookback = lookback
        self.steepness = steepness
        self.scale = scale
        self.half_life = half_life

    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        recent = [d for d in data.documents if d.first_seen_at >= data.as_of - self.lookback]
        scored: list[tuple[DocumentInput, float, float, dict[str, int]]] = []
        for doc in recent:
            value, matched = tone(f"{doc.title} {doc.text}")
            age = (data.as_of - doc.first_seen_at).total_seconds()
            weight = 0.5 ** (age / self.half_life.total_seconds())
            if matched:
                scored.append((doc, value, weight, matched))
        weights = sum(w for _, _, w, _ in scored)
        mean = sum(v * w for _, v, w, _ in scored) / weights if weights else 0.0
        prob_up = 1.0 / (1.0 + math.exp(-self.steepness * mean))
        positive = [f"{d.title} ({', '.join(m)})" for d, v, _, m in scored if v > 0][:5]
        concerns = [f"{d.title} ({', '.join(m)})" for d, v, _, m in scored if v < 0][:5]
        summary = (
            f"Tone {mean:+.2f} over {len(scored)} of {len(recent)} recent document(s)"
            if recent
            else "No news about the stock before the cutoff: no view"
        )
        return PredictionOutput(
            direction=direction_from_probability(prob_up) if scored else "flat",
            prob_up=prob_up,
            expected_return=self.scale * mean * data.horizon,
            rationale=Rationale(positive=positive, concerns=concerns, summary=summary),
            cited_inputs=data.cited([d for d, _, _, _ in scored]) | {"prices": []},
        )
