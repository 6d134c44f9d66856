"""The KIS master parser on the sandbox's files, and the clear errors of bad input."""

from __future__ import annotations

import zipfile
from collections import Counter
from datetime import date
from io import BytesIO

import httpx
import pytest

from stock_insights.clients.kis.master import (
    KOSDAQ_FIELDS,
    KOSPI_FIELDS,
    TAIL_BYTES,
    MasterClient,
    MasterFileError,
    make_zip,
    parse_master,
    parse_master_zip,
)
from stock_insights.sandbox.listings import collisions, listed_on, simulated_listings
from stock_insights.sandbox.master import master_file

DAY = date(2026, 12, 4)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return {m: master_file(m, DAY) for m in ("KOSPI", "KOSDAQ")}


def test_layouts_match_the_official_widths() -> None:
    # kis_kospi_code_mst.py / kis_kosdaq_code_mst.py take row[-228:] / row[-222:] with the newline.
    assert TAIL_BYTES == {"KOSPI": 227, "KOSDAQ": 221}
    assert len(KOSPI_FIELDS) == 70 and len(KOSDAQ_FIELDS) == 64
    assert KOSPI_FIELDS[0] == ("scrt_grp_cls_code", 2) and KOSDAQ_FIELDS[-1] == ("stln_able_yn", 1)


def test_sandbox_master_parses_to_the_simulated_listings(files: dict[str, bytes]) -> None:
    expected = {x.code: x for x in listed_on(DAY)}
    rows = parse_master(files["KOSPI"], "KOSPI") + parse_master(files["KOSDAQ"], "KOSDAQ")
    assert {r.code for r in rows} == set(expected)
    for row in rows:
        item = expected[row.code]
        assert (row.name, row.market, row.security_type, row.standard_code, row.listed_on) == (
            item.name_on(DAY), item.market, item.security_type, item.standard_code, item.listed_on)
        assert row.suspended == item.is_suspended(DAY)
        assert row.administrative == item.is_administrative(DAY)
    by_market = Counter(r.market for r in rows)
    assert 900 <= by_market["KOSPI"] <= 1000 and 1650 <= by_market["KOSDAQ"] <= 1850
    types = Counter(r.security_type for r in rows)
    assert {"common", "preferred", "etf", "etn", "spac", "reit", "other"} <= set(types)
    assert any(r.suspended for r in rows) and any(r.administrative for r in rows)
    assert parse_master(files["KOSPI"], "KOSPI")[0].fields["kospi_issu_yn"] in ("Y", "N")


def test_a_past_days_file_never_changes_and_the_year_has_events() -> None:
    before = master_file("KOSDAQ", date(2026, 3, 2))
    assert master_file("KOSDAQ", date(2026, 3, 2)) == before
    codes = {x.code for x in listed_on(date(2026, 1, 5))}
    later = {x.code for x in listed_on(date(2026, 12, 4))}
    assert codes - later and later - codes  # delistings and new listings
    assert len(simulated_listings()) >= 2700
    reused = collisions()["reused_name"]
    by_code = {x.code: x for x in simulated_listings()}
    assert by_code[reused[0]].name == by_code[reused[1]].name


def _lines(content: bytes) -> list[bytes]:
    return content.split(b"\n")[:-1]


def test_truncated_line_names_its_line(files: dict[str, bytes]) -> None:
    lines = _lines(files["KOSPI"])
    lines[41] = lines[41][:-5]
    with pytest.raises(MasterFileError, match=r"kospi_code.mst line 42: ") as info:
        parse_master(b"\n".join(lines) + b"\n", "KOSPI")
    assert info.value.line == 42
    lines = _lines(files["KOSPI"])
    lines[9] = lines[9][:100]
    with pytest.raises(MasterFileError, match=r"line 10: truncated line"):
        parse_master(b"\n".join(lines) + b"\n", "KOSPI")


