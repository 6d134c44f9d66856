"""Format 2 of the ledger commits each forecast's prompt hash; seals made in format 1 (before forecasts stored it)
still verify, in their own format, and the chain runs on across the change. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

from sqlalchemy import update
from sqlalchemy.orm import Session

from stock_insights.ledger import FORMAT, FORMAT_V1, canonical_of, parse, seal_day, verify
from stock_insights.ledger.__main__ import main
from stock_insights.predictors.store import upsert_predictions
from stock_insights.storage.models import LedgerSeal, Prediction
from stock_insights_tests.ledger.helpers import DAYS, forecast, kst, seal_time, seed
from stock_insights_tests.ledger.test_seal_and_verify import in_session

D1, D2 = DAYS[:2]


def _prompt_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _with_a_live_llm_forecast(url: str) -> None:
    """The baselines' live forecasts of D1 and D2, and a gpt-4o forecast of each day cut off at 07:59 (live)."""
    seed(url, [D1, D2])
    rows = [
        {**forecast("gpt-4o", "005930", day, as_of=kst(day, 7, 59), created_at=kst(day, 8, 0, 40)),
         "prompt_hash": _prompt_hash(f"messages of {day}")}
        for day in (D1, D2)
    ]  # fmt: skip
    in_session(url, lambda s: upsert_predictions(s, rows))


def _sealed_rows(session: Session, day: object) -> tuple[dict, list[dict]]:
    seal = session.get(LedgerSeal, day)
    assert seal is not None
    return parse(canonical_of(seal))


def test_a_seal_commits_the_prompt_hash_and_a_changed_hash_is_caught(database_url: str) -> None:
    _with_a_live_llm_forecast(database_url)
    for day in (D1, D2):
        assert in_session(database_url, lambda s, d=day: seal_day(s, d, seal_time(d))).status == "sealed"  # type: ignore[misc,attr-defined]
    header, rows = in_session(database_url, lambda s: _sealed_rows(s, D2))  # type: ignore[misc]
    assert header["format"] == FORMAT
    hashes = {r["model"]: r["prompt_hash"] for r in rows if r["code"] == "005930" and r["horizon"] == 1}
    assert hashes == {"gpt-4o": _prompt_hash(f"messages of {D2}"), "momentum": None, "news_tone": None}
    assert in_session(database_url, lambda s: verify(s)).ok  # type: ignore[attr-defined]

    in_session(database_url, lambda s: s.execute(
        update(Prediction).where(Prediction.target_date == D2, Prediction.model == "gpt-4o")
        .values(prompt_hash=_prompt_hash("another prompt"))
    ))  # fmt: skip
    report = in_session(database_url, lambda s: verify(s))
    first = report.first_mismatch  # type: ignore[attr-defined]
    assert first is not None and first.day == D2 and "prompt_hash" in first.reason, report.as_dict()  # type: ignore[attr-defined]
    assert main(["verify", "--database-url", database_url]) == 1


def test_format_1_seals_still_verify_and_the_chain_runs_on(database_url: str) -> None:
    _with_a_live_llm_forecast(database_url)
    old = in_session(database_url, lambda s: seal_day(s, D1, seal_time(D1), fmt=FORMAT_V1))
    assert old.status == "sealed"  # type: ignore[attr-defined]
    assert in_session(database_url, lambda s: seal_day(s, D2, seal_time(D2))).status == "sealed"  # type: ignore[attr-defined]
    header, rows = in_session(database_url, lambda s: _sealed_rows(s, D1))  # type: ignore[misc]
    assert header["format"] == FORMAT_V1 and all("prompt_hash" not in r for r in rows)
    assert in_session(database_url, lambda s: _sealed_rows(s, D2))[0]["format"] == FORMAT  # type: ignore[index]
    report = in_session(database_url, lambda s: verify(s))
    assert report.ok and report.checked == [D1, D2] and report.links == 2, report.as_dict()  # type: ignore[attr-defined]
    assert main(["verify", "--database-url", database_url]) == 0
    # Re-materializing the old day recomputes it in its own format: it still matches.
    again = in_session(database_url, lambda s: seal_day(s, D1, seal_time(D1)))
    assert again.status == "already_sealed" and again.matches  # type: ignore[attr-defined]
    # A format-1 seal never committed to the prompt hash, but it still commits to everything else.
    in_session(database_url, lambda s: s.execute(
        update(Prediction).where(Prediction.target_date == D1, Prediction.model == "gpt-4o").values(prob_up=0.9)
    ))  # fmt: skip
    first = in_session(database_url, lambda s: verify(s)).first_mismatch  # type: ignore[attr-defined]
    assert first is not None and first.day == D1 and "changed gpt-4o 005930" in first.reason
