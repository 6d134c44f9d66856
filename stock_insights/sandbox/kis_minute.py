"""KIS minute charts: today's (FHKST03010200) and past sessions' (FHKST03010230) one-minute bars.

Shapes follow the 2024-06-11 live capture of FHKST03010200 and the portal example of FHKST03010230
(sources.md §2.6): ``output1`` is the stock's quote *now* (``prdy_vrss, prdy_vrss_sign, prdy_ctrt,
stck_prdy_clpr, acml_vol, acml_tr_pbmn, hts_kor_isnm, stck_prpr``), ``output2`` the bars newest
first (``stck_bsop_date, stck_cntg_hour, stck_prpr`` (= the bar's close)``, stck_oprc, stck_hgpr,
stck_lwpr, cntg_vol`` (the bar's volume)``, acml_tr_pbmn`` (the day's trade value up to and
including the bar)). Bars come from ``SimulatedMarket.minute_bars``: stamped with the minute they
start, 09:00 … 15:19 plus one closing-auction bar at 15:30, visible once complete.

Today, ``GET /uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice`` (real and paper)
    Params ``FID_ETC_CLS_CODE`` (any, "" in the samples), ``FID_COND_MRKT_DIV_CODE`` (J/NX/UN; the
    업종 "U" variant is not simulated → OPSQ2001), ``FID_INPUT_ISCD``, ``FID_INPUT_HOUR_1`` (HHMMSS),
    ``FID_PW_DATA_INCU_YN`` (Y/N; KIS documents it for 업종 only, so it changes nothing here), all
    required. At most 30 bars stamped at or before ``FID_INPUT_HOUR_1``; only today's (KST) bars
    that are complete at the sandbox's ``now`` — a future ``FID_INPUT_HOUR_1`` therefore means "up
    to now" (KIS: "미래일시 입력 시에 현재가로 조회"). On a day without a session, or before the first
    bar is complete, ``output2`` is empty. Page backwards by asking again with the oldest stamp minus
    one minute. Not simulated: the forming (incomplete) minute, and KIS's quirk of showing the
    previous minute's volume in the first row until the minute's first trade.
Past sessions, ``GET /uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice`` (real only)
    Params ``FID_COND_MRKT_DIV_CODE``, ``FID_INPUT_ISCD``, ``FID_INPUT_DATE_1`` (YYYYMMDD),
    ``FID_INPUT_HOUR_1`` (HHMMSS), ``FID_PW_DATA_INCU_YN`` required; ``FID_FAKE_TICK_INCU_YN``
    optional and ignored (KIS: "공백 필수 입력"). At most 120 bars stamped at or before the date and
    time, newest first; with ``FID_PW_DATA_INCU_YN=Y`` the page continues into earlier sessions,
    with ``N`` it stops at the date's first bar (a guess: KIS does not say). Only sessions within
    365 days before today are kept ("최대 1년 분봉 보관"); older dates answer an empty ``output2``.
    Besides moving the date/time cursor, the portal documents ``tr_cont`` paging for this TR: the
    response header is ``"M"`` while older bars remain (for the same ``FID_PW_DATA_INCU_YN``),
    ``"D"`` at the end, and a request with ``tr_cont: N`` and the same code/date/flag continues
    where the previous page of that appkey stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from stock_insights.sandbox.kis_gateway import (
    NONEXISTENT_CODES,
    TrAnswer,
    TrContext,
    TrSpec,
    bad_field,
    parse_yyyymmdd,
    percent,
    price_sign,
    require_params,
    stock_code,
    success,
)
from stock_insights.sandbox.market import KST, MinuteBar, price_limits

if TYPE_CHECKING:
    from stock_insights.sandbox.kis_gateway import KisSandbox

TODAY_PATH = "/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice"
TODAY_TR_ID = "FHKST03010200"
TODAY_MAX_ROWS = 30
PAST_PATH = "/uapi/domestic-stock/v1/quotations/inquire-time-dailychartprice"
PAST_TR_ID = "FHKST03010230"
PAST_MAX_ROWS = 120
RETENTION = timedelta(days=365)

OUTPUT1_KEYS = (
    "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "stck_prdy_clpr", "acml_vol", "acml_tr_pbmn", "hts_kor_isnm",
    "stck_prpr",
)
OUTPUT2_KEYS = (
    "stck_bsop_date", "stck_cntg_hour", "stck_prpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "cntg_vol",
    "acml_tr_pbmn",
)
_TODAY_PARAMS = (
    "FID_ETC_CLS_CODE", "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_HOUR_1", "FID_PW_DATA_INCU_YN",
)
_PAST_PARAMS = (
    "FID_COND_MRKT_DIV_CODE", "FID_INPUT_ISCD", "FID_INPUT_DATE_1", "FID_INPUT_HOUR_1", "FID_PW_DATA_INCU_YN",
)


def parse_hhmmss(raw: str) -> time | None:
    raw = raw.strip()
    if len(raw) != 6 or not raw.isdigit():
        return None
    try:
        return time(int(raw[:2]), int(raw[2:4]), int(raw[4:]))
    except ValueError:
        return None


def quote(sandbox: KisSandbox, code: str, moment: datetime) -> dict[str, str]:
    """``output1``: the stock now — today's session so far, else the last closed session."""
    market = sandbox.market
    snap = market.snapshot(code, moment)
    lower, upper = price_limits(snap.prev_close, snap.day, market.listing_market(code))
    diff = snap.price - snap.prev_close
    return {
        "prdy_vrss": str(diff),
        "prdy_vrss_sign": price_sign(snap.price, snap.prev_close, lower, upper),
        "prdy_ctrt": percent(diff, snap.prev_close),
        "stck_prdy_clpr": str(snap.prev_close),
        "acml_vol": str(snap.volume),
        "acml_tr_pbmn": str(snap.value),
        "hts_kor_isnm": market.name(code),
        "stck_prpr": str(snap.price),
    }


