"""Which forecasts a leaderboard is made of: live or all, and only those after each model's training cutoff.

**Live versus late.** One definition, the ledger's (:func:`stock_insights.ledger.is_live`): a forecast for day D is
live iff its cutoff ``as_of`` and the moment it was first stored (``created_at``) are both before 09:00 KST on D.
Anything else for D (a backfill, a re-run that added a version, a model added later, a refresh cut off after the
open) is *late*. The **live** board of a (model, stock, target day) takes its latest live version; the **all**
board its latest version, live or late (what the leaderboard computed before this distinction), and counts per
model how many of its rows are late (``n_late``).

**After the training cutoff.** A model's registry entry states the last month of its training data
(``predictors.config``): an ``after_cutoff`` board keeps only the forecasts whose **target day** is after that month
(on or after the 1st of the next month), so an LLM cannot be flattered by days whose outcome it may have read. A
baseline (cutoff null: it learns nothing) keeps every forecast; a model whose cutoff is ``unknown``, or that the
registry does not list, keeps none.

Four variants of the same rows: ``all``, ``live``, ``all_after_cutoff``, ``live_after_cutoff``. The caller loads
the scored versions once (:func:`variants`) and computes a board only for the variants whose rows differ; a
variant with exactly the rows of another is stored as ``{"same_as": <variant>}`` and served as that one.

The stored snapshot (``leaderboards.payload``, one per day and window): the top level is the ``all`` variant, as
before (``forecasts: "all"``, ``after_cutoff: false``), with ``variants`` holding the other three.
:func:`resolve` returns the board a reader asked for and says which one it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from stock_insights.ledger import is_live
from stock_insights.predictors.config import UNKNOWN_CUTOFF, first_unseen_day

Forecasts = Literal["live", "all"]
FORECASTS: tuple[str, ...] = ("live", "all")
DEFAULT_FORECASTS: Forecasts = "live"
ALL, LIVE, ALL_AFTER, LIVE_AFTER = "all", "live", "all_after_cutoff", "live_after_cutoff"
VARIANTS: tuple[str, ...] = (ALL, LIVE, ALL_AFTER, LIVE_AFTER)
KEY = ["model", "code", "target_date"]  # one forecast per key stands for its day (per horizon)

LIVE_RULE = (
    "live: cut off (as_of) and first stored (created_at) before 09:00 KST on the target day, the ledger's rule; "
    "late: anything else (a backfill, a re-run, a model added later, a refresh after the open)"
)
CUTOFF_RULE = (
    "after the training cutoff: only forecasts whose target day is after the last month of the model's training "
    "data (models.yaml training_cutoff); a baseline (null: learns nothing) keeps every forecast, an unknown cutoff "
    "none"
)


def variant_name(forecasts: str, after_cutoff: bool) -> str:
    if forecasts not in FORECASTS:
        raise ValueError(f"forecasts must be one of {FORECASTS}, not {forecasts!r}")
    return f"{forecasts}_after_cutoff" if after_cutoff else forecasts


def _first_of_each(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """The index of the first row of each group (``codes`` from ``pd.factorize``: every group has a row)."""
    first = np.empty(n_groups, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # written last to first: the first row stays
    return first


def live_mask(frame: pd.DataFrame) -> np.ndarray:
    """``is_live(target_date, as_of, created_at)`` of every row, asked once per distinct triple (a run stores its
    rows with one cutoff and one storage time: a few hundred triples for millions of rows)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    key = np.zeros(len(frame), dtype=np.int64)
    for column in ("target_date", "as_of", "created_at"):
        codes, uniques = pd.factorize(frame[column])
        key, _ = pd.factorize(key * len(uniques) + codes)  # stays below n² at every step: no overflow
    key = np.asarray(key, dtype=np.int64)
    n_groups = int(key.max()) + 1
    first = _first_of_each(key, n_groups)
    days, as_of, created = (frame[c].iloc[first].tolist() for c in ("target_date", "as_of", "created_at"))
    verdicts = np.array([is_live(d, a, c) for d, a, c in zip(days, as_of, created, strict=True)], dtype=bool)
    return verdicts[key]


