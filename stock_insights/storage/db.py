"""Engines, sessions and the one idempotent write path (upsert on the natural key)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from stock_insights import clock
from stock_insights.settings import get_settings
from stock_insights.storage.models import DatasetVersion
from stock_insights.storage.types import UTCDateTime

if TYPE_CHECKING:
    from psycopg import sql as psycopg_sql

log = logging.getLogger(__name__)

# SQLite caps bound parameters per statement (32766 on modern builds); stay well below.
_MAX_PARAMS = 30000


def utcnow() -> datetime:
    """Now, in UTC, from the one clock (``stock_insights.clock``), so a frozen clock stamps rows too."""
    return clock.now()


def redact_url(url: str) -> str:
    """The URL with its password hidden, for logs and errors."""
    return make_url(url).render_as_string(hide_password=True)


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a Dagster run writes; busy_timeout waits out short write locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def connect_timeout_seconds() -> int:
    """How long a new PostgreSQL connection may take (``DATABASE_CONNECT_TIMEOUT_SECONDS``).

    Without it libpq waits for the operating system, which for a server that drops packets instead of
    refusing them is minutes: a request or a run would hang instead of failing with a clear error."""
    return get_settings().DATABASE_CONNECT_TIMEOUT_SECONDS


def _postgres_connect_args(url: str, connect_timeout: int | None) -> dict[str, Any]:
    # A timeout written in the URL's query (``?connect_timeout=``) is the operator's explicit choice: kept.
    if "connect_timeout" in make_url(url).query:
        return {}
    return {"connect_timeout": connect_timeout if connect_timeout is not None else connect_timeout_seconds()}


def make_engine(url: str, *, connect_timeout: int | None = None) -> Engine:
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args=_postgres_connect_args(url, connect_timeout))


def async_url(url: str) -> str:
    """The async-driver twin of a sync URL (one DATABASE_URL serves both)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if parsed.drivername in ("postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def make_async_engine(url: str, *, connect_timeout: int | None = None) -> AsyncEngine:
    if url.startswith("sqlite"):
        _prepare_sqlite_file(url)
        engine = create_async_engine(async_url(url), connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        async_url(url), pool_pre_ping=True, connect_args=_postgres_connect_args(url, connect_timeout)
    )


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: everything commits together or nothing does."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session


# The dialects whose INSERT takes ON CONFLICT; both Insert classes have it, no common base class declares it.
DialectInsert = postgresql.Insert | sqlite.Insert
ON_CONFLICT_INSERTS: dict[str, Callable[[Table], DialectInsert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Iterable[str] | None = None,
    update: Iterable[str] | None = None,
) -> int:
    """Insert rows, or update them where the natural key exists. Returns the rows sent.

    ``key`` defaults to the primary key; ``update`` to every other column present in the rows.
    ``update=()`` means insert-if-absent. Same rows twice leave the table unchanged.
    """
    if not rows:
        return 0
    key_cols = list(key) if key is not None else [c.name for c in table.primary_key.columns]
    columns = list(rows[0].keys())
    update_cols = list(update) if update is not None else [c for c in columns if c not in key_cols]
    rows = _dedupe(rows, key_cols)
    dialect = session.get_bind().dialect.name
    insert_fn = ON_CONFLICT_INSERTS.get(dialect)
    if insert_fn is None:
        raise NotImplementedError(f"upsert is not implemented for the {dialect} dialect")
    batch = max(1, _MAX_PARAMS // max(1, len(columns)))
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        stmt = insert_fn(table).values(list(chunk))
        if update_cols:
            stmt = stmt.on_conflict_do_update(index_elements=key_cols, set_={c: stmt.excluded[c] for c in update_cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=key_cols)
        session.execute(stmt)
    return len(rows)


def _dedupe(rows: Sequence[Mapping[str, Any]], key_cols: list[str]) -> list[Mapping[str, Any]]:
    """Last row wins per key: one statement may not touch the same row twice (PostgreSQL refuses)."""
    seen: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for row in rows:
        seen[tuple(row[c] for c in key_cols)] = row
    return list(seen.values())


def _copy_values(
    row: Mapping[str, Any], columns: list[str], json_cols: set[int], utc_cols: list[int]
) -> list[Any]:
    """One row as COPY takes it: JSON columns wrapped, aware times checked (a naive one is a bug)."""
    from psycopg.types.json import Jsonb

    values = [row[c] for c in columns]
    for i in json_cols:
        values[i] = Jsonb(values[i])
    for i in utc_cols:
        if values[i] is not None and values[i].tzinfo is None:
            raise ValueError(f"naive datetime {values[i]!r} in {columns[i]}: times must be aware")
    return values


def _conflict_action(update_cols: list[str]) -> psycopg_sql.Composable:
    from psycopg import sql

    if not update_cols:
        return sql.SQL("DO NOTHING")
    return sql.SQL("DO UPDATE SET {}").format(
        sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in update_cols
        )
    )


def bulk_upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: Iterable[str] | None = None,
    update: Iterable[str] | None = None,
) -> int:
    """``upsert`` for large batches: on PostgreSQL, COPY into a staging table and one INSERT ... ON CONFLICT.

    Same semantics as ``upsert`` (idempotent, last row wins per key); on SQLite it is ``upsert``.
    """
    if not rows:
        return 0
    if session.get_bind().dialect.name != "postgresql":
        return upsert(session, table, rows, key=key, update=update)
    from psycopg import sql

    key_cols = list(key) if key is not None else [c.name for c in table.primary_key.columns]
    columns = list(rows[0].keys())
    update_cols = list(update) if update is not None else [c for c in columns if c not in key_cols]
    json_cols = {i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)}
    # PostgreSQL's timestamptz takes aware times as they are; only a naive one is a bug to refuse here.
    utc_cols = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, UTCDateTime)]
    stage = sql.Identifier(f"_stage_{table.name}")
    target = sql.Identifier(table.name)
    ident = sql.SQL(", ").join
    cols = ident(map(sql.Identifier, columns))
    keys = ident(map(sql.Identifier, key_cols))
    raw = session.connection().connection.driver_connection
    assert raw is not None, "an open connection has its driver connection"
    with raw.cursor() as cur:
        # The staging table lives until the transaction ends: a failed upsert leaves nothing behind.
        # _ord numbers rows in arrival order so that the last row per key wins, as in ``upsert``.
        cur.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                stage, target
            )
        )
        cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS _ord bigserial").format(stage))
        cur.execute(sql.SQL("TRUNCATE {}").format(stage))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
            for row in rows:
                copy.write_row(_copy_values(row, columns, json_cols, utc_cols))
        action = _conflict_action(update_cols)
        cur.execute(
            sql.SQL(
                "INSERT INTO {} ({}) SELECT DISTINCT ON ({}) {} FROM {} ORDER BY {}, _ord DESC ON CONFLICT ({}) {}"
            ).format(target, cols, keys, cols, stage, keys, keys, action)
        )
        written = cur.rowcount
    return written


