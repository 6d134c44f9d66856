"""The one meaning of "direction": what a forecast calls and what the market did, as one binary event.

Every score in ``metrics/`` (hits, Pesaran-Timmermann, MCC, Brier, log loss, calibration, the paired tests)
and every stored evaluation (``hit``, ``realized_direction``) uses these functions and nothing else:

- The outcome is binary: the stock **went up** iff ``realized_return > 0``; otherwise it is "down" (not up).
  An unchanged close (``realized_return == 0``) counts as down, i.e. "not up", because ``prob_up`` is the
  probability of a *rise*: the Brier score and log loss of ``prob_up`` score exactly this event, so a hit
  must score it too.
- A forecast **calls up** iff its ``direction`` is ``"up"``; ``"down"`` and ``"flat"`` are "not up" calls.
- **hit** = (calls up) == (went up).

There is no flat band: no realized move is dropped or relabelled, whatever its size. A −0.19% day is "down"
for the hit, for Brier and for the API alike. Unchanged closes are not hidden either: the leaderboard counts
them (``n_unchanged``) so a reader can see how many "not up" outcomes were exactly zero (KRX tick sizes make
a few of them on quiet days).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

RealizedDirection = Literal["up", "down"]
OUTCOME_RULE = (
    "binary outcome: went up iff realized_return > 0, otherwise down (an unchanged close is not up); a forecast "
    "calls up iff its direction is 'up' ('down' and 'flat' are not-up calls); hit = (called up) == (went up)"
)


def went_up(realized_return: float) -> bool:
    """The outcome of one forecast: True iff the realized return is strictly positive."""
    return bool(realized_return > 0)


def realized_direction(realized_return: float) -> RealizedDirection:
    """"up" iff the realized return is strictly positive, otherwise "down" (zero included)."""
    return "up" if went_up(realized_return) else "down"


def called_up(direction: str) -> bool:
    """A forecast's call: True iff its direction is "up" ("down" and "flat" are not-up calls)."""
    return direction == "up"


def is_hit(direction: str, realized_return: float) -> bool:
    return called_up(direction) == went_up(realized_return)


def outcomes_up(realized_return: ArrayLike) -> np.ndarray:
    """Vectorised :func:`went_up`."""
    return np.asarray(realized_return, dtype=float) > 0


def calls_up(direction: ArrayLike) -> np.ndarray:
    """Vectorised :func:`called_up`."""
    return np.asarray(direction, dtype=object) == "up"


def hits(direction: ArrayLike, realized_return: ArrayLike) -> np.ndarray:
    """Vectorised :func:`is_hit`."""
    return calls_up(direction) == outcomes_up(realized_return)


def unchanged(realized_return: ArrayLike) -> np.ndarray:
    """Closes that did not move (counted as "not up", reported as ``n_unchanged``)."""
    return np.asarray(realized_return, dtype=float) == 0
