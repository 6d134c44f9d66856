"""McNemar, Diebold-Mariano (HLN), Holm and experiment verdicts against scipy and hand-written references,
plus the planted-signal and shuffled-outcome simulations of issue 7."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stock_insights.metrics.comparison import (
    MIN_DATES_FOR_VERDICT,
    NO_DIFFERENCE,
    TOO_FEW_DATES,
    clustered_mcnemar,
    diebold_mariano,
    experiment_verdicts,
    holm,
    losses,
    mcnemar,
    per_date_differential,
)
from stock_insights_tests.metrics.synthetic import panel

TOL = 1e-9


def paired_hits(b: int, c: int, both: int = 10, neither: int = 7) -> tuple[np.ndarray, np.ndarray]:
    a = [True] * b + [False] * c + [True] * both + [False] * neither
    other = [False] * b + [True] * c + [True] * both + [False] * neither
    return np.array(a), np.array(other)


# --- McNemar -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("b", "c"), [(0, 1), (3, 9), (12, 12), (20, 4), (1, 23)])
def test_exact_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    result = mcnemar(*paired_hits(b, c))
    assert result.method == "exact" and result.a_only == b and result.b_only == c
    assert result.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, abs=TOL)


@pytest.mark.parametrize(("b", "c"), [(13, 12), (40, 22), (100, 100), (7, 60)])
def test_chi_square_mcnemar_matches_the_normal_tail(b: int, c: int) -> None:
    result = mcnemar(*paired_hits(b, c))
    assert result.method == "chi2"
    assert result.statistic == pytest.approx((abs(b - c) - 1) ** 2 / (b + c), abs=TOL)
    # χ²₁ is the square of a standard normal: P(χ²₁ ≥ x) = 2·P(Z ≥ √x)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(math.sqrt(result.statistic)), abs=TOL)


def test_exact_below_25_discordant_pairs_chi_square_from_25() -> None:
    assert mcnemar(*paired_hits(12, 12)).method == "exact"
    assert mcnemar(*paired_hits(13, 12)).method == "chi2"


def test_no_discordant_pairs_and_all_hits() -> None:
    hits = np.ones(30, dtype=bool)
    result = mcnemar(hits, hits)
    assert result.p_value == 1.0 and result.reason == "no discordant pairs"
    assert result.both_hit == 30 and result.statistic is None


def test_mcnemar_input_errors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        mcnemar([True, False], [True])
    with pytest.raises(ValueError, match="0/1"):
        mcnemar([1.0, np.nan], [1.0, 0.0])


# --- Diebold-Mariano -----------------------------------------------------------------------------------


def dm_reference(d: list[float], h: int) -> tuple[float, float]:
    """Loops in the style of johntwk/Diebold-Mariano-Test dm_test.py: autocovariance with 1/T, HLN, t_{T−1}."""
    t_len = len(d)
    mean = sum(d) / t_len

    def autocovariance(k: int) -> float:
        return sum((d[i] - mean) * (d[i - k] - mean) for i in range(k, t_len)) / t_len

    gamma = [autocovariance(k) for k in range(h)]
    v_d = (gamma[0] + 2 * sum(gamma[1:])) / t_len
    dm = mean / math.sqrt(v_d)
    hln = math.sqrt((t_len + 1 - 2 * h + h * (h - 1) / t_len) / t_len)
    statistic = hln * dm
    return statistic, 2 * stats.t.cdf(-abs(statistic), df=t_len - 1)


@pytest.mark.parametrize("h", [1, 2, 3, 5])
def test_diebold_mariano_matches_the_loop_reference(h: int) -> None:
    rng = np.random.default_rng(h)
    d = np.convolve(rng.normal(0.002, 0.01, 80), np.ones(h) / h, mode="valid")  # MA(h−1), as h-step errors
    result = diebold_mariano(d, horizon=h)
    statistic, p_value = dm_reference(d.tolist(), h)
    assert result.statistic_hln == pytest.approx(statistic, abs=TOL)
    assert result.p_value == pytest.approx(p_value, abs=TOL)
    assert result.df == len(d) - 1


def test_diebold_mariano_at_horizon_one_is_the_one_sample_t_test() -> None:
    # With h = 1 the HLN factor turns the population variance into the sample variance: DM* is Student's t.
    d = np.random.default_rng(2).normal(-0.001, 0.02, 45)
    result = diebold_mariano(d)
    t_test = stats.ttest_1samp(d, 0.0)
    assert result.statistic_hln == pytest.approx(t_test.statistic, abs=TOL)
    assert result.p_value == pytest.approx(t_test.pvalue, abs=TOL)


def test_diebold_mariano_edge_cases() -> None:
    single = diebold_mariano([0.01])
    assert single.p_value is None and "at least 2" in single.reason
    identical = diebold_mariano(np.zeros(20))
    assert identical.p_value is None and identical.reason == "the loss differential is identical on every date"
    short = diebold_mariano([0.1, 0.2, 0.3], horizon=3)
    assert short.p_value is None and "more dates than the horizon" in short.reason
    with pytest.raises(ValueError, match="non-finite"):
        diebold_mariano([0.1, np.nan, 0.2])
    with pytest.raises(ValueError, match="horizon"):
        diebold_mariano([0.1, 0.2, 0.3], horizon=0)


def test_per_date_differential_averages_across_stocks_first() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {"date": rng.choice(["d1", "d2", "d3"], 60), "a": rng.random(60), "b": rng.random(60)},
    )
    dates, d = per_date_differential(frame["date"].to_numpy(), frame["a"].to_numpy(), frame["b"].to_numpy())
    expected = frame.groupby("date").mean()
    assert dates == ["d1", "d2", "d3"]
    np.testing.assert_allclose(d, (expected["a"] - expected["b"]).to_numpy(), rtol=0, atol=TOL)


def test_losses() -> None:
    prob = np.array([0.7, 0.2])
    realized = np.array([0.01, 0.0])  # a zero return is not "up"
    np.testing.assert_allclose(losses(prob, [0.0, 0.0], realized, "brier"), [0.09, 0.04], atol=1e-15)
    np.testing.assert_allclose(losses(prob, [0.02, -0.01], realized, "squared_error"), [1e-4, 1e-4], atol=1e-15)
    with pytest.raises(ValueError, match="loss must be"):
        losses(prob, [0.0, 0.0], realized, "mae")  # type: ignore[arg-type]


# --- Holm ----------------------------------------------------------------------------------------------


def holm_rejections(p_values: list[float], alpha: float) -> set[int]:
    """Holm's step-down procedure as a decision rule: reject p₍ⱼ₎ while p₍ⱼ₎ ≤ α/(m − j + 1)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected: set[int] = set()
    for j, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - j):
            break
        rejected.add(i)
    return rejected


