"""OpenDART client: corp codes, the filing list and full financial statements.

Protocol facts this code relies on (../shared/reference/sources.md section 1, wire-samples/dart_*):
- ``GET {base}/api/<name>.json|.xml?crtfc_key=<40 chars>``. Errors come back as **HTTP 200** with a
  ``status`` other than ``000``; match on ``status``, never on ``message``. ``013`` is an empty
  answer, ``020`` the daily request limit (stop for the day), ``800`` maintenance (back off),
  ``010``/``011``/``012``/``901`` key or IP problems, ``100``/``101``/``021``/``900`` request errors.
- ``corpCode.xml`` is a ZIP holding ``CORPCODE.xml`` on success and a small XML
  ``<result><status>..</status><message>..</message></result>`` on error (still HTTP 200). Corp
  codes keep their leading zeros; ``stock_code`` is a single space for unlisted companies.
- ``list.json``: ``page_no``/``page_count`` (≤ 100) paging over ``total_page``; without ``corp_code``
  the ``bgn_de``..``end_de`` span may be at most three months (status 100 otherwise), so longer
  ranges are split. ``report_nm`` may end in spaces and start with a correction prefix (``[기재정정]``,
  ``[첨부추가]``, ...: ``split_report_name``); ``stock_code`` is ``""`` for unlisted filers. The viewer URL is ``https://dart.fss.or.kr/dsaf001/main.do?rcpNo=``.
- ``fnlttSinglAcntAll.json``: one call per ``corp_code``, ``bsns_year``, ``reprt_code`` (11013 Q1,
  11012 half, 11014 Q3, 11011 annual) and ``fs_div`` (CFS consolidated, OFS separate). Amounts are
  unformatted integer strings, or ``""``/``"-"``; ``account_id`` may be ``"-표준계정코드 미사용-"``.
- No per-minute limit is published; ~1,000 a minute reportedly gets an IP blocked for a day, so the
  client stays at 5 requests a second.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from xml.etree import ElementTree

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from stock_insights import clock
from stock_insights.clients.base_url import service_root
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError
from stock_insights.clients.ratelimit import SlidingWindowLimiter
from stock_insights.clients.transport import (
    Call,
    Classifier,
    Repeat,
    Retry,
    Transport,
    UpstreamClient,
    json_object,
)
from stock_insights.text.items import SkipLog

log = logging.getLogger(__name__)

SOURCE = "OpenDART"
VIEWER_URL = "https://dart.fss.or.kr/dsaf001/main.do?rcpNo="
PAGE_COUNT = 100
MAX_WINDOW_DAYS = 90  # "3개월": stay inside the shortest three months
REPORT_CODES: dict[str, str] = {"11013": "Q1", "11012": "H1", "11014": "Q3", "11011": "FY"}
FS_DIVS = ("CFS", "OFS")
STATUS_OK, STATUS_NO_DATA, STATUS_QUOTA, STATUS_MAINTENANCE = "000", "013", "020", "800"
AUTH_STATUSES = frozenset({"010", "011", "012", "901"})
NON_STANDARD_ACCOUNT = "-표준계정코드 미사용-"

_CORP_CODE = re.compile(r"^\d{8}$")
_STOCK_CODE = re.compile(r"^[0-9A-Z]{6}$")
_RCEPT_NO = re.compile(r"^\d{14}$")


# --------------------------------------------------------------------------------------------
# Corrections: versions of a filing
# --------------------------------------------------------------------------------------------
# The leading ``[...]`` of a ``report_nm`` that makes the filing a new version of an earlier one of the same
# company and report (a correction gets a new ``rcept_no``; the earlier filing stays on DART, its ``rm`` gains
# 정). 기재정정: the text corrected; 첨부정정/첨부추가: attachments corrected or added; 변경등록: a registration
# changed; 연장결정, 발행조건확정: a decision extended, an issue's terms fixed. Any other bracket is part of the name.
AMENDMENT_PREFIXES = frozenset({"기재정정", "첨부정정", "첨부추가", "변경등록", "연장결정", "발행조건확정"})
_LEADING_BRACKET = re.compile(r"^\s*\[([^\]]{1,20})\]\s*")


def split_report_name(report_name: str) -> tuple[str | None, str]:
    """(the correction prefix or None, the report name without it): ``"[기재정정]주요사항보고서(자기주식취득결정)"``
    -> ``("기재정정", "주요사항보고서(자기주식취득결정)")``. Stacked prefixes are all removed (the first is returned);
    trailing spaces are dropped."""
    kind: str | None = None
    name = report_name
    while (match := _LEADING_BRACKET.match(name)) is not None and match.group(1) in AMENDMENT_PREFIXES:
        kind = kind or match.group(1)
        name = name[match.end():]
    return kind, name.strip()


@dataclass(frozen=True, slots=True)
class FilingRef:
    """What linking reads of a filing."""

    rcept_no: str
    corp_code: str
    report_name: str
    receipt_date: date


@dataclass(frozen=True, slots=True)
class FilingVersion:
    """A filing's place among the versions of one report.

    ``original_rcept_no``: the first stored filing of the chain (the filing itself for an original);
    ``amends_rcept_no``: the version this one amends (None for an original, or when it is not stored);
    ``original_missing``: a correction whose original is not stored (kept, unlinked, version 1).
    """

    version: int
    original_rcept_no: str
    amends_rcept_no: str | None
    original_missing: bool


def link_versions(filings: Iterable[FilingRef]) -> dict[str, FilingVersion]:
    """Link every correction to the filing it amends: **the latest earlier filing** (by ``receipt_date``, then
    ``rcept_no``) **of the same ``corp_code`` whose report name, without the correction prefix, is equal** (itself
    an original or a correction: a second correction amends the first). Ambiguity (two earlier filings of that
    name, e.g. last quarter's and this quarter's 영업(잠정)실적) resolves to the latest one; a correction with no
    such filing is version 1 with ``original_missing``. Pure and order-independent: the same filings give the same
    links, whatever order they arrive in."""
    latest: dict[tuple[str, str], tuple[str, FilingVersion]] = {}
    out: dict[str, FilingVersion] = {}
    for filing in sorted(filings, key=lambda f: (f.receipt_date, f.rcept_no)):
        kind, base = split_report_name(filing.report_name)
        key = (filing.corp_code, base)
        before = latest.get(key)
        if kind is None:
            version = FilingVersion(1, filing.rcept_no, None, False)
        elif before is None:
            version = FilingVersion(1, filing.rcept_no, None, True)
        else:
            amended, previous = before
            version = FilingVersion(previous.version + 1, previous.original_rcept_no, amended, False)
        latest[key] = (filing.rcept_no, version)
        out[filing.rcept_no] = version
    return out


class DartError(SourceError):
    """OpenDART answered a ``status`` other than 000/013."""


class DartQuotaExceeded(DartError):
    """Status 020: the key's daily request limit is spent; stop until tomorrow."""


