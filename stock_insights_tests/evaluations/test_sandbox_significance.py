"""Issue 7, "Correctness", on pipeline data: over a trading year of the sandbox, the news-tone baseline beats
momentum with significance (the planted tone -> next-session relation), the same test on outcomes shuffled
across dates finds no significant difference in at least 95% of seeds, and news_tone's probabilities are
calibrated.

The data is the real graph's, not a simulation: universe, KIS daily and index bars, Naver news polled as
the sandbox clock walks through the year (late items get ``first_seen_at = published + 15 min``),
``predictions/daily`` with the two offline baselines and ``evaluations/daily`` with its point-in-time check,
each range as one run. The year is 250 sessions of the eight default stocks, on SQLite only (the backends'
parity is the slice's and the point-in-time tests' business; this test is about statistics). Measured on
this 2-core machine, shared: 35 s for the pipeline (Naver polls 14 s, predictions 9 s, evaluations 5 s,
bars 3 s), 5 s for the statistics (200 shuffles 4 s, the calibration bootstrap 1 s).

Window length, measured on this data (trailing windows, news_tone significant on hits or Brier after Holm):
40 sessions 2 of 9 windows, 60: 2 of 7, 80: 3 of 5, 100: 2 of 4, 120: 1 of 3, 160: 2 of 2, 200 and 250: 1 of 1.
About 160 sessions of eight stocks are needed; a year leaves room.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import yaml
from sqlalchemy import func, select

from stock_insights import calendar
from stock_insights.metrics.comparison import NO_DIFFERENCE, experiment_verdicts
from stock_insights.metrics.scoring import realized_direction
from stock_insights.predictors.config import default_registry_path
from stock_insights.predictors.news_tone import SCALE
from stock_insights.predictors.store import scored_rows
from stock_insights.settings import reset_settings_cache
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import NewsArticle, Prediction
from stock_insights_tests.evaluations.conftest import BASELINES, Pipeline, running_pipeline

LAST = date(2026, 10, 30)
SESSIONS = 250
FIRST = calendar.sessions(date(2025, 1, 1), LAST)[-SESSIONS]
STOCKS = 8
SEEDS = 200


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pipeline, pd.DataFrame]]:
    """The pipeline over the year, and its scored horizon-1 rows (one per model, stock and day)."""
    tmp = tmp_path_factory.mktemp("sandbox_year")
    with pytest.MonkeyPatch.context() as mp, running_pipeline(mp, f"sqlite:///{tmp / 'year.db'}", tmp) as pipeline:
        pipeline.run_window(FIRST, LAST, models=BASELINES)
        engine = make_engine(pipeline.url)
        with session_scope(engine) as session:
            rows = pd.DataFrame(scored_rows(session, FIRST, LAST))
        engine.dispose()
        yield pipeline, rows


def shuffled(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Outcomes permuted across dates in whole-date blocks: date d's forecasts meet date pi(d)'s returns, stock
    by stock. Each day keeps its cross-section (the market move every stock shared); every relation between
    forecasts and outcomes is broken. Hits are re-scored from the stored directions."""
    rng = np.random.default_rng(seed)
    dates = np.array(sorted(rows["date"].unique()))
    moved = dict(zip(dates, dates[rng.permutation(len(dates))], strict=True))
    outcome = rows.drop_duplicates(["code", "date"]).set_index(["code", "date"])["realized_return"].to_dict()
    out = rows.copy()
    out["realized_return"] = [outcome.get((c, moved[d]), np.nan) for c, d in zip(out["code"], out["date"], strict=True)]
    out = out[out["realized_return"].notna()].copy()
    out["hit"] = out["direction"].to_numpy() == np.array([realized_direction(r) for r in out["realized_return"]])
    return out


