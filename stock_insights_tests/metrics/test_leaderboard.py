"""The leaderboard: windows, per-date-first figures, conventions, JSON safety and speed."""

from __future__ import annotations

import json
import math
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from stock_insights.metrics.leaderboard import Settings, build_leaderboards, to_jsonable
from stock_insights_tests.metrics.synthetic import panel

TOL = 1e-9


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = panel(4, 70, 30, {"good": 1.0, "bad": 0.0})
    # "late" joined 10 dates before the end: windows are common calendar dates, not per-model histories
    late = panel(5, 70, 30, {"late": 0.5})
    return pd.concat([frame, late[late["date"] >= sorted(late["date"].unique())[60]]], ignore_index=True)


def test_windows_are_the_last_n_common_dates(rows: pd.DataFrame) -> None:
    boards = build_leaderboards(rows)
    days = sorted(rows["date"].unique())
    assert set(boards) == {20, 60, 250}
    assert (boards[20].from_date, boards[20].to_date, boards[20].n_dates) == (days[-20], days[-1], 20)
    assert boards[250].n_dates == 70 and boards[250].from_date == days[0]
    late = {m.model: m for m in boards[60].models}["late"]
    assert late.n_dates == 10 and late.first_date == days[60]


def test_model_figures_match_direct_computation_on_the_window(rows: pd.DataFrame) -> None:
    board = build_leaderboards(rows, windows=[20])[20]
    model = {m.model: m for m in board.models}["good"]
    window = rows[(rows["model"] == "good") & (rows["date"] >= board.from_date)]
    outcome = window["realized_return"] > 0
    predicted_up = window["direction"] == "up"

    assert model.n_predictions == len(window) == 20 * 30
    assert model.hit_rate.rate == pytest.approx(window["hit"].mean(), abs=TOL)
    daily_hits = window.groupby("date")["hit"].mean()
    assert model.daily_hit_rate.mean == pytest.approx(daily_hits.mean(), abs=TOL)
    assert model.daily.hit_rate == pytest.approx(daily_hits.tolist(), abs=TOL)
    assert model.brier.brier == pytest.approx(((window["prob_up"] - outcome) ** 2).mean(), abs=TOL)
    assert model.confusion.mcc == pytest.approx(stats.pearsonr(predicted_up, outcome)[0], abs=TOL)
    ic = window.groupby("date").apply(lambda d: d["expected_return"].corr(d["realized_return"]))
    assert model.ic["expected_return"].ic.mean == pytest.approx(ic.mean(), abs=TOL)
    assert model.ic["expected_return"].ic.ir == pytest.approx(ic.mean() / ic.std(), abs=TOL)
    assert model.ic["expected_return"].daily.dates == list(ic.index)
    assert model.portfolio.dates == list(ic.index)
    assert model.portfolio.net.n_days == 20


def test_flat_calls_count_as_not_up(rows: pd.DataFrame) -> None:
    board = build_leaderboards(rows, windows=[250])[250]
    model = {m.model: m for m in board.models}["good"]
    good = rows[rows["model"] == "good"]
    assert (good["direction"] == "flat").any()
    c = model.confusion
    assert c.true_up + c.false_up == (good["direction"] == "up").sum()
    assert c.true_not_up + c.false_not_up == good["direction"].isin(["down", "flat"]).sum()


def test_models_are_ranked_by_brier(rows: pd.DataFrame) -> None:
    board = build_leaderboards(rows, windows=[60])[60]
    briers = [m.brier.brier for m in board.models]
    assert briers == sorted(briers)
    assert [m.rank for m in board.models] == [1, 2, 3]
    order = [m.model for m in board.models]
    assert order.index("good") < order.index("bad")


def test_output_is_json_without_nan(rows: pd.DataFrame) -> None:
    always_up = rows[rows["model"] == "bad"].assign(model="always_up", direction="up")
    boards = build_leaderboards(pd.concat([rows, always_up]), windows=[20])
    document = to_jsonable(boards)
    text = json.dumps(document, allow_nan=False)  # raises on NaN or infinity
    model = next(m for m in document["20"]["models"] if m["model"] == "always_up")
    assert model["pesaran_timmermann"]["statistic"] is None
    assert model["pesaran_timmermann"]["reason"] == "every call is the same direction"
    assert model["confusion"]["mcc"] is None
    assert "NaN" not in text and document["20"]["from_date"] == boards[20].from_date.isoformat()


def test_pending_rows_are_dropped_and_counted(rows: pd.DataFrame) -> None:
    pending = rows.astype({"hit": object})  # as read from the database: NULL while pending
    pending.loc[pending.index[:7], "realized_return"] = np.nan
    pending.loc[pending.index[:7], "hit"] = None
    board = build_leaderboards(pending, windows=[250])[250]
    assert board.n_pending_dropped == 7
    assert sum(m.n_predictions for m in board.models) == len(rows) - 7


def test_end_date_limits_the_rows(rows: pd.DataFrame) -> None:
    days = sorted(rows["date"].unique())
    board = build_leaderboards(rows, windows=[20], end=days[39])[20]
    assert board.to_date == days[39] and board.from_date == days[20]


