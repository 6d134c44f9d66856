"""Daily IC and Rank IC against Qlib's own code (reproduced from its source) and scipy, per date."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stock_insights.metrics.ranking import across_dates, daily_ic, information_coefficient

TOL = 1e-9


def qlib_calc_ic(pred: pd.Series, label: pd.Series, date_col: str = "datetime") -> tuple[pd.Series, pd.Series]:
    """qlib/contrib/eva/alpha.py::calc_ic (microsoft/qlib), verbatim apart from the signature's types."""
    df = pd.DataFrame({"pred": pred, "label": label})
    ic = df.groupby(date_col).apply(lambda df: df["pred"].corr(df["label"]))
    ric = df.groupby(date_col).apply(lambda df: df["pred"].corr(df["label"], method="spearman"))
    return ic, ric


def qlib_sig_ana_metrics(ic: pd.Series, ric: pd.Series) -> dict[str, float]:
    """qlib/workflow/record_temp.py::SigAnaRecord._generate, the metrics dict."""
    return {
        "IC": ic.mean(),
        "ICIR": ic.mean() / ic.std(),
        "Rank IC": ric.mean(),
        "Rank ICIR": ric.mean() / ric.std(),
    }


def make_panel(seed: int, n_dates: int = 30, n_stocks: int = 40, ties: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = [date(2025, 3, 3) + timedelta(days=i) for i in range(n_dates)]
    signal = rng.standard_normal((n_dates, n_stocks))
    returns = 0.002 * signal + 0.02 * rng.standard_normal((n_dates, n_stocks)) + rng.normal(0, 0.01, (n_dates, 1))
    scores = np.round(1 / (1 + np.exp(-signal)), 1) if ties else signal + rng.standard_normal((n_dates, n_stocks))
    index = pd.MultiIndex.from_product([pd.to_datetime(days), [f"{i:06d}" for i in range(n_stocks)]])
    index = index.set_names(["datetime", "instrument"])
    return pd.DataFrame({"pred": scores.ravel(), "label": returns.ravel()}, index=index)


def ours(frame: pd.DataFrame, min_stocks: int = 10):
    return information_coefficient(
        frame.index.get_level_values("datetime").to_numpy(),
        frame["pred"].to_numpy(),
        frame["label"].to_numpy(),
        min_stocks=min_stocks,
    )


@pytest.mark.parametrize("ties", [False, True])
def test_matches_qlib_calc_ic_and_sig_ana_record(ties: bool) -> None:
    frame = make_panel(5, ties=ties)
    ic, ric = qlib_calc_ic(frame["pred"], frame["label"])
    qlib = qlib_sig_ana_metrics(ic, ric)
    result = ours(frame)
    np.testing.assert_allclose(result.daily.ic, ic.to_numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(result.daily.rank_ic, ric.to_numpy(), rtol=0, atol=TOL)
    assert result.ic.mean == pytest.approx(qlib["IC"], abs=TOL)
    assert result.ic.ir == pytest.approx(qlib["ICIR"], abs=TOL)
    assert result.rank_ic.mean == pytest.approx(qlib["Rank IC"], abs=TOL)
    assert result.rank_ic.ir == pytest.approx(qlib["Rank ICIR"], abs=TOL)
    assert result.daily.dates == [d.date() for d in ic.index]


def test_matches_scipy_per_date_and_the_t_test_across_dates() -> None:
    frame = make_panel(8, n_dates=25, n_stocks=30, ties=True)
    pearson, spearman = [], []
    for _, day in frame.groupby(level="datetime"):
        pearson.append(stats.pearsonr(day["pred"], day["label"])[0])
        spearman.append(stats.spearmanr(day["pred"], day["label"])[0])
    result = ours(frame)
    np.testing.assert_allclose(result.daily.ic, pearson, rtol=0, atol=TOL)
    np.testing.assert_allclose(result.daily.rank_ic, spearman, rtol=0, atol=TOL)
    t_test = stats.ttest_1samp(pearson, 0.0)
    assert result.ic.t_stat == pytest.approx(t_test.statistic, abs=TOL)
    assert result.ic.p_value == pytest.approx(t_test.pvalue, abs=TOL)
    assert result.ic.std == pytest.approx(np.std(pearson, ddof=1), abs=TOL)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")  # raised inside the Qlib reference
def test_constant_scores_on_a_date_are_skipped_and_counted_like_qlibs_nan() -> None:
    frame = make_panel(9, n_dates=12)
    first = frame.index.get_level_values("datetime")[0]
    frame.loc[frame.index.get_level_values("datetime") == first, "pred"] = 0.1  # mean of 0.1s is not 0.1
    ic, ric = qlib_calc_ic(frame["pred"], frame["label"])
    assert np.isnan(ic.iloc[0])
    result = ours(frame)
    assert result.daily.n_dates_constant == 1
    assert len(result.daily.ic) == 11
    qlib = qlib_sig_ana_metrics(ic, ric)  # pandas' mean and std skip the NaN date
    assert result.ic.mean == pytest.approx(qlib["IC"], abs=TOL)
    assert result.ic.ir == pytest.approx(qlib["ICIR"], abs=TOL)


def test_dates_with_too_few_stocks_are_skipped_and_counted() -> None:
    frame = make_panel(10, n_dates=6, n_stocks=12)
    last = frame.index.get_level_values("datetime")[-1]
    keep = (frame.index.get_level_values("datetime") != last) | (frame.index.get_level_values("instrument") < "000005")
    result = ours(frame[keep], min_stocks=10)
    assert result.daily.n_dates_too_few == 1
    assert result.ic.n_dates == 5
    assert result.daily.n_stocks.tolist() == [12] * 5


def test_a_single_date_gives_a_mean_and_says_why_there_is_no_icir() -> None:
    frame = make_panel(11, n_dates=1)
    result = ours(frame)
    assert result.ic.n_dates == 1
    assert result.ic.mean == pytest.approx(frame["pred"].corr(frame["label"]), abs=TOL)
    assert result.ic.std is None and result.ic.ir is None and result.ic.t_stat is None
    assert result.ic.reason == "one date: no spread across dates"


def test_no_usable_date_is_a_clear_empty_result() -> None:
    result = daily_ic(["d1"] * 4, [1.0, 2.0, 3.0, 4.0], [0.1, 0.0, 0.2, 0.3], min_stocks=10)
    assert result.n_dates_too_few == 1 and len(result.ic) == 0
    summary = across_dates(result.ic)
    assert summary.n_dates == 0 and summary.mean is None and summary.reason == "no usable dates"


def test_nan_inputs_raise() -> None:
    with pytest.raises(ValueError, match="scores has 1 non-finite"):
        daily_ic(["d"] * 3, [1.0, np.nan, 2.0], [0.1, 0.2, 0.3], min_stocks=3)
    with pytest.raises(ValueError, match="differ in length"):
        daily_ic(["d"] * 3, [1.0, 2.0, 3.0], [0.1, 0.2], min_stocks=3)
    with pytest.raises(ValueError, match="min_stocks"):
        daily_ic(["d"] * 3, [1.0, 2.0, 3.0], [0.1, 0.2, 0.3], min_stocks=2)


def test_dates_may_be_strings_in_any_row_order() -> None:
    frame = make_panel(12, n_dates=5, n_stocks=15)
    shuffled = frame.sample(frac=1.0, random_state=1)
    labels = shuffled.index.get_level_values("datetime").strftime("%Y-%m-%d").to_numpy()
    result = information_coefficient(labels, shuffled["pred"].to_numpy(), shuffled["label"].to_numpy())
    reference = ours(frame)
    np.testing.assert_allclose(result.daily.ic, reference.daily.ic, rtol=0, atol=TOL)
    assert result.daily.dates == sorted(set(labels))
