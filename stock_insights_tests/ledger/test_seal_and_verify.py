"""Sealing and verifying on SQLite and PostgreSQL: live forecasts only, sealed once, and every kind of tampering
named on its day by ``verify`` and by ``python -m stock_insights.ledger verify`` (exit code 1)."""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from stock_insights import clock
from stock_insights.ledger import canonical_of, parse, seal_day, verify
from stock_insights.ledger.__main__ import main
from stock_insights.ledger.canonical import chain_digest, digest_of
from stock_insights.predictors.store import upsert_predictions
from stock_insights.settings import PROJECT_ROOT
from stock_insights.storage.db import dataset_versions, make_engine, session_scope
from stock_insights.storage.models import LedgerSeal, Prediction
from stock_insights_tests.ledger.helpers import DAYS, forecast, kst, live_rows, seal_time, seed

D1, D2, D3, D4 = DAYS


@pytest.fixture
def sealed(database_url: str) -> Iterator[str]:
    """Four sessions of forecasts, each day sealed at 08:05 KST of that day (the normal path)."""
    seed(database_url)
    engine = make_engine(database_url)
    for day in DAYS:
        with clock.frozen(seal_time(day)), session_scope(engine) as session:
            outcome = seal_day(session, day)
            assert outcome.status == "sealed" and outcome.matches
    engine.dispose()
    yield database_url


def in_session(url: str, work: Callable[[Session], object]) -> object:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return work(session)
    finally:
        engine.dispose()


def seals(url: str) -> dict[date, tuple]:
    rows = in_session(url, lambda s: s.execute(select(*LedgerSeal.__table__.columns)).all())
    return {r.day: tuple(r) for r in rows}  # type: ignore[attr-defined]


def test_a_seal_holds_the_live_forecasts_only_and_is_never_rewritten(sealed: str) -> None:
    url = sealed

    def check(session: Session) -> None:
        seal = session.get(LedgerSeal, D2)
        assert seal is not None
        header, rows = parse(canonical_of(seal))
        live = live_rows(D2)
        assert seal.row_count == header["rows"] == len(rows) == len(live) == 9
        assert {(r["model"], r["code"], r["horizon"]) for r in rows} == {
            (r["model"], r["code"], r["horizon"]) for r in live
        }  # no gpt-4o (added after the open), no 11:00 refresh, no next-day backfill
        assert header["sealed_at"] == "2026-11-30T23:05:00.000000Z"  # 08:05 KST on D2
        assert seal.digest == digest_of(canonical_of(seal)) and seal.byte_count == len(canonical_of(seal))
        previous = session.get(LedgerSeal, D1)
        assert previous is not None and seal.previous_digest == previous.chain_digest
        assert seal.chain_digest == chain_digest(seal.previous_digest, seal.digest)
        assert session.get(LedgerSeal, D1).previous_digest == "0" * 64  # type: ignore[union-attr]
        assert dataset_versions(session)["ledger"] == len(DAYS)

    in_session(url, check)
    before = seals(url)

    # Re-materializing a sealed day, later the same day: nothing is rewritten, and it still matches.
    def reseal(session: Session):  # type: ignore[no-untyped-def]
        with clock.frozen(kst(D2, 17)):
            return seal_day(session, D2)

    outcome = in_session(url, reseal)
    assert outcome.status == "already_sealed" and outcome.matches and outcome.late == 5  # type: ignore[attr-defined]
    # More late forecasts for a sealed day (a re-run after the open): not in the seal, and it still verifies.
    in_session(url, lambda s: upsert_predictions(s, [
        forecast("gpt-4o-mini", "005930", D2, as_of=kst(D2, 8), created_at=kst(D2, 9)),
    ]))  # fmt: skip
    outcome = in_session(url, reseal)
    assert outcome.matches and outcome.late == 6  # type: ignore[attr-defined]
    assert seals(url) == before
    report = in_session(url, lambda s: verify(s))
    assert report.ok and report.checked == DAYS and report.links == 4 and report.unsealed_sessions == []  # type: ignore[attr-defined]

    # A changed forecast: the re-materialization reports the mismatch, and still rewrites nothing.
    in_session(url, lambda s: s.execute(update(Prediction).where(Prediction.target_date == D2,
                                                                 Prediction.code == "005930").values(prob_up=0.9)))
    outcome = in_session(url, reseal)
    assert outcome.status == "already_sealed" and outcome.matches is False  # type: ignore[attr-defined]
    assert seals(url) == before