_CHANGED = "stock_insights.changed_datasets"


def bump_dataset_version(session: Session, *datasets: str) -> None:
    """Mark datasets as changed by this transaction: API cache keys built on the old versions stop matching.

    Only the storage writers call this (``storage.datasets`` says which tables are whose). The versions move
    once per transaction, as it commits (``_write_changed_datasets``), in a fixed order: a writer may call
    this for every batch without taking the version row's lock for the rest of its transaction.
    """
    session.info.setdefault(_CHANGED, set()).update(datasets)


@event.listens_for(Session, "before_commit")
def _write_changed_datasets(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    if not changed:
        return
    table = DatasetVersion.__table__
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert_fn = ON_CONFLICT_INSERTS["postgresql" if dialect == "postgresql" else "sqlite"]
    for dataset in sorted(changed):  # one order for every writer: no deadlock between two of them
        stmt = insert_fn(table).values(dataset=str(dataset), version=1, updated_at=now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["dataset"],
            set_={"version": table.c.version + 1, "updated_at": now},
        )
        session.execute(stmt)


@event.listens_for(Session, "after_rollback")
def _forget_changed_datasets(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def dataset_versions(session: Session) -> dict[str, int]:
    rows = session.execute(select(DatasetVersion.dataset, DatasetVersion.version))
    return {dataset: version for dataset, version in rows}


def count(session: Session, table: Table) -> int:
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())
