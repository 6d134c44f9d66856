"""Opaque cursors: URL-safe base64 of the last row's sort key and id.

Lists are ordered by (sort key, id) descending, so the order is total and stable: rows inserted
after a page was read land before the cursor (newer) or are skipped consistently, never duplicated.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Query

MAX_CURSOR_LENGTH = 200

CursorQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_CURSOR_LENGTH,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Opaque cursor from the previous page's `next_cursor`",
    ),
]


def encode_cursor(*parts: Any) -> str:
    def plain(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date | datetime) else value

    raw = json.dumps([plain(p) for p in parts], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> tuple[Any, ...]:
    """The cursor's parts converted to ``kinds`` (datetime, date, int or str); 422 if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError("wrong shape")
        out: list[Any] = []
        for value, kind in zip(parts, kinds, strict=True):
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    raise ValueError("naive time")
                out.append(parsed)
            elif kind is date:
                out.append(date.fromisoformat(value))
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
                    raise ValueError("not an id")
                out.append(value)
            else:
                if not isinstance(value, str) or len(value) > 100 or not value.isprintable():
                    raise ValueError("not a key")
                out.append(value)
        return tuple(out)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise HTTPException(422, "cursor is not valid for this list") from exc
