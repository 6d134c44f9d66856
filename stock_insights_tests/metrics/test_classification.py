"""Hit rate, Pesaran-Timmermann, MCC, Brier, log loss and calibration against independent implementations.

The references below are written from the textbook formulas (forecasting-and-evaluation.md §5.1-5.5) on a
different code path: loops, quadratic roots, scipy correlations, the per-prediction scorer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from stock_insights.metrics import scoring
from stock_insights.metrics.classification import (
    bin_index,
    brier_score,
    brier_skill_score,
    calibration,
    confusion,
    expected_calibration_error,
    hit_rate,
    log_loss,
    mean_across_dates,
    pesaran_timmermann,
    wilson_interval,
)

TOL = 1e-9


@pytest.fixture
def sample() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n = 1_000
    latent = rng.standard_normal(n)
    outcome = (0.3 * latent + rng.standard_normal(n)) > 0.1
    prob = 1 / (1 + np.exp(-0.8 * latent))
    predicted_up = prob > 0.55
    return prob, outcome, predicted_up


# --- Wilson ------------------------------------------------------------------------------------------


def wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson bounds are the p solving (p̂ − p)² = z²·p(1 − p)/n: a quadratic a·p² + b·p + c = 0."""
    p_hat = k / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("k", "n"), [(55, 100), (1, 7), (0, 12), (12, 12), (137, 250), (5_123, 10_000)])
