"""OpenDART in the sandbox: ``/api/list.json``, ``/api/corpCode.xml``, ``/api/fnlttSinglAcntAll.json``.

Wire rules reproduced (sources.md section 1 and 8.1, wire-samples/dart_*):
* HTTP 200 always; ``status`` strings (``000`` 정상, ``013`` no data, ``010`` unknown key, ``020`` daily
  limit, ``100`` bad field, ``800`` maintenance) with DART's own messages; compact JSON, Korean
  unescaped; ``page_no``/``page_count``/``total_count``/``total_page`` as numbers.
* ``crtfc_key`` must be 40 characters (and one of ``DartConfig.api_keys`` when set).
* ``list.json``: ``page_count`` ≤ 100; without ``corp_code`` the ``bgn_de``..``end_de`` span may be at
  most three months (status 100 with DART's message); newest first.
* ``corpCode.xml``: a real ZIP with ``CORPCODE.xml`` on success (corp codes with leading zeros, a
  single space as ``stock_code`` of unlisted companies), the small XML status body on error.
* ``fnlttSinglAcntAll.json``: all four report codes and CFS/OFS for the known listings, once the
  report's filing day has passed; unformatted integer amounts, some ``""``, company-specific lines
  with ``"-표준계정코드 미사용-"``, equity-statement lines that repeat one account id with different
  ``account_detail``.

Filings are generated per session day, deterministically: 0-2 per known listing (the kind leans on the
day's news tone: supply contracts and buybacks on good days, lawsuits and rights issues on bad ones),
plus unlisted filers (asset-backed SPCs) with ``stock_code`` ``""``. About a third of report names end in
spaces, some carry ``[기재정정]``, ``rm`` flags follow the market (유/코, 정 for corrections, 연 for
consolidated). Each filing has a hidden time between 07:00 and 19:30 KST and is listed only once the
sandbox clock has passed it.

Planted amendments (issue 17): on about three sessions in ten (``AMENDMENT_SHARE``), one listed company corrects
one of its filings of the previous session: a new filing ``[기재정정]<the same report name>`` with its own
``rcept_no`` (after every other filing of the day in its series, filed after them), so that the pipeline's version
linking has a real original to find. Which one is a pure function of (seed, day) and the previous session's
filings, themselves a pure function of (seed, that day): history stays fixed, whatever "today" is.

Faults (``path_contains`` e.g. ``/api/list.json``): ``daily_quota`` (020), ``maintenance`` (800),
``no_data`` (013), ``malformed_json``, ``html_error``, ``xml_error`` (corpCode.xml answers the
captured XML error body), ``bad_items`` (malformed list rows / CORPCODE rows added), ``page_shift``
(a later page repeats the last filing of the page before, as when a filing is accepted while paging),
``delay``.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import random
import threading
import zipfile
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response

from stock_insights.sandbox.kis import FaultQueue
from stock_insights.sandbox.market import KST, SimulatedMarket, kst_now
from stock_insights.universe import KNOWN_LISTINGS, Listing

DART_FAULT_KINDS = frozenset(
    {"daily_quota", "maintenance", "no_data", "malformed_json", "html_error", "xml_error", "bad_items",
     "page_shift", "delay"}
)
MESSAGES = {
    "000": "정상",
    "010": "등록되지 않은 키입니다.",
    "013": "조회된 데이타가 없습니다.",
    "020": "요청 제한을 초과하였습니다.",
    "100": "필드의 부적절한 값입니다.",
    "800": "시스템 점검으로 인한 서비스가 중지 중입니다.",
}
THREE_MONTHS = "corp_code가 없는 경우 검색기간은 3개월만 가능합니다."
ZIP_ERROR_SAMPLE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><result><status>013</status>'
    "<message>접수번호 오류 : 00000000000000</message></result>"
)
# (report name, exchange filing (80 series) or DART (00 series), tone affinity)
_REPORTS: tuple[tuple[str, bool, int], ...] = (
    ("단일판매ㆍ공급계약체결", True, 1),
    ("주요사항보고서(자기주식취득결정)", False, 1),
    ("영업(잠정)실적(공정공시)", True, 0),
    ("최대주주등소유주식변동신고서", False, 0),
    ("임원ㆍ주요주주특정증권등소유상황보고서", False, 0),
    ("기업설명회(IR)개최(안내공시)", True, 0),
    ("대표이사(대표집행임원)변경(안내공시)", True, 0),
    ("소송등의제기ㆍ신청(일정금액이상의청구)", True, -1),
    ("주요사항보고서(유상증자결정)", False, -1),
)
UNLISTED: tuple[tuple[str, str, str], ...] = (
    ("01688425", "케이비오토제오차유동화전문유한회사", "한국씨티은행"),
    ("00434003", "다코", "다코"),
    ("01312345", "에스티제일차유동화전문유한회사", "국민은행"),
)
AMENDMENT_SHARE = 0.3  # the share of sessions with a planted correction of the previous session's filing
SPC_REPORT = "[기재정정]자산유동화계획의등록신청서[신탁회사(은행신탁계정포함)]"  # verbatim from the live capture
_PEOPLE = ("김민수", "이서연", "박지훈", "최유진", "정하늘")
_REPORT_FILED = {"11013": (0, 5, 15), "11012": (0, 8, 14), "11014": (0, 11, 14), "11011": (1, 3, 15)}


def corp_code_for(listing: Listing) -> str:
    """The listing's DART corp code: the real one where known, else a stable code with leading zeros."""
    return listing.dart_corp_code or f"00{zlib.crc32(listing.code.encode()) % 1_000_000:06d}"