# --------------------------------------------------------------------------------------------
# Typed rows
# --------------------------------------------------------------------------------------------
class CorpCodeRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    corp_code: str
    corp_name: str
    corp_eng_name: str | None = None
    stock_code: str | None = None  # None: not listed
    modify_date: date | None = None


class DisclosureRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    rcept_no: str
    corp_code: str
    corp_name: str
    stock_code: str | None  # None: an unlisted filer
    corp_cls: str
    report_name: str
    filer_name: str
    receipt_date: date
    remarks: str = ""

    @field_validator("rcept_no")
    @classmethod
    def _rcept_no(cls, value: str) -> str:
        if not _RCEPT_NO.match(value):
            raise ValueError(f"rcept_no {value!r} is not 14 digits")
        return value

    @property
    def viewer_url(self) -> str:
        return f"{VIEWER_URL}{self.rcept_no}"

    @property
    def is_correction(self) -> bool:
        """A new version of an earlier filing (``split_report_name``: [기재정정], [첨부추가], ...)."""
        return split_report_name(self.report_name)[0] is not None

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> DisclosureRow:
        try:
            day = datetime.strptime(str(row.get("rcept_dt", "")).strip(), "%Y%m%d").date()
        except ValueError:
            raise ValueError(f"rcept_dt={row.get('rcept_dt')!r} is not a YYYYMMDD date") from None
        corp_code = str(row.get("corp_code", "")).strip()
        if not _CORP_CODE.match(corp_code):
            raise ValueError(f"corp_code={row.get('corp_code')!r} is not 8 digits")
        stock = str(row.get("stock_code") or "").strip() or None
        if stock is not None and not _STOCK_CODE.match(stock):
            raise ValueError(f"stock_code={row.get('stock_code')!r} is not a 6-character code")
        report = str(row.get("report_nm") or "").strip()
        if not report:
            raise ValueError("report_nm is empty")
        return cls(
            rcept_no=str(row.get("rcept_no", "")).strip(),
            corp_code=corp_code,
            corp_name=str(row.get("corp_name") or "").strip(),
            stock_code=stock,
            corp_cls=str(row.get("corp_cls") or "").strip()[:1],
            report_name=report,
            filer_name=str(row.get("flr_nm") or "").strip(),
            receipt_date=day,
            remarks=str(row.get("rm") or "").strip(),
        )


