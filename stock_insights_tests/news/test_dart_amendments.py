"""DART corrections kept as versions (issue 17): the linking rule, the store on SQLite and PostgreSQL, the sandbox's
planted amendment, and migration 0011 linking the rows stored before it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import select, update

from stock_insights.clients.dart import DisclosureRow, FilingRef, FilingVersion, link_versions, split_report_name
from stock_insights.corpus.store import disclosures_page, upsert_disclosures
from stock_insights.sandbox.dart import DartSandbox
from stock_insights.sandbox.market import KST, SimulatedMarket
from stock_insights.storage.db import make_engine, session_scope
from stock_insights.storage.migrate import alembic_config, upgrade
from stock_insights.storage.models import Disclosure

WIRE = Path("/work/shared/reference/wire-samples")
SAMSUNG = "00126380"


def _row(rcept_no: str, name: str, corp_code: str = SAMSUNG, rm: str = "유") -> DisclosureRow:
    return DisclosureRow.from_wire({
        "corp_code": corp_code, "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y", "report_nm": name,
        "rcept_no": rcept_no, "flr_nm": "삼성전자", "rcept_dt": rcept_no[:8], "rm": rm})


def _ref(rcept_no: str, name: str, corp_code: str = SAMSUNG) -> FilingRef:
    return FilingRef(rcept_no, corp_code, name, date(int(rcept_no[:4]), int(rcept_no[4:6]), int(rcept_no[6:8])))


def test_the_prefix_rule() -> None:
    corrected = "[기재정정]주요사항보고서(자기주식취득결정)   "
    assert split_report_name(corrected) == ("기재정정", "주요사항보고서(자기주식취득결정)")
    assert split_report_name("[첨부추가]일괄신고추가서류(파생결합증권-주가연계증권)")[0] == "첨부추가"
    assert split_report_name("[변경등록][첨부정정]증권신고서") == ("변경등록", "증권신고서")
    # A bracket that is not a correction prefix is part of the name; a trailing bracket is never a prefix.
    assert split_report_name("[공정공시]영업실적") == (None, "[공정공시]영업실적")
    assert split_report_name("자산유동화계획의등록신청서[신탁회사(은행신탁계정포함)]")[0] is None
    assert _row("20261015800172", "[첨부정정]대표이사변경").is_correction
    assert not _row("20261015800172", "대표이사변경").is_correction


def test_the_live_capture_is_a_chain_whose_original_is_not_stored() -> None:
    # Three [기재정정] of one SPC's filing (2023-01-27, 02-07, 02-08): the first amends something older than the
    # capture (kept, flagged), each later one amends the one before.
    payload = json.loads((WIRE / "dart_list_live_snapshot_2023-02-08.json").read_text())
    rows = [DisclosureRow.from_wire(r) for r in payload["list"]]
    links = link_versions(FilingRef(r.rcept_no, r.corp_code, r.report_name, r.receipt_date) for r in rows)
    assert links == {
        "20230127000459": FilingVersion(1, "20230127000459", None, True),
        "20230207000457": FilingVersion(2, "20230127000459", "20230127000459", False),
        "20230208000631": FilingVersion(3, "20230127000459", "20230207000457", False),
    }


def test_ambiguous_originals_resolve_to_the_latest_earlier_one() -> None:
    filings = [
        _ref("20260714800100", "영업(잠정)실적(공정공시)"),  # last quarter's
        _ref("20261014800100", "영업(잠정)실적(공정공시)"),  # this quarter's: the one a correction amends
        _ref("20261014800200", "영업(잠정)실적(공정공시)", corp_code="00164779"),  # another company's: never
        _ref("20261015800100", "[기재정정]영업(잠정)실적(공정공시)  "),
        _ref("20261016800100", "[기재정정]단일판매ㆍ공급계약체결"),  # no original at all
    ]
    links = link_versions(reversed(filings))  # arrival order does not matter
    assert links["20261015800100"] == FilingVersion(2, "20261014800100", "20261014800100", False)
    assert links["20261014800100"] == FilingVersion(1, "20261014800100", None, False)
    assert links["20261014800200"].version == 1
    assert links["20261016800100"] == FilingVersion(1, "20261016800100", None, True)


def _stored(engine) -> dict[str, tuple[int, str | None, str | None, bool]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        rows = session.execute(select(Disclosure)).scalars().all()
        return {d.rcept_no: (d.version, d.original_rcept_no, d.amends_rcept_no, d.original_missing) for d in rows}


def test_the_store_keeps_versions_and_links_a_late_original(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    t1 = datetime(2026, 10, 14, 1, 0, tzinfo=UTC)
    original = _row("20261014800100", "단일판매ㆍ공급계약체결")
    amendment = _row("20261015800120", "[기재정정]단일판매ㆍ공급계약체결", rm="유정")
    second = _row("20261016800130", "[기재정정]단일판매ㆍ공급계약체결", rm="유정")
    # The amendment arrives first (the original is older than what was fetched): kept, unlinked, flagged.
    with session_scope(engine) as session:
        first = upsert_disclosures(session, [amendment], fetched_at=t1 + timedelta(days=1))
    assert first.new == 1 and _stored(engine) == {"20261015800120": (1, "20261015800120", None, True)}
    # A backfill brings the original: the amendment is linked to it, and nothing is overwritten.
    with session_scope(engine) as session:
        late = upsert_disclosures(session, [original, second], fetched_at=t1 + timedelta(days=2))
        again = upsert_disclosures(session, [original, amendment, second], fetched_at=t1 + timedelta(days=3))
        names = dict(session.execute(select(Disclosure.rcept_no, Disclosure.report_name)).all())
    # Relinked: the stored amendment, and the new second correction (inserted as version 1, then linked).
    assert late.new == 2 and late.relinked == 2 and again.relinked == 0  # idempotent
    assert _stored(engine) == {
        "20261014800100": (1, "20261014800100", None, False),
        "20261015800120": (2, "20261014800100", "20261014800100", False),
        "20261016800130": (3, "20261014800100", "20261015800120", False),
    }
    assert names["20261014800100"] == "단일판매ㆍ공급계약체결"  # the original's text is kept
    # The reader serves one item for the report: the version in force at as_of, by first sighting.
    with session_scope(engine) as session:
        now = disclosures_page(session)
        before = disclosures_page(session, as_of=t1 + timedelta(days=1, hours=1))
        early = disclosures_page(session, as_of=t1 - timedelta(hours=1))
    assert [(i["rcept_no"], i["version"]) for i in now.items] == [("20261016800130", 3)]
    # At t1 + 1 day only the amendment had been seen (the original's first sighting is estimated: the end of its
    # receipt day, 2026-10-14 24:00 KST, which is before): version 2 was in force.
    assert [(i["rcept_no"], i["version"]) for i in before.items] == [("20261015800120", 2)]
    assert early.items == []
    engine.dispose()


def test_the_sandbox_plants_an_amendment_of_the_previous_session(database_url: str) -> None:
    market = SimulatedMarket(calendar_end=date(2027, 12, 31))
    dart = DartSandbox(market, now=lambda: datetime(2026, 12, 4, 17, 0, tzinfo=KST))
    days = market.sessions(date(2026, 10, 1), date(2026, 10, 30))
    planted = []
    for day in days:
        before = {f.rcept_no: f for f in dart.filings(market.previous_session(day))}  # type: ignore[arg-type]
        for filing in dart.filings(day):
            base = split_report_name(filing.report_nm)[1]
            originals = [f for f in before.values() if f.corp_code == filing.corp_code
                         and f.report_nm.strip() == base and filing.report_nm.startswith("[기재정정]")]
            if originals and filing.published_at == max(f.published_at for f in dart.filings(day)):
                planted.append((filing, originals[-1]))
    assert 3 <= len(planted) <= 12  # about three sessions in ten
    assert dart.filings(days[5]) == DartSandbox(market).filings(days[5])  # a pure function of (seed, day)
    amendment, original = planted[0]
    assert amendment.rcept_no > original.rcept_no and amendment.corp_code == original.corp_code
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    rows = [DisclosureRow.from_wire(f.wire()) for f in (original, amendment)]
    with session_scope(engine) as session:
        upsert_disclosures(session, rows, fetched_at=amendment.published_at + timedelta(hours=1))
    stored = _stored(engine)
    assert stored[amendment.rcept_no][:3] == (2, original.rcept_no, original.rcept_no)
    engine.dispose()


def test_migration_0011_links_the_rows_stored_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(database_url, engine)
    with session_scope(engine) as session:
        upsert_disclosures(session, [_row("20261014800100", "단일판매ㆍ공급계약체결"),
                                     _row("20261015800120", "[기재정정]단일판매ㆍ공급계약체결")],
                           fetched_at=datetime(2026, 10, 15, 1, 0, tzinfo=UTC))
    config = alembic_config(database_url)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
        connection.commit()
        command.upgrade(config, "0011")
        connection.commit()
    assert _stored(engine)["20261015800120"] == (2, "20261014800100", "20261014800100", False)
    with session_scope(engine) as session:  # and the store re-links what a reset would have lost
        session.execute(update(Disclosure).values(version=1, amends_rcept_no=None))
    with session_scope(engine) as session:
        assert upsert_disclosures(session, [_row("20261014800100", "단일판매ㆍ공급계약체결")]).relinked == 1
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.commit()
    engine.dispose()
