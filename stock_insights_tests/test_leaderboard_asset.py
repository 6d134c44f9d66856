"""evaluations/leaderboard on the sandbox: standings per window, A/B verdicts, a reliability plot."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
from sqlalchemy import select

from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import Experiment, ExperimentArm, LeaderboardSnapshot
from stock_insights_tests.test_slice_end_to_end import materialize


def test_leaderboard_ranks_models_and_compares_arms(sandbox_env: str) -> None:
    start, end = date(2026, 9, 1), date(2026, 10, 30)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["universe", "stocks"]], instance=instance).success
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

    event = instance.get_latest_materialization_event(dg.AssetKey(["evaluations", "leaderboard"]))
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert "momentum" in metadata["leaderboard"].value
    assert metadata["reliability"].value.startswith("![reliability](data:image/svg+xml;base64,")
    svg = open(metadata["reliability_plot"].value).read()  # noqa: SIM115
    assert svg.startswith("<svg") and "ECE" in svg