def test_a_live_forecast_stored_after_the_seal_is_counted_not_sealed(database_url: str) -> None:
    seed(database_url, [D1])
    # A filing refresh at 08:30, before the open but after the 08:05 seal.
    in_session(database_url, lambda s: upsert_predictions(s, [
        forecast("momentum", "005930", D1, as_of=kst(D1, 8, 30), created_at=kst(D1, 8, 30, 4)),
    ]))  # fmt: skip
    outcome = in_session(database_url, lambda s: seal_day(s, D1, seal_time(D1)))
    assert outcome.status == "sealed" and outcome.seal.row_count == 9 and outcome.live_after_seal == 1  # type: ignore[attr-defined]
    assert in_session(database_url, lambda s: verify(s)).ok  # type: ignore[attr-defined]
    # Sealed late (at 17:00): the 08:30 refresh is live and in it; the seal says it was not made before the open.
    seed(database_url, [D2])
    outcome = in_session(database_url, lambda s: seal_day(s, D2, kst(D2, 17)))
    assert outcome.seal.row_count == 9 and outcome.late == 5  # type: ignore[attr-defined]


def test_seals_are_appended_in_day_order(database_url: str) -> None:
    seed(database_url, [D1, D3])
    assert in_session(database_url, lambda s: seal_day(s, D3, seal_time(D3))).status == "sealed"  # type: ignore[attr-defined]
    refused = in_session(database_url, lambda s: seal_day(s, D1, seal_time(D3)))
    assert refused.status == "refused" and "2026-12-02" in refused.detail  # type: ignore[attr-defined]
    assert list(seals(database_url)) == [D3]


# Each tampering, and what verify must say about which day.
def change_probability(s: Session) -> None:
    s.execute(update(Prediction).where(Prediction.target_date == D2, Prediction.model == "news_tone",
                                       Prediction.code == "035420").values(prob_up=Prediction.prob_up + 1e-9))


def delete_row(s: Session) -> None:
    s.execute(delete(Prediction).where(Prediction.target_date == D2, Prediction.model == "momentum",
                                       Prediction.code == "000660", Prediction.horizon == 5))


def change_direction(s: Session) -> None:
    s.execute(update(Prediction).where(Prediction.target_date == D2, Prediction.model == "momentum",
                                       Prediction.code == "000660", Prediction.horizon == 1).values(direction="flat"))


def change_citation(s: Session) -> None:
    p = s.execute(select(Prediction).where(Prediction.target_date == D2, Prediction.model == "news_tone",
                                           Prediction.code == "005930")).scalar_one()
    docs = p.cited_inputs["documents"]
    p.cited_inputs = {**p.cited_inputs, "documents": [{**docs[0], "first_seen_at": "2026-12-01T22:59:00+00:00"}]}


def slip_in_a_live_looking_row(s: Session) -> None:
    upsert_predictions(s, [forecast("gpt-4o-mini", "035420", D2, as_of=kst(D2, 8), created_at=kst(D2, 8, 1))])


def backdate_a_late_row(s: Session) -> None:
    s.execute(update(Prediction).where(Prediction.target_date == D2, Prediction.model == "gpt-4o",
                                       Prediction.code == "000660").values(created_at=kst(D2, 8, 0, 40)))


def edit_stored_bytes(mutate: Callable[[list[bytes]], list[bytes]]) -> Callable[[Session], None]:
    def tamper(s: Session) -> None:
        seal = s.get(LedgerSeal, D2)
        assert seal is not None
        lines = zlib.decompress(seal.canonical_zlib).split(b"\n")
        seal.canonical_zlib = zlib.compress(b"\n".join(mutate(lines)))

    return tamper


def swap_two_rows(lines: list[bytes]) -> list[bytes]:
    return [lines[0], lines[2], lines[1], *lines[3:]]


def probability_in_bytes(lines: list[bytes]) -> list[bytes]:
    return [lines[0], lines[1].replace(b'"prob_up":"0.', b'"prob_up":"1.'), *lines[2:]]


def rewrite_bytes_and_digest(s: Session) -> None:
    """A consistent rewrite of one day's seal (bytes and digest): its chain digest no longer follows."""
    seal = s.get(LedgerSeal, D2)
    assert seal is not None
    data = zlib.decompress(seal.canonical_zlib).replace(b'"prob_up":"0.4', b'"prob_up":"0.3')
    seal.canonical_zlib, seal.digest = zlib.compress(data), digest_of(data)


def rewrite_whole_link(s: Session) -> None:
    """Bytes, digest and chain digest of D2 rewritten consistently: D3's link to it breaks."""
    rewrite_bytes_and_digest(s)
    seal = s.get(LedgerSeal, D2)
    assert seal is not None
    seal.chain_digest = chain_digest(seal.previous_digest, seal.digest)


def change_sealed_at(s: Session) -> None:
    s.execute(update(LedgerSeal).where(LedgerSeal.day == D2).values(sealed_at=kst(D2, 7, 59)))


def delete_day(s: Session) -> None:
    s.execute(delete(LedgerSeal).where(LedgerSeal.day == D2))