def test_unknown_group_code_and_market(files: dict[str, bytes]) -> None:
    lines = _lines(files["KOSDAQ"])
    tail_start = len(lines[7]) - TAIL_BYTES["KOSDAQ"]
    lines[7] = lines[7][:tail_start] + b"ZZ" + lines[7][tail_start + 2:]
    with pytest.raises(MasterFileError, match=r"kosdaq_code.mst line 8: unknown security group code 'ZZ'"):
        parse_master(b"\n".join(lines) + b"\n", "KOSDAQ")
    with pytest.raises(MasterFileError, match="unknown market 'KONEX'"):
        parse_master(files["KOSDAQ"], "KONEX")
    # a KOSDAQ file read with the KOSPI layout: the tail is 6 bytes longer and breaks
    with pytest.raises(MasterFileError, match="line 1: "):
        parse_master(files["KOSDAQ"], "KOSPI")


def test_duplicated_code_names_both_lines(files: dict[str, bytes]) -> None:
    lines = _lines(files["KOSPI"])
    lines.insert(300, lines[3])
    with pytest.raises(MasterFileError, match=r"line 301: duplicated code \w+ \(first on line 4\)"):
        parse_master(b"\n".join(lines) + b"\n", "KOSPI")


def test_wrong_encoding_and_empty_file(files: dict[str, bytes]) -> None:
    utf8 = files["KOSPI"].decode("cp949").encode("utf-8")
    with pytest.raises(MasterFileError, match=r"line 1: .*(UTF-8|not cp949|truncated)"):
        parse_master(utf8, "KOSPI")
    lines = _lines(files["KOSPI"])
    korean = next(i for i, line in enumerate(lines) if not line[21:-TAIL_BYTES["KOSPI"]].isascii())
    lines[korean] = lines[korean][:21] + lines[korean][21:-227].decode("cp949").encode("utf-8") + lines[korean][-227:]
    with pytest.raises(MasterFileError, match=rf"line {korean + 1}: the name is UTF-8, not cp949"):
        parse_master(b"\n".join(lines) + b"\n", "KOSPI")
    with pytest.raises(MasterFileError, match="empty file"):
        parse_master(b"", "KOSPI")
    with pytest.raises(MasterFileError, match="NUL"):
        parse_master(files["KOSPI"].decode("cp949").encode("utf-16"), "KOSPI")


def test_zip_without_the_member(files: dict[str, bytes]) -> None:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("kosdaq_code.mst", files["KOSDAQ"])
    with pytest.raises(MasterFileError, match=r"no member 'kospi_code\.mst'"):
        parse_master_zip(buffer.getvalue(), "KOSPI")
    with pytest.raises(MasterFileError, match="not a zip"):
        parse_master_zip(b"<html>maintenance</html>", "KOSPI")
    assert len(parse_master_zip(make_zip("KOSPI", files["KOSPI"]), "KOSPI")) == len(_lines(files["KOSPI"]))


def test_client_downloads_both_markets_from_the_sandbox(sandbox) -> None:  # type: ignore[no-untyped-def]
    with MasterClient(sandbox.url + "/common/master/") as client:
        assert client.url("KOSPI") == f"{sandbox.url}/common/master/kospi_code.mst.zip"
        rows = client.fetch_all()
    assert {r.code for r in rows} == {x.code for x in listed_on(DAY)}
    assert httpx.get(f"{sandbox.url}/common/master/kospi_code.mst.zip", params={"as_of": "2026-03-02"}).content == (
        make_zip("KOSPI", master_file("KOSPI", date(2026, 3, 2))))


def test_client_retries_server_errors_then_fails_clearly() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, content=make_zip("KOSPI", master_file("KOSPI", DAY)))

    client = MasterClient("http://master.test", http=httpx.Client(transport=httpx.MockTransport(handler)),
                          sleep=lambda s: None)
    assert len(client.fetch("KOSPI")) > 900 and len(calls) == 3
    failing = MasterClient("http://master.test", http=httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(502))), sleep=lambda s: None, max_attempts=2)
    with pytest.raises(Exception, match=r"kospi_code.mst.zip answered HTTP 502 \(2 attempts\)"):
        failing.fetch("KOSPI")