def test_holm_worked_example() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], abs=1e-15)


def test_holm_adjusted_values_reproduce_the_step_down_decisions() -> None:
    rng = np.random.default_rng(6)
    for _ in range(50):
        p = (rng.random(rng.integers(1, 12)) ** 3).tolist()
        adjusted = holm(p)
        for alpha in (0.01, 0.05, 0.1, 0.2):
            assert {i for i, q in enumerate(adjusted) if q <= alpha} == holm_rejections(p, alpha)


def test_holm_skips_untestable_entries() -> None:
    assert holm([0.02, None, 0.01]) == pytest.approx([0.02, None, 0.02])
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        holm([0.5, float("nan")])


# --- Experiments ---------------------------------------------------------------------------------------


def test_verdict_structure_and_identical_arms() -> None:
    rows = panel(1, 30, 20, {"m1": 1.0})
    twin = rows.assign(model="m2")
    result = experiment_verdicts(pd.concat([rows, twin]), {"control": "m1", "treatment": "m2"})
    (pair,) = result.pairs
    assert (pair.arm_a, pair.arm_b, pair.n_pairs, pair.n_dates) == ("control", "treatment", 600, 30)
    assert pair.mcnemar.reason == "no discordant pairs"
    assert pair.diebold_mariano.p_value is None
    assert pair.verdict.startswith(NO_DIFFERENCE)
    assert pair.better_on_hits is None and pair.better_on_loss is None
    assert result.n_tests == 1  # McNemar only; DM was untestable


def test_arms_without_common_predictions_are_untestable_not_different() -> None:
    rows = panel(2, 10, 20, {"m1": 1.0, "m2": 0.0})
    rows.loc[rows["model"] == "m2", "code"] = "X" + rows.loc[rows["model"] == "m2", "code"]
    (pair,) = experiment_verdicts(rows, ["m1", "m2"]).pairs
    assert pair.n_pairs == 0 and pair.verdict.startswith(NO_DIFFERENCE) and "untestable" in pair.verdict


