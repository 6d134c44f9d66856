"""The ledger_seals migration round-trips and matches the model, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from stock_insights.storage.db import make_engine
from stock_insights.storage.migrate import alembic_config, upgrade
from stock_insights.storage.models import Base

REVISION = "0010"


def test_ledger_seals_migration_round_trips_and_matches_the_model(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    config = alembic_config(database_url)
    previous = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, str(previous))
        connection.commit()
        assert "ledger_seals" not in inspect(connection).get_table_names()
        command.upgrade(config, "head")
        connection.commit()
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert [d for d in diff if "ledger_seals" in str(d)] == []
    engine.dispose()
