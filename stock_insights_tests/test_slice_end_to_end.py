"""The thin slice end to end, on SQLite and on PostgreSQL, against the sandbox over HTTP:

universe/stocks -> kis/daily_bars -> predictions/daily -> evaluations/daily -> the API.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date
from functools import partial
from typing import Any

import dagster as dg
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from stock_insights import calendar
from stock_insights.storage.db import count, make_engine, session_scope
from stock_insights.storage.models import Base, DailyBar, Evaluation, Prediction, Stock

# A fixed, closed window: the simulated market is deterministic for dates in the past.
BAR_START, BAR_END = date(2026, 9, 1), date(2026, 10, 30)
FORECAST_START, FORECAST_END = date(2026, 10, 1), date(2026, 10, 30)
CODES = ["000660", "005930", "035420", "035720"]
MODELS = ["momentum", "news_tone"]  # the offline baselines


def _defs() -> dg.Definitions:
    from stock_insights.definitions import defs

    return defs


def materialize(keys: list[list[str]], start: date | None = None, end: date | None = None,
                instance: dg.DagsterInstance | None = None, raise_on_error: bool = True,
                resources: Mapping[str, Any] | None = None,
                run_config: Mapping[str, Any] | None = None) -> dg.ExecuteInProcessResult:
    """Run assets (and their checks) as Dagster does; a range runs as one run. ``resources``: the resources
    to run them with (``conftest.sandbox_resources``); without, the code location's own."""
    tags = {}
    if start is not None:
        tags = {"dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": (end or start).isoformat()}
    defs = _defs()
    if resources is not None:
        return dg.materialize(
            [*defs.assets, *(defs.asset_checks or [])],
            selection=[dg.AssetKey(k) for k in keys], resources=resources, tags=tags, run_config=run_config,
            instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=raise_on_error,
        )
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=[dg.AssetKey(k) for k in keys], tags=tags, run_config=run_config,
        instance=instance or dg.DagsterInstance.ephemeral(), raise_on_error=raise_on_error,
    )


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of every slice table (timestamps of our own clock left out)."""
    engine = make_engine(url)
    out = {}
    with session_scope(engine) as session:
        for model, skip in ((Stock, {"created_at", "updated_at"}), (DailyBar, {"fetched_at"}),
                            (Prediction, {"created_at"}), (Evaluation, {"scored_at"})):
            cols = [c for c in model.__table__.columns if c.name not in skip]
            out[model.__tablename__] = sorted(tuple(r) for r in session.execute(select(*cols)))
    engine.dispose()
    return out


_materialize = materialize  # the tests below bind their resources to it


def test_slice_runs_end_to_end_and_reruns_change_nothing(sandbox_env: str, resources: dict[str, Any]) -> None:
    url = sandbox_env
    materialize = partial(_materialize, resources=resources)
    instance = dg.DagsterInstance.ephemeral()
    assert materialize([["universe", "stocks"]], instance=instance).success
    assert materialize([["kis", "daily_bars"]], BAR_START, BAR_END, instance).success
    assert materialize([["predictions", "daily"]], FORECAST_START, FORECAST_END, instance).success
    result = materialize([["evaluations", "daily"]], FORECAST_START, FORECAST_END, instance)
    assert result.success

    sessions = calendar.sessions(BAR_START, BAR_END)
    forecast_days = calendar.sessions(FORECAST_START, FORECAST_END)
    # Horizon 5 (entry: the close before the target day): the last four days' forecasts exit after the window.
    exits_in_window = len(forecast_days) - 4
    engine = make_engine(url)
    with session_scope(engine) as session:
        assert count(session, Stock.__table__) == len(CODES)
        assert count(session, DailyBar.__table__) == len(CODES) * len(sessions)
        # The baselines forecast horizons 1 and 5; news_tone has no view without news (none is fetched here).
        predictions = session.execute(select(Prediction)).scalars().all()
        assert len(predictions) == len(CODES) * len(forecast_days) * 2
        assert {(p.model, p.horizon) for p in predictions} == {("momentum", 1), ("momentum", 5)}
        evaluations = session.execute(select(Evaluation)).scalars().all()
        assert len(evaluations) == len(predictions)
        statuses = Counter(e.status for e in evaluations)
        assert statuses == {"scored": len(CODES) * (len(forecast_days) + exits_in_window), "pending": len(CODES) * 4}
        # Every forecast saw only closes before its target day.
        for p in session.execute(select(Prediction).where(Prediction.model == "momentum")).scalars():
            seen = [date.fromisoformat(bar["trading_date"]) for bar in p.cited_inputs["prices"]]
            assert seen and max(seen) == calendar.previous_session(p.target_date)
    engine.dispose()

    # The asset's metadata says what ran, and that the data is simulated.
    materialization = instance.get_latest_materialization_event(dg.AssetKey(["evaluations", "daily"]))
    metadata = materialization.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["data_mode"].value == "simulated"
    assert metadata["dagster/row_count"].value == len(CODES) * (len(forecast_days) + exits_in_window)

    # Re-materializing every partition changes no row.
    before = snapshot(url)
    assert materialize([["universe", "stocks"]]).success
    assert materialize([["kis", "daily_bars"]], BAR_START, BAR_END).success
    assert materialize([["predictions", "daily"]], FORECAST_START, FORECAST_END).success
    assert materialize([["evaluations", "daily"]], FORECAST_START, FORECAST_END).success
    assert snapshot(url) == before

    # The API reads the same store.
    from api.main import create_app

    with TestClient(create_app()) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["data_mode"] == "simulated"

        # Data routes need a token: an ordinary account is enough.
        account = {"email": "reader@example.com", "password": "slice-test-password"}
        assert client.post("/api/v1/auth/register", json=account).status_code == 201
        login = client.post("/api/v1/auth/token", data={"username": account["email"], "password": account["password"]})
        client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

        stocks = client.get("/api/v1/stocks").json()
        assert [s["code"] for s in stocks["items"]] == CODES
        assert stocks["data_mode"] == "simulated"

        samsung = client.get("/api/v1/stocks/005930").json()
        assert samsung["name"] == "삼성전자" and samsung["market"] == "KOSPI"
        assert samsung["last_trading_date"] == sessions[-1].isoformat()

        prices = client.get("/api/v1/stocks/005930/prices",
                            params={"interval": "1d", "start": "2026-10-01", "end": "2026-10-30"}).json()
        assert [p["trading_date"] for p in prices["items"]] == [d.isoformat() for d in forecast_days]
        # The API answers the same bars the simulated market made, through the KIS wire format.
        sandbox_bars = _sandbox_closes("005930", FORECAST_START, FORECAST_END)
        assert [p["close"] for p in prices["items"]] == sandbox_bars

        day = forecast_days[5].isoformat()
        answer = client.get("/api/v1/predictions", params={"code": "005930", "date": day, "model": "momentum"})
        items = answer.json()["items"]
        assert sorted(i["horizon"] for i in items) == [1, 5]
        assert all(i["evaluation"]["status"] == "scored" for i in items)
        assert all(i["evaluation"]["hit"] in (True, False) for i in items)

        unknown = client.get("/api/v1/predictions", params={"model": "nope"})
        assert unknown.status_code == 404 and "momentum" in unknown.json()["known_models"]


def _sandbox_closes(code: str, start: date, end: date) -> list[float]:
    """The simulated market's own closes: what the sandbox serves, read without any client."""
    from stock_insights.sandbox.market import SimulatedMarket

    return [float(bar.close) for bar in SimulatedMarket().daily_bars(code, start, end)]