def test_pending_rows_are_ignored_and_holm_spans_every_pair() -> None:
    rows = panel(3, 40, 20, {"a": 1.0, "b": 0.0, "c": 0.0})
    rows.loc[rows.index[:15], "realized_return"] = np.nan
    result = experiment_verdicts(rows, ["a", "b", "c"], loss="squared_error")
    assert [(p.arm_a, p.arm_b) for p in result.pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = [x for p in result.pairs for x in (p.mcnemar.p_value, p.diebold_mariano.p_value)]
    adjusted = [x for p in result.pairs for x in (p.mcnemar_p_holm, p.diebold_mariano_p_holm)]
    assert adjusted == pytest.approx(holm(raw), abs=1e-15)
    assert result.n_tests == 6
    assert result.pairs[0].n_pairs == 40 * 20 - 15


def test_the_planted_signal_is_found_over_enough_dates() -> None:
    wins = 0
    for seed in range(10):
        rows = panel(seed, 250, 40, {"signal": 1.0, "noise": 0.0}, gamma=0.002)
        (pair,) = experiment_verdicts(rows, {"noise": "noise", "signal": "signal"}).pairs
        wins += pair.better_on_hits == "signal" and pair.better_on_loss == "signal"
        assert "noise is better" not in pair.verdict
    assert wins >= 9
    assert pair.verdict.startswith("signal is better than noise on hits")


def test_shuffled_outcomes_give_no_significant_difference_in_at_least_95_of_100_seeds() -> None:
    false_positives = []
    for seed in range(100):
        rows = panel(seed, 40, 20, {"signal": 1.0, "noise": 0.0}, shuffle_outcomes=True)
        (pair,) = experiment_verdicts(rows, ["signal", "noise"]).pairs
        if not pair.verdict.startswith(NO_DIFFERENCE):
            false_positives.append(seed)
    assert len(false_positives) <= 5, false_positives


# --- McNemar clustered by date (issue 13 §6) ----------------------------------------------------------


def test_clustered_mcnemar_is_the_t_test_of_per_date_hit_differences() -> None:
    rng = np.random.default_rng(21)
    dates = np.repeat(np.arange(30), 12)
    a, b = rng.random(dates.size) < 0.55, rng.random(dates.size) < 0.5
    result = clustered_mcnemar(a, b, dates)
    per_date = pd.Series(a.astype(float) - b.astype(float)).groupby(dates).mean()
    t = stats.ttest_1samp(per_date, 0.0)
    assert result.method == "date_clustered" and result.n_dates == 30 and result.df == 29
    assert result.statistic == pytest.approx(t.statistic, abs=TOL)
    assert result.p_value == pytest.approx(t.pvalue, abs=TOL)
    assert result.mean_differential == pytest.approx(per_date.mean(), abs=TOL)
    assert (result.a_only, result.b_only) == (int(np.sum(a & ~b)), int(np.sum(~a & b)))
    same = clustered_mcnemar(a, a, dates)
    assert same.p_value == 1.0 and same.reason == "no discordant pairs"
    with pytest.raises(ValueError, match="differ in length"):
        clustered_mcnemar(a, b, dates[:-1])


def test_clustering_by_date_keeps_the_level_where_pooled_mcnemar_does_not() -> None:
    """Equal arms whose hits move together within a date (one shock per date shared by every stock): the
    pooled McNemar counts 20 stocks as 20 independent pairs and rejects far above 5%; the test on per-date
    differences stays near 5%. 300 replications: the binomial sd of a 5% rate is 1.3 points."""
    rng = np.random.default_rng(3)
    n_dates, n_stocks, runs = 30, 20, 300
    dates = np.repeat(np.arange(n_dates), n_stocks)
    pooled = clustered = 0
    for _ in range(runs):
        shock = rng.normal(0, 1.5, (n_dates, 1))  # the date's common move, seen alike by every stock
        a = (shock + rng.normal(0, 1, (n_dates, n_stocks)) > 0).ravel()
        b = (-shock + rng.normal(0, 1, (n_dates, n_stocks)) > 0).ravel()  # same skill, opposite exposure
        pooled += mcnemar(a, b).p_value <= 0.05
        clustered += clustered_mcnemar(a, b, dates).p_value <= 0.05
    assert pooled / runs > 0.3, pooled
    assert clustered / runs <= 0.08, clustered


def test_a_pair_with_too_few_dates_gets_no_verdict_and_stays_out_of_holm() -> None:
    rows = panel(8, MIN_DATES_FOR_VERDICT - 1, 20, {"signal": 1.0, "noise": 0.0}, gamma=0.05)
    result = experiment_verdicts(rows, ["noise", "signal"])
    (pair,) = result.pairs
    assert pair.verdict.startswith(TOO_FEW_DATES) and pair.better_on_hits is None and pair.better_on_loss is None
    assert result.n_tests == 0 and pair.mcnemar_p_holm is None and pair.diebold_mariano_p_holm is None
    enough = experiment_verdicts(panel(8, MIN_DATES_FOR_VERDICT, 20, {"signal": 1.0, "noise": 0.0}, gamma=0.05),
                                 ["noise", "signal"]).pairs[0]
    assert enough.mcnemar_p_holm is not None and not enough.verdict.startswith(TOO_FEW_DATES)


def test_hits_are_recomputed_with_the_binary_rule_not_read_from_a_stale_column() -> None:
    rows = panel(9, 30, 20, {"m1": 1.0, "m2": 0.0})
    stale = rows.assign(hit=~rows["hit"])  # a stored hit of the old rule must not change the comparison
    fresh = experiment_verdicts(rows, ["m1", "m2"]).pairs[0]
    assert experiment_verdicts(stale, ["m1", "m2"]).pairs[0] == fresh
    m1 = rows[rows["model"] == "m1"]
    assert fresh.hit_rate_a == pytest.approx(np.mean((m1["direction"] == "up") == (m1["realized_return"] > 0)))
