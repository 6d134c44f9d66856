"""The Dagster code location: everything under ``stock_insights/defs`` is loaded automatically.

The resources' fields are filled from the settings when the definitions are built (secrets as
``dg.EnvVar``); ``build_defs()`` builds them again, for the settings of the moment.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg


def build_defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


defs = build_defs()
