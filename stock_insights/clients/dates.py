"""Dates as upstream feeds write them."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_pub_date(text: str | None) -> datetime | None:
    """RFC 822 dates (Naver ``pubDate``, RSS), tz-aware UTC; None when absent or unreadable.

    ``+09:00`` (Maeil) is normalised first: Python parses it naive. ``KST`` is read as ``+0900``.
    """
    if not text or not text.strip():
        return None
    value = text.strip()
    if value.endswith(" KST"):
        value = value[:-4] + " +0900"
    if len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        value = value[:-3] + value[-2:]
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)
