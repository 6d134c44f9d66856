"""Opaque cursors: URL-safe base64 of the last row's sort key and id.

Lists are ordered by (sort key, id) descending, so the order is total and stable: rows inserted
after a page was read land before the cursor (newer) or are skipped consistently, never duplicated.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query

from api.params import MAX_DATE, MIN_DATE

MAX_CURSOR_LENGTH = 200
# Every cursor is unpadded URL-safe base64 of a JSON array, so it starts with "W" (the encoding of "[").
CURSOR_PATTERN = r"^W[A-Za-z0-9_-]{3,199}$"
_ASCII_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ASCII_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?[+-][0-9]{2}:[0-9]{2}"
)

CursorQuery = Annotated[
    str | None,
    Query(
        min_length=4,
        max_length=MAX_CURSOR_LENGTH,
        pattern=CURSOR_PATTERN,
        description="Opaque cursor: the previous page's `next_cursor`, unchanged. Any other value is a 422.",
    ),
]


def encode_cursor(*parts: Any) -> str:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date | datetime) else value

    raw = json.dumps([plain(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_time(value: Any) -> datetime:
    # Exactly what encode_cursor writes (isoformat of an aware time), in the range the API
    # serves: a far date with an offset (0001-01-01T00:00+14:00) overflows on conversion.
    if not isinstance(value, str) or not _ASCII_DATETIME.fullmatch(value):
        raise ValueError("not a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or not MIN_DATE <= parsed.date() <= MAX_DATE:
        raise ValueError("time out of range")
    return parsed.astimezone(UTC)


def _cursor_date(value: Any) -> date:
    if not isinstance(value, str) or not _ASCII_DATE.fullmatch(value):
        raise ValueError("not a date")
    day = date.fromisoformat(value)
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError("date out of range")
    return day


def _cursor_id(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise ValueError("not an id")
    return value


def _cursor_key(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 100 or not value.isprintable():
        raise ValueError("not a key")
    return value


_CURSOR_PARTS: dict[type, Callable[[Any], Any]] = {datetime: _cursor_time, date: _cursor_date, int: _cursor_id}


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The cursor's parts converted to ``kinds`` (datetime, date, int or str); 422 if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong shape")
        return tuple(_CURSOR_PARTS.get(kind, _cursor_key)(value) for value, kind in zip(parts, kinds, strict=True))
    except (ValueError, TypeError, OverflowError, RecursionError, binascii.Error, UnicodeDecodeError) as exc:
        raise HTTPException(422, "cursor is not valid for this list") from exc
