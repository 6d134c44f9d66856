"""KIS stock master files (종목마스터): ``kospi_code.mst.zip`` and ``kosdaq_code.mst.zip``.

Source of the layouts (copied field by field, widths and order unchanged)
    github.com/koreainvestment/open-trading-api, ``stocks_info/종목마스터정보(코스피).h`` (ST_KSP_CODE,
    commit 35bc7961) and ``stocks_info/종목마스터정보(코스닥).h`` (ST_KSQ_CODE, commit 4afd0000), and the
    official readers ``stocks_info/kis_kospi_code_mst.py`` / ``kis_kosdaq_code_mst.py``, which download
    ``https://new.real.download.dws.co.kr/common/master/{kospi_code,kosdaq_code}.mst.zip``.

Wire format
    A zip holding one member, ``kospi_code.mst`` or ``kosdaq_code.mst``: cp949 text, one listing per
    line. Each line is the short code (단축코드, 9 bytes, space padded), the standard code (표준코드,
    ISIN, 12 bytes), the Korean name (한글종목명, variable: the official readers take everything between
    byte 21 and the tail), then a fixed-width ASCII tail of 227 bytes on KOSPI and 221 on KOSDAQ (the
    readers' 228 and 222 count the newline). The tail's fields are ``KOSPI_FIELDS`` / ``KOSDAQ_FIELDS``.

What is derived (``MasterRow.security_type``)
    ETN when the ETP code (etp_prod_cls_code) is 3 or 4 or the group is ``EN``; ETF for groups ``EF``
    and ``FE``; REIT for ``RT``; SPAC when 기업인수목적회사여부 is Y; preferred for group ``ST`` with
    우선주 구분 1 (구형) or 2 (신형); common for other ``ST``; other for the remaining known groups (MF,
    SC, IF, DR, EW, SW, SR, BC, FS). ``EN`` is not in the header's list but ETN lines carry it.

Bad input raises ``MasterFileError`` naming the file and the line: an empty file, a zip without the
expected member (or not a zip), a line that is not cp949 (a UTF-8 file is recognised as such), a
truncated line (too short, or a tail that is not ASCII or whose fields break their format), an unknown
group code or market, a duplicated short code. Nothing is returned for a file with any bad line.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from collections.abc import Callable
from datetime import date
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from stock_insights.clients.base_url import service_root
from stock_insights.clients.errors import SourceDataError
from stock_insights.clients.transport import Transport, UpstreamClient

SOURCE = "KIS master"
DEFAULT_BASE_URL = "https://new.real.download.dws.co.kr"
MASTER_PATH = "/common/master"
Market = Literal["KOSPI", "KOSDAQ"]
SecurityType = Literal["common", "preferred", "etf", "etn", "spac", "reit", "other"]
MEMBERS: dict[str, str] = {"KOSPI": "kospi_code.mst", "KOSDAQ": "kosdaq_code.mst"}
SHORT_CODE_BYTES, STANDARD_CODE_BYTES = 9, 12
HEAD_BYTES = SHORT_CODE_BYTES + STANDARD_CODE_BYTES

# 증권그룹구분코드 (scrt_grp_cls_code), from the headers; EN (ETN) as found in the files.
GROUP_CODES: dict[str, str] = {
    "ST": "주권", "MF": "증권투자회사", "RT": "부동산투자회사", "SC": "선박투자회사", "IF": "사회간접자본투융자회사",
    "DR": "주식예탁증서", "EW": "ELW", "EF": "ETF", "SW": "신주인수권증권", "SR": "신주인수권증서", "BC": "수익증권",
    "FE": "해외ETF", "FS": "외국주권", "EN": "ETN",
}

# The tails, in the headers' order: (field of the .h struct, bytes).
KOSPI_FIELDS: tuple[tuple[str, int], ...] = (
    ("scrt_grp_cls_code", 2), ("avls_scal_cls_code", 1), ("bstp_larg_div_code", 4), ("bstp_medm_div_code", 4),
    ("bstp_smal_div_code", 4), ("mnin_cls_code_yn", 1), ("low_current_yn", 1), ("sprn_strr_nmix_issu_yn", 1),
    ("kospi200_apnt_cls_code", 1), ("kospi100_issu_yn", 1), ("kospi50_issu_yn", 1), ("krx_issu_yn", 1),
    ("etp_prod_cls_code", 1), ("elw_pblc_yn", 1), ("krx100_issu_yn", 1), ("krx_car_yn", 1), ("krx_smcn_yn", 1),
    ("krx_bio_yn", 1), ("krx_bank_yn", 1), ("etpr_undt_objt_co_yn", 1), ("krx_enrg_chms_yn", 1),
    ("krx_stel_yn", 1), ("short_over_cls_code", 1), ("krx_medi_cmnc_yn", 1), ("krx_cnst_yn", 1),
    ("krx_fnnc_svc_yn", 1), ("krx_scrt_yn", 1), ("krx_ship_yn", 1), ("krx_insu_yn", 1), ("krx_trnp_yn", 1),
    ("sri_nmix_yn", 1), ("stck_sdpr", 9), ("frml_mrkt_deal_qty_unit", 5), ("ovtm_mrkt_deal_qty_unit", 5),
    ("trht_yn", 1), ("sltr_yn", 1), ("mang_issu_yn", 1), ("mrkt_alrm_cls_code", 2), ("mrkt_alrm_risk_adnt_yn", 1),
    ("insn_pbnt_yn", 1), ("byps_lstn_yn", 1), ("flng_cls_code", 2), ("fcam_mod_cls_code", 2), ("icic_cls_code", 2),
    ("marg_rate", 3), ("crdt_able", 1), ("crdt_days", 3), ("prdy_vol", 12), ("stck_fcam", 12),
    ("stck_lstn_date", 8), ("lstn_stcn", 15), ("cpfn", 21), ("stac_month", 2), ("po_prc", 7), ("prst_cls_code", 1),
    ("ssts_hot_yn", 1), ("stange_runup_yn", 1), ("krx300_issu_yn", 1), ("kospi_issu_yn", 1), ("sale_account", 9),
    ("bsop_prfi", 9), ("op_prfi", 9), ("thtr_ntin", 5), ("roe", 9), ("base_date", 8), ("prdy_avls_scal", 9),
    ("grp_code", 3), ("co_crdt_limt_over_yn", 1), ("secu_lend_able_yn", 1), ("stln_able_yn", 1),
)
KOSDAQ_FIELDS: tuple[tuple[str, int], ...] = (
    ("scrt_grp_cls_code", 2), ("avls_scal_cls_code", 1), ("bstp_larg_div_code", 4), ("bstp_medm_div_code", 4),
    ("bstp_smal_div_code", 4), ("vntr_issu_yn", 1), ("low_current_yn", 1), ("krx_issu_yn", 1),
    ("etp_prod_cls_code", 1), ("krx100_issu_yn", 1), ("krx_car_yn", 1), ("krx_smcn_yn", 1), ("krx_bio_yn", 1),
    ("krx_bank_yn", 1), ("etpr_undt_objt_co_yn", 1), ("krx_enrg_chms_yn", 1), ("krx_stel_yn", 1),
    ("short_over_cls_code", 1), ("krx_medi_cmnc_yn", 1), ("krx_cnst_yn", 1), ("invt_alrm_yn", 1),
    ("krx_scrt_yn", 1), ("krx_ship_yn", 1), ("krx_insu_yn", 1), ("krx_trnp_yn", 1), ("ksq150_nmix_yn", 1),
    ("stck_sdpr", 9), ("frml_mrkt_deal_qty_unit", 5), ("ovtm_mrkt_deal_qty_unit", 5), ("trht_yn", 1),
    ("sltr_yn", 1), ("mang_issu_yn", 1), ("mrkt_alrm_cls_code", 2), ("mrkt_alrm_risk_adnt_yn", 1),
    ("insn_pbnt_yn", 1), ("byps_lstn_yn", 1), ("flng_cls_code", 2), ("fcam_mod_cls_code", 2), ("icic_cls_code", 2),
    ("marg_rate", 3), ("crdt_able", 1), ("crdt_days", 3), ("prdy_vol", 12), ("stck_fcam", 12),
    ("stck_lstn_date", 8), ("lstn_stcn", 15), ("cpfn", 21), ("stac_month", 2), ("po_prc", 7), ("prst_cls_code", 1),
    ("ssts_hot_yn", 1), ("stange_runup_yn", 1), ("krx300_issu_yn", 1), ("sale_account", 9), ("bsop_prfi", 9),
    ("op_prfi", 9), ("thtr_ntin", 5), ("roe", 9), ("base_date", 8), ("prdy_avls_scal", 9), ("grp_code", 3),
    ("co_crdt_limt_over_yn", 1), ("secu_lend_able_yn", 1), ("stln_able_yn", 1),
)
LAYOUTS: dict[str, tuple[tuple[str, int], ...]] = {"KOSPI": KOSPI_FIELDS, "KOSDAQ": KOSDAQ_FIELDS}
TAIL_BYTES: dict[str, int] = {m: sum(w for _, w in f) for m, f in LAYOUTS.items()}  # 227, 221
assert TAIL_BYTES == {"KOSPI": 227, "KOSDAQ": 221}

_SHORT_CODE = re.compile(r"^[0-9A-Z]{6,7}$")
_STANDARD_CODE = re.compile(r"^[A-Z]{2}[0-9A-Z]{9}[0-9]$")
_FLAG_FIELDS = ("trht_yn", "sltr_yn", "mang_issu_yn", "etpr_undt_objt_co_yn")
_FLAGS = frozenset({"Y", "N", ""})


class MasterFileError(SourceDataError):
    """A master file that breaks its layout; ``line`` is 1-based (None: the file as a whole)."""

    def __init__(self, file: str, message: str, *, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file} line {line}" if line is not None else file
        super().__init__(SOURCE, f"{where}: {message}")


class MasterRow(BaseModel):
    """One listing of a master file."""

    model_config = ConfigDict(frozen=True)

    market: Market
    line: int
    code: str
    standard_code: str
    name: str
    group_code: str
    security_type: SecurityType
    preferred_kind: int  # 0 common, 1 구형우선주, 2 신형우선주
    suspended: bool  # 거래정지
    liquidating: bool  # 정리매매
    administrative: bool  # 관리종목
    market_warning: str  # 00 none, 01 투자주의, 02 투자경고, 03 투자위험
    listed_on: date | None
    par_value: float | None
    listed_shares_thousands: int | None
    base_price: int | None
    fields: dict[str, str]  # every tail field as written (stripped)


def _member_name(market: str) -> str:
    if market not in MEMBERS:
        raise MasterFileError(f"{market!r} master", f"unknown market {market!r} (expected one of {sorted(MEMBERS)})")
    return MEMBERS[market]


def _int(value: str, name: str, file: str, line: int) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise MasterFileError(file, f"{name} is not a number ({value!r}): truncated or shifted line?",
                              line=line) from None


def _security_type(group: str, fields: dict[str, str], file: str, line: int) -> tuple[SecurityType, int]:
    if group not in GROUP_CODES:
        raise MasterFileError(file, f"unknown security group code {group!r} (known: {', '.join(GROUP_CODES)})",
                              line=line)
    prst = fields["prst_cls_code"]
    if prst not in ("", "0", "1", "2"):
        raise MasterFileError(file, f"unknown preferred-share code {prst!r}", line=line)
    kind = int(prst or 0)
    if fields["etp_prod_cls_code"] in ("3", "4") or group == "EN":
        return "etn", kind
    if group in ("EF", "FE"):
        return "etf", kind
    if group == "RT":
        return "reit", kind
    if fields["etpr_undt_objt_co_yn"] == "Y":
        return "spac", kind
    if group == "ST":
        return ("preferred" if kind in (1, 2) else "common"), kind
    return "other", kind


_HANGUL = re.compile("[\uac00-\ud7a3]")


def _decode_name(raw: bytes, file: str, line: int) -> str:
    """cp949 Hangul never decodes as UTF-8 Hangul (its lead bytes are UTF-8 continuation or two-byte
    leads), so a name that reads as UTF-8 Hangul means a file in the wrong encoding."""
    if not raw.isascii():
        try:
            as_utf8 = raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if _HANGUL.search(as_utf8):
                raise MasterFileError(file, "the name is UTF-8, not cp949: the file is in the wrong encoding",
                                      line=line)
    try:
        return raw.decode("cp949").strip()
    except UnicodeDecodeError:
        raise MasterFileError(file, "the name is not cp949 text (wrong encoding or a damaged line)",
                              line=line) from None


def parse_master(content: bytes, market: str) -> list[MasterRow]:
    """Rows of an unzipped ``kospi_code.mst`` / ``kosdaq_code.mst``; raises ``MasterFileError``."""
    file = _member_name(market)
    layout = LAYOUTS[market]
    tail_bytes = TAIL_BYTES[market]
    rows: list[MasterRow] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(_master_lines(content, file), start=1):
        code, standard, name, text = _split_line(raw.rstrip(b"\r"), file, number, tail_bytes)
        fields = _tail_fields(text, layout, file, number)
        security_type, kind = _security_type(fields["scrt_grp_cls_code"], fields, file, number)
        listed_on = _listing_date(fields["stck_lstn_date"], file, number)
        par_value = _par_value(fields["stck_fcam"], file, number)
        if code in seen:
            raise MasterFileError(file, f"duplicated code {code} (first on line {seen[code]})", line=number)
        seen[code] = number
        rows.append(
            MasterRow(
                market=market,  # type: ignore[arg-type]
                line=number,
                code=code,
                standard_code=standard,
                name=name,
                group_code=fields["scrt_grp_cls_code"],
                security_type=security_type,
                preferred_kind=kind,
                suspended=fields["trht_yn"] == "Y",
                liquidating=fields["sltr_yn"] == "Y",
                administrative=fields["mang_issu_yn"] == "Y",
                market_warning=fields["mrkt_alrm_cls_code"] or "00",
                listed_on=listed_on,
                par_value=par_value,
                listed_shares_thousands=_int(fields["lstn_stcn"], "lstn_stcn", file, number),
                base_price=_int(fields["stck_sdpr"], "stck_sdpr", file, number),
                fields=fields,
            )
        )
    return rows


def _master_lines(content: bytes, file: str) -> list[bytes]:
    """The file's lines after the whole-file checks: an empty file or NUL bytes (UTF-16) are refused
    up front, since every line would fail and the line-level message would hide the real cause."""
    if not content.strip():
        raise MasterFileError(file, "empty file (no listing)")
    if b"\x00" in content:
        raise MasterFileError(file, "holds NUL bytes: not cp949 text (UTF-16?)", line=content[: content.index(b"\x00")]
                              .count(b"\n") + 1)
    lines = content.split(b"\n")
    if lines and lines[-1] in (b"", b"\r"):
        lines.pop()
    return lines


def _split_line(raw: bytes, file: str, number: int, tail_bytes: int) -> tuple[str, str, str, str]:
    """(short code, standard code, name, tail text) of one line. The name has no fixed width, so the
    line is cut from both ends; the checks make sure the cut did not land inside the name or codes."""
    if not raw.strip():
        raise MasterFileError(file, "empty line", line=number)
    if len(raw) <= HEAD_BYTES + tail_bytes:
        raise MasterFileError(file, f"truncated line: {len(raw)} bytes, at least {HEAD_BYTES + tail_bytes + 1} "
                              f"expected (codes {HEAD_BYTES}, a name, a {tail_bytes}-byte tail)", line=number)
    tail = raw[-tail_bytes:]
    name = _decode_name(raw[HEAD_BYTES:-tail_bytes], file, number)
    if not tail.isascii():
        raise MasterFileError(file, f"truncated line: its last {tail_bytes} bytes (the fixed-width tail) are not "
                              "all ASCII, so they overlap the name", line=number)
    try:
        code = raw[:SHORT_CODE_BYTES].decode("ascii").strip()
        standard = raw[SHORT_CODE_BYTES:HEAD_BYTES].decode("ascii").strip()
    except UnicodeDecodeError:
        raise MasterFileError(file, "the codes are not ASCII (shifted or damaged line)", line=number) from None
    if not _SHORT_CODE.match(code):
        raise MasterFileError(file, f"bad short code {code!r}", line=number)
    if not _STANDARD_CODE.match(standard):
        raise MasterFileError(file, f"bad standard code {standard!r} for {code}", line=number)
    if not name:
        raise MasterFileError(file, f"no name for {code}", line=number)
    return code, standard, name, tail.decode("ascii")


def _tail_fields(text: str, layout: tuple[tuple[str, int], ...], file: str, number: int) -> dict[str, str]:
    """The fixed-width tail cut by ``layout``. A Y/N flag holding anything else is the cheapest sign
    of a shifted line, so the flags are checked before any field is interpreted."""
    fields: dict[str, str] = {}
    pos = 0
    for field_name, width in layout:
        fields[field_name] = text[pos:pos + width].strip()
        pos += width
    for flag in _FLAG_FIELDS:
        if fields[flag] not in _FLAGS:
            raise MasterFileError(file, f"{flag} is {fields[flag]!r}, not Y/N: truncated or shifted line?",
                                  line=number)
    return fields


def _listing_date(raw: str, file: str, number: int) -> date | None:
    """``stck_lstn_date`` (YYYYMMDD); blank or all zeros means the file does not say."""
    if not raw or raw == "00000000":
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:8]))
    except ValueError:
        raise MasterFileError(file, f"listing date {raw!r} is not YYYYMMDD", line=number) from None


def _par_value(raw: str, file: str, number: int) -> float | None:
    """``stck_fcam`` as a number; blank is unknown, anything else unparsable is a damaged line."""
    try:
        return float(raw) if raw else None
    except ValueError:
        raise MasterFileError(file, f"par value {raw!r} is not a number", line=number) from None


def unzip_master(archive: bytes, market: str) -> bytes:
    """The ``.mst`` member of a downloaded zip."""
    member = _member_name(market)
    if not archive:
        raise MasterFileError(member + ".zip", "empty download")
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            names = zf.namelist()
            if member not in names:
                raise MasterFileError(member + ".zip", f"no member {member!r} in the zip (members: {names})")
            return zf.read(member)
    except zipfile.BadZipFile:
        raise MasterFileError(member + ".zip", "not a zip file") from None


def parse_master_zip(archive: bytes, market: str) -> list[MasterRow]:
    return parse_master(unzip_master(archive, market), market)


# --- writing (the sandbox serves files made with this; the tests damage them) ---------------------
def format_line(market: str, code: str, standard: str, name: str, fields: dict[str, str]) -> bytes:
    """One master line: fields missing from ``fields`` are blank; each is padded to its width."""
    parts = []
    for field_name, width in LAYOUTS[market]:
        value = fields.get(field_name, "")
        if len(value) > width:
            raise ValueError(f"{field_name}={value!r} is wider than {width}")
        numeric = field_name in _RIGHT_ALIGNED
        parts.append(value.rjust(width) if numeric else value.ljust(width))
    head = code.ljust(SHORT_CODE_BYTES).encode("ascii") + standard.ljust(STANDARD_CODE_BYTES).encode("ascii")
    return head + name.encode("cp949") + "".join(parts).encode("ascii")


_RIGHT_ALIGNED = frozenset({"stck_sdpr", "frml_mrkt_deal_qty_unit", "ovtm_mrkt_deal_qty_unit", "prdy_vol",
                            "stck_fcam", "lstn_stcn", "cpfn", "po_prc", "prdy_avls_scal"})


def make_zip(market: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_member_name(market), content)
    return buffer.getvalue()


# --- the download ---------------------------------------------------------------------------------
class MasterClient(UpstreamClient):
    """Downloads and parses the master files from ``base_url`` (``KIS_MASTER_BASE_URL``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = service_root(base_url, MASTER_PATH)
        self._transport = Transport(
            SOURCE, http=http, timeout=timeout, follow_redirects=True, max_attempts=max_attempts, sleep=sleep
        )

    def url(self, market: str) -> str:
        return f"{self.base_url}{MASTER_PATH}/{_member_name(market)}.zip"

    def download(self, market: str) -> bytes:
        url = self.url(market)
        return self._transport.send("GET", url, what=url).content

    def fetch(self, market: str) -> list[MasterRow]:
        return parse_master_zip(self.download(market), market)

    def fetch_all(self) -> list[MasterRow]:
        """Both markets, KOSPI first; a code listed in both is an error."""
        rows = self.fetch("KOSPI") + self.fetch("KOSDAQ")
        first: dict[str, MasterRow] = {}
        for row in rows:
            if row.code in first:
                raise MasterFileError(MEMBERS[row.market], f"duplicated code {row.code} (also in "
                                      f"{MEMBERS[first[row.code].market]} line {first[row.code].line})",
                                      line=row.line)
            first[row.code] = row
        return rows