def test_wilson_matches_the_quadratic_roots(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    ref_low, ref_high = wilson_by_quadratic(k, n, 1.96)
    assert low == pytest.approx(max(ref_low, 0.0), abs=TOL)
    assert high == pytest.approx(min(ref_high, 1.0), abs=TOL)


@pytest.mark.parametrize(
    ("n", "expected"), [(100, (0.452, 0.644)), (250, (0.490, 0.612)), (500, (0.506, 0.593)), (1000, (0.519, 0.581))]
)
def test_wilson_reproduces_the_reference_table(n: int, expected: tuple[float, float]) -> None:
    low, high = wilson_interval(round(0.55 * n), n)
    assert (round(low, 3), round(high, 3)) == expected


def test_all_hits_gives_a_proper_interval() -> None:
    result = hit_rate(np.ones(40, dtype=bool))
    assert result.rate == 1.0
    assert result.ci_high == 1.0
    assert result.ci_low == pytest.approx(40 / (40 + 1.96**2), abs=TOL)


def test_hit_rate_rejects_missing_values() -> None:
    with pytest.raises(ValueError, match="0/1"):
        hit_rate(np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValueError, match="empty"):
        hit_rate([])


def test_mean_across_dates_matches_scipy_t_interval() -> None:
    values = np.random.default_rng(1).uniform(0.3, 0.7, 37)
    result = mean_across_dates(values)
    ci = stats.ttest_1samp(values, 0.5).confidence_interval(0.95)
    assert result.ci_low == pytest.approx(ci.low, abs=TOL)
    assert result.ci_high == pytest.approx(ci.high, abs=TOL)
    single = mean_across_dates([0.6])
    assert single.std is None and single.ci_low is None and "one date" in single.reason


# --- Pesaran-Timmermann ---------------------------------------------------------------------------------


def pt_reference(predicted_up: np.ndarray, outcome_up: np.ndarray) -> tuple[float, float]:
    """Written from Pesaran & Timmermann (1992) with counts, as in XingfuXu/ML_EquityPremiumPrediction."""
    n = len(predicted_up)
    agree = sum(1 for y, x in zip(predicted_up, outcome_up, strict=True) if y == x)
    py = sum(1 for y in predicted_up if y) / n
    px = sum(1 for x in outcome_up if x) / n
    p_hat = agree / n
    p_star = py * px + (1 - py) * (1 - px)
    var_p_hat = p_star * (1 - p_star) / n
    var_p_star = (
        ((2 * py - 1) ** 2) * px * (1 - px) / n
        + ((2 * px - 1) ** 2) * py * (1 - py) / n
        + 4 * py * px * (1 - py) * (1 - px) / (n * n)
    )
    pt = (p_hat - p_star) / math.sqrt(var_p_hat - var_p_star)
    return pt, 1 - stats.norm.cdf(pt)


def test_pesaran_timmermann_matches_the_reference(sample) -> None:
    _, outcome, predicted_up = sample
    result = pesaran_timmermann(predicted_up, outcome)
    statistic, p_value = pt_reference(predicted_up, outcome)
    assert result.statistic == pytest.approx(statistic, abs=TOL)
    assert result.p_value == pytest.approx(p_value, abs=TOL)
    assert result.statistic > 2  # the planted relation is there


def test_pesaran_timmermann_without_skill_is_not_significant() -> None:
    rng = np.random.default_rng(3)
    calls, outcomes = rng.random(2_000) < 0.7, rng.random(2_000) < 0.55  # independent, unequal base rates
    result = pesaran_timmermann(calls, outcomes)
    assert result.statistic == pytest.approx(pt_reference(calls, outcomes)[0], abs=TOL)
    assert result.p_value > 0.01


def test_pesaran_timmermann_is_undefined_when_every_call_is_up() -> None:
    result = pesaran_timmermann(np.ones(50, dtype=bool), np.arange(50) % 2 == 0)
    assert result.statistic is None and result.p_value is None
    assert result.reason == "every call is the same direction"
    result = pesaran_timmermann(np.arange(50) % 2 == 0, np.zeros(50, dtype=bool))
    assert result.reason == "every outcome is the same"


# --- MCC ---------------------------------------------------------------------------------------------


def test_mcc_equals_the_phi_coefficient(sample) -> None:
    _, outcome, predicted_up = sample
    result = confusion(predicted_up, outcome)
    phi = stats.pearsonr(predicted_up.astype(float), outcome.astype(float))[0]
    assert result.mcc == pytest.approx(phi, abs=TOL)
    tpr = np.sum(predicted_up & outcome) / np.sum(outcome)
    tnr = np.sum(~predicted_up & ~outcome) / np.sum(~outcome)
    assert result.balanced_accuracy == pytest.approx((tpr + tnr) / 2, abs=TOL)
    assert result.true_up + result.false_up + result.true_not_up + result.false_not_up == len(outcome)


def test_mcc_is_none_with_a_reason_when_a_margin_is_empty() -> None:
    result = confusion(np.ones(10, dtype=bool), np.arange(10) < 4)
    assert result.mcc is None
    assert "no 'not up' calls" in result.reason
    assert result.balanced_accuracy == pytest.approx(0.5, abs=TOL)


def test_mcc_of_a_perfect_forecast_is_one() -> None:
    outcome = np.arange(30) % 3 == 0
    assert confusion(outcome, outcome).mcc == pytest.approx(1.0, abs=TOL)


# --- Brier, skill, log loss ------------------------------------------------------------------------------


def test_brier_and_skill_match_loops(sample) -> None:
    prob, outcome, _ = sample
    n = len(prob)
    bs = sum((p - float(o)) ** 2 for p, o in zip(prob, outcome, strict=True)) / n
    o_bar = sum(float(o) for o in outcome) / n
    assert brier_score(prob, outcome) == pytest.approx(bs, abs=TOL)
    skill = brier_skill_score(prob, outcome)
    assert skill.reference == pytest.approx(o_bar * (1 - o_bar), abs=TOL)
    assert skill.skill == pytest.approx(1 - bs / (o_bar * (1 - o_bar)), abs=TOL)
    historical = brier_skill_score(prob, outcome, base_rate=0.5)
    assert historical.reference == pytest.approx(0.25, abs=TOL)  # (0.5 − o)² is 0.25 whatever o is


def test_brier_skill_of_climatology_itself_is_zero() -> None:
    outcome = np.arange(40) % 4 == 0
    assert brier_skill_score(np.full(40, 0.25), outcome).skill == pytest.approx(0.0, abs=TOL)
    constant = brier_skill_score(np.full(10, 0.9), np.ones(10, dtype=bool))
    assert constant.skill is None and "perfect" in constant.reason


def test_log_loss_is_the_mean_of_the_stored_per_prediction_scores(sample) -> None:
    prob, outcome, _ = sample
    prob = prob.copy()
    prob[:3] = [0.0, 1.0, 1.0]  # LLMs state certainties; the clip keeps the loss finite
    per_prediction = [
        scoring.score(
            direction="up", prob_up=float(p), expected_return=0.0, entry_price=100.0, exit_price=101.0 if o else 99.0
        ).log_loss
        for p, o in zip(prob, outcome, strict=True)
    ]
    assert log_loss(prob, outcome) == pytest.approx(sum(per_prediction) / len(per_prediction), abs=TOL)
    by_hand = -sum(
        math.log(min(max(p, 1e-6), 1 - 1e-6)) if o else math.log(1 - min(max(p, 1e-6), 1 - 1e-6))
        for p, o in zip(prob, outcome, strict=True)
    ) / len(prob)
    assert log_loss(prob, outcome) == pytest.approx(by_hand, abs=TOL)


def test_probability_checks() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        brier_score([0.2, 1.2], [0, 1])
    with pytest.raises(ValueError, match="non-finite"):
        log_loss([0.2, np.nan], [0, 1])
    with pytest.raises(ValueError, match="differ in length"):
        brier_score([0.2, 0.3], [0, 1, 1])


# --- Calibration ----------------------------------------------------------------------------------------


def calibration_reference(prob: np.ndarray, outcome: np.ndarray, n_bins: int) -> tuple[float, list]:
    """ECE = Σ_b (n_b/N)|ō_b − p̄_b| with bins [b/B, (b+1)/B), the last closed, found by scanning edges."""
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for i, p in enumerate(prob):
        for b in range(n_bins):
            if b / n_bins <= p < (b + 1) / n_bins or (b == n_bins - 1 and p == 1.0):
                members[b].append(i)
                break
    ece, curve = 0.0, []
    for idx in members:
        if not idx:
            curve.append((0, None, None))
            continue
        mean_p = sum(prob[i] for i in idx) / len(idx)
        freq = sum(float(outcome[i]) for i in idx) / len(idx)
        ece += len(idx) / len(prob) * abs(freq - mean_p)
        curve.append((len(idx), mean_p, freq))
    return ece, curve


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_and_reliability_curve_match_the_reference(sample, n_bins: int) -> None:
    prob, outcome, _ = sample
    result = calibration(prob, outcome, n_bins)
    ece, curve = calibration_reference(prob, outcome, n_bins)
    assert result.ece == pytest.approx(ece, abs=TOL)
    assert expected_calibration_error(prob, outcome, n_bins) == pytest.approx(ece, abs=TOL)
    for got, (count, mean_p, freq) in zip(result.bins, curve, strict=True):
        assert got.count == count
        if count:
            assert got.mean_predicted == pytest.approx(mean_p, abs=TOL)
            assert got.observed_frequency == pytest.approx(freq, abs=TOL)
        else:
            assert got.mean_predicted is None and got.observed_frequency is None


def test_probabilities_on_bin_edges_go_to_the_upper_bin() -> None:
    assert bin_index(np.array([0.0, 0.1, 0.7, 0.3, 0.9999, 1.0]), 10).tolist() == [0, 1, 7, 3, 9, 9]
    assert bin_index(np.array([0.57, 0.29, 0.58]), 100).tolist() == [57, 29, 58]


def test_murphy_decomposition_is_exact_when_forecasts_are_bin_constant() -> None:
    rng = np.random.default_rng(11)
    prob = rng.choice([0.05, 0.35, 0.55, 0.85], 2_000)
    outcome = rng.random(2_000) < prob + 0.05
    result = calibration(prob, outcome, 10)
    bs = brier_score(prob, outcome)
    assert result.reliability - result.resolution + result.uncertainty == pytest.approx(bs, abs=TOL)


def test_perfectly_calibrated_bins_have_zero_ece() -> None:
    prob = np.array([0.25] * 4 + [0.75] * 4)
    outcome = np.array([1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert calibration(prob, outcome, 10).ece == pytest.approx(0.0, abs=TOL)
