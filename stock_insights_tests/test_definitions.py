"""The code location loads, and every asset carries what a user of the UI needs."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg

from stock_insights.settings import PROJECT_ROOT

SLICE = {("universe", "stocks"), ("kis", "daily_bars"), ("predictions", "daily"), ("evaluations", "daily")}


def test_dagster_validates_the_definitions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # An empty DAGSTER_HOME: the repo root's dagster.yaml is the production (PostgreSQL) instance.
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "stock_insights.definitions", "-a", "defs"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_every_asset_is_described_grouped_kinded_and_says_its_data_mode() -> None:
    from stock_insights.definitions import defs

    specs = {tuple(spec.key.path): spec for spec in defs.resolve_all_asset_specs()}
    assert set(specs) >= SLICE
    for key, spec in specs.items():
        assert spec.description and len(spec.description) > 40, key
        assert spec.group_name and spec.group_name != "default", key
        assert spec.kinds, key
        assert "data_mode" in spec.metadata, key


def test_lineage_and_partitions_of_the_slice() -> None:
    from stock_insights.definitions import defs

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey
    assert key(["kis", "daily_bars"]) in graph.get(key(["predictions", "daily"])).parent_keys
    assert key(["predictions", "daily"]) in graph.get(key(["evaluations", "daily"])).parent_keys
    daily = graph.get(key(["kis", "daily_bars"])).partitions_def
    keys = daily.get_partition_keys()  # type: ignore[union-attr]
    # XKRX holidays are not partitions: Seollal 2024 and the 2024 general election day.
    assert "2024-02-09" not in keys and "2024-04-10" not in keys and "2024-02-13" in keys
    assert defs.resolve_schedule_def("predictions_before_open").execution_timezone == "Asia/Seoul"
