"""Directional and probabilistic skill of one model: hit rate, Pesaran-Timmermann, MCC, Brier, log loss, ECE.

Every formula is the one in ``/work/shared/reference/forecasting-and-evaluation.md`` section 5 ("Rigorous
prediction evaluation and A/B tests"); the item number is cited in each docstring (e.g. "§5.2").

Conventions (the leaderboard applies them; these functions only see arrays):

- The binary event is "the stock went up": ``outcome_up = realized_return > 0``, the same event that
  ``prob_up`` and the stored per-prediction Brier score refer to (``stock_insights.metrics.scoring``).
- For the directional tests (Pesaran-Timmermann, MCC) a prediction counts as "up" only when its
  ``direction`` is ``"up"``; ``"down"`` and ``"flat"`` both count as "not up". The stored ``hit`` is
  three-class (direction equals the realized direction with a flat band) and feeds the hit rate only.
- Invalid input (empty, different lengths, NaN, probabilities outside [0, 1], non-binary outcomes) raises
  ``ValueError``. A statistic that is mathematically undefined on valid input (zero variance, a class that
  never occurs) comes back as ``None`` with a ``reason`` saying why; nothing returns NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

# Same clip as the per-prediction score (stock_insights.metrics.scoring._EPS), so the model-level log loss
# is exactly the mean of the stored per-prediction values. LLM-stated probabilities are often 0 or 1 (§5.4).
LOG_LOSS_EPS = 1e-6
WILSON_Z = 1.96  # §5.1: z = 1.96 for the 95 % interval
DEFAULT_BINS = 10


# --------------------------------------------------------------------------------------------------
# Input checks shared by the metrics modules


def as_binary(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-D boolean array from booleans or 0/1 numbers; ValueError on anything else (NaN included)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    if array.dtype == bool:
        return array
    try:
        numbers = array.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be booleans or 0/1 numbers") from exc
    bad = ~np.isin(numbers, (0.0, 1.0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be 0/1 (or booleans); position {first} holds {array[first]!r}")
    return numbers == 1.0


def as_real(values: ArrayLike, name: str) -> np.ndarray:
    """A 1-D float array with only finite values; ValueError naming the first NaN or infinity."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers") from exc
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    bad = ~np.isfinite(array)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s), the first at position {first}")
    return array


def as_probability(values: ArrayLike, name: str = "prob_up") -> np.ndarray:
    array = as_real(values, name)
    outside = (array < 0.0) | (array > 1.0)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise ValueError(f"{name} must lie in [0, 1]; position {first} holds {array[first]!r}")
    return array


def same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"inputs differ in length: {lengths}")
    return next(iter(lengths.values()))


# --------------------------------------------------------------------------------------------------
# §5.1 Hit rate


@dataclass(frozen=True)
class HitRate:
    hits: int
    n: int
    rate: float
    ci_low: float
    ci_high: float
    z: float