@pytest.mark.parametrize("fault", ["malformed_json", "non_numeric_price", "empty_output2", "html_error"])
def test_bad_kis_answer_fails_the_run_and_writes_nothing(
    sandbox_env: str, sandbox, resources: dict[str, Any], fault: str
) -> None:
    url = sandbox_env
    materialize = partial(_materialize, resources=resources)
    assert materialize([["universe", "stocks"]]).success
    assert materialize([["kis", "daily_bars"]], date(2026, 10, 1), date(2026, 10, 2)).success
    before = snapshot(url)

    # The third stock's answer is bad (every retry of it too): the two before it must not be written.
    httpx.post(f"{sandbox.url}/_sandbox/faults", json={"path_contains": "inquire-daily-itemchartprice",
                                                        "kind": fault, "count": 100, "skip": 2})
    result = materialize([["kis", "daily_bars"]], date(2026, 10, 5), date(2026, 10, 8), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error)  # type: ignore[union-attr]
    assert "nothing written" in message and "KIS" in message
    assert "test-app-secret" not in message
    assert snapshot(url) == before


def test_tables_are_the_schema(sandbox_env: str) -> None:
    """Migrations build exactly the tables the models declare."""
    from sqlalchemy import inspect

    from stock_insights.storage.migrate import upgrade

    upgrade(sandbox_env)
    engine = make_engine(sandbox_env)
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert tables == set(Base.metadata.tables)
