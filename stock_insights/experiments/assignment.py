"""Deterministic arm assignment: the same user always sees the same arm of an experiment.

The arm is a pure function of (user id, experiment id) and the arms' weights: a SHA-256 of the pair
gives a point in [0, 1), and the arms, in name order, split that interval by weight. No state is
stored, every process agrees, and a user's arm changes only if the arms or weights change.
Different experiments hash independently, so being in one experiment's treatment arm says nothing
about the next one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Arm:
    name: str
    model: str
    weight: float


def unit_interval(user_id: int, experiment_id: int) -> float:
    """A uniform, reproducible point in [0, 1) for this user and experiment."""
    digest = hashlib.sha256(f"stock_insights.ab:{experiment_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_arm(user_id: int, experiment_id: int, arms: Sequence[Arm]) -> Arm:
    """The arm this user gets; arms with zero weight are never chosen. ValueError if none can be."""
    eligible = sorted((a for a in arms if math.isfinite(a.weight) and a.weight > 0), key=lambda a: a.name)
    if not eligible:
        raise ValueError("an experiment needs at least one arm with a positive weight")
    total = math.fsum(a.weight for a in eligible)
    point = unit_interval(user_id, experiment_id) * total
    upper = 0.0
    for arm in eligible:
        upper += arm.weight
        if point < upper:
            return arm
    return eligible[-1]  # point == total only through rounding
