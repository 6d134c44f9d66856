"""Apply the Alembic migrations (idempotent; safe when several processes start at once).

``python -m stock_insights.storage.migrate`` is what start-up and docker-compose run.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from stock_insights.settings import get_settings
from stock_insights.storage.db import make_engine, redact_url

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates.
_ADVISORY_LOCK_ID = 727_001


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str | None = None, engine: Engine | None = None) -> None:
    url = url or get_settings().DATABASE_URL
    engine = engine or make_engine(url)
    config = alembic_config(url)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting together must not both create the tables.
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
                connection.commit()
    log.info("database at %s is at the latest migration", redact_url(url))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    upgrade()
    return 0


if __name__ == "__main__":
    sys.exit(main())