def parse_amount(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).strip().replace(",", "")
    if text in ("", "-"):
        return None
    negative = text.startswith("(") and text.endswith(")")
    text = text.strip("()")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"amount {value!r} is not a number") from None
    return -number if negative else number


class FinancialRow(BaseModel):
    """One line of ``fnlttSinglAcntAll``: the current-term amount of one account."""

    model_config = ConfigDict(frozen=True)

    rcept_no: str
    reprt_code: str
    bsns_year: int
    corp_code: str
    fs_div: Literal["CFS", "OFS"]
    sj_div: str
    sj_name: str
    account_id: str
    account_name: str
    account_detail: str
    amount: float | None
    cumulative_amount: float | None = None
    order: int | None = None
    currency: str = "KRW"

    @property
    def period(self) -> str:
        """YYYYMM of the period end, assuming a December fiscal year (as most KRX companies)."""
        month = {"11013": "03", "11012": "06", "11014": "09", "11011": "12"}[self.reprt_code]
        return f"{self.bsns_year}{month}"

    @property
    def receipt_date(self) -> date:
        return datetime.strptime(self.rcept_no[:8], "%Y%m%d").date()

    @property
    def account_key(self) -> str:
        """A stable key of the line: the taxonomy id, or the name for company-specific lines, plus
        the detail (equity components repeat one account id)."""
        standard = self.account_id and self.account_id != NON_STANDARD_ACCOUNT
        key = self.account_id if standard else f"nm:{self.account_name}"
        if self.account_detail and self.account_detail != "-":
            key = f"{key}|{self.account_detail}"
        return key

    @classmethod
    def from_wire(cls, row: dict[str, Any], fs_div: str) -> FinancialRow:
        rcept_no = str(row.get("rcept_no", "")).strip()
        if not _RCEPT_NO.match(rcept_no):
            raise ValueError(f"rcept_no={row.get('rcept_no')!r} is not 14 digits")
        reprt = str(row.get("reprt_code", "")).strip()
        if reprt not in REPORT_CODES:
            raise ValueError(f"reprt_code={reprt!r} is not a report code")
        try:
            order = int(str(row.get("ord", "")).strip())
        except ValueError:
            order = None
        name = str(row.get("account_nm") or "").strip()
        account_id = str(row.get("account_id") or "").strip()
        if not name and not account_id:
            raise ValueError("line has neither account_id nor account_nm")
        return cls(
            rcept_no=rcept_no,
            reprt_code=reprt,
            bsns_year=int(str(row.get("bsns_year", "")).strip()),
            corp_code=str(row.get("corp_code", "")).strip(),
            fs_div=fs_div,  # type: ignore[arg-type]
            sj_div=str(row.get("sj_div") or "").strip(),
            sj_name=str(row.get("sj_nm") or "").strip(),
            account_id=account_id,
            account_name=name,
            account_detail=str(row.get("account_detail") or "").strip(),
            amount=parse_amount(row.get("thstrm_amount")),
            cumulative_amount=parse_amount(row.get("thstrm_add_amount")),
            order=order,
            currency=str(row.get("currency") or "KRW").strip() or "KRW",
        )


class CorpCodeBatch(BaseModel):
    rows: list[CorpCodeRow]
    skipped: dict[str, int]
    skip_examples: list[str]


class DisclosureBatch(BaseModel):
    rows: list[DisclosureRow]
    total_count: int = 0
    pages: int = 0
    skipped: dict[str, int] = {}
    skip_examples: list[str] = []
    partial: bool = False  # 020 stopped the fetch; ``rows`` is what came before
    message: str | None = None


class FinancialBatch(BaseModel):
    rows: list[FinancialRow]
    calls: int = 0
    empty_calls: int = 0
    skipped: dict[str, int] = {}
    skip_examples: list[str] = []


def month_windows(start: date, end: date, max_days: int = MAX_WINDOW_DAYS) -> Iterator[tuple[date, date]]:
    """[start, end] cut into windows of at most ``max_days`` days, newest first."""
    cursor = end
    while cursor >= start:
        first = max(start, cursor - timedelta(days=max_days - 1))
        yield first, cursor
        cursor = first - timedelta(days=1)


