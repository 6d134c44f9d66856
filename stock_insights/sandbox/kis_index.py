"""KIS index period chart: ``GET /uapi/domestic-stock/v1/quotations/inquire-daily-indexchartprice``,
tr_id FHKUP03500100 (국내주식업종기간별시세, real and paper).

Params (Postman): ``FID_COND_MRKT_DIV_CODE`` (``U`` only), ``FID_INPUT_ISCD`` (4 digits: 0001 종합 =
KOSPI, 1001 KOSDAQ, 2001 KOSPI200 are simulated), ``FID_INPUT_DATE_1``/``FID_INPUT_DATE_2``
(YYYYMMDD), ``FID_PERIOD_DIV_CODE`` (D/W/M/Y). At most **50** rows a call, newest first — Postman:
"한 번의 호출에 최대 50건의 데이터 수신, 다음 데이터를 받아오려면 OUTPUT 값의 가장 과거 일자의 1일 전 날짜를
FID_INPUT_DATE_2에 넣어 재호출" — so page by date like the daily chart; the ``tr_cont`` header is "D".

``output1`` (the index now; keys of the official COLUMN_MAPPING and portal examples):
``bstp_nmix_prdy_vrss, prdy_vrss_sign, bstp_nmix_prdy_ctrt, prdy_nmix, acml_vol, acml_tr_pbmn,
hts_kor_isnm, bstp_nmix_prpr, bstp_cls_code, prdy_vol, bstp_nmix_oprc, bstp_nmix_hgpr,
bstp_nmix_lwpr, futs_prdy_oprc, futs_prdy_hgpr, futs_prdy_lwpr`` — the ``futs_prdy_*`` keys carry
the previous session's index open/high/low (as the portal's 1001 example reads). Like the daily
chart, the quote stays at the last close until today's bar exists (pre-open picture: change 0,
today's volume/open/high/low 0).

``output2`` rows: ``stck_bsop_date, bstp_nmix_prpr`` (close)``, bstp_nmix_oprc, bstp_nmix_hgpr,
bstp_nmix_lwpr, acml_vol`` (thousands of shares)``, acml_tr_pbmn`` (millions of won)``, mod_yn``.
Index levels have two decimals. Other 4-digit index codes get the quiet empty answer of an unknown
code (blank ``output1``, empty ``output2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

import numpy as np

from stock_insights.sandbox.kis_gateway import (
    TrAnswer,
    TrContext,
    TrSpec,
    bad_field,
    bad_market_code,
    parse_yyyymmdd,
    percent,
    period_groups,
    price_sign,
    require_params,
    success,
)
from stock_insights.sandbox.market import INDEX_SPECS, KST, IndexSeries

if TYPE_CHECKING:
    from stock_insights.sandbox.kis_gateway import KisSandbox

PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-indexchartprice"
TR_ID = "FHKUP03500100"
MAX_ROWS = 50
_PARAMS = ("FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_DATE_1", "FID_INPUT_DATE_2", "FID_PERIOD_DIV_CODE")

OUTPUT1_KEYS = (
    "bstp_nmix_prdy_vrss", "prdy_vrss_sign", "bstp_nmix_prdy_ctrt", "prdy_nmix", "acml_vol", "acml_tr_pbmn",
    "hts_kor_isnm", "bstp_nmix_prpr", "bstp_cls_code", "prdy_vol", "bstp_nmix_oprc", "bstp_nmix_hgpr",
    "bstp_nmix_lwpr", "futs_prdy_oprc", "futs_prdy_hgpr", "futs_prdy_lwpr",
)
OUTPUT2_KEYS = (
    "stck_bsop_date", "bstp_nmix_prpr", "bstp_nmix_oprc", "bstp_nmix_hgpr", "bstp_nmix_lwpr", "acml_vol",
    "acml_tr_pbmn", "mod_yn",
)


def _level(value: float) -> str:
    return f"{value:.2f}"


def index_chart(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
    require_params(params, _PARAMS)
    if params["FID_COND_MRKT_DIV_CODE"].strip().upper() != "U":
        raise bad_market_code()
    code = params["FID_INPUT_ISCD"].strip()
    period = params["FID_PERIOD_DIV_CODE"].strip().upper()
    start = parse_yyyymmdd(params["FID_INPUT_DATE_1"])
    end = parse_yyyymmdd(params["FID_INPUT_DATE_2"])
    if len(code) != 4 or not code.isdigit() or start is None or end is None or period not in ("D", "W", "M", "Y"):
        raise bad_field()
    if code not in INDEX_SPECS:
        return TrAnswer({"output1": dict.fromkeys(OUTPUT1_KEYS, ""), "output2": [], **success()})
    moment = sandbox.now().astimezone(KST)
    series = sandbox.market.index_arrays(code, start, end, now=moment)
    groups = period_groups(series.days, period)[-MAX_ROWS:]
    rows = [_row(series, first, last) for first, last in reversed(groups)]
    return TrAnswer({"output1": _quote(sandbox, code, moment), "output2": rows, **success()})


def _row(series: IndexSeries, first: int, last: int) -> dict[str, str]:
    day: date = series.days[last].astype(object)
    return {
        "stck_bsop_date": day.strftime("%Y%m%d"),
        "bstp_nmix_prpr": _level(float(series.close[last])),
        "bstp_nmix_oprc": _level(float(series.open[first])),
        "bstp_nmix_hgpr": _level(float(np.max(series.high[first:last + 1]))),
        "bstp_nmix_lwpr": _level(float(np.min(series.low[first:last + 1]))),
        "acml_vol": str(int(series.volume[first:last + 1].sum())),
        "acml_tr_pbmn": str(int(series.value[first:last + 1].sum())),
        "mod_yn": "N",
    }


def _quote(sandbox: KisSandbox, code: str, moment: datetime) -> dict[str, str]:
    market = sandbox.market
    today = moment.date()
    recent = market.index_arrays(code, market.first_session, today, now=moment)
    out = dict.fromkeys(OUTPUT1_KEYS, "0.00")
    out.update({"hts_kor_isnm": market.index_name(code), "bstp_cls_code": code, "prdy_vrss_sign": "3",
                "acml_vol": "0", "acml_tr_pbmn": "0", "prdy_vol": "0"})
    if len(recent) == 0:
        return out
    last = len(recent) - 1
    pre_open = market.is_session(today) and recent.days[last].astype(object) < today
    # Pre-open, "previous day" is the last closed session itself, as in the stock quote.
    prev_i = last if pre_open else last - 1
    price = float(recent.close[last])
    first_day: date = recent.days[0].astype(object)
    prev = float(recent.close[prev_i]) if prev_i >= 0 else market.previous_index_close(code, first_day)
    diff = round(price - prev, 2)
    out.update({
        "bstp_nmix_prdy_vrss": _level(diff),
        "prdy_vrss_sign": price_sign(price, prev, None, None),
        "bstp_nmix_prdy_ctrt": percent(diff, prev),
        "prdy_nmix": _level(prev),
        "bstp_nmix_prpr": _level(price),
    })
    if prev_i >= 0:
        out.update({
            "prdy_vol": str(int(recent.volume[prev_i])),
            "futs_prdy_oprc": _level(float(recent.open[prev_i])),
            "futs_prdy_hgpr": _level(float(recent.high[prev_i])),
            "futs_prdy_lwpr": _level(float(recent.low[prev_i])),
        })
    if not pre_open:
        out.update({
            "acml_vol": str(int(recent.volume[last])),
            "acml_tr_pbmn": str(int(recent.value[last])),
            "bstp_nmix_oprc": _level(float(recent.open[last])),
            "bstp_nmix_hgpr": _level(float(recent.high[last])),
            "bstp_nmix_lwpr": _level(float(recent.low[last])),
        })
    return out


SPEC = TrSpec(PATH, TR_ID, "국내주식업종기간별시세(일/주/월/년) FHKUP03500100", index_chart, paper=True,
              row_keys=OUTPUT2_KEYS, price_key="bstp_nmix_prpr")
