"""The top-k long-short portfolio against a per-date loop, Qlib's long-short return, and hand-worked costs."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from stock_insights.metrics.portfolio import long_short_portfolio, performance

TOL = 1e-9
FEE, TAX = 0.00015, 0.0018


def loop_reference(rows: list[tuple], k: int, fee: float, tax: float) -> dict[str, list]:
    """One date at a time with dicts: rank by (−score, code), weights ±1/(2k), trades over the union of books."""
    by_date: dict = {}
    for day, code, score, ret in rows:
        by_date.setdefault(day, {})[code] = (score, ret)
    held: dict[str, float] = {}
    out: dict[str, list] = {"dates": [], "gross": [], "cost": [], "net": [], "turnover": []}
    for day in sorted(by_date):
        book = by_date[day]
        if len(book) < 2 * k:
            continue
        ranked = sorted(book, key=lambda c: (-book[c][0], c))
        target = {c: 1 / (2 * k) for c in ranked[:k]} | {c: -1 / (2 * k) for c in ranked[-k:]}
        gross = sum(w * book[c][1] for c, w in target.items())
        traded = sold = 0.0
        for c in set(held) | set(target):
            change = target.get(c, 0.0) - held.get(c, 0.0)
            traded += abs(change)
            if change < 0:
                sold += -change
        cost = fee * traded + tax * sold
        out["dates"].append(day)
        out["gross"].append(gross)
        out["cost"].append(cost)
        out["net"].append(gross - cost)
        out["turnover"].append(traded)
        held = target
    return out


def random_rows(seed: int, n_dates: int = 30, n_stocks: int = 25, ties: bool = False) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_dates):
        present = rng.random(n_stocks) < 0.9  # stocks come and go
        for s in np.flatnonzero(present):
            score = round(float(rng.random()), 1) if ties else float(rng.standard_normal())
            rows.append((f"2025-04-{d + 1:02d}", f"{s:06d}", score, float(rng.normal(0, 0.02))))
    return rows


def run(rows: list[tuple], k: int, **kwargs):
    days, codes, scores, rets = zip(*rows, strict=True)
    return long_short_portfolio(
        np.array(days), np.array(codes), np.array(scores), np.array(rets), k=k, fee_per_side=FEE, sell_tax=TAX, **kwargs
    )


@pytest.mark.parametrize(("k", "ties"), [(1, False), (3, False), (5, True), (11, False)])
def test_matches_the_per_date_loop(k: int, ties: bool) -> None:
    rows = random_rows(k, ties=ties)
    result = run(rows, k)
    ref = loop_reference(rows, k, FEE, TAX)
    assert result.dates == ref["dates"]
    np.testing.assert_allclose(result.gross_returns, ref["gross"], rtol=0, atol=TOL)
    np.testing.assert_allclose(result.costs, ref["cost"], rtol=0, atol=TOL)
    np.testing.assert_allclose(result.net_returns, ref["net"], rtol=0, atol=TOL)
    np.testing.assert_allclose(result.turnover, ref["turnover"], rtol=0, atol=TOL)


def test_gross_return_equals_qlibs_long_short_return() -> None:
    """qlib/contrib/eva/alpha.py::calc_long_short_return with N(x) = k: (mean long − mean short)/2."""
    rows = random_rows(21, n_dates=15, n_stocks=20)
    frame = pd.DataFrame(rows, columns=["datetime", "instrument", "pred", "label"])
    frame = frame.set_index(["datetime", "instrument"])
    group = frame.groupby(level="datetime")
    k = 4
    r_long = group.apply(lambda x: x.nlargest(k, columns="pred").label.mean())
    r_short = group.apply(lambda x: x.nsmallest(k, columns="pred").label.mean())
    qlib = ((r_long - r_short) / 2).to_numpy()
    np.testing.assert_allclose(run(rows, k).gross_returns, qlib, rtol=0, atol=TOL)


def test_costs_worked_by_hand() -> None:
    # Four stocks, k = 1: weights ±0.5. Day 1 builds the book from cash: buy A (0.5), short D (0.5).
    # Day 2: long B, short A. A goes from +0.5 to −0.5 (sell the long 0.5, then short 0.5: Δ −1.0),
    # buy B 0.5, cover D 0.5 (a buy: no tax).
    rows = [
        ("d1", "A", 4.0, 0.01), ("d1", "B", 3.0, 0.0), ("d1", "C", 2.0, 0.0), ("d1", "D", 1.0, -0.02),
        ("d2", "A", 1.0, 0.00), ("d2", "B", 4.0, 0.03), ("d2", "C", 3.0, 0.01), ("d2", "D", 2.0, 0.0),
    ]  # fmt: skip
    result = run(rows, 1)
    day1_cost = FEE * 1.0 + TAX * 0.5  # fee on both trades, tax on the short sale only
    day2_cost = FEE * 2.0 + TAX * 1.0  # fee on 2.0 of notional, tax on the 1.0 sold (A's long and A's short)
    assert result.turnover.tolist() == [1.0, 2.0]
    np.testing.assert_allclose(result.costs, [day1_cost, day2_cost], rtol=0, atol=1e-15)
    np.testing.assert_allclose(result.gross_returns, [0.5 * 0.01 + 0.5 * 0.02, 0.5 * 0.03 - 0.5 * 0.0], atol=1e-15)
    np.testing.assert_allclose(result.net_returns, result.gross_returns - [day1_cost, day2_cost], atol=1e-15)


def test_an_unchanged_book_pays_nothing_after_the_first_day() -> None:
    rows = [(f"d{d}", c, s, 0.001 * s) for d in range(5) for c, s in (("A", 3.0), ("B", 2.0), ("C", 1.0), ("D", 0.0))]
    result = run(rows, 2)
    assert result.costs[1:].tolist() == [0.0] * 4
    assert result.mean_turnover == 0.0


def test_ties_are_broken_by_code() -> None:
    rows = [("d1", c, 0.5, r) for c, r in (("C", 0.03), ("A", 0.01), ("B", 0.02), ("D", 0.04))]
    result = run(rows, 1)
    # long A (first code), short D (last code): (0.01 − 0.04)/2
    assert result.gross_returns[0] == pytest.approx(-0.015, abs=1e-15)


def test_short_dates_are_skipped_and_counted() -> None:
    rows = [("d1", c, s, 0.0) for c, s in (("A", 1.0), ("B", 2.0), ("C", 3.0))]
    rows += [("d2", c, s, 0.01) for c, s in (("A", 1.0), ("B", 2.0), ("C", 3.0), ("D", 4.0))]
    result = run(rows, 2)
    assert result.dates == ["d2"] and result.n_dates_skipped == 1
    empty = run(rows[:3], 2)
    assert empty.dates == [] and empty.net.n_days == 0 and empty.net.reason == "no traded dates"
    assert empty.net.information_ratio is None


def test_performance_matches_loops() -> None:
    r = np.random.default_rng(4).normal(0.0005, 0.01, 120)
    result = performance(r)
    wealth, peak, worst = 1.0, 1.0, 0.0
    for x in r:
        wealth *= 1 + x
        peak = max(peak, wealth)
        worst = min(worst, wealth / peak - 1)
    assert result.cumulative_return == pytest.approx(wealth - 1, abs=TOL)
    assert result.max_drawdown == pytest.approx(worst, abs=TOL)
    ir = statistics.fmean(r) / statistics.stdev(r) * math.sqrt(252)
    assert result.information_ratio == pytest.approx(ir, abs=TOL)
    assert result.annualised_return == pytest.approx(statistics.fmean(r) * 252, abs=TOL)


def test_a_first_day_loss_is_a_drawdown() -> None:
    result = performance([-0.05, 0.01])
    assert result.max_drawdown == pytest.approx(-0.05, abs=1e-15)
    single = performance([0.01])
    assert single.information_ratio is None and single.reason == "one date: IR undefined"


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="once"):
        long_short_portfolio(["d", "d"], ["A", "A"], [1.0, 2.0], [0.0, 0.0], k=1)
    with pytest.raises(ValueError, match="non-finite"):
        long_short_portfolio(["d", "d"], ["A", "B"], [1.0, np.nan], [0.0, 0.0], k=1)
    with pytest.raises(ValueError, match="k must"):
        long_short_portfolio(["d", "d"], ["A", "B"], [1.0, 2.0], [0.0, 0.0], k=0)