def delete_first_day(s: Session) -> None:
    s.execute(delete(LedgerSeal).where(LedgerSeal.day == D1))


# Each tampering: the first day verify must name, words of its reason, and whether a chain link breaks (which a
# range after the day still catches: links are checked from the first seal).
TAMPERING = {
    "one probability by 1e-9": (change_probability, D2, "changed news_tone 035420 h1", False),
    "one row deleted": (delete_row, D2, "missing momentum 000660 h5", False),
    "one row's direction": (change_direction, D2, "direction sealed 'down', now 'flat'", False),
    "one cited first sighting": (change_citation, D2, "changed news_tone 005930 h1", False),
    "a live-looking row slipped in": (slip_in_a_live_looking_row, D2, "not sealed but live gpt-4o-mini 035420", False),
    "a late row backdated": (backdate_a_late_row, D2, "not sealed but live gpt-4o 000660", False),
    "stored bytes reordered": (edit_stored_bytes(swap_two_rows), D2, "do not hash to the sealed digest", False),
    "a probability in the stored bytes": (edit_stored_bytes(probability_in_bytes), D2, "do not hash", False),
    "bytes and digest rewritten": (rewrite_bytes_and_digest, D2, "chain_digest is not SHA-256", True),
    # Consistent on D2 itself: the forecasts in the database still tell, and D3's link breaks.
    "bytes, digest and chain rewritten": (rewrite_whole_link, D2, "database differ from the seal", True),
    "sealed_at moved": (change_sealed_at, D2, "header disagrees", False),
    "a sealed day deleted": (delete_day, D3, "chain broken", True),
    "the first sealed day deleted": (delete_first_day, D2, "the genesis", True),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_verify_names_the_first_tampered_day(sealed: str, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = sealed
    assert main(["verify", "--database-url", url]) == 0
    assert "OK: every digest and link verifies" in capsys.readouterr().out
    tamper, day, reason, breaks_link = TAMPERING[kind]
    in_session(url, tamper)
    report = in_session(url, lambda s: verify(s))
    first = report.first_mismatch  # type: ignore[attr-defined]
    assert first is not None and first.day == day and reason in first.reason, report.as_dict()  # type: ignore[attr-defined]
    if kind == "bytes, digest and chain rewritten":
        assert [p.day for p in report.problems if "chain broken" in p.reason] == [D3]  # type: ignore[attr-defined]
    assert main(["verify", "--database-url", url]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH: first day that does not verify: {day.isoformat()}" in out
    # A range after the tampered day: its bytes are not checked, but every chain link up to it is.
    after = in_session(url, lambda s: verify(s, D4, D4))
    assert after.ok is not breaks_link, after.as_dict()  # type: ignore[attr-defined]


def test_forecasts_stored_in_another_order_still_verify(sealed: str) -> None:
    """The same rows, deleted and stored again in reverse order (new ids, another physical order)."""
    url = sealed

    def reinsert_reversed(s: Session) -> None:
        rows = s.execute(select(Prediction).where(Prediction.target_date == D2).order_by(Prediction.id)).scalars().all()
        copies = [
            {c.name: getattr(p, c.key) for c in Prediction.__table__.columns if c.name != "id"} for p in rows
        ]
        s.execute(delete(Prediction).where(Prediction.target_date == D2))
        s.flush()
        for row in reversed(copies):
            s.execute(Prediction.__table__.insert().values(**row))

    before = in_session(url, lambda s: [p.id for p in s.execute(select(Prediction).where(
        Prediction.target_date == D2).order_by(Prediction.code, Prediction.model)).scalars()])  # fmt: skip
    in_session(url, reinsert_reversed)
    after = in_session(url, lambda s: [p.id for p in s.execute(select(Prediction).where(
        Prediction.target_date == D2).order_by(Prediction.code, Prediction.model)).scalars()])  # fmt: skip
    assert set(before).isdisjoint(after)  # type: ignore[arg-type]
    report = in_session(url, lambda s: verify(s))
    assert report.ok, report.as_dict()  # type: ignore[attr-defined]


def test_the_command_line_verifies_a_range(sealed: str) -> None:
    url = sealed
    in_session(url, change_probability)  # D2
    command = [sys.executable, "-m", "stock_insights.ledger", "verify", "--database-url", url]
    ok = subprocess.run([*command, "--from", D3.isoformat(), "--to", D4.isoformat()], cwd=PROJECT_ROOT,
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "checked 2 sealed day(s) (2026-12-02..2026-12-03)" in ok.stdout
    bad = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "first day that does not verify: 2026-12-01" in bad.stdout and "prob_up" in bad.stdout
    assert main(["verify", "--database-url", url, "--to", (D1 - timedelta(days=1)).isoformat()]) == 0
