"""The canonical form of a sealed day: fixed text for numbers and times, key order, one digest per content."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import pytest

from stock_insights.clock import KST
from stock_insights.ledger.canonical import (
    GENESIS,
    canonical_bytes,
    chain_digest,
    digest_of,
    fixed,
    forecast_record,
    is_live,
    live_deadline,
    parse,
)

DAY = date(2026, 12, 3)
SEALED_AT = datetime(2026, 12, 3, 8, 5, tzinfo=KST)


def record(model: str = "momentum", code: str = "005930", prob: float = 0.6, **extra) -> dict:  # type: ignore[no-untyped-def]
    fields = {
        "model": model,
        "code": code,
        "horizon": 1,
        "as_of": datetime(2026, 12, 3, 8, 0, tzinfo=KST),
        "created_at": datetime(2026, 12, 3, 8, 0, 30, tzinfo=KST),
        "direction": "up",
        "prob_up": prob,
        "expected_return": -0.0,
        "cited_inputs": {
            "prices": [{"trading_date": "2026-12-02", "close": 70150.0}],
            "documents": [
                {"doc_type": "news", "doc_id": "9", "first_seen_at": "2026-12-02T18:00:00+09:00"},
                {"doc_type": "disclosure", "doc_id": "20261202000001", "first_seen_at": "2026-12-02T07:00:00+00:00"},
            ],
            "financials": ["IS:202609"],
        },
        "rationale": {"summary": "추세 지속", "positive": [], "concerns": []},
        "prompt_version": None,
    } | extra
    return forecast_record(**fields)


def test_numbers_and_times_have_one_text() -> None:
    assert fixed(0.6) == "0.600000000000"
    assert fixed(-0.0) == "0.000000000000" and fixed(-1e-15) == "0.000000000000"
    assert fixed(-0.0125) == "-0.012500000000"
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            fixed(bad)
    row = record()
    assert row["as_of"] == "2026-12-02T23:00:00.000000Z" and row["created_at"] == "2026-12-02T23:00:30.000000Z"
    assert row["expected_return"] == "0.000000000000"
    # Cited documents: sorted by type and id, first sightings normalised to UTC.
    assert row["documents"] == [
        {"doc_id": "20261202000001", "doc_type": "disclosure", "first_seen_at": "2026-12-02T07:00:00.000000Z"},
        {"doc_id": "9", "doc_type": "news", "first_seen_at": "2026-12-02T09:00:00.000000Z"},
    ]


def test_bytes_do_not_depend_on_the_order_rows_come_in_and_change_with_any_value() -> None:
    rows = [record("news_tone", "000660"), record("momentum", "035420"), record("momentum", "005930")]
    data = canonical_bytes(DAY, SEALED_AT, rows)
    assert canonical_bytes(DAY, SEALED_AT, list(reversed(rows))) == data
    header, parsed = parse(data)
    assert header["rows"] == 3 and header["day"] == "2026-12-03"
    assert [(r["model"], r["code"]) for r in parsed] == [("momentum", "005930"), ("momentum", "035420"),
                                                         ("news_tone", "000660")]  # fmt: skip
    assert data.endswith(b"\n") and data.count(b"\n") == 4 and b" " not in data.split(b"\n")[1]
    assert "추세".encode() not in data  # the rationale is committed by its hash, not its text
    assert digest_of(data) == hashlib.sha256(data).hexdigest()

    different = [
        canonical_bytes(DAY, SEALED_AT, [record("news_tone", "000660"), record("momentum", "035420"),
                                         record("momentum", "005930", prob=0.6000001)]),
        canonical_bytes(DAY, SEALED_AT + timedelta(microseconds=1), rows),
        canonical_bytes(date(2026, 12, 4), SEALED_AT, rows),
        canonical_bytes(DAY, SEALED_AT, [*rows[:2], record("momentum", "005930", rationale={"summary": "x"})]),
        canonical_bytes(DAY, SEALED_AT, [*rows[:2], record("momentum", "005930", cited_inputs={})]),
    ]  # fmt: skip
    assert len({digest_of(d) for d in [data, *different]}) == 1 + len(different)


def test_live_means_cut_off_and_stored_before_the_open() -> None:
    deadline = live_deadline(DAY)
    assert deadline == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    before, after = deadline - timedelta(microseconds=1), deadline
    assert is_live(DAY, before, before)
    assert not is_live(DAY, before, after)  # a re-run or backfill stored after the open
    assert not is_live(DAY, after, before)  # a refresh cut off after the open


def test_the_chain_links_each_digest_to_the_previous_chain_digest() -> None:
    first = chain_digest(GENESIS, "a" * 64)
    assert first == hashlib.sha256(("0" * 64 + "a" * 64).encode()).hexdigest()
    assert chain_digest(first, "b" * 64) != chain_digest(GENESIS, "b" * 64)
