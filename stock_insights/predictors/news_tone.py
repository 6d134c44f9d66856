"""News-tone baseline: the lexicon tone of the stock's news since the previous session, as a forecast.

Offline and cheap. It reads only the documents it is given (first seen before the cutoff), keeps those
first seen since the start (00:00 KST) of the previous session's day, and averages their lexicon tone
with equal weights: the reading ``m`` in [-1, 1]. No scored document, or a reading of exactly 0 (no tone
word, or as many good as bad ones), is no view: no forecast (``None``), counted by the caller.

Why that window: a session's news is what moves the next session (the planted relation below, and the
news-before-the-open setups of the reference), and a Monday forecast must read Friday's news. The old
window (36 hours before the cutoff, half-life 12 h) missed Friday entirely on Mondays and let the few
stories of the target day's own early morning outweigh the previous day's; on the sandbox the reading's
correlation with the previous session's latent tone went from 0.72 to 0.89 with this window.

How the numbers are derived (the sandbox's planted relation, ``stock_insights/sandbox/market.py``)
    r[t] = MU + BETA·tone[t-1] + noise,  BETA = 0.0065, noise sd SIGMA = 0.02, tone = tanh(Z), Z ~ N(0, 1),
    and the newsroom words a stock's stories of session t after tone[t] in bands cut at ±0.2 and ±0.6.

    1. What the reading says about the latent tone: E[tone | m] ≈ KAPPA·m. A perfect reading of the band's
       side (m = +1 for every tone ≥ 0.2) gives KAPPA = E[tanh Z | tanh Z ≥ 0.2] = 0.643 (numerical
       integral). The lexicon reads a little less cleanly (causes and quotes carry words of their own): the
       regression through the origin of tone[t-1] on m over the sandbox's 2020-02..2026-11 sessions of the
       eight default stocks (12,163 readings) gives 0.618. KAPPA = 0.62.
    2. Expected return (``scale``): E[r | m] = BETA·KAPPA·m = 0.0040·m. The hand-set 0.0065 was BETA itself,
       as if m = ±1 meant a latent tone of ±1; it means ±0.62 on average. The least-squares slope of the
       realized simple return on m over the same readings is 0.0041.
    3. Probability: r | m ≈ N(BETA·KAPPA·m, SIGMA²) (the tone's residual variance adds BETA²·Var(tone | m)
       ≈ 4e-6 to SIGMA² = 4e-4), so P(up | m) = Φ(BETA·KAPPA·m / SIGMA) = Φ(0.20·m): 0.580 at m = +1. As a
       logistic curve that is a steepness of 1.702·0.20 = 0.34; the hand-set 0.8 said 0.69 at m = +1,
       overconfident by a factor of 2.3 in log-odds. The logistic fit of (r > 0) on m over the same readings
       gives a slope of 0.32 (with intercept).
    4. Horizon h sessions (entry: the close before the target day): the news moves the first session only,
       the other h - 1 add noise. E = BETA·KAPPA·m (not ×h), P(up) = Φ(BETA·KAPPA·m / (SIGMA·√h)).
    No drift term: MU = 0.02% a day is 1% of SIGMA.

``stock_insights_tests/evaluations/test_sandbox_significance.py`` checks the calibration on pipeline data.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from stock_insights import calendar
from stock_insights.predictors.base import (
    DocumentInput,
    PredictionInput,
    PredictionOutput,
    Rationale,
    direction_from_probability,
)
from stock_insights.predictors.lexicon import tone

PLANTED_BETA = 0.0065  # the sandbox's BETA: log-return response to the previous session's latent tone
DAILY_SD = 0.02  # the sandbox's SIGMA: sd of a session's return
KAPPA = 0.62  # E[latent tone | reading m] / m (derivation step 1)
SCALE = PLANTED_BETA * KAPPA  # expected next-session return per unit of reading (step 2)
PROBIT_SLOPE = SCALE / DAILY_SD  # P(up) = Φ(PROBIT_SLOPE·m) for one session (step 3), ≈ 0.2015


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


class NewsTonePredictor:
    def __init__(
        self,
        name: str = "news_tone",
        scale: float = SCALE,
        daily_sd: float = DAILY_SD,
        max_lookback: timedelta = timedelta(days=10),
    ) -> None:
        self.name = name
        self.scale = scale
        self.daily_sd = daily_sd
        self.max_lookback = max_lookback

    def window_start(self, data: PredictionInput) -> datetime:
        """00:00 KST of the previous session's day (at most ``max_lookback`` before the cutoff)."""
        previous = calendar.previous_session(data.target_date)
        start = datetime.combine(previous, time(0), tzinfo=calendar.KST)
        return max(start, data.as_of - self.max_lookback)

    def predict(self, data: PredictionInput) -> PredictionOutput | None:
        since = self.window_start(data)
        recent = [d for d in data.documents if since <= d.first_seen_at < data.as_of]
        scored: list[tuple[DocumentInput, float, dict[str, int]]] = []
        for doc in recent:
            value, matched = tone(f"{doc.title} {doc.text}")
            if matched:
                scored.append((doc, value, matched))
        if not scored:
            return None  # no tone word in the window: no view
        reading = sum(v for _, v, _ in scored) / len(scored)
        if reading == 0.0:
            return None  # as much good as bad news: no view
        prob_up = normal_cdf(self.scale * reading / (self.daily_sd * math.sqrt(data.horizon)))
        positive = [f"{d.title} ({', '.join(m)})" for d, v, m in scored if v > 0][:5]
        concerns = [f"{d.title} ({', '.join(m)})" for d, v, m in scored if v < 0][:5]
        since_kst = since.astimezone(calendar.KST)
        summary = (
            f"Tone {reading:+.2f} over {len(scored)} of {len(recent)} document(s) since {since_kst:%Y-%m-%d %H:%M} "
            f"KST; news moves the next session about {self.scale * reading:+.2%}"
        )
        return PredictionOutput(
            direction=direction_from_probability(prob_up, band=0.0),
            prob_up=prob_up,
            expected_return=self.scale * reading,
            rationale=Rationale(positive=positive, concerns=concerns, summary=summary),
            cited_inputs=data.cited([d for d, _, _ in scored]) | {"prices": []},
        )
