"""evaluations/leaderboard on the sandbox: standings per window, A/B verdicts, a reliability plot."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import dagster as dg
from sqlalchemy import select

from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Experiment, ExperimentArm, LeaderboardSnapshot
from stock_insights_tests.test_slice_end_to_end import materialize as _materialize


def test_leaderboard_ranks_models_and_compares_arms(sandbox_env: str, resources: dict[str, Any]) -> None:
    start, end = date(2026, 9, 1), date(2026, 10, 30)
    # news_tone reads news: Naver's last 90 days, from the sandbox (the resources point every client at it).
    materialize = partial(_materialize, resources=resources)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["universe", "stocks"]], instance=instance).success
    assert materialize([["news", "naver"]], instance=instance).success
    assert materialize([["kis", "daily_bars"], ["kis", "index_bars"]], date(2026, 8, 3), end, instance).success
    engine = make_engine(sandbox_env)
    with session_scope(engine) as session:
        experiment = Experiment(name="momentum-vs-tone", description="baselines", status="running",
                                created_at=datetime.now(UTC))
        session.add(experiment)
        session.flush()
        session.add_all([ExperimentArm(experiment_id=experiment.id, name="A", model="momentum", weight=0.5),
                         ExperimentArm(experiment_id=experiment.id, name="B", model="news_tone", weight=0.5)])
    assert materialize([["predictions", "daily"], ["evaluations", "daily"]], start, end, instance).success
    assert materialize([["evaluations", "leaderboard"]], end, end, instance).success

    with session_scope(engine) as session:
        boards = {b.window: b for b in session.execute(select(LeaderboardSnapshot)).scalars()}
    engine.dispose()
    assert set(boards) == {20, 60, 250}
    twenty = boards[20].payload
    assert {m["model"] for m in twenty["models"]} == {"momentum", "news_tone"}
    assert all(m["n_dates"] == 20 for m in twenty["models"])
    assert "| rank | model |" in boards[20].markdown
    verdicts = twenty["experiments"]["momentum-vs-tone"]
    assert verdicts["pairs"] and "verdict" in verdicts["pairs"][0]
    assert twenty["horizon"] == 1 and verdicts["horizon"] == 1

    # Horizon 5 has its own boards in the same snapshot, by exit day: the window's last 20 exit days, no
    # long-short book (five-day returns of consecutive days overlap), verdicts whose DM allows for lags to 4.
    week = twenty["horizon_5"]
    assert week["horizon"] == 5 and week["to_date"] == end.isoformat()
    assert {m["model"] for m in week["models"]} == {"momentum", "news_tone"}
    assert all(m["n_dates"] == 20 and m["portfolio"] is None for m in week["models"])
    assert week["experiments"]["momentum-vs-tone"]["horizon"] == 5
    pair = week["experiments"]["momentum-vs-tone"]["pairs"][0]
    assert pair["diebold_mariano"]["horizon"] == 5
    assert "horizon 5 sessions" in boards[20].markdown
    # The 250-day board holds every exit day there is: horizon 1 from the first target, horizon 5 four later.
    assert boards[250].payload["n_dates"] == boards[250].payload["horizon_5"]["n_dates"] + 4

    event = instance.get_latest_materialization_event(dg.AssetKey(["evaluations", "leaderboard"]))
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert "momentum" in metadata["leaderboard"].value
    assert metadata["reliability"].value.startswith("![reliability](data:image/svg+xml;base64,")
    svg = open(metadata["reliability_plot"].value).read()  # noqa: SIM115
    assert svg.startswith("<svg") and "ECE" in svg