@dataclass(frozen=True)
class DartConfig:
    daily_limit: int = 20_000
    api_keys: frozenset[str] | None = None  # None accepts any 40-character key


@dataclass(frozen=True, slots=True)
class Filing:
    rcept_no: str
    corp_code: str
    corp_name: str
    stock_code: str
    corp_cls: str
    report_nm: str
    flr_nm: str
    rcept_dt: str
    rm: str
    published_at: datetime  # hidden: the list shows a filing only after this time

    def wire(self) -> dict[str, str]:
        return {"corp_code": self.corp_code, "corp_name": self.corp_name, "stock_code": self.stock_code,
                "corp_cls": self.corp_cls, "report_nm": self.report_nm, "rcept_no": self.rcept_no,
                "flr_nm": self.flr_nm, "rcept_dt": self.rcept_dt, "rm": self.rm}


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30,
            31, 30, 31][month - 1]
    return date(year, month, min(day.day, last))


def _ymd(raw: str | None) -> date | None:
    if not raw or len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return datetime.strptime(raw, "%Y%m%d").date()
    except ValueError:
        return None


class DartSandbox:
    def __init__(self, market: SimulatedMarket, *, now: Callable[[], datetime] | None = None,
                 config: DartConfig | None = None, faults: FaultQueue | None = None,
                 listings: dict[str, Listing] | None = None) -> None:
        self.market = market
        self._now = now or kst_now
        self.config = config or DartConfig()
        self.faults = faults or FaultQueue()
        self.faults.allow(DART_FAULT_KINDS)
        self.listings = dict(listings or KNOWN_LISTINGS)
        self.by_corp = {corp_code_for(listing): listing for listing in self.listings.values()}
        self._days: OrderedDict[date, list[Filing]] = OrderedDict()
        self._lock = threading.Lock()
        self._daily: Counter[tuple[str, date]] = Counter()
        self.counters: Counter[str] = Counter()
        self._zip: bytes | None = None

    def now(self) -> datetime:
        moment = self._now()
        return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment.astimezone(KST)

    # --- auth and budget -------------------------------------------------------------------------
    def check_key(self, key: str) -> str | None:
        """None when the key may be served, else the status code to answer."""
        if len(key) != 40 or (self.config.api_keys is not None and key not in self.config.api_keys):
            return "010"
        today = self.now().date()
        with self._lock:
            if self._daily[(key, today)] >= self.config.daily_limit:
                return "020"
            self._daily[(key, today)] += 1
        return None

    # --- filings --------------------------------------------------------------------------------
    def filings(self, day: date) -> list[Filing]:
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
        made = self._make(day)
        with self._lock:
            self._days[day] = made
            while len(self._days) > 4096:
                self._days.popitem(last=False)
        return made

    def _make(self, day: date) -> list[Filing]:
        filings = self._originals(day)
        previous = self.market.previous_session(day) if filings else None
        amendment = self._amendment(day, filings, self._originals(previous)) if previous is not None else None
        return filings if amendment is None else [*filings, amendment]

    def _amendment(self, day: date, today: list[Filing], before: list[Filing]) -> Filing | None:
        """The planted correction of ``day`` (see the module doc), or None."""
        rng = random.Random(zlib.crc32(f"{self.market.seed}|dart-amendment|{day.toordinal()}".encode()))
        if rng.random() >= AMENDMENT_SHARE:
            return None
        candidates = [f for f in before if f.stock_code and not f.report_nm.startswith("[")]
        if not candidates:
            return None
        original = rng.choice(candidates)
        series = original.rcept_no[8:10]
        same_series = [f for f in today if f.rcept_no[8:10] == series]
        sequence = max((int(f.rcept_no[10:]) for f in same_series), default=300) + 1 + rng.randint(0, 3)
        latest = max((f.published_at for f in today), default=datetime.combine(day, time(7, 0), tzinfo=KST))
        flags = original.rm if "정" in original.rm else original.rm + "정"
        return replace(
            original,
            rcept_no=f"{day:%Y%m%d}{series}{sequence:04d}",
            report_nm=f"[기재정정]{original.report_nm}",
            rcept_dt=f"{day:%Y%m%d}",
            rm=flags,
            published_at=latest + timedelta(minutes=1 + rng.randint(0, 20)),
        )

    def _originals(self, day: date) -> list[Filing]:
        if not self.market.is_session(day):
            return []
        rng = random.Random(zlib.crc32(f"{self.market.seed}|dart|{day.toordinal()}".encode()))
        drafts: list[tuple[datetime, bool, dict[str, str]]] = []
        for code in sorted(self.listings):
            listing = self.listings[code]
            roll = rng.random()
            count = 0 if roll < 0.5 else 1 if roll < 0.85 else 2
            tone = self.market.tone(code, day)
            for _ in range(count):
                affinity = 1 if tone > 0.4 else -1 if tone < -0.4 else 0
                pool = [r for r in _REPORTS if r[2] == affinity] if affinity and rng.random() < 0.6 else list(_REPORTS)
                name, exchange, _ = rng.choice(pool)
                corrected = rng.random() < 0.1
                if corrected:
                    name = f"[기재정정]{name}"
                if rng.random() < 0.3:
                    name += " " * 14  # the trailing spaces of real answers
                if exchange:
                    flags = "유" if listing.market == "KOSPI" else "코"
                else:
                    flags = "연" if rng.random() < 0.3 else ""
                if corrected:
                    flags += "정"
                filer = rng.choice(_PEOPLE) if name.startswith("임원") else listing.name
                drafts.append((self._time(day, rng), exchange, {
                    "corp_code": corp_code_for(listing), "corp_name": listing.name, "stock_code": code,
                    "corp_cls": "Y" if listing.market == "KOSPI" else "K", "report_nm": name, "flr_nm": filer,
                    "rm": flags,
                }))
        for corp_code, corp_name, filer in rng.sample(UNLISTED, k=rng.randint(1, 2)):
            drafts.append((self._time(day, rng), False, {
                "corp_code": corp_code, "corp_name": corp_name, "stock_code": "", "corp_cls": "E",
                "report_nm": SPC_REPORT, "flr_nm": filer, "rm": "",
            }))
        drafts.sort(key=lambda d: d[0])
        sequence = {True: 100 + rng.randint(0, 50), False: 300 + rng.randint(0, 200)}
        out = []
        for moment, exchange, fields in drafts:
            sequence[exchange] += 1 + rng.randint(0, 3)
            rcept_no = f"{day:%Y%m%d}{'80' if exchange else '00'}{sequence[exchange]:04d}"
            out.append(Filing(rcept_no=rcept_no, rcept_dt=f"{day:%Y%m%d}", published_at=moment, **fields))
        return out

    @staticmethod
    def _time(day: date, rng: random.Random) -> datetime:
        return datetime.combine(day, time(7, 0), tzinfo=KST) + timedelta(minutes=rng.randint(0, 12 * 60 + 30))

    def search(self, params: Mapping[str, str], *, page_shift: bool = False) -> dict[str, Any]:
        moment = self.now()
        end = _ymd(params.get("end_de")) if params.get("end_de") else moment.date()
        start = _ymd(params.get("bgn_de")) if params.get("bgn_de") else end
        corp_code = params.get("corp_code", "").strip()
        try:
            page_no = int(params.get("page_no", "1"))
            page_count = int(params.get("page_count", "10"))
        except ValueError:
            return status("100")
        if start is None or end is None or not 1 <= page_count <= 100 or page_no < 1 or start > end:
            return status("100")
        if corp_code and (len(corp_code) != 8 or not corp_code.isdigit()):
            return status("100")
        if not corp_code and end > _add_months(start, 3):
            return {"status": "100", "message": THREE_MONTHS}
        found: list[Filing] = []
        day = end
        while day >= start:
            found.extend(f for f in self.filings(day) if f.published_at <= moment
                         and (not corp_code or f.corp_code == corp_code))
            day -= timedelta(days=1)
        found.sort(key=lambda f: (f.rcept_dt, f.rcept_no), reverse=True)
        if not found:
            return status("013")
        total_page = math.ceil(len(found) / page_count)
        if page_no > total_page:
            return status("013")
        first = (page_no - 1) * page_count - (1 if page_shift and page_no > 1 else 0)
        page = found[first : first + page_count]
        return {"status": "000", "message": "정상", "page_no": page_no, "page_count": page_count,
                "total_count": len(found), "total_page": total_page, "list": [f.wire() for f in page]}

    # --- corp codes -----------------------------------------------------------------------------
    def corp_code_xml(self, *, bad_items: bool = False) -> str:
        rows = []
        for listing in sorted(self.listings.values(), key=lambda item: item.code):
            english = escape(listing.name_en.upper()) + (" CO.,LTD" if " " in listing.name_en else "")
            rows.append((corp_code_for(listing), listing.name, english, listing.code))
        rows.extend((code, name, "", " ") for code, name, _ in UNLISTED)
        if bad_items:
            rows.append(("1234", "잘못된코드", "", " "))
            rows.append(("00999999", "잘못된종목", "", "12"))
        body = "".join(
            "    <list>\n"
            f"        <corp_code>{code}</corp_code>\n"
            f"        <corp_name>{escape(name)}</corp_name>\n"
            + (f"        <corp_eng_name>{english}</corp_eng_name>\n" if english else "")
            + f"        <stock_code>{stock}</stock_code>\n"
            "        <modify_date>20251201</modify_date>\n"
            "    </list>\n"
            for code, name, english, stock in rows
        )
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<result>\n{body}</result>\n'

    def corp_code_zip(self, *, bad_items: bool = False) -> bytes:
        if self._zip is not None and not bad_items:
            return self._zip
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("CORPCODE.xml", self.corp_code_xml(bad_items=bad_items).encode("utf-8"))
        data = buffer.getvalue()
        if not bad_items:
            self._zip = data
        return data

    # --- financial statements ---------------------------------------------------------------------
    def financials(self, params: Mapping[str, str]) -> dict[str, Any]:
        corp_code = params.get("corp_code", "")
        year_raw, reprt, fs_div = params.get("bsns_year", ""), params.get("reprt_code", ""), params.get("fs_div", "")
        if not corp_code or not year_raw.isdigit() or reprt not in _REPORT_FILED or fs_div not in ("CFS", "OFS"):
            return status("100")
        listing = self.by_corp.get(corp_code)
        year = int(year_raw)
        if listing is None or year < 2015:
            return status("013")
        offset, month, day_of_month = _REPORT_FILED[reprt]
        filed_on = date(year + offset, month, day_of_month)
        if datetime.combine(filed_on, time(15, 0), tzinfo=KST) > self.now():
            return status("013")
        seq = zlib.crc32(f"{corp_code}|{year}|{reprt}".encode()) % 9000 + 1000
        rcept_no = f"{filed_on:%Y%m%d}00{seq:04d}"
        return {"status": "000", "message": "정상", "list": self._statement_rows(listing, year, reprt, fs_div,
                                                                                   rcept_no, corp_code)}

    def _statement_rows(self, listing: Listing, year: int, reprt: str, fs_div: str, rcept_no: str,
                        corp_code: str) -> list[dict[str, str]]:
        profile = self.market.profile(listing.code)
        rng = random.Random(zlib.crc32(f"{listing.code}|{year}|{reprt}|fs".encode()))
        scale = 1.0 if fs_div == "CFS" else 0.8
        cap = profile.base_price * profile.shares_outstanding
        annual_revenue = cap * (0.3 + 1.2 * (zlib.crc32(listing.code.encode()) % 100) / 100) * (1.05 ** (year - 2020))
        quarter = 1.0 if reprt == "11011" else 0.25
        revenue = annual_revenue * quarter * rng.uniform(0.9, 1.1) * scale
        margin = 0.12 if profile.eps > 0 else -0.05
        operating = revenue * margin * rng.uniform(0.7, 1.3)
        net = operating * 0.75
        assets = annual_revenue * 1.3 * scale
        liabilities = assets * rng.uniform(0.3, 0.5)
        term = f"제 {year - 1969} 기"
        prior = f"제 {year - 1970} 기"
        annual = reprt == "11011"

        def line(sj: str, sj_nm: str, account_id: str, name: str, amount: float | None, order: int,
                 detail: str = "-") -> dict[str, str]:
            value = "" if amount is None else str(round(amount))
            row = {"rcept_no": rcept_no, "reprt_code": reprt, "bsns_year": str(year), "corp_code": corp_code,
                   "sj_div": sj, "sj_nm": sj_nm, "account_id": account_id, "account_nm": name,
                   "account_detail": detail, "thstrm_nm": term, "thstrm_amount": value}
            if sj in ("IS", "CIS") and not annual:
                row["thstrm_add_amount"] = value
            row.update({"frmtrm_nm": prior, "frmtrm_amount": str(round((amount or 0) * 0.93))})
            if annual:
                row.update({"bfefrmtrm_nm": f"제 {year - 1971} 기",
                            "bfefrmtrm_amount": str(round((amount or 0) * 0.88))})
            row.update({"ord": str(order), "currency": "KRW"})
            return row

        return [
            line("BS", "재무상태표", "ifrs-full_CashAndCashEquivalents", "현금및현금성자산", assets * 0.1, 1),
            line("BS", "재무상태표", "ifrs-full_Assets", "자산총계", assets, 7),
            line("BS", "재무상태표", "ifrs-full_Liabilities", "부채총계", liabilities, 12),
            line("BS", "재무상태표", "ifrs-full_Equity", "자본총계", assets - liabilities, 20),
            line("IS", "손익계산서", "ifrs-full_Revenue", "매출액", revenue, 1),
            line("IS", "손익계산서", "dart_OperatingIncomeLoss", "영업이익", operating, 6),
            line("IS", "손익계산서", "-표준계정코드 미사용-", "기타영업외수익", None, 9),
            line("IS", "손익계산서", "ifrs-full_ProfitLoss", "당기순이익(손실)", net, 14),
            line("CF", "현금흐름표", "ifrs-full_CashFlowsFromUsedInOperatingActivities", "영업활동현금흐름",
                 operating * 1.1, 1),
            line("SCE", "자본변동표", "ifrs-full_Equity", "기말자본", (assets - liabilities) * 0.6, 30,
                 "자본 [member]|지배기업의 소유주에게 귀속되는 자본 [member]|이익잉여금 [member]"),
            line("SCE", "자본변동표", "ifrs-full_Equity", "기말자본", (assets - liabilities) * 0.4, 31,
                 "자본 [member]|지배기업의 소유주에게 귀속되는 자본 [member]|자본금 [member]"),
        ]


