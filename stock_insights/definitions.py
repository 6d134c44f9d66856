"""The Dagster code location: everything under ``stock_insights/defs`` is loaded automatically."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
