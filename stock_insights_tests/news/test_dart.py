"""The OpenDART client against the sandbox: corp codes, the filing list, financial statements."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from stock_insights.clients.dart import DartClient, DartError, DisclosureRow, parse_corp_codes
from stock_insights.clients.errors import SourceAuthError, SourceDataError
from stock_insights_tests.news.conftest import DART_KEY, add_fault

WIRE = Path("/work/shared/reference/wire-samples")


def client(url: str, key: str = DART_KEY) -> DartClient:
    sleeps: list[float] = []
    dart = DartClient(url, SecretStr(key), sleep=sleeps.append, requests_per_second=100)
    dart.sleeps = sleeps  # type: ignore[attr-defined]
    return dart


def test_wire_sample_rows() -> None:
    payload = json.loads((WIRE / "dart_list_live_snapshot_2023-02-08.json").read_text())
    rows = [DisclosureRow.from_wire(r) for r in payload["list"]]
    assert rows[0].stock_code is None and rows[0].corp_code == "01688425" and rows[0].is_correction
    assert rows[0].viewer_url == "https://dart.fss.or.kr/dsaf001/main.do?rcpNo=20230208000631"
    with pytest.raises(DartError, match="접수번호 오류") as raised:
        parse_corp_codes((WIRE / "dart_zip_endpoint_error.xml").read_bytes())
    assert raised.value.code == "013"


def test_the_key_stays_out_of_httpx_request_logs(sandbox_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="httpx"), client(sandbox_url) as dart:
        dart.list_filings(date(2026, 10, 15), date(2026, 10, 15), max_pages=1)
    requests = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert requests and all("crtfc_key=***" in m for m in requests)  # the request is still logged ...
    assert DART_KEY not in caplog.text  # ... without the key


def test_corp_codes_zip(sandbox_url: str) -> None:
    with client(sandbox_url) as dart:
        batch = dart.corp_codes()
    by_stock = {r.stock_code: r for r in batch.rows if r.stock_code}
    assert by_stock["005930"].corp_code == "00126380"  # leading zeros kept
    assert all(len(r.corp_code) == 8 for r in batch.rows)
    assert any(r.stock_code is None for r in batch.rows)  # " " for unlisted companies
    add_fault(sandbox_url, "/api/corpCode.xml", "bad_items")
    with client(sandbox_url) as dart:
        assert dart.corp_codes().skipped == {"bad_corp_code": 1, "bad_stock_code": 1}


def test_a_zip_endpoint_answering_an_xml_error(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/api/corpCode.xml", "xml_error")
    with client(sandbox_url) as dart, pytest.raises(DartError, match="접수번호 오류"):
        dart.corp_codes()
    with client(sandbox_url, key="x" * 40) as dart:
        dart._key = SecretStr("short")
        with pytest.raises(SourceAuthError) as raised:
            dart.corp_codes()
    assert raised.value.code == "010" and "short" not in str(raised.value)


def test_filing_list_pages_and_cleans(sandbox_url: str) -> None:
    with client(sandbox_url) as dart:
        batch = dart.list_filings(date(2026, 10, 1), date(2026, 10, 15))
    assert batch.total_count == len(batch.rows) > 100 and batch.pages == 2 and not batch.skipped
    assert all(r.report_name == r.report_name.strip() for r in batch.rows)
    assert any(r.is_correction for r in batch.rows) and any(r.stock_code is None for r in batch.rows)
    raw = httpx.get(
        f"{sandbox_url}/api/list.json",
        params={"crtfc_key": DART_KEY, "bgn_de": "20261001", "end_de": "20261015", "page_count": 100},
    ).json()
    assert any(r["report_nm"] != r["report_nm"].rstrip() for r in raw["list"])  # the wire keeps them
    assert isinstance(raw["total_page"], int) and raw["status"] == "000"


def test_three_month_rule_is_respected(sandbox_url: str) -> None:
    raw = httpx.get(
        f"{sandbox_url}/api/list.json", params={"crtfc_key": DART_KEY, "bgn_de": "20260101", "end_de": "20260615"}
    ).json()
    assert raw == {"status": "100", "message": "corp_code가 없는 경우 검색기간은 3개월만 가능합니다."}
    with client(sandbox_url) as dart:
        batch = dart.list_filings(date(2026, 1, 1), date(2026, 6, 15), max_pages=1)
        samsung = dart.list_filings(date(2025, 1, 1), date(2026, 6, 15), corp_code="00126380")
    months = {r.receipt_date.month for r in batch.rows}
    assert batch.pages == 2 and max(months) == 6 and min(months) <= 3  # two windows, newest first
    assert samsung.rows and {r.stock_code for r in samsung.rows} == {"005930"}


def test_status_codes(sandbox_url: str) -> None:
    with client(sandbox_url) as dart:
        assert dart.list_filings(date(2026, 10, 11), date(2026, 10, 11)).rows == []  # a Sunday: 013
    add_fault(sandbox_url, "/api/list.json", "maintenance")
    with client(sandbox_url) as dart:
        assert dart.list_filings(date(2026, 10, 15), date(2026, 10, 15)).rows
        assert dart.stats["maintenance"] == 1 and dart.sleeps  # type: ignore[attr-defined]
    add_fault(sandbox_url, "/api/list.json", "daily_quota", skip=1)
    with client(sandbox_url) as dart:
        batch = dart.list_filings(date(2026, 10, 1), date(2026, 10, 15))
    assert batch.partial and "020" in (batch.message or "") and len(batch.rows) == 100
    add_fault(sandbox_url, "/api/list.json", "malformed_json", count=10)
    with client(sandbox_url) as dart, pytest.raises(SourceDataError, match="envelope"):
        dart.list_filings(date(2026, 10, 15), date(2026, 10, 15))


def test_bad_rows_and_page_shifts_are_counted(sandbox_url: str) -> None:
    add_fault(sandbox_url, "/api/list.json", "bad_items")
    with client(sandbox_url) as dart:
        batch = dart.list_filings(date(2026, 10, 15), date(2026, 10, 15))
    assert batch.skipped == {"bad_row": 5, "future_dated": 1}
    add_fault(sandbox_url, "/api/list.json", "page_shift", count=5)
    with client(sandbox_url) as dart:
        shifted = dart.list_filings(date(2026, 10, 1), date(2026, 10, 15), page_count=40)
    assert shifted.skipped.get("duplicate_across_pages", 0) >= 1
    assert len({r.rcept_no for r in shifted.rows}) == len(shifted.rows)


def test_financial_statements(sandbox_url: str) -> None:
    with client(sandbox_url) as dart:
        batch = dart.financials_all("00126380", [2025, 2026])
    assert batch.calls == 16 and batch.empty_calls == 4  # 2026 Q3 and FY are not filed yet (× CFS/OFS)
    assert {r.reprt_code for r in batch.rows} == {"11013", "11012", "11014", "11011"}
    assert {r.fs_div for r in batch.rows} == {"CFS", "OFS"}
    keys = {(r.sj_div, r.period, r.fs_div, r.account_key) for r in batch.rows}
    assert len(keys) == len(batch.rows)  # equity-statement details keep repeated account ids apart
    assert any(r.amount is None for r in batch.rows) and any(r.account_key.startswith("nm:") for r in batch.rows)
    add_fault(sandbox_url, "/api/fnlttSinglAcntAll.json", "bad_items")
    with client(sandbox_url) as dart:
        rows = dart.financials("00126380", 2025, "11011", "CFS")
    assert rows  # the two broken lines were skipped, the rest kept
