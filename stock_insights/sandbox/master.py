"""The KIS stock master downloads of the simulated market.

``GET /common/master/kospi_code.mst.zip`` and ``/common/master/kosdaq_code.mst.zip`` answer zips in
the real layout (``clients/kis/master.py``) holding the listings of ``sandbox/listings.py`` as of the
sandbox's day (KST) when asked: names as renamed by then, 거래정지 / 정리매매 / 관리종목 flags of that
day, listings not yet listed or already delisted left out. A past day's file is always the same bytes.

Sandbox-only: ``?as_of=YYYY-MM-DD`` serves another day's file (tests and backfills).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime

from fastapi import APIRouter, HTTPException, Query, Response

from stock_insights.clients.kis.master import format_line, make_zip
from stock_insights.sandbox.listings import SimListing, listed_on
from stock_insights.sandbox.market import KST, kst_now

_CACHE_SIZE = 16


def master_fields(item: SimListing, day: date) -> dict[str, str]:
    """The tail fields of ``item``'s line on ``day`` (blank fields are left out)."""
    h = zlib.crc32(item.code.encode())
    etp = {"etf": "1" if h % 3 else "2", "etn": "3"}.get(item.security_type, "0")
    fields = {
        "scrt_grp_cls_code": item.group_code,
        "avls_scal_cls_code": str(1 + h % 3) if item.security_type == "common" else "0",
        "bstp_larg_div_code": "0001" if item.market == "KOSPI" else "1001",
        "bstp_medm_div_code": f"{5 + h % 20:04d}",
        "bstp_smal_div_code": "0000",
        "etp_prod_cls_code": etp,
        "etpr_undt_objt_co_yn": "Y" if item.security_type == "spac" else "N",
        "stck_sdpr": str(1_000 + h % 300_000),
        "frml_mrkt_deal_qty_unit": "1",
        "ovtm_mrkt_deal_qty_unit": "1",
        "trht_yn": "Y" if item.is_suspended(day) else "N",
        "sltr_yn": "Y" if item.is_liquidating(day) else "N",
        "mang_issu_yn": "Y" if item.is_administrative(day) else "N",
        "mrkt_alrm_cls_code": "00",
        "flng_cls_code": "00",
        "fcam_mod_cls_code": "00",
        "icic_cls_code": "00",
        "marg_rate": "40",
        "stck_fcam": str(item.par_value),
        "stck_lstn_date": item.listed_on.strftime("%Y%m%d"),
        "lstn_stcn": str(1_000 + h % 500_000),
        "stac_month": "12",
        "prst_cls_code": str(item.preferred_kind),
    }
    for flag in ("krx_issu_yn", "krx100_issu_yn", "ssts_hot_yn", "stange_runup_yn", "krx300_issu_yn",
                 "co_crdt_limt_over_yn"):
        fields[flag] = "N"
    if item.market == "KOSPI":
        fields["kospi_issu_yn"] = "Y" if item.security_type in ("common", "preferred") else "N"
    return fields


def master_file(market: str, day: date, seed: int = 7) -> bytes:
    """The unzipped master of ``market`` on ``day``: cp949, one line per listing, LF line ends."""
    lines = [
        format_line(market, x.code, x.standard_code, x.name_on(day), master_fields(x, day))
        for x in listed_on(day, seed)
        if x.market == market
    ]
    return b"\n".join(lines) + b"\n"


class MasterSandbox:
    def __init__(self, *, seed: int = 7, now: Callable[[], datetime] | None = None) -> None:
        self.seed = seed
        self._now = now or kst_now
        self._cache: OrderedDict[tuple[str, date], bytes] = OrderedDict()
        self.requests = 0

    def today(self) -> date:
        return self._now().astimezone(KST).date()

    def archive(self, market: str, day: date) -> bytes:
        key = (market, day)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = make_zip(market, master_file(market, day, self.seed))
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return cached


def build_master_router(sandbox: MasterSandbox) -> APIRouter:
    router = APIRouter()

    def answer(market: str, as_of: str | None) -> Response:
        sandbox.requests += 1
        try:
            day = date.fromisoformat(as_of) if as_of else sandbox.today()
        except ValueError:
            raise HTTPException(status_code=400, detail=f"as_of={as_of!r} is not YYYY-MM-DD") from None
        return Response(sandbox.archive(market, day), media_type="application/zip")

    @router.get("/common/master/kospi_code.mst.zip")
    def kospi(as_of: str | None = Query(default=None)) -> Response:
        return answer("KOSPI", as_of)

    @router.get("/common/master/kosdaq_code.mst.zip")
    def kosdaq(as_of: str | None = Query(default=None)) -> Response:
        return answer("KOSDAQ", as_of)

    return router
