"""Every asset key another definition refers to, named once (a key is its asset's address in the UI,
in lineage and in run requests: a typo would silently point at nothing)."""

from __future__ import annotations

import dagster as dg

UNIVERSE = dg.AssetKey(["universe", "stocks"])
DART_CORP_CODES = dg.AssetKey(["dart", "corp_codes"])
DART_DISCLOSURES = dg.AssetKey(["dart", "disclosures"])
KIS_MINUTE_BARS = dg.AssetKey(["kis", "minute_bars"])
EMBEDDINGS = dg.AssetKey(["embeddings", "documents"])
PREDICTIONS = dg.AssetKey(["predictions", "daily"])
EVALUATIONS = dg.AssetKey(["evaluations", "daily"])
LEADERBOARD = dg.AssetKey(["evaluations", "leaderboard"])
ALERTS = dg.AssetKey(["alerts", "notifications"])


def news(source: str) -> dg.AssetKey:
    """``news/<source>``: one asset per news source (naver, hankyung, maeil, reddit)."""
    return dg.AssetKey(["news", source])
