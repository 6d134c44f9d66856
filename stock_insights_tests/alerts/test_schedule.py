"""The alerts' schedule and wiring: which partitions a tick runs, and who triggers the asset."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dagster as dg
import pytest

from stock_insights import calendar
from stock_insights.calendar import KST
from stock_insights.defs.alerts.schedules import alert_partitions, alerts_every_10_minutes
from stock_insights.defs.dart.sensors import DOWNSTREAM_ON_FILING
from stock_insights.defs.partitions import trading_days

ALERTS = dg.AssetKey(["alerts", "notifications"])


def kst(y: int, m: int, d: int, hour: int, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=KST)


@pytest.mark.parametrize(
    ("when", "keys"),
    [
        (kst(2026, 10, 15, 10, 20), ["2026-10-15"]),  # Thursday, during the session
        (kst(2026, 10, 15, 23, 50), ["2026-10-15"]),
        (kst(2026, 10, 16, 0, 0), ["2026-10-15", "2026-10-16"]),  # Friday's first tick completes Thursday
        (kst(2026, 10, 16, 0, 10), ["2026-10-16"]),
        (kst(2026, 10, 17, 13, 0), ["2026-10-16"]),  # Saturday: Friday's window runs to Monday
        (kst(2026, 10, 19, 0, 0), ["2026-10-16", "2026-10-19"]),
    ],
)
def test_a_tick_runs_the_window_it_falls_in(when: datetime, keys: list[str]) -> None:
    assert alert_partitions(when) == keys


def test_a_holiday_belongs_to_the_session_before_it() -> None:
    holiday = next(
        d
        for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(365))
        if d.weekday() < 5 and not calendar.is_session(d)
    )
    before = calendar.previous_session(holiday)
    assert alert_partitions(datetime.combine(holiday, datetime.min.time(), tzinfo=KST) + timedelta(hours=12)) == [
        before.isoformat()
    ]


def test_schedule_requests_existing_partitions_with_unique_run_keys() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=kst(2026, 10, 19, 0, 0))
    requests = alerts_every_10_minutes(context)
    assert [r.partition_key for r in requests] == ["2026-10-16", "2026-10-19"]
    assert len({r.run_key for r in requests}) == 2
    existing = set(trading_days.get_partition_keys(current_time=kst(2026, 10, 19, 0, 1)))
    assert {r.partition_key for r in requests} <= existing
    saturday = alerts_every_10_minutes(dg.build_schedule_context(scheduled_execution_time=kst(2026, 10, 17, 13, 0)))
    assert [r.partition_key for r in saturday] == ["2026-10-16"]
    assert "2026-10-16" in trading_days.get_partition_keys(current_time=kst(2026, 10, 17, 13, 0))


def test_the_asset_is_wired_to_the_schedule_and_the_filing_sensor() -> None:
    from stock_insights.definitions import defs

    spec = next(s for s in defs.resolve_all_asset_specs() if s.key == ALERTS)
    assert spec.group_name == "alerts" and spec.partitions_def == trading_days
    graph = defs.resolve_asset_graph()
    upstream = {dg.AssetKey(["dart", "disclosures"]), dg.AssetKey(["predictions", "daily"])}
    assert upstream <= graph.get(ALERTS).parent_keys
    assert ALERTS in DOWNSTREAM_ON_FILING
    schedule = defs.resolve_schedule_def("alerts_every_10_minutes")
    assert schedule.cron_schedule == "*/10 * * * *" and schedule.execution_timezone == "Asia/Seoul"
    sensor = defs.resolve_sensor_def("dart_new_filings")
    assert ALERTS in defs.resolve_job_def(sensor.job_name).asset_layer.executable_asset_keys
