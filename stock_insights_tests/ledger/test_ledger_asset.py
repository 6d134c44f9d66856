"""ledger/daily through the real graph against the sandbox (SQLite and PostgreSQL): the 08:00 forecasts sealed at
08:05, a re-materialization that rewrites nothing, a backfill that is late, and the check on tampering."""

from __future__ import annotations

from datetime import date

import dagster as dg
from sqlalchemy import select, update

from stock_insights import calendar, clock
from stock_insights.ledger import canonical_of, parse
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.models import LedgerSeal, Prediction
from stock_insights_tests.ledger.helpers import kst
from stock_insights_tests.test_slice_end_to_end import materialize

DAY = date(2026, 12, 3)
EARLIER = date(2026, 12, 2)
MOMENTUM_ONLY = {"ops": {"predictions__daily": {"config": {"models": ["momentum"]}}}}
LEDGER = dg.AssetKey(["ledger", "daily"])


def run(keys: list[list[str]], day: date, instance: dg.DagsterInstance, config: dict | None = None):  # type: ignore[no-untyped-def]
    from stock_insights.definitions import defs

    job = defs.resolve_implicit_global_asset_job_def()
    key = day.isoformat()
    tags = {"dagster/asset_partition_range_start": key, "dagster/asset_partition_range_end": key}
    return job.execute_in_process(
        asset_selection=[dg.AssetKey(k) for k in keys], instance=instance, run_config=config, tags=tags
    )


def ledger_metadata(instance: dg.DagsterInstance) -> dict:
    event = instance.get_latest_materialization_event(LEDGER)
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}  # type: ignore[union-attr]


def check_of(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "ledger_verifies"]
    return evaluation


def test_the_day_is_sealed_before_the_open_and_never_rewritten(sandbox_env: str) -> None:
    url = sandbox_env
    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["universe", "stocks"]], instance=instance).success
    first_bar = calendar.sessions(date(2026, 11, 1), DAY)[0]
    assert materialize([["kis", "daily_bars"]], first_bar, calendar.previous_session(DAY), instance).success

    with clock.frozen(kst(DAY, 8, 0, 2), ticking=True):
        assert run([["predictions", "daily"]], DAY, instance, MOMENTUM_ONLY).success
    with clock.frozen(kst(DAY, 8, 5), ticking=True):
        result = run([["ledger", "daily"]], DAY, instance)
    assert result.success and check_of(result).passed
    meta = ledger_metadata(instance)
    engine = make_engine(url)
    with session_scope(engine) as session:
        seal = session.get(LedgerSeal, DAY)
        assert seal is not None
        stored = (seal.digest, seal.chain_digest, seal.sealed_at, seal.canonical_zlib)
        _, rows = parse(canonical_of(seal))
        predictions = session.execute(select(Prediction).where(Prediction.target_date == DAY)).scalars().all()
    assert meta["data_mode"] == "simulated" and meta["status"] == {DAY.isoformat(): "sealed"}
    assert meta["digest"] == seal.digest and meta["chain_digest"] == seal.chain_digest
    assert meta["previous_digest"] == "0" * 64 and meta["sealed_rows"] == len(rows) == len(predictions) == 8
    assert meta["seals"][0]["sealed_before_open"] is True and meta["late_forecasts"] == 0
    assert {(r["model"], r["code"], r["horizon"]) for r in rows} == {
        (p.model, p.code, p.horizon) for p in predictions
    }  # four stocks, momentum horizons 1 and 5

    # Later the same day: the forecasts are re-run (a replay) and the ledger re-materialized. Nothing is rewritten.
    with clock.frozen(kst(DAY, 17), ticking=True):
        assert run([["predictions", "daily"]], DAY, instance, MOMENTUM_ONLY).success
        again = run([["ledger", "daily"]], DAY, instance)
    assert again.success and check_of(again).passed
    meta = ledger_metadata(instance)
    assert meta["status"] == {DAY.isoformat(): "already_sealed"} and meta["mismatched_days"] == []
    with session_scope(engine) as session:
        seal = session.get(LedgerSeal, DAY)
        assert (seal.digest, seal.chain_digest, seal.sealed_at, seal.canonical_zlib) == stored  # type: ignore[union-attr]

    # A backfill of an earlier day, now: its forecasts are late, and the day is before the sealed one: refused.
    assert run([["predictions", "daily"]], EARLIER, instance, MOMENTUM_ONLY).success
    backfill = run([["ledger", "daily"]], EARLIER, instance)
    assert backfill.success
    meta = ledger_metadata(instance)
    assert meta["refused_days"] == [EARLIER.isoformat()] and meta["late_forecasts"] == 8

    # A sealed forecast changed in the database: the re-materialization says so, and the check fails.
    with session_scope(engine) as session:
        session.execute(update(Prediction).where(Prediction.target_date == DAY, Prediction.code == "005930",
                                                 Prediction.horizon == 1).values(prob_up=0.99))  # fmt: skip
    tampered = run([["ledger", "daily"]], DAY, instance)
    assert tampered.success  # non-blocking: the evidence is kept, the pipeline goes on
    evaluation = check_of(tampered)
    assert not evaluation.passed
    assert evaluation.metadata["first_mismatch"].value.startswith(f"{DAY.isoformat()}: the forecasts in the database")
    assert "momentum 005930 h1" in evaluation.metadata["first_mismatch"].value
    assert ledger_metadata(instance)["mismatched_days"] == [DAY.isoformat()]
    with session_scope(engine) as session:
        seal = session.get(LedgerSeal, DAY)
        assert (seal.digest, seal.chain_digest, seal.sealed_at, seal.canonical_zlib) == stored  # type: ignore[union-attr]
    engine.dispose()