def status(code: str) -> dict[str, str]:
    return {"status": code, "message": MESSAGES[code]}


def _json(body: Any) -> Response:
    return Response(content=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                    media_type="application/json;charset=UTF-8")


def _xml_status(code: str, message: str | None = None) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><result><status>{code}</status>'
            f"<message>{escape(message or MESSAGES[code])}</message></result>")
    return Response(content=body.encode("utf-8"), media_type="application/xml;charset=UTF-8")


_BAD_ROWS = (
    {"corp_code": "123", "corp_name": "짧은코드", "stock_code": "", "corp_cls": "E", "report_nm": "보고서",
     "rcept_no": "20990101000001", "flr_nm": "짧은코드", "rcept_dt": "20990101", "rm": ""},
    {"corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y",
     "report_nm": "날짜오류", "rcept_no": "20260101000002", "flr_nm": "삼성전자", "rcept_dt": "2026-13-45", "rm": ""},
    {"corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y",
     "report_nm": "접수번호오류", "rcept_no": "abc", "flr_nm": "삼성전자", "rcept_dt": "20260101", "rm": ""},
    {"corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "5930", "corp_cls": "Y",
     "report_nm": "종목코드오류", "rcept_no": "20260101000004", "flr_nm": "삼성전자", "rcept_dt": "20260101", "rm": ""},
    {"corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y",
     "report_nm": "   ", "rcept_no": "20260101000005", "flr_nm": "삼성전자", "rcept_dt": "20260101", "rm": ""},
    {"corp_code": "00126380", "corp_name": "삼성전자", "stock_code": "005930", "corp_cls": "Y",
     "report_nm": "미래날짜", "rcept_no": "20990101000006", "flr_nm": "삼성전자", "rcept_dt": "20990101", "rm": ""},
)


