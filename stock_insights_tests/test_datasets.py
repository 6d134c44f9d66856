"""Dataset versions: every table has its dataset, the writers move it once per committed transaction, and
only the storage writers move it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine

from stock_insights.clients.kis import DailyBarRow
from stock_insights.market.store import upsert_daily_bars, upsert_stocks
from stock_insights.storage.datasets import TABLE_DATASETS, UNVERSIONED_TABLES, Dataset
from stock_insights.storage.db import dataset_versions, make_engine, session_scope
from stock_insights.storage.migrate import upgrade
from stock_insights.storage.models import Base
from stock_insights.universe import KNOWN_LISTINGS

ROOT = Path(__file__).resolve().parents[1]


def test_every_table_is_placed_once() -> None:
    tables = set(Base.metadata.tables)
    assert set(TABLE_DATASETS) | UNVERSIONED_TABLES == tables
    assert not set(TABLE_DATASETS) & UNVERSIONED_TABLES
    assert {d for ds in TABLE_DATASETS.values() for d in ds} == set(Dataset)


def bar(day: date) -> DailyBarRow:
    return DailyBarRow(trading_date=day, open=100, high=110, low=90, close=105, volume=1000, trade_value=105_000)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'versions.db'}"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        upsert_stocks(session, [KNOWN_LISTINGS["005930"]])
    yield engine
    engine.dispose()


def test_a_transaction_moves_its_datasets_once_at_commit(engine: Engine) -> None:
    with session_scope(engine) as session:
        for day in (date(2026, 12, 1), date(2026, 12, 2), date(2026, 12, 3)):
            upsert_daily_bars(session, "005930", [bar(day)], adjusted=True, source="test")
        assert dataset_versions(session).get(Dataset.DAILY_BARS, 0) == 0  # not yet: it moves as the write commits
    with session_scope(engine) as session:
        assert dataset_versions(session)[Dataset.DAILY_BARS] == 1


def test_a_rolled_back_write_moves_nothing(engine: Engine) -> None:
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        upsert_daily_bars(session, "005930", [bar(date(2026, 12, 1))], adjusted=True, source="test")
        raise RuntimeError("the run failed after writing")
    with session_scope(engine) as session:
        assert Dataset.DAILY_BARS not in dataset_versions(session)
        upsert_daily_bars(session, "005930", [bar(date(2026, 12, 1))], adjusted=True, source="test")
    with session_scope(engine) as session:
        assert dataset_versions(session)[Dataset.DAILY_BARS] == 1  # the rolled-back mark did not linger


# The API's own writes (watchlists, experiments, token generations) bump where the API writes them; they
# have no store module in stock_insights (the pipeline never writes those tables).
API_WRITERS = {"api/routes/stocks.py", "api/routes/experiments.py", "api/core/revocation.py"}


def test_only_the_storage_writers_move_versions() -> None:
    callers = set()
    for folder in ("stock_insights", "api"):
        for path in (ROOT / folder).rglob("*.py"):
            if re.search(r"\bbump_dataset_version\(", path.read_text()):
                callers.add(str(path.relative_to(ROOT)))
    callers.discard("stock_insights/storage/db.py")  # where it is defined
    writers = {c for c in callers if c.endswith("/store.py") or c == "stock_insights/embeddings/documents.py"}
    assert callers - writers == API_WRITERS
