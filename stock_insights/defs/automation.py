"""Declarative automation runs from the start (the cron and eager conditions on the assets)."""

import dagster as dg

automation = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Evaluates every asset's automation condition (cron ticks, eager updates).",
)
