"""Strict request-parameter types shared by the routes: what the OpenAPI document says is what is enforced.

Query and path values reach pydantic as strings, and pydantic's lax mode reads a lot into them: ``0`` or
``-4231`` as a date-time (seconds since 1970), ``2026-12-04T00:00:00`` as a date (a midnight), and
``\\d`` in a pattern matches any Unicode digit (``٠٠٥٩٣٠``). These types accept only the written forms
the schema states, with ASCII digits, and a year range that keeps date arithmetic away from overflow:

- ``MarketDate``: ``YYYY-MM-DD`` (RFC 3339 full-date), years 1900-2100;
- ``AwareDatetime``: ISO 8601 / RFC 3339 date-time (or a bare date: midnight), years 1900-2100; a time
  without an offset means UTC; the value is returned in UTC;
- ``STOCK_CODE_PATTERN``: six ASCII digits;
- ``AsOfQuery``: the ``as_of`` query parameter of the routes that serve facts (issue 17): an ISO 8601 date-time
  *with* its offset (``Z`` or ``+09:00``); a naive time or a bare date is refused (422), since "as of 09:00"
  means nothing without a zone. The answer holds only what was first seen by then.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2100, 12, 31)

STOCK_CODE_PATTERN = r"^[0-9]{6}$"
_YEAR = r"(19[0-9]{2}|20[0-9]{2}|2100)"
_DAY = rf"{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
DATE_PATTERN = rf"^{_DAY}$"
DATETIME_PATTERN = (
    rf"^{_DAY}([Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{{1,6}})?)?([Zz]|[+-][0-9]{{2}}:?[0-9]{{2}})?)?$"
)
# as_of: the same forms, but the time and its offset are required.
AS_OF_PATTERN = (
    rf"^{_DAY}[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{{1,6}})?)?([Zz]|[+-][0-9]{{2}}:?[0-9]{{2}})$"
)
_DATE_RE = re.compile(DATE_PATTERN)
_AS_OF_RE = re.compile(AS_OF_PATTERN)
_DATETIME_RE = re.compile(DATETIME_PATTERN)
RANGE_NOTE = f"between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}"
AS_OF_RULE = (
    "must be an ISO 8601 date-time with its offset, such as 2026-12-04T09:00:00+09:00 or 2026-12-04T00:00:00Z "
    f"(a time without a zone is refused; write + as %2B in a URL), {RANGE_NOTE}"
)


def _date_text(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # a Python caller (tests, the CLI) passing a date already
    if isinstance(value, str) and _DATE_RE.fullmatch(value):
        return value
    raise ValueError(f"must be a date written YYYY-MM-DD, {RANGE_NOTE}")


def _datetime_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATETIME_RE.fullmatch(value):
        return value
    raise ValueError(f"must be an ISO 8601 date-time such as 2026-12-04T09:00:00+09:00, {RANGE_NOTE}")


def _as_of_text(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # a Python caller passing a naive time: the same rule as the query string
            raise ValueError(AS_OF_RULE)
        return value
    if isinstance(value, str) and _AS_OF_RE.fullmatch(value):
        return value
    raise ValueError(AS_OF_RULE)


def in_range(value: date) -> date:
    if not MIN_DATE <= value <= MAX_DATE:
        raise ValueError(f"must be {RANGE_NOTE}")
    return value


def to_utc(value: datetime) -> datetime:
    """A naive time means UTC; the range is checked before any conversion can overflow."""
    if not MIN_DATE <= value.date() <= MAX_DATE:
        raise ValueError(f"must be {RANGE_NOTE}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


MarketDate = Annotated[
    date,
    BeforeValidator(_date_text),
    AfterValidator(in_range),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DATE_PATTERN}),
]
AwareDatetime = Annotated[
    datetime,
    BeforeValidator(_datetime_text),
    AfterValidator(to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}),
]
AsOfTimestamp = Annotated[
    datetime,
    BeforeValidator(_as_of_text),
    AfterValidator(to_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": AS_OF_PATTERN}),
]
AsOfQuery = Annotated[
    AsOfTimestamp | None,
    Query(
        description="Answer as of this moment: only what the platform had first seen by then (ISO 8601 date-time "
        "with its offset, e.g. `2026-12-04T09:00:00+09:00`; a time without a zone is refused with 422). Omitted: "
        "everything stored now. The answer's `as_of` says which moment it was answered for.",
        examples=["2026-12-04T09:00:00+09:00"],
    ),
]