def cutoff_mask(frame: pd.DataFrame, cutoffs: Mapping[str, str | None]) -> np.ndarray:
    """True where the row's target day is after its model's training cutoff (module docstring)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    model_codes, models = pd.factorize(frame["model"])
    day_codes, days = pd.factorize(frame["target_date"])
    keep = np.zeros((len(models), len(days)), dtype=bool)  # (model, day) -> kept
    for i, model in enumerate(models):
        if model in cutoffs and cutoffs[model] is None:  # learns nothing: every forecast is after its "cutoff"
            keep[i, :] = True
            continue
        first = first_unseen_day(cutoffs.get(model) or UNKNOWN_CUTOFF)
        if first is not None:
            keep[i, :] = [d >= first for d in days]
    return keep[model_codes, day_codes]


@dataclass(frozen=True)
class Variants:
    """The rows of each variant that must be computed, and the variants that are the same rows as another."""

    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    same_as: dict[str, str] = field(default_factory=dict)

    def source(self, name: str) -> str:
        """The computed variant whose rows ``name`` is."""
        while name in self.same_as:
            name = self.same_as[name]
        return name

    def late_counts(self, name: str, first: date | None, last: date | None) -> dict[str, int]:
        """Late rows of variant ``name`` per model, exit days in [first, last] (a board's window)."""
        frame = self.frames[self.source(name)]
        if frame.empty or first is None or last is None or frame["live"].all():
            return {}
        late = frame[~frame["live"].to_numpy(dtype=bool)]
        late = late[[first <= d <= last for d in late["date"]]]
        return {str(k): int(v) for k, v in late["model"].value_counts().items()}


def variants(versions: pd.DataFrame, cutoffs: Mapping[str, str | None]) -> Variants:
    """The four variants of scored versions (``predictors.store.scored_versions``: oldest cutoff first)."""
    if versions.empty:
        return Variants(frames={ALL: versions.assign(live=np.zeros(0, dtype=bool))}, same_as={
            LIVE: ALL, ALL_AFTER: ALL, LIVE_AFTER: ALL
        })  # fmt: skip
    frame = versions.assign(live=live_mask(versions))
    everything = frame.drop_duplicates(KEY, keep="last")
    frames: dict[str, pd.DataFrame] = {ALL: everything}
    same_as: dict[str, str] = {}
    if everything["live"].all():  # every key's latest version is live: the live board is the same rows
        same_as[LIVE] = ALL
    else:
        frames[LIVE] = frame[frame["live"]].drop_duplicates(KEY, keep="last")
    for base, restricted in ((ALL, ALL_AFTER), (LIVE, LIVE_AFTER)):
        if base in same_as:  # live is all: so is live after the cutoff all after it
            same_as[restricted] = ALL_AFTER
            continue
        keep = cutoff_mask(frames[base], cutoffs)
        if keep.all():
            same_as[restricted] = base
        else:
            frames[restricted] = frames[base][keep]
    return Variants(frames=frames, same_as=same_as)


# --- the stored snapshot --------------------------------------------------------------------------


def after_cutoff_summary(model: str, restricted: Mapping[str, Any] | None) -> dict[str, Any]:
    """The figures of ``model`` on the after-cutoff board of the same window (none when it has no row there)."""
    found = next((m for m in (restricted or {}).get("models", []) if m["model"] == model), None)
    if found is None:
        return {
            "n_predictions": 0, "n_dates": 0, "first_date": None, "rank": None, "hit_rate": None, "brier": None,
            "reason": "no scored forecast after the model's training cutoff in this window",
        }  # fmt: skip
    return {
        "n_predictions": found["n_predictions"],
        "n_dates": found["n_dates"],
        "first_date": found["first_date"],
        "rank": found["rank"],
        "hit_rate": found["hit_rate"]["rate"],
        "brier": found["brier"]["brier"],
        "reason": None,
    }


def annotate(
    board: dict[str, Any],
    *,
    forecasts: str,
    after_cutoff: bool,
    cutoffs: Mapping[str, str | None],
    n_late: Mapping[str, int],
    restricted: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Label a JSON board (``to_jsonable`` of a ``Leaderboard``) with what it is made of, and each model with its
    training cutoff, its late rows and (on a full board) its figures on the after-cutoff board ``restricted``."""
    board["forecasts"] = forecasts
    board["after_cutoff"] = after_cutoff
    for m in board.get("models", []):
        name = m["model"]
        m["training_cutoff"] = cutoffs.get(name, UNKNOWN_CUTOFF)
        m["n_late"] = int(n_late.get(name, 0))
        if not after_cutoff:
            m["after_cutoff"] = after_cutoff_summary(name, restricted)
    return board


def resolve(payload: Mapping[str, Any], forecasts: str, after_cutoff: bool) -> tuple[Mapping[str, Any], str, bool]:
    """(the stored board payload of the asked variant, the forecasts it holds, whether only after the cutoff).

    A snapshot stored before variants existed holds every forecast: it is returned as ``all``, full, whatever was
    asked, and says so."""
    name = variant_name(forecasts, after_cutoff)
    stored = payload.get("variants")
    if stored is None:
        return payload, ALL, False
    seen = set()
    while name != ALL:
        seen.add(name)
        entry = stored.get(name)
        if entry is None:
            return payload, ALL, False
        target = entry.get("same_as")
        if target is None:
            return entry, forecasts, after_cutoff
        if target in seen:
            raise ValueError(f"the snapshot's variants refer to each other in a loop: {sorted(seen)}")
        name = target
    return payload, forecasts, after_cutoff
