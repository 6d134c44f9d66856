"""The size bound of MCP answers: long strings shortened first, then items dropped; marked when cut."""

from __future__ import annotations

from api.mcp.bounds import MAX_ANSWER_CHARS, bounded, dumps


def test_an_answer_within_the_bound_is_unchanged() -> None:
    answer = {"data_mode": "simulated", "as_of": "2026-12-04T08:00:00+00:00", "items": [{"a": 1}]}
    assert bounded(answer) is answer


def test_long_strings_are_shortened_before_items_are_dropped() -> None:
    answer = {"data_mode": "simulated", "as_of": "x", "items": [{"markdown": "가" * 50_000}, {"markdown": "b"}]}
    out = bounded(answer)
    assert len(dumps(out)) <= MAX_ANSWER_CHARS and out["truncated"] is True
    assert len(out["items"]) == 2 and out["items"][0]["markdown"].endswith("…")
    assert len(answer["items"][0]["markdown"]) == 50_000  # the input is not modified


def test_items_are_dropped_from_the_longest_list_until_it_fits() -> None:
    answer = {
        "data_mode": "live",
        "as_of": "x",
        "items": [{"n": n, "text": "x" * 250} for n in range(500)],
        "pairs": [{"n": n} for n in range(3)],
    }
    out = bounded(answer, max_chars=5_000)
    assert len(dumps(out)) <= 5_000 and out["truncated"] is True
    assert [i["n"] for i in out["items"]] == list(range(len(out["items"])))  # the first items are kept
    assert out["pairs"] == answer["pairs"] and out["data_mode"] == "live"


def test_an_answer_that_cannot_fit_keeps_its_envelope() -> None:
    out = bounded({"data_mode": "live", "as_of": "x", "blob": "y" * 10_000}, max_chars=200)
    assert out == {"data_mode": "live", "as_of": "x", "truncated": True, "truncated_note": out["truncated_note"]}
