"""The dart_new_filings sensor: its cursor and run requests, against the sandbox over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from stock_insights.defs.dart import sensors
from stock_insights.defs.dart.assets import FILING_CODES_TAG, FILING_RCEPT_NOS_TAG
from stock_insights.defs.dart.resources import DartResource
from stock_insights.defs.dart.sensors import DOWNSTREAM_ON_FILING, FilingCursor, dart_new_filings
from stock_insights.defs.resources import DatabaseResource
from stock_insights.sandbox.market import KST
from stock_insights.universe import KNOWN_LISTINGS
from stock_insights_tests.news.conftest import DART_KEY, Clock, add_fault

MORNING = datetime(2026, 10, 15, 11, 0, tzinfo=KST)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The sensor reads only the tracked codes from the store: SQLite is enough here."""
    return f"sqlite:///{tmp_path / 'sensor.db'}"


@pytest.fixture
def tick(news_env: str, sandbox_url: str, news_clock: Clock, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Evaluate the sensor once at the sandbox's time, every known listing tracked."""
    monkeypatch.setenv("STOCK_UNIVERSE", ",".join(sorted(KNOWN_LISTINGS)))
    from stock_insights.settings import reset_settings_cache

    reset_settings_cache()
    monkeypatch.setattr(sensors, "kst_now", lambda: news_clock.moment)
    instance = dg.DagsterInstance.ephemeral()
    dart = DartResource(base_url=sandbox_url, api_key=DART_KEY, requests_per_second=50)
    resources = {"database": DatabaseResource(url=news_env), "dart": dart}

    def evaluate(cursor: str | None) -> dg.SensorResult | dg.SkipReason:
        # The database resource opens its engine for the tick and disposes of it after (setup and teardown).
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            return dart_new_filings(context)

    return evaluate


def test_new_filings_request_downstream_runs_once(tick, news_clock: Clock) -> None:  # type: ignore[no-untyped-def]
    news_clock.moment = MORNING
    result = tick(None)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests or []
    assert request.partition_key == "2026-10-15" and list(request.asset_selection) == DOWNSTREAM_ON_FILING
    codes = request.tags[FILING_CODES_TAG].split(",")
    assert codes and set(codes) <= set(KNOWN_LISTINGS)
    cursor = FilingCursor.model_validate_json(result.cursor or "")
    assert cursor.day == "2026-10-15" and cursor.total > 0
    assert set(request.tags[FILING_RCEPT_NOS_TAG].split(",")) <= set(cursor.seen)

    # Nothing new a minute later: a skip that keeps the cursor.
    quiet = tick(result.cursor)
    assert isinstance(quiet, dg.SensorResult) and not quiet.run_requests
    assert quiet.cursor == result.cursor

    # In the afternoon, only the filings published since the morning are requested.
    news_clock.moment = MORNING + timedelta(hours=6)
    later = tick(result.cursor)
    assert isinstance(later, dg.SensorResult)
    (afternoon,) = later.run_requests or []
    new = set(afternoon.tags[FILING_RCEPT_NOS_TAG].split(","))
    assert new and not new & set(cursor.seen)
    assert afternoon.run_key != request.run_key


def test_daily_limit_stops_polling_for_the_day(tick, news_clock: Clock, sandbox_url: str) -> None:  # type: ignore[no-untyped-def]
    news_clock.moment = MORNING
    add_fault(sandbox_url, "/api/list.json", "daily_quota")
    stopped = tick(None)
    assert isinstance(stopped, dg.SensorResult) and not stopped.run_requests
    assert FilingCursor.model_validate_json(stopped.cursor or "").stopped_for_day
    again = tick(stopped.cursor)
    assert isinstance(again, dg.SkipReason) and "020" in (again.skip_message or "")
    # A new KST day starts a fresh cursor.
    news_clock.moment = MORNING + timedelta(days=1)
    assert not FilingCursor.model_validate_json(
        tick(stopped.cursor).cursor or "{}"  # type: ignore[union-attr]
    ).stopped_for_day
