"""KIS order book with expected execution: ``GET /uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn``,
tr_id FHKST01010200 (real and paper).

Params ``FID_COND_MRKT_DIV_CODE`` (J/NX/UN) and ``FID_INPUT_ISCD``. Both outputs are objects, keys in
the order of the 2024-06-11 capture and the official COLUMN_MAPPING (sources.md §2.7):

``output1`` (호가): ``aspr_acpt_hour``, ``askp1..10``, ``bidp1..10``, ``askp_rsqn1..10``,
``bidp_rsqn1..10``, ``askp_rsqn_icdc1..10``, ``bidp_rsqn_icdc1..10``, ``total_askp_rsqn``,
``total_bidp_rsqn``, ``total_askp_rsqn_icdc``, ``total_bidp_rsqn_icdc``, ``ovtm_total_askp_icdc``,
``ovtm_total_bidp_icdc``, ``ovtm_total_askp_rsqn``, ``ovtm_total_bidp_rsqn``, ``ntby_aspr_rsqn``
(= total bid − total ask, as in the capture), ``new_mkop_cls_code``.

``output2`` (예상체결): ``antc_mkop_cls_code, stck_prpr, stck_oprc, stck_hgpr, stck_lwpr, stck_sdpr``
(기준가 = previous close)``, antc_cnpr, antc_cntg_vrss_sign, antc_cntg_vrss, antc_cntg_prdy_ctrt,
antc_vol, stck_shrn_iscd, vi_cls_code``.

The book comes from ``SimulatedMarket.orderbook`` (deterministic per code and minute, never crossed,
on the tick grid; levels beyond the daily price limit are ``"0"`` price and quantity). Choices where
KIS's behaviour was not captured:

* ``aspr_acpt_hour``: the current minute (``HHMM00``) while the book is live (08:30 to the close);
  after the close the current minute up to 18:00 (the capture at 16:00 says ``160000``); before
  08:30 the previous session's book stamped ``180000``.
* ``new_mkop_cls_code``: ``"20"`` in the session (seen at 11:43), ``"31"`` after the close (seen at
  16:00), ``"10"`` in the 08:30–09:00 opening call (guess).
* ``antc_mkop_cls_code``: ``"311"`` (장전예상시작) before the open, ``"112"`` during the session and
  after the close (both seen), ``"121"`` (장후예상시작) in the 15:20–15:30 closing call (guess).
* ``antc_cnpr``/``antc_vol``: the opening call's price and volume until 15:20 (at 11:43 the capture's
  ``antc_cnpr`` equals the day's open), then the closing call's (after the close = the close).
  Before the open ``stck_oprc/hgpr/lwpr`` are ``"0"`` and ``stck_prpr`` is the previous close.
* ``*_icdc`` (changes since the previous book) are ``"0"``, as in the after-close capture; the
  after-hours totals are non-zero only after the close. ``vi_cls_code`` is always ``"N"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from stock_insights.sandbox.kis_gateway import (
    NONEXISTENT_CODES,
    TrAnswer,
    TrContext,
    TrSpec,
    percent,
    price_sign,
    require_params,
    stock_code,
    success,
)
from stock_insights.sandbox.market import OrderBookSnapshot

if TYPE_CHECKING:
    from stock_insights.sandbox.kis_gateway import KisSandbox

PATH = "/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn"
TR_ID = "FHKST01010200"
LEVELS = range(1, 11)

OUTPUT1_KEYS = (
    "aspr_acpt_hour",
    *(f"askp{i}" for i in LEVELS), *(f"bidp{i}" for i in LEVELS),
    *(f"askp_rsqn{i}" for i in LEVELS), *(f"bidp_rsqn{i}" for i in LEVELS),
    *(f"askp_rsqn_icdc{i}" for i in LEVELS), *(f"bidp_rsqn_icdc{i}" for i in LEVELS),
    "total_askp_rsqn", "total_bidp_rsqn", "total_askp_rsqn_icdc", "total_bidp_rsqn_icdc",
    "ovtm_total_askp_icdc", "ovtm_total_bidp_icdc", "ovtm_total_askp_rsqn", "ovtm_total_bidp_rsqn",
    "ntby_aspr_rsqn", "new_mkop_cls_code",
)
OUTPUT2_KEYS = (
    "antc_mkop_cls_code", "stck_prpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_sdpr", "antc_cnpr",
    "antc_cntg_vrss_sign", "antc_cntg_vrss", "antc_cntg_prdy_ctrt", "antc_vol", "stck_shrn_iscd", "vi_cls_code",
)
_NEW_MKOP = {"pre_open": "10", "open": "20", "closing_auction": "20", "closed": "31"}
_ANTC_MKOP = {"pre_open": "311", "open": "112", "closing_auction": "121", "closed": "112"}


def book_outputs(book: OrderBookSnapshot) -> tuple[dict[str, str], dict[str, str]]:
    out1: dict[str, str] = {"aspr_acpt_hour": book.accepted_at.strftime("%H%M%S")}
    for i, (price, _) in zip(LEVELS, book.asks, strict=True):
        out1[f"askp{i}"] = str(price)
    for i, (price, _) in zip(LEVELS, book.bids, strict=True):
        out1[f"bidp{i}"] = str(price)
    for i, (_, qty) in zip(LEVELS, book.asks, strict=True):
        out1[f"askp_rsqn{i}"] = str(qty)
    for i, (_, qty) in zip(LEVELS, book.bids, strict=True):
        out1[f"bidp_rsqn{i}"] = str(qty)
    for side in ("askp", "bidp"):
        for i in LEVELS:
            out1[f"{side}_rsqn_icdc{i}"] = "0"
    total_ask = sum(q for _, q in book.asks)
    total_bid = sum(q for _, q in book.bids)
    out1.update({
        "total_askp_rsqn": str(total_ask),
        "total_bidp_rsqn": str(total_bid),
        "total_askp_rsqn_icdc": "0",
        "total_bidp_rsqn_icdc": "0",
        "ovtm_total_askp_icdc": "0",
        "ovtm_total_bidp_icdc": "0",
        "ovtm_total_askp_rsqn": str(book.after_hours_ask),
        "ovtm_total_bidp_rsqn": str(book.after_hours_bid),
        "ntby_aspr_rsqn": str(total_bid - total_ask),
        "new_mkop_cls_code": _NEW_MKOP[book.phase],
    })
    diff = book.expected_price - book.prev_close
    traded = book.phase != "pre_open"
    out2 = {
        "antc_mkop_cls_code": _ANTC_MKOP[book.phase],
        "stck_prpr": str(book.price),
        "stck_oprc": str(book.open) if traded and book.open is not None else "0",
        "stck_hgpr": str(book.high) if traded and book.high is not None else "0",
        "stck_lwpr": str(book.low) if traded and book.low is not None else "0",
        "stck_sdpr": str(book.prev_close),
        "antc_cnpr": str(book.expected_price),
        "antc_cntg_vrss_sign": price_sign(book.expected_price, book.prev_close, book.lower_limit, book.upper_limit),
        "antc_cntg_vrss": str(diff),
        "antc_cntg_prdy_ctrt": percent(diff, book.prev_close),
        "antc_vol": str(book.expected_volume),
        "stck_shrn_iscd": book.code,
        "vi_cls_code": "N",
    }
    return out1, out2


def orderbook(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
    require_params(params, ("FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD"))
    code = stock_code(params)
    if code in NONEXISTENT_CODES:
        return TrAnswer({"output1": dict.fromkeys(OUTPUT1_KEYS, ""), "output2": dict.fromkeys(OUTPUT2_KEYS, ""),
                         **success()})
    out1, out2 = book_outputs(sandbox.market.orderbook(code, sandbox.now()))
    return TrAnswer({"output1": out1, "output2": out2, **success()})


# No row list: empty_output2/empty_trailing_row do nothing here; non_numeric_price garbles askp1.
SPEC = TrSpec(PATH, TR_ID, "주식현재가 호가/예상체결 FHKST01010200", orderbook, paper=True, list_key=None,
              price_key="askp1")
