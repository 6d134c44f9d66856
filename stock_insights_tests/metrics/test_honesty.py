"""Live versus late by the ledger's one rule, the training-cutoff restriction, and one computation per distinct
variant (``stock_insights.metrics.honesty``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

from stock_insights.clock import KST
from stock_insights.ledger import is_live
from stock_insights.metrics import honesty
from stock_insights.predictors.config import RegistryError, first_unseen_day, load_registry, parse_registry

DAY = date(2024, 7, 31)


def version(model: str, code: str, day: date, as_of: datetime, created_at: datetime, prob: float = 0.6) -> dict:
    return {"model": model, "code": code, "target_date": day, "date": day, "as_of": as_of, "created_at": created_at,
            "direction": "up", "prob_up": prob, "expected_return": 0.001, "realized_return": 0.01}  # fmt: skip


def kst(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=KST)


def test_live_is_the_ledgers_rule_row_by_row() -> None:
    rows = []
    for minutes in (-90, -1, 0, 1, 120):
        for stored in (-60, 0, 30, 60 * 26):
            as_of = kst(DAY, 9) + timedelta(minutes=minutes)
            rows.append(version("m", f"{len(rows):06d}", DAY, as_of, as_of + timedelta(minutes=stored)))
    frame = pd.DataFrame(rows)
    expected = [is_live(r["target_date"], r["as_of"], r["created_at"]) for r in rows]
    assert honesty.live_mask(frame).tolist() == expected and 0 < sum(expected) < len(expected)


def test_the_live_board_takes_the_latest_live_version_and_all_the_latest() -> None:
    made = kst(DAY, 8)
    refresh = kst(DAY, 10)  # cut off after the open: late
    frame = pd.DataFrame([
        version("gpt-4o", "005930", DAY, made, made, prob=0.6),
        version("gpt-4o", "005930", DAY, refresh, refresh, prob=0.9),
        version("momentum", "005930", DAY, made, kst(DAY, 8, 1)),
        version("backfill", "005930", DAY, made, made + timedelta(days=3)),
    ])  # fmt: skip
    found = honesty.variants(frame, {"momentum": None, "gpt-4o": "2023-10", "backfill": None})
    live, everything = found.frames["live"], found.frames["all"]
    assert sorted(live["model"]) == ["gpt-4o", "momentum"]
    assert live.loc[live["model"] == "gpt-4o", "prob_up"].item() == 0.6
    assert sorted(everything["model"]) == ["backfill", "gpt-4o", "momentum"]
    assert everything.loc[everything["model"] == "gpt-4o", "prob_up"].item() == 0.9
    assert found.late_counts("all", DAY, DAY) == {"gpt-4o": 1, "backfill": 1}
    assert found.late_counts("live", DAY, DAY) == {}
    # Every target is after every cutoff: the restricted variants are references, not computed.
    assert found.same_as == {"all_after_cutoff": "all", "live_after_cutoff": "live"}


def test_without_late_rows_or_earlier_targets_only_one_variant_is_computed() -> None:
    made = kst(DAY, 8)
    frame = pd.DataFrame([version("momentum", c, DAY, made, made) for c in ("000660", "005930")])
    found = honesty.variants(frame, {"momentum": None})
    assert list(found.frames) == ["all"] and {found.source(v) for v in honesty.VARIANTS} == {"all"}


@pytest.mark.parametrize(
    ("cutoff", "kept"),
    [
        (None, [date(2024, 7, 31), date(2024, 8, 1)]),  # a baseline learns nothing: every target counts
        ("2024-07", [date(2024, 8, 1)]),  # July 2024 read: the 31st is not after it, the 1st of August is
        ("2023-12", [date(2024, 7, 31), date(2024, 8, 1)]),
        ("unknown", []),
    ],
)
def test_the_cutoff_keeps_targets_after_the_training_month(cutoff: str | None, kept: list[date]) -> None:
    made = kst(DAY, 8)
    frame = pd.DataFrame([version("m", "005930", d, made, made) for d in (date(2024, 7, 31), date(2024, 8, 1))])
    mask = honesty.cutoff_mask(frame, {"m": cutoff})
    assert list(frame.loc[mask, "target_date"]) == kept
    assert not honesty.cutoff_mask(frame, {}).any()  # a model the registry does not list: unknown
    assert first_unseen_day("2024-12") == date(2025, 1, 1)


def test_every_registry_model_states_its_cutoff() -> None:
    cutoffs = load_registry().training_cutoffs()
    assert cutoffs["gpt-4o"] == "2023-10" and cutoffs["deepseek-v3"] == "2024-07"
    assert cutoffs["momentum"] is None and cutoffs["news_tone"] is None
    assert cutoffs["local-llm"] == "unknown"
    llm = {"name": "x", "provider": "openai", "model": "gpt-4o-mini", "prompt_version": "v1",
           "response_mode": "json_schema", "prices": {"input_per_million": 0.15, "output_per_million": 0.6},
           "daily_cost_cap_usd": 1.0}  # fmt: skip
    assert parse_registry({"version": 1, "models": [llm]}).get("x").training_cutoff == "unknown"
    baseline = {"name": "b", "provider": "baseline", "training_cutoff": "2023-10"}  # a baseline learns nothing
    for bad in ({**llm, "training_cutoff": "2023-13"}, baseline):
        with pytest.raises(RegistryError):
            parse_registry({"version": 1, "models": [bad]})


def test_the_leaderboard_computes_a_board_once_per_distinct_variant(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost: the snapshot of a day whose forecasts are all live and after every cutoff computes what it did
    before the variants (one board set per horizon); a planted late row adds exactly the live one."""
    from stock_insights.defs.evaluations import leaderboard as asset

    days = pd.bdate_range("2026-09-01", periods=25).date
    rng = np.random.default_rng(3)
    rows = [
        {**version(m, f"{c:06d}", d, kst(d, 8), kst(d, 8, 1), float(rng.uniform(0.3, 0.7))),
         "realized_return": float(rng.normal(0, 0.02)), "excess_return": 0.0, "hit": False}
        for d in days for m in ("momentum", "news_tone") for c in range(8)
    ]  # fmt: skip
    calls: list[int] = []
    real = asset.build_leaderboards

    def counting(frame: pd.DataFrame, *args: object, **kwargs: object) -> object:
        calls.append(len(frame))
        return real(frame, *args, **kwargs)  # type: ignore[arg-type]

    def run(versions: list[dict]) -> list[dict]:
        calls.clear()
        monkeypatch.setattr(asset, "scored_versions", lambda _s, _a, _b, horizon=1: versions if horizon == 1 else [])
        built = asset.snapshot_rows(None, days[-1], asset.MetricSettings(top_k=2, min_stocks=4), [],  # type: ignore[arg-type]
                                    cutoffs={"momentum": None, "news_tone": None})  # fmt: skip
        assert built is not None
        return built[1]

    monkeypatch.setattr(asset, "build_leaderboards", counting)
    snapshot = run(rows)
    assert len(calls) == 1 and snapshot[0]["payload"]["variants"]["live"] == {"same_as": "all"}
    late = {**rows[0], "as_of": kst(days[0], 11), "created_at": kst(days[0], 11), "prob_up": 0.99}
    snapshot = run([*rows, late])
    assert len(calls) == 2 and snapshot[0]["payload"]["variants"]["live"]["forecasts"] == "live"