def test_the_pipeline_read_news_point_in_time_and_forecast_every_day(year: tuple[Pipeline, pd.DataFrame]) -> None:
    pipeline, rows = year
    assert sorted(rows["date"].unique())[0] == FIRST and sorted(rows["date"].unique())[-1] == LAST
    checks = {c.check_name: c.passed for r in pipeline.results.values() for c in r.get_asset_check_evaluations()}
    assert checks["inputs_first_seen_before_cutoff"] and checks["no_price_after_horizon"]
    engine = make_engine(pipeline.url)
    with session_scope(engine) as session:
        estimated = dict(session.execute(select(NewsArticle.first_seen_estimated, func.count()).group_by(
            NewsArticle.first_seen_estimated)).all())
        tone = session.execute(select(Prediction).where(Prediction.model == "news_tone", Prediction.horizon == 1))
        forecasts = list(tone.scalars())
    engine.dispose()
    # Fetched long after publication: first seen = published + 15 min, flagged (only items of a poll's last
    # quarter hour count as seen on time).
    assert estimated.get(True, 0) > 0.98 * sum(estimated.values())
    # news_tone has a view on most stock-days (none without a tone word since the previous session), and what
    # it cites was first seen before 08:00 KST on the target day, as the check above says for every forecast.
    assert len(forecasts) >= 0.85 * STOCKS * SESSIONS  # measured: 1,839 of 2,000
    for p in forecasts[:: len(forecasts) // 50]:
        cited = [datetime.fromisoformat(d["first_seen_at"]) for d in p.cited_inputs["documents"]]
        assert cited and max(cited) < p.as_of
        assert min(cited).astimezone(calendar.KST).date() >= calendar.previous_session(p.target_date)


def test_news_tone_beats_momentum_with_significance(year: tuple[Pipeline, pd.DataFrame]) -> None:
    _, rows = year
    (pair,) = experiment_verdicts(rows, BASELINES).pairs
    assert pair.n_dates == SESSIONS and pair.n_pairs >= 0.85 * STOCKS * SESSIONS
    # Measured: hits 0.572 against 0.505 over 1,821 pairs (McNemar clustered by date, Holm p = 2.5e-4); Brier
    # 0.2457 against 0.2556 (Diebold-Mariano with HLN on 250 per-date differentials, Holm p = 2.5e-4).
    assert pair.better_on_hits == "news_tone" and pair.better_on_loss == "news_tone", pair.verdict
    assert pair.mcnemar_p_holm < 0.001 and pair.diebold_mariano_p_holm < 0.01
    assert pair.hit_rate_b > pair.hit_rate_a + 0.04


def test_shuffled_outcomes_show_no_significant_difference(year: tuple[Pipeline, pd.DataFrame]) -> None:
    """The false-positive control: the same test, outcomes permuted across dates, ``SEEDS`` seeds.

    Measured: 965 of 1,000 seeds say "no significant difference". Stock-days of one date move together (the
    market drives every stock's day), so McNemar over pooled stock-days rejected 7.1% of shuffles at 5%; the
    hit test is now clustered by date (per-date differences, like Diebold-Mariano on per-date losses), see
    ``python -m benchmarks.paired_test_control`` for its size over 1,000 runs.
    """
    _, rows = year
    verdicts = [experiment_verdicts(shuffled(rows, seed), BASELINES).pairs[0] for seed in range(SEEDS)]
    no_difference = sum(v.verdict.startswith(NO_DIFFERENCE) for v in verdicts)
    assert no_difference >= 0.95 * SEEDS, f"{no_difference} of {SEEDS} shuffles said no significant difference"
    # The shuffles are not a rubber stamp: the tests' p-values spread over (0, 1), and some reject.
    p_values = np.array([v.mcnemar.p_value for v in verdicts])
    assert 0.3 < float(np.median(p_values)) < 0.7 and (p_values < 0.05).any()


def _logistic(x: np.ndarray, outcome: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of the logistic regression of outcome on x, by Newton's method."""
    design = np.column_stack([np.ones_like(x), x])
    w = np.zeros(2)
    for _ in range(30):
        p = 1 / (1 + np.exp(-design @ w))
        w = w + np.linalg.solve((design * (p * (1 - p))[:, None]).T @ design, design.T @ (outcome - p))
    return float(w[0]), float(w[1])


def test_news_tone_probabilities_are_calibrated(year: tuple[Pipeline, pd.DataFrame]) -> None:
    """Calibration slope: the logistic regression of (return > 0) on logit(P(up)) has slope 1 for a forecast
    whose confidence is right (the intercept takes the year's own drift, which no news model can know).

    The bound is the sample's own: a 95% interval from 500 bootstrap resamples of whole dates (same-day
    outcomes share the market's move, so dates are the unit). Measured: slope 0.97, interval [0.65, 1.27]. The
    same readings through the old hand-set curve (logistic, steepness 0.8) give slope 0.39, interval about
    [0.26, 0.49]: that curve fails this test, as it should, being 2.3 times too confident in log-odds.
    """
    _, rows = year
    tone = rows[rows["model"] == "news_tone"]
    outcome = (tone["realized_return"].to_numpy() > 0).astype(float)
    prob = tone["prob_up"].to_numpy()
    logit = np.log(prob / (1 - prob))
    old_logit = 0.8 * tone["expected_return"].to_numpy() / SCALE  # the reading m, through the old curve
    by_date = {d: np.flatnonzero(tone["date"].to_numpy() == d) for d in sorted(tone["date"].unique())}
    rng = np.random.default_rng(7)
    slopes, old_slopes = [], []
    for _ in range(500):
        pick = np.concatenate([by_date[d] for d in rng.choice(list(by_date), len(by_date))])
        slopes.append(_logistic(logit[pick], outcome[pick])[1])
        old_slopes.append(_logistic(old_logit[pick], outcome[pick])[1])
    low, high = np.percentile(slopes, [2.5, 97.5])
    slope = _logistic(logit, outcome)[1]
    assert low < 1.0 < high, f"calibration slope {slope:.2f}, 95% interval [{low:.2f}, {high:.2f}]"
    assert high - low < 0.8  # precise enough to fail a curve that is off by half
    assert np.percentile(old_slopes, 97.5) < 1.0  # the hand-set curve would not pass


# --- simulated LLMs of planted skill (issue 13 §5) --------------------------------------------------------
# The sandbox's chat API gives each model its own reading noise (stock_insights/sandbox/openai_api.py):
# gpt-4o none, gpt-4o-mini and deepseek/deepseek-chat-v3-0324 the same larger one (3.0). Three LLMs over the
# year are about 6,000 chat calls, 2.5 to 3.5 minutes here: benchmarks/sandbox_model_skill.py runs the year,
# this test the last LLM_SESSIONS sessions (about 55 s). Measured on those 60 sessions (480 pairs each):
# Brier gpt-4o 0.2413, gpt-4o-mini 0.2712, deepseek-v3 0.2928; gpt-4o better than deepseek-v3 (DM, Holm
# p = 1.0e-4) and than gpt-4o-mini (Holm p = 0.017); deepseek-v3 against gpt-4o-mini: DM p = 0.20, McNemar
# p = 0.34, no significant difference. gpt-4o-mini is not in the
# packaged registry; the test registry adds it as a copy of gpt-4o with another model id. Cost caps are raised:
# a year of forecasts is far over a day's cap, and the caps are not what this test is about.
LLM_ARMS = ["gpt-4o", "deepseek-v3", "gpt-4o-mini"]
LLM_SESSIONS = 60  # the test's window; benchmarks/sandbox_model_skill.py runs the year


def _llm_registry(path: Path) -> Path:
    raw = yaml.safe_load(default_registry_path().read_text(encoding="utf-8"))
    models = [m for m in raw["models"] if m.get("enabled", True)]
    for m in models:
        if "daily_cost_cap_usd" in m:
            m["daily_cost_cap_usd"] = 1_000_000.0
    (gpt,) = [m for m in models if m["name"] == "gpt-4o"]
    models.append({**gpt, "name": "gpt-4o-mini", "model": "gpt-4o-mini-2024-07-18",
                   "description": "GPT-4o mini (tests only: the sandbox's model of equal skill to deepseek-v3)."})
    path.write_text(yaml.safe_dump({**raw, "models": models}, allow_unicode=True), encoding="utf-8")
    return path


def run_llm_window(tmp: Path, sessions: int) -> tuple[Pipeline, pd.DataFrame, int]:
    """The graph over the last ``sessions`` sessions up to ``LAST`` with the three simulated LLMs: the pipeline,
    the scored horizon-1 rows and the citations the predictions run removed (its metadata)."""
    first = calendar.sessions(date(2024, 1, 2), LAST)[-sessions]
    with pytest.MonkeyPatch.context() as mp, running_pipeline(mp, f"sqlite:///{tmp / 'llm.db'}", tmp) as pipeline:
        mp.setenv("MODEL_REGISTRY_PATH", str(_llm_registry(tmp / "models.yaml")))
        mp.setenv("OPENAI_API_KEY", "sk-sandbox-openai")
        mp.setenv("OPENAI_BASE_URL", f"{pipeline.sandbox_url}/v1")
        mp.setenv("OPENROUTER_API_KEY", "sk-sandbox-openrouter")
        mp.setenv("OPENROUTER_BASE_URL", f"{pipeline.sandbox_url}/openrouter/v1")
        mp.delenv("MILVUS_URI", raising=False)  # no vector store: the LLMs read the recent documents from SQL
        reset_settings_cache()
        pipeline.run_window(first, LAST, models=LLM_ARMS)
        engine = make_engine(pipeline.url)
        with session_scope(engine) as session:
            rows = pd.DataFrame(scored_rows(session, first, LAST))
        engine.dispose()
        event = pipeline.instance.get_latest_materialization_event(dg.AssetKey(["predictions", "daily"]))
        assert event is not None and event.asset_materialization is not None
        removed = int(event.asset_materialization.metadata["citations_removed"].value)  # type: ignore[arg-type]
        checks = {c.check_name: c.passed for r in pipeline.results.values() for c in r.get_asset_check_evaluations()}
        assert checks["inputs_first_seen_before_cutoff"] and checks["no_price_after_horizon"], checks
    return pipeline, rows, removed


def summarize(rows: pd.DataFrame) -> str:
    """Each arm's hit rate and Brier score, best Brier first, then every pair's verdict with its p-values."""
    arms = rows[rows["model"].isin(LLM_ARMS) & rows["realized_return"].notna()]
    brier = ((arms["prob_up"] - (arms["realized_return"] > 0)) ** 2).groupby(arms["model"]).mean().sort_values()
    hits = arms.groupby("model")["hit"].mean()
    lines = [f"{m}: Brier {b:.5f}, hit rate {hits[m]:.3f}" for m, b in brier.items()]
    for p in experiment_verdicts(rows, LLM_ARMS).pairs:
        lines.append(
            f"{p.arm_a} vs {p.arm_b}: McNemar p={p.mcnemar.p_value if p.mcnemar else None} "
            f"(Holm {p.mcnemar_p_holm}), DM p={p.diebold_mariano.p_value if p.diebold_mariano else None} "
            f"(Holm {p.diebold_mariano_p_holm}): {p.verdict}"
        )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def llm_window(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The graph over the last ``LLM_SESSIONS`` sessions with the three simulated LLMs: their scored rows."""
    _, rows, _ = run_llm_window(tmp_path_factory.mktemp("sandbox_llm_window"), LLM_SESSIONS)
    return rows


def test_simulated_llms_differ_as_planted(llm_window: pd.DataFrame) -> None:
    """The A/B machinery finds the planted ordering: gpt-4o (no noise) beats both noisy models with significance,
    and the two noisy models of equal skill show no significant difference. Measured figures: below and in
    benchmarks/sandbox_model_skill.py (the year)."""
    rows = llm_window
    # Differing answers, not ties by construction: every pair disagrees on most stock-days.
    wide = rows.pivot_table(index=["code", "date"], columns="model", values="prob_up")
    for a, b in itertools.combinations(LLM_ARMS, 2):
        assert (wide[a] != wide[b]).mean() > 0.9, (a, b)
    results = experiment_verdicts(rows, LLM_ARMS)
    pairs = {frozenset((p.arm_a, p.arm_b)): p for p in results.pairs}
    for noisy in ("deepseek-v3", "gpt-4o-mini"):
        pair = pairs[frozenset(("gpt-4o", noisy))]
        assert pair.n_dates == LLM_SESSIONS and pair.n_pairs == STOCKS * LLM_SESSIONS
        assert pair.better_on_loss == "gpt-4o", summarize(rows)
        assert pair.diebold_mariano_p_holm is not None and pair.diebold_mariano_p_holm < 0.05, summarize(rows)
    null = pairs[frozenset(("deepseek-v3", "gpt-4o-mini"))]
    assert null.verdict.startswith(NO_DIFFERENCE), summarize(rows)
    assert null.diebold_mariano.p_value > 0.05 and null.mcnemar.p_value > 0.05, summarize(rows)  # type: ignore[union-attr]
