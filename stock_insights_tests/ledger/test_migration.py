"""The ledger's migrations (0010 ledger_seals, 0013 predictions.prompt_hash) round-trip and match the model, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import alembic_config, upgrade
from stock_insights.storage.models import Base


def round_trip(url: str, revision: str, downgraded: Callable[[Connection], None]) -> tuple[list[Any], Any]:
    """Upgrade, downgrade to just before ``revision`` (``downgraded`` checks that state), upgrade again: (the
    differences between the database and the model, the inspector of the upgraded database's predictions)."""
    engine = make_engine(url)
    upgrade(url, engine)
    config = alembic_config(url)
    previous = ScriptDirectory.from_config(config).get_revision(revision).down_revision
    try:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, str(previous))
            connection.commit()
            downgraded(connection)
            command.upgrade(config, "head")
            connection.commit()
            columns = {c["name"]: c for c in inspect(connection).get_columns("predictions")}
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    finally:
        engine.dispose()
    return diff, columns


def test_ledger_seals_migration_round_trips_and_matches_the_model(database_url: str) -> None:
    def without_seals(connection: Connection) -> None:
        assert "ledger_seals" not in inspect(connection).get_table_names()

    diff, _ = round_trip(database_url, "0010", without_seals)
    assert [d for d in diff if "ledger_seals" in str(d)] == []


def test_prompt_hash_migration_round_trips_and_matches_the_model(database_url: str) -> None:
    """0013 adds ``predictions.prompt_hash`` (nullable: baselines and older forecasts have none) and drops it."""

    def without_prompt_hash(connection: Connection) -> None:
        assert "prompt_hash" not in {c["name"] for c in inspect(connection).get_columns("predictions")}

    diff, columns = round_trip(database_url, "0013", without_prompt_hash)
    assert columns["prompt_hash"]["nullable"] is True
    # The listing index is on expressions (target_date DESC, ...): SQLite's reflection cannot see it, so the
    # comparison always names it there; every other difference on predictions would be this migration's.
    assert [d for d in diff if "predictions" in str(d) and "ix_predictions_listing" not in str(d)] == []
