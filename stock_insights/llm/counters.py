"""Per-model counters of the gateway's outcomes (thread-safe)."""

from __future__ import annotations

import threading
from collections import defaultdict

# Failures of one call, judged by the gateway or the caller's judge; "rejected" is a caller's own rule.
FAILURE_KINDS = ("invalid_json", "schema_violation", "truncated", "refusal", "rejected")
# Outcomes of a request: exhausted (no valid answer in max_attempts), api_error (the SDK gave up),
# cost_cap (refused before a call), circuit_open (refused: the model's calls kept failing).
COUNTER_KINDS = (
    "calls",
    "answers",
    "replays",
    *FAILURE_KINDS,
    "exhausted",
    "api_error",
    "cost_cap",
    "circuit_open",
)


class Counts(dict[str, int]):
    """A model's counts: every kind of ``COUNTER_KINDS`` present, any other kind read as 0."""

    def __missing__(self, kind: str) -> int:
        return 0


class LLMCounters:
    """Counters per model name: the parse-failure rate per model is an A/B metric in its own right.
    Callers count their own kinds too (the predictors' ``citation_retries``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, defaultdict[str, int]] = {}

    def increment(self, model: str, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts.setdefault(model, defaultdict(int))[kind] += n

    def get(self, model: str) -> Counts:
        with self._lock:
            counts = dict(self._counts.get(model, {}))
        return Counts({**{kind: 0 for kind in COUNTER_KINDS}, **counts})

    def snapshot(self) -> dict[str, Counts]:
        with self._lock:
            names = list(self._counts)
        return {name: self.get(name) for name in names}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


COUNTERS = LLMCounters()