def parse_corp_codes(content: bytes, skips: SkipLog | None = None) -> list[CorpCodeRow]:
    """Rows of a ``corpCode.xml`` answer (ZIP), or the error its XML body states."""
    skips = skips if skips is not None else SkipLog()
    if content[:2] != b"PK":
        raise _corp_code_error_body(content)
    xml_bytes = _corp_code_xml(content)
    rows: list[CorpCodeRow] = []
    try:
        for _event, element in ElementTree.iterparse(io.BytesIO(xml_bytes)):
            if element.tag != "list":
                continue
            row = _corp_code_row(element, skips)
            if row is not None:
                rows.append(row)
    except ElementTree.ParseError as exc:
        raise SourceDataError(SOURCE, f"CORPCODE.xml is malformed XML ({exc})") from None
    return rows


def _corp_code_error_body(content: bytes) -> SourceError:
    """The error a non-ZIP ``corpCode.xml`` answer states: OpenDART reports failures as a small XML
    status body under HTTP 200, so the status decides the exception (quota, key, other)."""
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return SourceDataError(SOURCE, "corpCode.xml answered neither a ZIP nor an XML status body")
    status = (root.findtext("status") or "").strip()
    message = (root.findtext("message") or "").strip()
    return _status_error(status or "?", message or "corpCode.xml error body", "corpCode.xml")


def _corp_code_xml(content: bytes) -> bytes:
    """The XML file inside the ZIP: ``CORPCODE.xml`` by name, else the first XML member, so a renamed
    member still loads while an archive without XML is a data error rather than an empty universe."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
            if not names:
                raise SourceDataError(SOURCE, "corpCode.xml ZIP holds no XML file")
            return archive.read("CORPCODE.xml" if "CORPCODE.xml" in names else names[0])
    except zipfile.BadZipFile:
        raise SourceDataError(SOURCE, "corpCode.xml answered a damaged ZIP") from None


def _corp_code_row(element: ElementTree.Element, skips: SkipLog) -> CorpCodeRow | None:
    """One ``<list>`` element as a row, or None (recorded in ``skips``) when its codes are malformed.
    The element is cleared once read so iterparse keeps memory flat over the whole registry."""
    corp_code = (element.findtext("corp_code") or "").strip()
    name = (element.findtext("corp_name") or "").strip()
    stock = (element.findtext("stock_code") or "").strip() or None
    modified = (element.findtext("modify_date") or "").strip()
    english = (element.findtext("corp_eng_name") or "").strip() or None
    element.clear()
    if not _CORP_CODE.match(corp_code) or not name:
        skips.skip("bad_corp_code", f"{corp_code!r} {name!r}")
        return None
    if stock is not None and not _STOCK_CODE.match(stock):
        skips.skip("bad_stock_code", f"{corp_code} {stock!r}")
        return None
    return CorpCodeRow(
        corp_code=corp_code,
        corp_name=name,
        corp_eng_name=english,
        stock_code=stock,
        modify_date=_yyyymmdd_or_none(modified),
    )


def _yyyymmdd_or_none(text: str) -> date | None:
    """A ``YYYYMMDD`` date, or None when blank or invalid: modify_date is informational, so a bad
    value must not cost the company its row."""
    try:
        return datetime.strptime(text, "%Y%m%d").date() if text else None
    except ValueError:
        return None


def _status_error(status: str, message: str, where: str) -> DartError:
    if status == STATUS_QUOTA:
        return DartQuotaExceeded(SOURCE, f"{where}: daily request limit reached ({message})", code=status)
    if status in AUTH_STATUSES:
        return _DartAuthError(SOURCE, f"{where}: key refused ({message})", code=status)
    return DartError(SOURCE, f"{where}: {message}", code=status)


class _DartAuthError(DartError, SourceAuthError):
    """A key or IP problem (010, 011, 012, 901)."""


@dataclass(frozen=True)
class _FilingQuery:
    """The fixed part of a list.json request, so each page varies only its window and page number."""

    corp_code: str | None
    page_count: int
    max_pages: int | None
    extra: dict[str, str] | None

    def params(self, first: date, last: date, page_no: int) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            "bgn_de": first.strftime("%Y%m%d"),
            "end_de": last.strftime("%Y%m%d"),
            "page_no": page_no,
            "page_count": self.page_count,
            **(self.extra or {}),
        }
        if self.corp_code:
            params["corp_code"] = self.corp_code
        return params

    def wants(self, page_no: int, total_page: int) -> bool:
        """Whether to request ``page_no``: it exists and is within the caller's page cap."""
        return page_no <= total_page and (self.max_pages is None or page_no <= self.max_pages)


