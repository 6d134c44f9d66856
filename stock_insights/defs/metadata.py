"""What every asset shows after a run: data mode, counts, a preview table."""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from stock_insights.settings import get_settings


def data_mode() -> str:
    return get_settings().DATA_MODE


def definition_metadata(**extra: Any) -> dict[str, Any]:
    return {"data_mode": data_mode(), **extra}


def preview_table(rows: Sequence[Mapping[str, Any]], limit: int = 10) -> dg.MetadataValue:
    """A Markdown table of the first rows (what the UI shows under 'preview')."""
    if not rows:
        return dg.MetadataValue.md("_no rows_")
    columns = list(rows[0].keys())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows_")
    return dg.MetadataValue.md("\n".join(lines))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value).replace("|", "\\|")


def run_metadata(rows: int, preview: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "data_mode": data_mode(),
        "dagster/row_count": dg.MetadataValue.int(rows),
        "preview": preview_table(preview),
        **extra,
    }
