"""KIS Open API (한국투자증권) as the sandbox serves it: tokens, quotations, finance and index TRs.

Wire formats follow shared/reference/sources.md §2, the wire samples, the official Postman
collection and KIS's portal examples; where KIS's behaviour was not captured, the choice made here
is written down next to the code. Endpoints (``GET`` unless marked):

* ``POST /oauth2/tokenP`` — the token (paper accounts too).
* ``/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice`` FHKST03010100 — paper too;
  100 rows a call, paged by date.
* ``/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice`` FHKST03010200 — paper too;
  30 rows, paged by time.
* ``/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice`` FHKST03010230 — real only;
  120 rows, paged by date/time or tr_cont.
* ``/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn`` FHKST01010200 — paper too.
* ``/uapi/domestic-stock/v1/finance/balance-sheet`` FHKST66430100, ``…/income-statement``
  FHKST66430200, ``…/financial-ratio`` FHKST66430300 — real only; 30 rows, paged by tr_cont.
* ``/uapi/domestic-stock/v1/quotations/inquire-daily-indexchartprice`` FHKUP03500100 — paper too;
  50 rows, paged by date.

Details of each TR are in its module (``kis`` daily chart, ``kis_minute``, ``kis_orderbook``,
``kis_finance``, ``kis_index``); the shared gateway is ``kis_gateway``.

Token ``POST /oauth2/tokenP``
    * Errors use the token endpoint's own envelope ``{"error_description", "error_code"}`` with
      HTTP 403 (as EGW00133 does in the captures).
    * Rule order per appkey: first the issuance throttle — a call within 60 s of the previous
      *successful* answer (new or reused token) is refused with EGW00133 (real KIS refuses a second
      quick call even though it would only have handed back the same token); rejected calls do not
      restart the minute. Then the 6-hour rule: a still-valid token issued less than 6 h ago for the
      same appkey/appsecret is answered again, with its original expiry and the remaining
      ``expires_in``. Otherwise a new 24-hour token.
Gateway ``/uapi/...`` (every TR)
    * EGW errors: HTTP 500 ``{"rt_cd": "1", "msg1", "msg_cd"}``. Header checks, in order:
      ``authorization`` not ``Bearer …`` → EGW00205; ``appkey`` missing → EGW00102; ``appsecret``
      missing → EGW00104; empty token → EGW00122; unknown token → EGW00121; expired → EGW00123;
      token of another appkey → EGW00103; appsecret differs from the token's → EGW00105;
      ``custtype`` present but not P/B (or missing when ``require_custtype``) → EGW00208.
      ``tr_id`` missing → OPSQ9999 "JSON PARSING ERROR : tr_id not found", not the TR of the
      path → OPSQ0002 "없는 서비스 코드 입니다." (both HTTP 500, rt_cd "1").
    * Paper accounts: by sandbox convention an appkey starting with ``VT`` is a paper (모의투자)
      key, any other key a real one. A paper key on a real-only TR (FHKST03010230 and the finance
      TRs, "모의투자 미지원") gets HTTP 500 ``{"rt_cd": "1", "msg1": "해당 서비스를 찾을수 없습니다.",
      "msg_cd": "MCA00124"}`` — the body a paper account got for a service its domain lacks
      (open-trading-api#17). (A 2026 report shows "모의투자 TR  이 아닙니다." for the same situation
      with an unknown msg_cd; clients should treat any rt_cd "1" here as final, not retry it.)
    * Rate limit first (before auth): per appkey, at most ``rate_limit_per_sec`` admitted requests
      in any sliding one-second window, over every ``/uapi`` path; a refused request (EGW00201,
      HTTP 500) is not recorded in the window.
    * Input errors of the query server come as HTTP **200** with ``rt_cd "2"`` (seen for OPSQ2001
      in the wild): a missing parameter → OPSQ2001 "ERROR INPUT FIELD NOT FOUND [NAME]", a bad
      market code → OPSQ2001 "ERROR : INPUT INVALID_CHECK_MRKT_DIV_CODE", a malformed code/date/
      time/flag → OPSQ2002 "ERROR : INPUT INVALID_CHECK_FIELD_LENGTH". Clients must check ``rt_cd``
      on every status. Query names match case-insensitively.
    * Stock codes: any 6-character code of digits/capitals (or ``Q`` + 6 digits, ETN) exists in the
      simulated market, except ``000000``, which stands for a delisted/non-existent code and gets
      KIS's quiet answer: ``rt_cd "0"``, blank ``output1`` strings, empty row list.
    * Response headers ``tr_id``, ``tr_cont``, ``gt_uid``. ``tr_cont`` is ``"D"`` for TRs that page
      by date/time cursor; tr_cont-paged TRs answer ``"F"`` (first page, more follow), ``"M"``
      (a middle page), ``"E"`` (last of several) or ``"D"`` (the only page) — the portal only says
      "F or M: 다음 데이터 있음 / D or E: 마지막 데이터", so clients must accept either letter.
Daily chart FHKST03010100 (this module)
    * ``output1`` is the quote *now*: after a session's close it shows that session; on a session
      day before the close it shows the pre-open state of the 2024-06-11 capture (price = last
      close, today's volume/open/high/low "0"), also during the session: this TR's rows only hold
      closed sessions, so its quote stays at the last close until today's bar exists.

All mutable state lives in one ``KisSandbox`` object held by the app, so tests build fresh apps.
Faults (``FaultQueue``) are shared with the app's ``/_sandbox/faults`` endpoints; their kinds are
``KIS_FAULT_KINDS`` (``kis_gateway``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from stock_insights.sandbox import kis_finance, kis_index, kis_minute, kis_orderbook
from stock_insights.sandbox.kis_gateway import (
    CODE_RE,
    KIS_FAULT_KINDS,
    NONEXISTENT_CODES,
    PAPER_APPKEY_PREFIX,
    STOCK_MARKET_CODES,
    TOKEN_PATH,
    Fault,
    FaultQueue,
    FaultRequest,
    KisConfig,
    KisError,
    KisSandbox,
    TrAnswer,
    TrContext,
    TrSpec,
    bad_field,
    bad_market_code,
    gateway_error,
    input_error,
    is_paper_appkey,
    parse_yyyymmdd,
    period_groups,
    pre_fault,
    price_sign,
    render,
    require_params,
    serve_tr,
    success,
    token_error,
)
from stock_insights.sandbox.market import KST, price_limits, tick_size

__all__ = [
    "DAILY_CHART_PATH", "DAILY_CHART_TR_ID", "KIS_FAULT_KINDS", "PAPER_APPKEY_PREFIX", "TOKEN_PATH", "Fault",
    "FaultQueue", "FaultRequest", "KisConfig", "KisError", "KisSandbox", "build_kis_router", "gateway_error",
    "input_error", "is_paper_appkey", "token_error", "tr_specs",
]

DAILY_CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
DAILY_CHART_TR_ID = "FHKST03010100"
MAX_DAILY_ROWS = 100

_DAILY_PARAMS = (
    "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_DATE_1", "FID_INPUT_DATE_2",
    "FID_PERIOD_DIV_CODE", "FID_ORG_ADJ_PRC",
)
_OUTPUT1_KEYS = (
    "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "stck_prdy_clpr", "acml_vol", "acml_tr_pbmn",
    "hts_kor_isnm", "stck_prpr", "stck_shrn_iscd", "prdy_vol", "stck_mxpr", "stck_llam", "stck_oprc",
    "stck_hgpr", "stck_lwpr", "stck_prdy_oprc", "stck_prdy_hgpr", "stck_prdy_lwpr", "askp", "bidp",
    "prdy_vrss_vol", "vol_tnrt", "stck_fcam", "lstn_stcn", "cpfn", "hts_avls", "per", "eps", "pbr",
    # The live key really carries " name" (two independent captures); clients must cope with it.
    "itewhol_loan_rmnd_ratem name",
)
_OUTPUT2_KEYS = (
    "stck_bsop_date", "stck_clpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "acml_vol", "acml_tr_pbmn",
    "flng_cls_code", "prtt_rate", "mod_yn", "prdy_vrss_sign", "prdy_vrss", "revl_issu_reas",
)


# --- the daily chart TR ------------------------------------------------------------------------

def daily_chart(sandbox: KisSandbox, params: Mapping[str, str]) -> dict[str, Any]:
    require_params(params, _DAILY_PARAMS)
    if params["FID_COND_MRKT_DIV_CODE"].strip().upper() not in STOCK_MARKET_CODES:
        raise bad_market_code()
    code = params["FID_INPUT_ISCD"].strip().upper()
    period = params["FID_PERIOD_DIV_CODE"].strip().upper()
    adj = params["FID_ORG_ADJ_PRC"].strip()
    start = parse_yyyymmdd(params["FID_INPUT_DATE_1"])
    end = parse_yyyymmdd(params["FID_INPUT_DATE_2"])
    if not CODE_RE.match(code) or start is None or end is None or period not in ("D", "W", "M", "Y") \
            or adj not in ("0", "1"):
        raise bad_field()

    if code in NONEXISTENT_CODES:
        return {"output1": dict.fromkeys(_OUTPUT1_KEYS, ""), "output2": [], **success()}
    moment = sandbox.now()
    return {
        "output1": _quote(sandbox, code, moment),
        "output2": _chart_rows(sandbox, code, start, end, period, adjusted=adj == "0", moment=moment),
        **success(),
    }

def _chart_rows(sandbox: KisSandbox, code: str, start: date, end: date, period: str, *, adjusted: bool,
                moment: datetime) -> list[dict[str, str]]:
    market = sandbox.market
    series = market.daily_arrays(code, start, end, now=moment, adjusted=adjusted)
    if len(series) == 0:
        return []
    listing_market = market.listing_market(code)
    if period == "D":
        n = len(series)
        groups = [(i, i) for i in range(max(0, n - MAX_DAILY_ROWS), n)]
    else:
        groups = period_groups(series.days, period)[-MAX_DAILY_ROWS:]
    days = series.days.astype(object)
    rows: list[dict[str, str]] = []
    for first, last in reversed(groups):
        day: date = days[last]
        first_day: date = days[first]
        prev_close = market.previous_close(code, first_day)
        close = int(series.close[last])
        diff = close - prev_close
        if period == "D":
            lower, upper = price_limits(prev_close, day, listing_market)
            sign = price_sign(close, prev_close, lower, upper)
        else:
            sign = price_sign(close, prev_close, None, None)
        rows.append({
            "stck_bsop_date": day.strftime("%Y%m%d"),
            "stck_clpr": str(close),
            "stck_oprc": str(int(series.open[first])),
            "stck_hgpr": str(int(series.high[first:last + 1].max())),
            "stck_lwpr": str(int(series.low[first:last + 1].min())),
            "acml_vol": str(int(series.volume[first:last + 1].sum())),
            "acml_tr_pbmn": str(int(series.value[first:last + 1].sum())),
            "flng_cls_code": "00",
            "prtt_rate": "0.00",
            "mod_yn": "N",
            "prdy_vrss_sign": sign,
            "prdy_vrss": str(diff),
            "revl_issu_reas": "",
        })
    return rows

def _quote(sandbox: KisSandbox, code: str, moment: datetime) -> dict[str, str]:
    """output1: the stock's quote as of ``moment`` (see the module docstring)."""
    market = sandbox.market
    prof = market.profile(code)
    today = moment.astimezone(KST).date()
    recent = market.daily_arrays(code, market.first_session, today, now=moment)
    out = dict.fromkeys(_OUTPUT1_KEYS, "0")
    out.update({"hts_kor_isnm": prof.name, "stck_shrn_iscd": code, "prdy_ctrt": "0.00",
                "vol_tnrt": "0.00", "prdy_vrss_sign": "3"})
    if len(recent) == 0:
        return out
    last = len(recent) - 1
    last_close = int(recent.close[last])
    pre_open = market.is_session(today) and recent.days[last].astype(object) < today
    cur: int | None
    if pre_open:
        # Today's session has not closed: the pre-open picture of the 2024-06-11 capture.
        quote_day, price, prev_i, cur = today, last_close, last, None
    else:
        quote_day, price, prev_i, cur = recent.days[last].astype(object), last_close, last - 1, last
    # Pre-open, "previous day" is the last closed session itself (prev_i == last).
    prev_close = int(recent.close[prev_i]) if prev_i >= 0 else prof.base_price
    lower, upper = price_limits(prev_close, quote_day, prof.market)
    diff = price - prev_close
    out.update({
        "prdy_vrss": str(diff),
        "prdy_vrss_sign": price_sign(price, prev_close, lower, upper),
        "prdy_ctrt": f"{diff / prev_close * 100:.2f}",
        "stck_prdy_clpr": str(prev_close),
        "stck_prpr": str(price),
        "stck_mxpr": str(upper),
        "stck_llam": str(lower),
        "stck_fcam": str(prof.par_value),
        "lstn_stcn": str(prof.shares_outstanding),
        "cpfn": str(prof.par_value * prof.shares_outstanding // 100_000_000),
        "hts_avls": str(price * prof.shares_outstanding // 100_000_000),
        "per": f"{price / prof.eps:.2f}",
        "eps": f"{prof.eps:.2f}",
        "pbr": f"{price / prof.bps:.2f}",
        "itewhol_loan_rmnd_ratem name": f"{prof.loan_balance_ratio:.2f}",
    })
    if prev_i >= 0:
        prev_volume = int(recent.volume[prev_i])
        out.update({
            "prdy_vol": str(prev_volume),
            "stck_prdy_oprc": str(int(recent.open[prev_i])),
            "stck_prdy_hgpr": str(int(recent.high[prev_i])),
            "stck_prdy_lwpr": str(int(recent.low[prev_i])),
            "prdy_vrss_vol": str(-prev_volume),
        })
    if cur is not None:
        volume = int(recent.volume[cur])
        out.update({
            "acml_vol": str(volume),
            "acml_tr_pbmn": str(int(recent.value[cur])),
            "stck_oprc": str(int(recent.open[cur])),
            "stck_hgpr": str(int(recent.high[cur])),
            "stck_lwpr": str(int(recent.low[cur])),
            "askp": str(price + tick_size(price, quote_day, prof.market)),
            "bidp": str(price),
            "prdy_vrss_vol": str(volume - (int(recent.volume[prev_i]) if prev_i >= 0 else 0)),
            "vol_tnrt": f"{volume / prof.shares_outstanding * 100:.2f}",
        })
    return out


def _daily_chart_tr(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
    return TrAnswer(daily_chart(sandbox, params))


DAILY_CHART = TrSpec(
    DAILY_CHART_PATH, DAILY_CHART_TR_ID, "국내주식기간별시세(일/주/월/년) FHKST03010100", _daily_chart_tr,
    paper=True, row_keys=_OUTPUT2_KEYS, price_key="stck_clpr",
)


def tr_specs() -> tuple[TrSpec, ...]:
    """Every TR the sandbox serves."""
    return (DAILY_CHART, *kis_minute.SPECS, kis_orderbook.SPEC, *kis_finance.SPECS, kis_index.SPEC)


# --- HTTP layer --------------------------------------------------------------------------------

def build_kis_router(sandbox: KisSandbox) -> APIRouter:
    """The KIS endpoints plus ``POST /_sandbox/expire_tokens``, all bound to ``sandbox``."""
    router = APIRouter()

    @router.post(TOKEN_PATH, include_in_schema=True, summary="KIS 접근토큰발급(P)")
    async def token_p(request: Request) -> Response:
        raw = await request.body()
        appkey = _peek_appkey(raw)
        sandbox.count(appkey, "token_requests")
        fault, early = await pre_fault(sandbox, sandbox.faults.take(request.url.path))
        if isinstance(early, Response):
            return early
        try:
            if early is not None:
                raise early
            status, body = sandbox.issue_token(raw)
        except KisError as err:
            status, body = err.status, err.body
        sandbox.count_answer(appkey, body)
        return render(status, body, {}, fault)

    for spec in tr_specs():
        _add_tr_route(router, sandbox, spec)

    @router.post("/_sandbox/expire_tokens", summary="Expire every issued KIS token")
    async def expire_tokens(reset_throttle: bool = True) -> dict[str, int]:
        return {"expired": sandbox.expire_all_tokens(reset_throttle=reset_throttle)}

    return router


def _add_tr_route(router: APIRouter, sandbox: KisSandbox, spec: TrSpec) -> None:
    # A function per route so each endpoint closes over its own spec.
    async def endpoint(request: Request) -> Response:
        return await serve_tr(sandbox, spec, request)

    router.add_api_route(spec.path, endpoint, methods=["GET"], summary=spec.summary,
                         name=spec.tr_id, response_class=Response)


def _peek_appkey(raw: bytes) -> str:
    """The appkey of a token request, for counters only (never the secret)."""
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        return ""
    return str(payload.get("appkey", "")) if isinstance(payload, dict) else ""
