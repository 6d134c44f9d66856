"""The size bound of every MCP answer: at most ``MAX_ANSWER_CHARS`` characters of JSON.

Tools cap their item counts in their schemas; this is the last guard, for answers whose items are long (a
report's Markdown, a forecast's cited inputs). Long strings are shortened first (marked with an ellipsis), then
items are dropped from the end of the longest list; an answer so cut says ``"truncated": true`` and what to do.
"""

from __future__ import annotations

import json
from typing import Any

MAX_ANSWER_CHARS = 20_000  # about 5,000-7,000 tokens of JSON: room for a few answers in an assistant's context
TRUNCATED_NOTE = "Answer shortened to fit the size bound: narrow the request (fewer items, a code, a date)."
_STRING_LIMITS = (4_000, 1_000, 300)
ELLIPSIS = "…"


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _shorten(value: Any, limit: int) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + ELLIPSIS
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def _longest_list(value: Any) -> list[Any] | None:
    """The list (anywhere in the answer) whose JSON is longest, if it has an item to drop."""
    best: tuple[int, list[Any]] | None = None
    stack = [value]
    while stack:
        node = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        if isinstance(node, list) and node:
            size = len(dumps(node))
            if best is None or size > best[0]:
                best = (size, node)
        stack.extend(c for c in children if isinstance(c, dict | list))
    return None if best is None else best[1]


def bounded(answer: dict[str, Any], max_chars: int = MAX_ANSWER_CHARS) -> dict[str, Any]:
    """``answer`` if its JSON fits in ``max_chars``, else a shortened copy that does (``truncated``: true)."""
    if len(dumps(answer)) <= max_chars:
        return answer
    marked = {**answer, "truncated": True, "truncated_note": TRUNCATED_NOTE}
    for limit in _STRING_LIMITS:
        marked = _shorten(marked, limit)
        if len(dumps(marked)) <= max_chars:
            return marked
    while len(dumps(marked)) > max_chars:
        longest = _longest_list(marked)
        if longest is None:  # nothing left to drop: the envelope alone
            keep = ("data_mode", "as_of", "truncated", "truncated_note")
            return {k: marked[k] for k in keep if k in marked}
        if len(longest) > 8:  # halve long lists, then drop one at a time: few serialisations, little lost
            del longest[len(longest) // 2 :]
        else:
            longest.pop()
    return marked
