"""The canonical form of a sealed day: the bytes whose SHA-256 is the day's digest (pure: no database).

A seal is UTF-8 JSON Lines. Line 1 is the header, then one line per forecast, in the order of its key
(model, stock code, horizon, as_of); each line is JSON with sorted keys, no spaces, non-ASCII kept as UTF-8,
and ends with ``\\n``:

    {"day":"2026-12-04","format":"stock_insights.ledger/2","live_deadline":"2026-12-04T00:00:00.000000Z","rows":2,"sealed_at":"2026-12-03T23:05:00.000000Z"}
    {"as_of":"2026-12-03T23:00:00.000000Z","code":"005930","created_at":"...","direction":"up","documents":[{"doc_id":"123","doc_type":"news","first_seen_at":"...Z"}],"expected_return":"0.001200000000","financials":[],"horizon":1,"inputs_sha256":"...","model":"gpt-4o","prob_up":"0.612000000000","prompt_hash":"...","prompt_version":"v1","rationale_sha256":"..."}

Floats are strings with exactly ``FLOAT_DECIMALS`` decimals (``-0`` written ``0``), times are UTC with
microseconds and ``Z``. ``documents`` are the cited documents (sorted by type and id) with the first sighting
the forecast recorded; ``inputs_sha256`` and ``rationale_sha256`` are SHA-256 of the canonical JSON (the same
rules, arrays kept in their stored order) of the whole ``cited_inputs`` (prices, documents, financials) and of
the rationale, and (format 2) ``prompt_hash``, the SHA-256 of the canonical JSON of the messages the forecast sent
(null for baselines, which send none). A seal is verified in the format it was made in: format-1 seals (no
``prompt_hash``) still verify. The day's chain digest is ``SHA-256(previous chain digest + digest)`` over the ASCII hex
strings, the first day's previous being 64 zeros.

A forecast for day D is *live* iff both its cutoff (``as_of``) and the moment it was first stored
(``created_at``) are before 09:00 KST on D, the open; any other forecast for D (a backfill, a re-run that
added a row, a model added later, a filing refresh after the open) is *late* and never in D's seal.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from stock_insights.clock import KST

FORMAT_V1 = "stock_insights.ledger/1"  # seals made before forecasts stored their prompt's hash
FORMAT = "stock_insights.ledger/2"  # each line also has ``prompt_hash``
FORMATS = (FORMAT_V1, FORMAT)  # every format a stored seal may have, and be verified in
GENESIS = "0" * 64
LIVE_DEADLINE = time(9, 0)  # KST, the open
FLOAT_DECIMALS = 12
ROW_KEY = ("model", "code", "horizon", "as_of")


def live_deadline(day: date) -> datetime:
    """09:00 KST on ``day`` (in UTC): a forecast for ``day`` first stored at or after it is late."""
    return datetime.combine(day, LIVE_DEADLINE, tzinfo=KST).astimezone(UTC)


def is_live(day: date, as_of: datetime, created_at: datetime) -> bool:
    deadline = live_deadline(day)
    return as_of < deadline and created_at < deadline


def fixed(value: float) -> str:
    """A float as a decimal string with ``FLOAT_DECIMALS`` decimals; NaN and infinities are refused."""
    if not math.isfinite(value):
        raise ValueError(f"a sealed number must be finite, got {value!r}")
    text = f"{value:.{FLOAT_DECIMALS}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: sealed times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _normalised(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common cases first: exact types
        return value
    if kind is float:
        return fixed(value)
    if kind is dict:
        return {str(k): _normalised(v) for k, v in value.items()}
    if kind is list:
        return [_normalised(v) for v in value]
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return fixed(value)
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    raise TypeError(f"cannot seal a {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text, fixed floats and UTC times."""
    return json.dumps(_normalised(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_seen(raw: Any) -> str | None:
    """A recorded first sighting in the sealed time format (kept verbatim when it is not a time)."""
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return str(raw)
    return timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def forecast_record(
    *,
    model: str,
    code: str,
    horizon: int,
    as_of: datetime,
    created_at: datetime,
    direction: str,
    prob_up: float,
    expected_return: float,
    cited_inputs: Mapping[str, Any] | None,
    rationale: Mapping[str, Any] | None,
    prompt_version: str | None,
    prompt_hash: str | None = None,
    fmt: str = FORMAT,
) -> dict[str, Any]:
    """One forecast as sealed in format ``fmt`` (every value already in its canonical text form)."""
    _known(fmt)
    cited = dict(cited_inputs or {})
    documents = sorted(
        (
            {
                "doc_type": str(d.get("doc_type")),
                "doc_id": str(d.get("doc_id")),
                "first_seen_at": _first_seen(d.get("first_seen_at")),
            }
            for d in cited.get("documents") or []
        ),
        key=lambda d: (d["doc_type"], d["doc_id"]),
    )
    record = {
        "model": model,
        "code": code,
        "horizon": int(horizon),
        "as_of": timestamp(as_of),
        "created_at": timestamp(created_at),
        "direction": direction,
        "prob_up": fixed(float(prob_up)),
        "expected_return": fixed(float(expected_return)),
        "documents": documents,
        "financials": sorted(str(f) for f in cited.get("financials") or []),
        "prompt_version": prompt_version,
        "inputs_sha256": sha256_hex(canonical_json(cited).encode("utf-8")),
        "rationale_sha256": sha256_hex(canonical_json(dict(rationale or {})).encode("utf-8")),
    }
    if fmt != FORMAT_V1:
        record["prompt_hash"] = prompt_hash
    return record


def _known(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown ledger format {fmt!r}; known: {list(FORMATS)}")


def row_key(record: Mapping[str, Any]) -> tuple[str, str, int, str]:
    return (record["model"], record["code"], record["horizon"], record["as_of"])


def canonical_bytes(
    day: date, sealed_at: datetime, records: Iterable[Mapping[str, Any]], fmt: str = FORMAT
) -> bytes:
    """The sealed form of a day: the header, then the records in key order (whatever order they came in);
    ``records`` are :func:`forecast_record` s of the same format ``fmt``."""
    _known(fmt)
    rows = sorted(records, key=row_key)
    header = {
        "day": day.isoformat(),
        "format": fmt,
        "live_deadline": timestamp(live_deadline(day)),
        "rows": len(rows),
        "sealed_at": timestamp(sealed_at),
    }
    return "".join(canonical_json(line) + "\n" for line in (header, *rows)).encode("utf-8")


def parse(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The header and the records of sealed bytes (raises ``ValueError`` on anything malformed)."""
    lines = data.decode("utf-8").split("\n")
    if len(lines) < 2 or lines[-1] != "":
        raise ValueError("sealed bytes must be newline-terminated JSON lines with a header")
    header, *rows = (json.loads(line) for line in lines[:-1])
    if not isinstance(header, dict) or header.get("format") not in FORMATS:
        raise ValueError(f"not a seal of a known format ({', '.join(FORMATS)})")
    return header, rows


def digest_of(data: bytes) -> str:
    return sha256_hex(data)


def chain_digest(previous: str, digest: str) -> str:
    """The chain link of a day: SHA-256 over the previous day's chain digest and this day's digest (hex, ASCII)."""
    return sha256_hex((previous + digest).encode("ascii"))
