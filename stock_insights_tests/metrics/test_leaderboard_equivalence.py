"""The leaderboard's output, number for number, against a frozen copy made before it was vectorised.

``reference/leaderboard_reference.json`` holds :func:`to_jsonable` of :func:`build_leaderboards` on the synthetic
rows below (fixed seed), for a few settings, as the implementation computed them before the performance
work of issue 15. The rows are built to reach every branch that a vectorised rewrite could get wrong: tied
scores and tied returns (ranks and the portfolio's tie-break by code), unchanged closes, pending rows, models
missing whole days and single rows, dates with fewer stocks than the IC and portfolio minimums, a date with a
constant score, unknown index returns, a model with too few dates to rank, and rows in shuffled order.

Regenerate (only when a change of result is intended):
``python -m stock_insights_tests.metrics.test_leaderboard_equivalence``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stock_insights.metrics.leaderboard import Settings, build_leaderboards, to_jsonable
from stock_insights_tests.metrics.synthetic import trading_days

REFERENCE = Path(__file__).parent / "reference" / "leaderboard_reference.json"
TOLERANCE = 1e-12


def equivalence_rows(seed: int = 20261205, n_stocks: int = 60, n_dates: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = trading_days(n_dates)
    codes = np.array([f"{(i * 7919) % 1000003:06d}" for i in range(n_stocks)])  # not in sorted order
    signal = rng.standard_normal((n_dates, n_stocks))
    realized = rng.normal(0, 0.01, (n_dates, 1)) + 0.003 * signal + rng.normal(0, 0.015, (n_dates, n_stocks))
    realized = np.round(realized, 3)  # tick-like: ties and exact zeros
    realized[rng.random((n_dates, n_stocks)) < 0.05] = 0.0
    index_return = np.round(rng.normal(0, 0.01, (n_dates, 1)), 4) * np.ones((1, n_stocks))
    frames = []
    for m, weight in enumerate((0.9, 0.5, 0.0, 0.7)):
        seen = weight * signal + math.sqrt(1 - weight**2) * rng.standard_normal((n_dates, n_stocks))
        prob = np.round(1 / (1 + np.exp(-0.5 * seen)), 2)  # two decimals: many tied scores
        if m == 1:
            prob[rng.random(prob.shape) < 0.03] = 0.0
            prob[rng.random(prob.shape) < 0.03] = 1.0
        expected = np.round(0.01 * (prob - 0.5), 3)
        undecided = np.where(rng.random(prob.shape) < 0.5, "flat", "down")
        direction = np.where(prob > 0.52, "up", np.where(prob < 0.48, "down", undecided))
        frame = pd.DataFrame(
            {
                "model": f"model-{'abcd'[m]}",
                "code": np.tile(codes, n_dates),
                "date": np.repeat(np.array(days, dtype=object), n_stocks),
                "direction": direction.ravel(),
                "prob_up": prob.ravel(),
                "expected_return": expected.ravel(),
                "realized_return": realized.ravel(),
                "excess_return": (realized - index_return).ravel(),
                "hit": False,
            }
        )
        day_of = np.repeat(np.arange(n_dates), n_stocks)
        stock_of = np.tile(np.arange(n_stocks), n_dates)
        keep = rng.random(len(frame)) > 0.04  # single missing rows
        if m == 0:
            keep &= ~np.isin(day_of, [5, 33, 71])  # whole missing model-days
            constant = day_of == 40  # one date with a constant score
            frame.loc[constant, ["prob_up", "expected_return"]] = [0.55, 0.0005]
        if m == 1:
            keep &= ~((day_of == 12) & (stock_of >= 8))  # below the IC minimum of 10 stocks
            keep &= ~((day_of == 50) & (stock_of >= 15))  # enough for the IC, too few for the book
        if m == 2:
            keep &= ~np.isin(day_of, np.arange(60, 66))
        if m == 3:
            keep &= day_of >= n_dates - 6  # too few dates to be ranked in any window
        frame = frame[keep].copy()
        frame.loc[rng.random(len(frame)) < 0.05, "excess_return"] = np.nan  # index close unknown
        frame.loc[rng.random(len(frame)) < 0.03, "realized_return"] = np.nan  # pending
        if m == 0:
            frame.loc[frame["date"] == days[-1], "realized_return"] = np.nan  # the last day is still pending
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    return rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)


CASES: dict[str, dict[str, Any]] = {
    "default": dict(settings=Settings(top_k=5)),
    "horizon_3_prob_score": dict(
        windows=(7, 30, 79),
        settings=Settings(top_k=4, ic_scores=("prob_up",), portfolio_score="prob_up", n_bins=7, min_stocks=12),
        horizon=3,
    ),
    "until_end": dict(windows=(15, 40), end="2025-03-20", settings=Settings(top_k=2)),
}


def case_output(name: str) -> Any:
    kwargs = dict(CASES[name])
    rows = equivalence_rows()
    if "end" in kwargs:
        kwargs["end"] = pd.Timestamp(kwargs["end"]).date()
    return to_jsonable(build_leaderboards(rows, **kwargs))


def assert_same(actual: Any, expected: Any, path: str = "$") -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: length"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool) and isinstance(actual, int | float):
        assert math.isclose(actual, expected, rel_tol=TOLERANCE, abs_tol=TOLERANCE), f"{path}: {actual} != {expected}"
    else:
        assert type(actual) is type(expected) and actual == expected, f"{path}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_leaderboard_output_is_unchanged(name: str) -> None:
    reference = json.loads(REFERENCE.read_text())
    assert_same(case_output(name), reference[name])


def test_reference_covers_the_edge_cases() -> None:
    reference = json.loads(REFERENCE.read_text())["default"]
    assert reference["250"]["n_pending_dropped"] > 0
    models = {m["model"]: m for m in reference["250"]["models"]}
    assert models["model-d"]["rank"] is None
    assert models["model-b"]["ic"]["expected_return"]["daily"]["n_dates_too_few"] >= 1
    assert models["model-a"]["ic"]["expected_return"]["daily"]["n_dates_constant"] >= 1
    assert models["model-b"]["portfolio"]["n_dates_skipped"] >= 1
    assert any(m["n_unchanged"] > 0 for m in models.values())
    assert models["model-a"]["excess_return"]["n_without_index"] > 0


if __name__ == "__main__":
    REFERENCE.write_text(json.dumps({name: case_output(name) for name in sorted(CASES)}, allow_nan=False) + "\n")
