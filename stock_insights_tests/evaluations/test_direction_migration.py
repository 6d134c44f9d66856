"""Migration 0006 re-scores stored hits and realized directions with the binary rule (metrics.outcome)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import text

from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import alembic_config
from stock_insights.storage.models import Evaluation, Prediction, Stock

# (direction, realized_return, stored realized_direction, stored hit) as the flat-band rule wrote them, and what
# the binary rule makes of them.
ROWS = [
    ("down", -0.0019, "flat", False, "down", True),  # the issue's -0.19% day: a down call is a hit
    ("up", 0.0019, "flat", False, "up", True),
    ("flat", 0.0019, "flat", True, "up", False),  # a flat call is a not-up call: a rise is a miss
    ("flat", 0.0, "flat", True, "down", True),  # unchanged close: not up
    ("up", 0.0, "flat", False, "down", False),
    ("up", 0.02, "up", True, "up", True),
    ("down", -0.02, "down", True, "down", True),
]


def _run(connection, revision: str, url: str, upgrade: bool = True) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config(url)
    config.attributes["connection"] = connection
    (command.upgrade if upgrade else command.downgrade)(config, revision)
    connection.commit()


def test_0006_rescores_scored_rows_and_leaves_pending_ones(database_url: str) -> None:
    engine = make_engine(database_url)
    now = datetime(2026, 10, 20, tzinfo=UTC)
    with engine.connect() as connection:
        _run(connection, "0005", database_url)
        connection.execute(
            Stock.__table__.insert(),
            [{"code": "005930", "name": "S", "market": "KOSPI", "created_at": now, "updated_at": now}],
        )
        for i, (direction, realized, old_dir, old_hit, _, _) in enumerate([*ROWS, ("up", None, None, None, 0, 0)]):
            connection.execute(
                Prediction.__table__.insert(),
                [
                    {
                        "id": i + 1,
                        "model": "m",
                        "code": "005930",
                        "target_date": date(2026, 10, 1 + i),
                        "horizon": 1,
                        "as_of": now,
                        "direction": direction,
                        "prob_up": 0.5,
                        "expected_return": 0.0,
                        "rationale": {},
                        "cited_inputs": {},
                        "created_at": now,
                    }
                ],
            )
            connection.execute(
                Evaluation.__table__.insert(),
                [
                    {
                        "prediction_id": i + 1,
                        "status": "pending" if realized is None else "scored",
                        "realized_return": realized,
                        "realized_direction": old_dir,
                        "hit": old_hit,
                        "scored_at": now,
                    }
                ],
            )
        connection.commit()
        _run(connection, "0006", database_url)
        stored = connection.execute(
            text("SELECT prediction_id, realized_direction, hit FROM evaluations ORDER BY prediction_id")
        ).all()
        assert [(d, bool(h)) for _, d, h in stored[: len(ROWS)]] == [(r[4], r[5]) for r in ROWS]
        assert stored[-1][1:] == (None, None)  # pending: untouched
        # The downgrade restores the flat-band labels the rows had.
        _run(connection, "0005", database_url, upgrade=False)
        back = connection.execute(
            text("SELECT realized_direction, hit FROM evaluations ORDER BY prediction_id")
        ).all()
        assert [(d, bool(h)) for d, h in back[: len(ROWS)]] == [(r[2], r[3]) for r in ROWS]
    engine.dispose()