def test_bad_rows_raise(rows: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lack columns"):
        build_leaderboards(rows.drop(columns="direction"))
    with pytest.raises(ValueError, match="more than one scored row"):
        build_leaderboards(pd.concat([rows, rows.iloc[:1]]))
    broken = rows.copy()
    broken.loc[broken.index[3], "prob_up"] = np.nan
    with pytest.raises(ValueError, match="prob_up has 1 non-finite"):
        build_leaderboards(broken)
    broken = rows.copy()
    broken.loc[broken.index[3], "direction"] = "sideways"
    with pytest.raises(ValueError, match="direction must be one of"):
        build_leaderboards(broken)


def test_small_universe_and_single_date() -> None:
    one_day = panel(6, 1, 8, {"m": 1.0})
    board = build_leaderboards(one_day, settings=Settings(top_k=5, min_stocks=10))[20]
    (model,) = board.models
    assert model.n_dates == 1
    assert model.ic["prob_up"].ic.reason == "no usable dates"
    assert model.ic["prob_up"].daily.n_dates_too_few == 1
    assert model.portfolio.n_dates_skipped == 1 and model.portfolio.net.reason == "no traded dates"
    assert model.daily_hit_rate.reason == "one date: no spread across dates"
    json.dumps(to_jsonable(board), allow_nan=False)


def test_empty_input_gives_empty_boards() -> None:
    empty = panel(6, 1, 8, {"m": 1.0}).iloc[:0]
    board = build_leaderboards(empty)[60]
    assert board.models == [] and board.from_date is None and board.n_dates == 0


def test_timestamps_as_dates() -> None:
    frame = panel(7, 25, 12, {"m": 1.0})
    frame["date"] = pd.to_datetime(frame["date"])
    board = build_leaderboards(frame, windows=[20])[20]
    assert isinstance(board.to_date, date)
    assert to_jsonable(board)["models"][0]["portfolio"]["dates"][0] == board.from_date.isoformat()


def test_three_models_250_days_200_stocks_is_fast() -> None:
    frame = panel(8, 250, 200, {"a": 1.0, "b": 0.5, "c": 0.0})
    start = time.perf_counter()
    boards = build_leaderboards(frame, settings=Settings(top_k=20))
    elapsed = time.perf_counter() - start
    assert len(boards[250].models) == 3 and boards[250].models[0].n_predictions == 50_000
    assert elapsed < 5.0, f"{elapsed:.2f} s"
    assert math.isfinite(boards[250].models[0].portfolio.net.information_ratio)


def test_one_binary_rule_for_hits_and_unchanged_closes_are_counted(rows: pd.DataFrame) -> None:
    """Hits come from direction and realized return (up iff > 0; "flat" is a not-up call), never from a stale
    stored column; exactly-zero returns are "not up" and counted."""
    frame = rows.copy()
    zero = frame.index[(frame["model"] == "good")][:3]
    frame.loc[zero, "realized_return"] = 0.0
    frame["hit"] = ~frame["hit"]  # whatever a stored column says, the rule decides
    model = {m.model: m for m in build_leaderboards(frame, windows=[250])[250].models}["good"]
    good = frame[frame["model"] == "good"]
    called_up, went_up = good["direction"] == "up", good["realized_return"] > 0
    assert model.hit_rate.hits == int((called_up == went_up).sum())
    assert model.n_unchanged == 3
    assert model.confusion.true_up == int((called_up & went_up).sum())


def test_excess_return_of_up_calls(rows: pd.DataFrame) -> None:
    rng = np.random.default_rng(12)
    frame = rows.assign(excess_return=rng.normal(0.0, 0.01, len(rows)))
    frame.loc[frame.index[:5], "excess_return"] = np.nan  # the index had no close: unknown, left out
    board = build_leaderboards(frame, windows=[250])[250]
    model = {m.model: m for m in board.models}["good"]
    ups = frame[(frame["model"] == "good") & (frame["direction"] == "up")]
    known = ups["excess_return"].dropna()
    assert model.excess_return.n == len(known) and model.excess_return.n_without_index == len(ups) - len(known)
    assert model.excess_return.mean == pytest.approx(known.mean(), abs=TOL)
    daily = ups.dropna(subset=["excess_return"]).groupby("date")["excess_return"].mean()
    assert model.excess_return.daily.mean == pytest.approx(daily.mean(), abs=TOL)
    without = {m.model: m for m in build_leaderboards(rows, windows=[20])[20].models}["good"]
    assert without.excess_return.mean is None and without.excess_return.reason


def test_models_with_too_few_dates_are_listed_unranked_and_pairs_compared(rows: pd.DataFrame) -> None:
    board = build_leaderboards(rows, windows=[60])[60]
    by_model = {m.model: m for m in board.models}
    assert by_model["late"].n_dates == 10 and by_model["late"].rank is not None  # ten dates: the minimum, ranked
    short = rows[~((rows["model"] == "late") & (rows["date"] < sorted(rows["date"].unique())[-5]))]
    board = build_leaderboards(short, windows=[60])[60]
    by_model = {m.model: m for m in board.models}
    assert by_model["late"].rank is None and "too few dates" in by_model["late"].unranked_reason
    assert sorted(m.rank for m in board.models if m.rank is not None) == [1, 2]
    assert board.models[-1].model == "late"  # unranked models come after the ranked ones
    pairs = {(p.arm_a, p.arm_b): p for p in board.comparisons.pairs}
    assert set(pairs) == {("bad", "good"), ("bad", "late"), ("good", "late")}
    assert pairs[("bad", "late")].verdict.startswith("too few paired dates")
    assert pairs[("bad", "good")].n_dates == 60 and pairs[("bad", "good")].mcnemar.method == "date_clustered"