def _filing_page(payload: dict[str, Any], page_no: int) -> tuple[list[Any], int, int]:
    """A status-000 list.json page as (rows, total_page, total_count). Every page repeats
    ``total_count``, so only page 1's is read (later pages count 0)."""
    items = payload.get("list")
    if not isinstance(items, list):
        raise SourceDataError(SOURCE, "list.json answered status 000 without a list")
    try:
        total_page = int(payload.get("total_page", 1))
        total_count = int(payload.get("total_count", 0)) if page_no == 1 else 0
    except (TypeError, ValueError):
        raise SourceDataError(SOURCE, "list.json total_page/total_count are not numbers") from None
    return items, total_page, total_count


@dataclass
class _FilingCollector:
    """What one list_filings call has kept so far across windows and pages; it lives outside the page
    loop so a 020 mid-fetch still returns the rows that came before."""

    today: date
    batch: DisclosureBatch = field(default_factory=lambda: DisclosureBatch(rows=[]))
    skips: SkipLog = field(default_factory=SkipLog)
    seen: set[str] = field(default_factory=set)

    def add(self, items: list[Any]) -> None:
        for row in items:
            parsed = self._parse(row)
            if parsed is None:
                continue
            # A filing accepted while we page shifts later pages by one: keep the first copy.
            if parsed.rcept_no in self.seen:
                self.skips.skip("duplicate_across_pages", parsed.rcept_no)
                continue
            self.seen.add(parsed.rcept_no)
            self.batch.rows.append(parsed)

    def _parse(self, row: Any) -> DisclosureRow | None:
        """The row, or None (recorded as a skip) when it is malformed or dated after today."""
        if not isinstance(row, dict):
            self.skips.skip("not_an_object")
            return None
        try:
            parsed = DisclosureRow.from_wire(row)
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            self.skips.skip("bad_row", f"{row.get('rcept_no')!r}: {reason}")
            return None
        if parsed.receipt_date > self.today:
            self.skips.skip("future_dated", f"{parsed.rcept_no} {parsed.receipt_date}")
            return None
        return parsed

    def finish(self) -> DisclosureBatch:
        self.batch.skipped = dict(self.skips.counts)
        self.batch.skip_examples = self.skips.examples
        return self.batch


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------
class DartClient(UpstreamClient):
    def __init__(
        self,
        base_url: str,
        api_key: SecretStr,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        maintenance_retries: int = 3,
        maintenance_backoff: float = 30.0,
        requests_per_second: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key.get_secret_value():
            raise SourceAuthError(SOURCE, "DART_API_KEY is not set")
        # OpenDART documents its endpoints as https://opendart.fss.or.kr/api/<name>: the base may be given
        # with or without the /api segment and a trailing slash.
        self.base_url = service_root(base_url, "api")
        self._key = api_key
        self._maintenance_retries = maintenance_retries
        self._maintenance_backoff = maintenance_backoff
        limiter = SlidingWindowLimiter(requests_per_second, 1.0)
        self._transport = Transport(SOURCE, http=http, timeout=timeout, limiter=limiter, max_attempts=max_attempts,
                                    sleep=sleep, counters=["maintenance"])

    # ---- transport --------------------------------------------------------------------------
    def _send(self, name: str, params: dict[str, str | int], classify: Classifier | None = None) -> Any:
        # The key goes in the query string: the httpx log filter and the transport mask it (clients/logs.py).
        return self._transport.send(
            "GET",
            f"{self.base_url}/api/{name}",
            what=name,
            classify=classify,
            params={"crtfc_key": self._key.get_secret_value(), **params},
        )

    def _json(self, name: str, params: dict[str, str | int]) -> dict[str, Any] | None:
        """The body of a JSON endpoint; None for 013 (no data). Other statuses raise."""
        return self._send(name, params, self._envelope)

    def _envelope(self, response: httpx.Response, call: Call) -> dict[str, Any] | Retry | Repeat | None:
        """DART errors come as HTTP 200 with a ``status``: 000 data, 013 none, 800 maintenance (waited out)."""
        if response.status_code != 200:
            return self._transport.refuse_or_retry(response, call)
        payload = json_object(response)
        if payload is None or "status" not in payload:
            if call.last:
                raise SourceDataError(SOURCE, f"{call.what} answered a body that is not a DART JSON envelope")
            return Retry("answered a body that is not a DART JSON envelope")
        status = str(payload.get("status"))
        if status == STATUS_OK:
            return payload
        if status == STATUS_NO_DATA:
            return None
        if status == STATUS_MAINTENANCE and call.counts["maintenance"] < self._maintenance_retries:
            wait = self._maintenance_backoff * call.tally("maintenance")
            self._transport.count("maintenance")
            log.warning("OpenDART under maintenance (800); waiting %.0f s", wait)
            return Repeat(wait)
        raise _status_error(status, str(payload.get("message") or ""), call.what)

    # ---- endpoints ---------------------------------------------------------------------------
    def corp_codes(self) -> CorpCodeBatch:
        skips = SkipLog()
        response = self._send("corpCode.xml", {})
        rows = parse_corp_codes(response.content, skips)
        return CorpCodeBatch(rows=rows, skipped=dict(skips.counts), skip_examples=skips.examples)

    def list_filings(
        self,
        start: date,
        end: date,
        *,
        corp_code: str | None = None,
        page_count: int = PAGE_COUNT,
        max_pages: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> DisclosureBatch:
        """Every filing received in [start, end], newest first. Without ``corp_code`` the range is
        cut into windows of at most three months. 020 ends the fetch with ``partial=True``."""
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        if corp_code is not None and not _CORP_CODE.match(corp_code):
            raise ValueError(f"corp_code must be 8 digits, got {corp_code!r}")
        query = _FilingQuery(corp_code, page_count, max_pages, extra)
        collector = _FilingCollector(today=clock.today_kst())
        windows = [(start, end)] if corp_code else list(month_windows(start, end))
        try:
            for first, last in windows:
                self._list_window(query, first, last, collector)
        except DartQuotaExceeded as exc:
            collector.batch.partial = True
            collector.batch.message = str(exc)
            log.warning("%s", exc)
        return collector.finish()

    def _list_window(self, query: _FilingQuery, first: date, last: date, collector: _FilingCollector) -> None:
        """Every page of one [first, last] window into ``collector``; 013 (no filings) ends the window."""
        page_no, total_page = 1, 1
        while query.wants(page_no, total_page):
            payload = self._json("list.json", query.params(first, last, page_no))
            collector.batch.pages += 1
            if payload is None:
                break
            items, total_page, total_count = _filing_page(payload, page_no)
            collector.batch.total_count += total_count
            collector.add(items)
            page_no += 1

    def financials(
        self, corp_code: str, year: int, reprt_code: str, fs_div: str, skips: SkipLog | None = None
    ) -> list[FinancialRow]:
        if reprt_code not in REPORT_CODES or fs_div not in FS_DIVS:
            raise ValueError(f"unknown reprt_code {reprt_code!r} or fs_div {fs_div!r}")
        skips = skips if skips is not None else SkipLog()
        payload = self._json(
            "fnlttSinglAcntAll.json",
            {"corp_code": corp_code, "bsns_year": str(year), "reprt_code": reprt_code, "fs_div": fs_div},
        )
        if payload is None:
            return []
        items = payload.get("list")
        if not isinstance(items, list):
            raise SourceDataError(SOURCE, "fnlttSinglAcntAll.json answered status 000 without a list")
        rows = []
        for row in items:
            if not isinstance(row, dict):
                skips.skip("not_an_object")
                continue
            try:
                rows.append(FinancialRow.from_wire(row, fs_div))
            except (ValueError, ValidationError) as exc:
                skips.skip("bad_line", f"{corp_code} {year} {reprt_code} {fs_div}: {str(exc)[:100]}")
        return rows

    def financials_all(self, corp_code: str, years: list[int]) -> FinancialBatch:
        """All four report codes × CFS/OFS for each year (013 answers are simply empty)."""
        batch = FinancialBatch(rows=[])
        skips = SkipLog()
        for year in years:
            for reprt_code in REPORT_CODES:
                for fs_div in FS_DIVS:
                    rows = self.financials(corp_code, year, reprt_code, fs_div, skips)
                    batch.calls += 1
                    batch.empty_calls += 0 if rows else 1
                    batch.rows.extend(rows)
        batch.skipped = dict(skips.counts)
        batch.skip_examples = skips.examples
        return batch
