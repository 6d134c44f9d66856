"""scripts/backfill.py: the first materialization covers every asset of the code location, over the right days.

The launch itself (GraphQL against a running webserver) is exercised by ``scripts/run.sh``; this checks the plan.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import pytest

from stock_insights import calendar
from stock_insights.definitions import defs

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "backfill.py"


@pytest.fixture(scope="module")
def backfill() -> ModuleType:
    spec = importlib.util.spec_from_file_location("first_run_backfill", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # Saturday noon in Seoul: the last closed session is Friday 12-04


def test_every_asset_is_materialized_by_the_first_part(backfill: ModuleType) -> None:
    planned = {"/".join(key) for stage in backfill.first_part(20, NOW) for plan in stage for key in plan.assets}
    every = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert planned == every, f"missing {sorted(every - planned)}, unknown {sorted(planned - every)}"


def test_the_ranges_cover_the_forecast_days_and_the_closes_before_them(backfill: ModuleType) -> None:
    sources, second = backfill.first_part(20, NOW)
    forecasts, snapshots = second
    last = date(2026, 12, 4)
    window = calendar.sessions(date(2025, 1, 1), last)
    assert (forecasts.first, forecasts.last) == (window[-20], last)
    assert (sources[0].first, sources[0].last) == (window[-20 - backfill.EXTRA_BAR_SESSIONS], last)
    assert snapshots.partition_tags() == {"dagster/partition": "2026-12-04"}
    assert forecasts.partition_tags() == {"dagster/asset_partition_range_start": window[-20].isoformat(),
                                          "dagster/asset_partition_range_end": "2026-12-04"}


def test_the_history_backfill_ends_where_the_first_part_begins(backfill: ModuleType) -> None:
    params = backfill.history_backfill(20, NOW)
    window = calendar.sessions(date(2024, 1, 1), date(2026, 12, 4))
    first_bar_day = window[-20 - backfill.EXTRA_BAR_SESSIONS]
    spans = {tuple(p["assetKey"]["path"]): p["partitions"]["range"] for p in params["partitionsByAssets"]}
    assert set(spans) == {("kis", "daily_bars"), ("kis", "index_bars")}
    for span in spans.values():
        start, end = date.fromisoformat(span["start"]), date.fromisoformat(span["end"])
        assert end == window[window.index(first_bar_day) - 1]
        assert len(calendar.sessions(start, end)) == backfill.HISTORY_SESSIONS