def wilson_interval(successes: int, n: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval (§5.1):

    (p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n),  p̂ = k/n.

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not degenerate at p̂ = 0 or 1.
    """
    if n <= 0:
        raise ValueError("the Wilson interval needs n >= 1")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n]; got {successes} of {n}")
    if not (math.isfinite(z) and z > 0):
        raise ValueError("z must be a positive number")
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    # max/min guard only against the last ulp: the exact interval is inside [0, 1].
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


def hit_rate(hits: ArrayLike, z: float = WILSON_Z) -> HitRate:
    """Share of hits k/n with the Wilson interval (§5.1). Pooled over every prediction: same-day
    predictions are correlated, so read it next to :func:`mean_across_dates` of the daily hit rate."""
    h = as_binary(hits, "hits")
    k = int(h.sum())
    low, high = wilson_interval(k, h.size, z)
    return HitRate(hits=k, n=int(h.size), rate=k / h.size, ci_low=low, ci_high=high, z=z)


@dataclass(frozen=True)
class DailyMean:
    """A per-date figure summarised across dates: mean, sample standard deviation (ddof = 1) and the
    Student-t interval mean ± t_{T−1}·s/√T. Dates are the unit of independence (§5.1: "aggregate per
    date, then run a t-test over dates")."""

    n_dates: int
    mean: float
    std: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    reason: str | None = None


def mean_across_dates(values: ArrayLike, confidence: float = 0.95) -> DailyMean:
    v = as_real(values, "per-date values")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    mean = float(v.mean())
    if v.size < 2:
        return DailyMean(v.size, mean, None, None, None, confidence, reason="one date: no spread across dates")
    std = float(v.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, v.size - 1)) * std / math.sqrt(v.size)
    return DailyMean(v.size, mean, std, mean - half, mean + half, confidence)


# --------------------------------------------------------------------------------------------------
# §5.2 Pesaran-Timmermann and MCC


@dataclass(frozen=True)
class PesaranTimmermann:
    n: int
    accuracy: float  # P̂: share of predictions whose up / not-up call matched the outcome
    share_predicted_up: float  # Pᵧ
    share_outcome_up: float  # Pₓ
    expected_accuracy: float  # P*: accuracy of calls independent of the outcome with the same base rates
    statistic: float | None
    p_value: float | None  # one-sided, H1: accuracy above what the base rates give
    reason: str | None = None


def pesaran_timmermann(predicted_up: ArrayLike, outcome_up: ArrayLike) -> PesaranTimmermann:
    """Pesaran-Timmermann (1992) test of directional accuracy (§5.2):

    P* = PᵧPₓ + (1−Pᵧ)(1−Pₓ);  V(P̂) = P*(1−P*)/n;
    V(P*) = (2Pᵧ−1)²Pₓ(1−Pₓ)/n + (2Pₓ−1)²Pᵧ(1−Pᵧ)/n + 4PᵧPₓ(1−Pᵧ)(1−Pₓ)/n²;
    PT = (P̂−P*)/√(V(P̂)−V(P*)) ~ N(0, 1); one-sided p = 1 − Φ(PT).

    Undefined (statistic None) when every call or every outcome is the same, because then
    V(P̂) = V(P*): a model that always says "up" carries no directional information to test.
    """
    y = as_binary(predicted_up, "predicted_up")
    x = as_binary(outcome_up, "outcome_up")
    n = same_length(predicted_up=y, outcome_up=x)
    p_hat = float(np.mean(y == x))
    py = float(y.mean())
    px = float(x.mean())
    p_star = py * px + (1 - py) * (1 - px)
    v_hat = p_star * (1 - p_star) / n
    v_star = (
        (2 * py - 1) ** 2 * px * (1 - px) / n
        + (2 * px - 1) ** 2 * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    )
    result = partial(
        PesaranTimmermann, n=n, accuracy=p_hat, share_predicted_up=py, share_outcome_up=px, expected_accuracy=p_star
    )
    if py in (0.0, 1.0):
        return result(statistic=None, p_value=None, reason="every call is the same direction")
    if px in (0.0, 1.0):
        return result(statistic=None, p_value=None, reason="every outcome is the same")
    variance = v_hat - v_star
    if not variance > 0:  # cannot happen with both shares strictly inside (0, 1) except through rounding
        return result(statistic=None, p_value=None, reason="V(P̂) − V(P*) is not positive")
    statistic = (p_hat - p_star) / math.sqrt(variance)
    return result(statistic=statistic, p_value=float(stats.norm.sf(statistic)))


@dataclass(frozen=True)
class Confusion:
    """Up / not-up confusion counts with MCC and balanced accuracy (§5.2)."""

    true_up: int  # TP: called up, went up
    false_up: int  # FP: called up, did not go up
    true_not_up: int  # TN
    false_not_up: int  # FN: did not call up, went up
    mcc: float | None
    balanced_accuracy: float | None
    reason: str | None = None


def confusion(predicted_up: ArrayLike, outcome_up: ArrayLike) -> Confusion:
    """MCC = (TP·TN − FP·FN)/√((TP+FP)(TP+FN)(TN+FP)(TN+FN)) (§5.2); balanced accuracy = (TPR + TNR)/2.

    MCC is None when a margin is empty (no "up" calls, no "not up" calls, no up outcomes or no down
    outcomes): the formula is 0/0 there, and reporting 0 would pass off "untestable" as "no skill".
    """
    y = as_binary(predicted_up, "predicted_up")
    x = as_binary(outcome_up, "outcome_up")
    same_length(predicted_up=y, outcome_up=x)
    tp = int(np.sum(y & x))
    fp = int(np.sum(y & ~x))
    tn = int(np.sum(~y & ~x))
    fn = int(np.sum(~y & x))
    # Python ints: the product of four margins overflows int64 past ~55k predictions per margin.
    margins = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    reason = None
    if margins == 0:
        mcc = None
        empty = [
            label
            for label, size in (
                ("no 'up' calls", tp + fp),
                ("no 'not up' calls", tn + fn),
                ("no up outcomes", tp + fn),
                ("no non-up outcomes", tn + fp),
            )
            if size == 0
        ]
        reason = "MCC undefined: " + ", ".join(empty)
    else:
        mcc = (tp * tn - fp * fn) / math.sqrt(margins)
    if tp + fn and tn + fp:
        balanced = (tp / (tp + fn) + tn / (tn + fp)) / 2
    else:
        balanced = None
        reason = reason or "balanced accuracy undefined: one outcome class never occurs"
    return Confusion(tp, fp, tn, fn, mcc, balanced, reason)


# --------------------------------------------------------------------------------------------------
# §5.3 Brier, §5.4 log loss


def brier_score(prob_up: ArrayLike, outcome_up: ArrayLike) -> float:
    """BS = (1/N)Σ(pᵢ − oᵢ)² (§5.3)."""
    p = as_probability(prob_up)
    o = as_binary(outcome_up, "outcome_up")
    same_length(prob_up=p, outcome_up=o)
    return float(np.mean((p - o) ** 2))


@dataclass(frozen=True)
class BrierSkill:
    brier: float
    reference: float  # BS_ref: Brier score of always forecasting the base rate
    base_rate: float
    skill: float | None  # BSS = 1 − BS/BS_ref; > 0 beats climatology
    reason: str | None = None


def brier_skill_score(prob_up: ArrayLike, outcome_up: ArrayLike, base_rate: float | None = None) -> BrierSkill:
    """Brier skill score against climatology (§5.3): BSS = 1 − BS/BS_ref.

    By default the reference forecast is the sample's own up-rate ō, so BS_ref = ō(1−ō). Pass
    ``base_rate`` (e.g. a historical up-rate) for the "always historical up-rate" reference; then
    BS_ref = (1/N)Σ(b − oᵢ)², which equals ō(1−ō) when b = ō.
    """
    p = as_probability(prob_up)
    o = as_binary(outcome_up, "outcome_up")
    same_length(prob_up=p, outcome_up=o)
    bs = float(np.mean((p - o) ** 2))
    o_bar = float(o.mean())
    if base_rate is None:
        b = o_bar
        reference = o_bar * (1 - o_bar)
    else:
        if not 0 <= base_rate <= 1:
            raise ValueError("base_rate must lie in [0, 1]")
        b = float(base_rate)
        reference = float(np.mean((b - o) ** 2))
    if reference == 0:
        return BrierSkill(bs, reference, b, None, reason="the reference forecast is perfect (every outcome the same)")
    return BrierSkill(bs, reference, b, 1 - bs / reference)


def log_loss(prob_up: ArrayLike, outcome_up: ArrayLike, eps: float = LOG_LOSS_EPS) -> float:
    """LL = −(1/N)Σ[oᵢ log pᵢ + (1−oᵢ) log(1−pᵢ)], p clipped to [ε, 1−ε] (§5.4)."""
    if not 0 < eps < 0.5:
        raise ValueError("eps must be in (0, 0.5)")
    p = np.clip(as_probability(prob_up), eps, 1 - eps)
    o = as_binary(outcome_up, "outcome_up")
    same_length(prob_up=p, outcome_up=o)
    return float(-np.mean(np.where(o, np.log(p), np.log1p(-p))))


# --------------------------------------------------------------------------------------------------
# §5.5 Calibration


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    mean_predicted: float | None  # p̄_b; None for an empty bin
    observed_frequency: float | None  # ō_b


@dataclass(frozen=True)
class Calibration:
    n: int
    n_bins: int
    ece: float
    base_rate: float  # ō
    # Murphy decomposition over these bins (§5.3): BS ≈ REL − RES + UNC. Exact only when every forecast in
    # a bin equals the bin mean; the gap is the within-bin variance of the forecasts.
    reliability: float
    resolution: float
    uncertainty: float
    bins: list[ReliabilityBin] = field(default_factory=list)


def bin_index(prob_up: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each probability: bin b holds [b/B, (b+1)/B), the last bin also holds 1.

    LLM probabilities are decimals that often sit exactly on an edge (0.7 with 10 bins); p·B is rounded
    to 9 decimals before the floor so that 0.57·100 = 56.99999999999999 still lands in bin 57.
    """
    raw = np.floor(np.round(prob_up * n_bins, 9)).astype(np.int64)
    return np.minimum(raw, n_bins - 1)


def calibration(prob_up: ArrayLike, outcome_up: ArrayLike, n_bins: int = DEFAULT_BINS) -> Calibration:
    """Expected calibration error with equal-width bins and the reliability-curve data (§5.5):

    ECE = Σ_b (n_b/N)|ō_b − p̄_b|, where p̄_b is the mean forecast and ō_b the observed up-frequency
    of the forecasts in bin b. Each bin reports (lower, upper, count, p̄_b, ō_b).
    """
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError("n_bins must be a positive integer")
    p = as_probability(prob_up)
    o = as_binary(outcome_up, "outcome_up")
    n = same_length(prob_up=p, outcome_up=o)
    idx = bin_index(p, n_bins)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_o = np.bincount(idx, weights=o.astype(float), minlength=n_bins)
    filled = counts > 0
    mean_p = np.divide(sum_p, counts, out=np.zeros(n_bins), where=filled)
    freq_o = np.divide(sum_o, counts, out=np.zeros(n_bins), where=filled)
    weight = counts / n
    o_bar = float(o.mean())
    bins = [
        ReliabilityBin(
            lower=b / n_bins,
            upper=(b + 1) / n_bins,
            count=int(counts[b]),
            mean_predicted=float(mean_p[b]) if filled[b] else None,
            observed_frequency=float(freq_o[b]) if filled[b] else None,
        )
        for b in range(n_bins)
    ]
    return Calibration(
        n=n,
        n_bins=n_bins,
        ece=float(np.sum(weight * np.abs(freq_o - mean_p))),
        base_rate=o_bar,
        reliability=float(np.sum(weight * (mean_p - freq_o) ** 2)),
        resolution=float(np.sum(weight * (freq_o - o_bar) ** 2)),
        uncertainty=o_bar * (1 - o_bar),
        bins=bins,
    )


def expected_calibration_error(prob_up: ArrayLike, outcome_up: ArrayLike, n_bins: int = DEFAULT_BINS) -> float:
    return calibration(prob_up, outcome_up, n_bins).ece