def build_dart_router(sandbox: DartSandbox) -> APIRouter:
    router = APIRouter()

    async def common(request: Request) -> tuple[Any, Response | None]:
        sandbox.counters[request.url.path] += 1
        fault = sandbox.faults.take(request.url.path)
        xml = request.url.path.endswith(".xml")
        if fault is not None:
            sandbox.counters[f"fault_{fault.kind}"] += 1
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
                fault = None
            elif fault.kind == "html_error":
                return None, Response(content="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                      status_code=502, media_type="text/html")
            elif fault.kind in ("daily_quota", "maintenance", "no_data"):
                code = {"daily_quota": "020", "maintenance": "800", "no_data": "013"}[fault.kind]
                return None, _xml_status(code) if xml else _json(status(code))
            elif fault.kind == "xml_error" and xml:
                return None, Response(content=ZIP_ERROR_SAMPLE.encode("utf-8"),
                                      media_type="application/xml;charset=UTF-8")
            elif fault.kind == "malformed_json" and not xml:
                return None, Response(content='{"status":"000","message":"정상","list":[{"corp_co',
                                      media_type="application/json;charset=UTF-8")
        problem = sandbox.check_key(request.query_params.get("crtfc_key", ""))
        if problem is not None:
            return None, _xml_status(problem) if xml else _json(status(problem))
        return fault, None

    @router.get("/api/list.json", summary="OpenDART 공시검색 (list.json)")
    async def list_json(request: Request) -> Response:
        fault, early = await common(request)
        if early is not None:
            return early
        params = dict(request.query_params)
        body = await asyncio.to_thread(sandbox.search, params,
                                       page_shift=fault is not None and fault.kind == "page_shift")
        if fault is not None and fault.kind == "bad_items" and body.get("status") == "000":
            body["list"] = [*_BAD_ROWS, *body["list"]]
        return _json(body)

    @router.get("/api/corpCode.xml", summary="OpenDART 고유번호 (corpCode.xml, ZIP)")
    async def corp_code(request: Request) -> Response:
        fault, early = await common(request)
        if early is not None:
            return early
        data = sandbox.corp_code_zip(bad_items=fault is not None and fault.kind == "bad_items")
        return Response(content=data, media_type="application/x-msdownload",
                        headers={"Content-Disposition": "attachment; filename=CORPCODE.zip"})

    @router.get("/api/fnlttSinglAcntAll.json", summary="OpenDART 단일회사 전체 재무제표")
    async def financials(request: Request) -> Response:
        fault, early = await common(request)
        if early is not None:
            return early
        body = sandbox.financials(dict(request.query_params))
        if fault is not None and fault.kind == "bad_items" and body.get("status") == "000":
            body["list"].append({"rcept_no": "bad", "reprt_code": "11011", "account_nm": "깨진 행"})
            body["list"].append({**body["list"][0], "thstrm_amount": "12O,000"})
        return _json(body)

    @router.get("/_sandbox/dart/stats", summary="OpenDART sandbox counters")
    async def stats() -> dict[str, int]:
        return dict(sandbox.counters)

    return router