def bar_row(bar: MinuteBar) -> dict[str, str]:
    return {
        "stck_bsop_date": bar.day.strftime("%Y%m%d"),
        "stck_cntg_hour": bar.time.strftime("%H%M%S"),
        "stck_prpr": str(bar.close),
        "stck_oprc": str(bar.open),
        "stck_hgpr": str(bar.high),
        "stck_lwpr": str(bar.low),
        "cntg_vol": str(bar.volume),
        "acml_tr_pbmn": str(bar.cum_value),
    }


def _blank() -> dict[str, object]:
    return {"output1": dict.fromkeys(OUTPUT1_KEYS, ""), "output2": [], **success()}


def today_chart(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
    require_params(params, _TODAY_PARAMS)
    code = stock_code(params)
    cutoff = parse_hhmmss(params["FID_INPUT_HOUR_1"])
    if cutoff is None or params["FID_PW_DATA_INCU_YN"].strip().upper() not in ("Y", "N"):
        raise bad_field()
    if code in NONEXISTENT_CODES:
        return TrAnswer(_blank())
    moment = sandbox.now().astimezone(KST)
    today = moment.date()
    limit = datetime.combine(today, cutoff, tzinfo=KST)
    bars = [b for b in sandbox.market.minute_bars(code, today, moment) if b.time <= limit][-TODAY_MAX_ROWS:]
    return TrAnswer({"output1": quote(sandbox, code, moment), "output2": [bar_row(b) for b in reversed(bars)],
                     **success()})


def past_chart(sandbox: KisSandbox, params: Mapping[str, str], ctx: TrContext) -> TrAnswer:
    require_params(params, _PAST_PARAMS)
    code = stock_code(params)
    day = parse_yyyymmdd(params["FID_INPUT_DATE_1"])
    cutoff = parse_hhmmss(params["FID_INPUT_HOUR_1"])
    with_past = params["FID_PW_DATA_INCU_YN"].strip().upper()
    if day is None or cutoff is None or with_past not in ("Y", "N"):
        raise bad_field()
    if code in NONEXISTENT_CODES:
        return TrAnswer(_blank())
    moment = sandbox.now().astimezone(KST)
    key = (ctx.appkey, PAST_TR_ID, code, day, with_past)
    start = (day, cutoff)
    if ctx.tr_cont == "N":
        start = sandbox.cursor(key) or start
    bars = _bars_back(sandbox, code, *start, include_past=with_past == "Y", moment=moment)
    more = len(bars) > PAST_MAX_ROWS
    bars = bars[:PAST_MAX_ROWS]
    if ctx.loop:
        more = True  # the fault: claim more and leave the cursor where it was
    elif bars:
        oldest = bars[-1]
        sandbox.set_cursor(key, (oldest.day, (oldest.time - timedelta(minutes=1)).time()))
    body = {"output1": quote(sandbox, code, moment), "output2": [bar_row(b) for b in bars], **success()}
    return TrAnswer(body, "M" if more else "D")


def _bars_back(sandbox: KisSandbox, code: str, day: date, cutoff: time, *, include_past: bool,
               moment: datetime) -> list[MinuteBar]:
    """Up to PAST_MAX_ROWS + 1 bars at or before ``day`` ``cutoff``, newest first (the extra one
    tells whether more remain)."""
    market = sandbox.market
    earliest = moment.date() - RETENTION
    out: list[MinuteBar] = []
    current: date | None = day
    limit = cutoff
    while current is not None and current >= earliest and len(out) <= PAST_MAX_ROWS:
        bars = market.minute_bars(code, current, moment)
        out.extend(b for b in reversed(bars) if b.time.time() <= limit)
        if not include_past:
            break
        current = market.previous_session(current)
        limit = time.max
    return out[:PAST_MAX_ROWS + 1]


SPECS = (
    TrSpec(TODAY_PATH, TODAY_TR_ID, "주식당일분봉조회 FHKST03010200", today_chart, paper=True,
           row_keys=OUTPUT2_KEYS, price_key="stck_prpr"),
    TrSpec(PAST_PATH, PAST_TR_ID, "주식일별분봉조회 FHKST03010230 (실전 only)", past_chart, paper=False,
           row_keys=OUTPUT2_KEYS, price_key="stck_prpr"),
)
