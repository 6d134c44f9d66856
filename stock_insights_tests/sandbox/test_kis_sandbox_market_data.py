"""The KIS sandbox's market-data TRs over HTTP: minute charts, order book, finance, index chart.

Each TR is checked for its wire shape (keys as in the captures/portal examples), its paging rule,
agreement with the simulated market it is served from, and that the shared gateway rules (auth,
rate limit, paper accounts, faults) reach it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stock_insights.sandbox.app import create_app
from stock_insights.sandbox.kis import KisConfig
from stock_insights.sandbox.market import KST, SimulatedMarket

APPKEY = "PSsandboxAppKey00000000000000000000"
PAPER_APPKEY = "VTsandboxAppKey00000000000000000000"
APPSECRET = "sandbox-secret"
QUOTES = "/uapi/domestic-stock/v1/quotations"
TODAY_MINUTES = f"{QUOTES}/inquire-time-itemchartprice"
PAST_MINUTES = f"{QUOTES}/inquire-time-dailychartprice"
ORDERBOOK = f"{QUOTES}/inquire-asking-price-exp-ccn"
INDEX_CHART = f"{QUOTES}/inquire-daily-indexchartprice"
DAILY_CHART = f"{QUOTES}/inquire-daily-itemchartprice"
FINANCE = {
    "balance-sheet": "FHKST66430100",
    "income-statement": "FHKST66430200",
    "financial-ratio": "FHKST66430300",
}

# Keys of the 2024-06-11 live capture (wire-samples/kis_time_itemchartprice_capture_2024-06-11.json).
MINUTE_OUTPUT1_KEYS = ["prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "stck_prdy_clpr", "acml_vol", "acml_tr_pbmn",
                       "hts_kor_isnm", "stck_prpr"]
MINUTE_OUTPUT2_KEYS = ["stck_bsop_date", "stck_cntg_hour", "stck_prpr", "stck_oprc", "stck_hgpr", "stck_lwpr",
                       "cntg_vol", "acml_tr_pbmn"]
# Key order of the order-book capture (sources.md §2.7) and the official COLUMN_MAPPING.
LEVELS = range(1, 11)
BOOK_OUTPUT1_KEYS = [
    "aspr_acpt_hour", *(f"askp{i}" for i in LEVELS), *(f"bidp{i}" for i in LEVELS),
    *(f"askp_rsqn{i}" for i in LEVELS), *(f"bidp_rsqn{i}" for i in LEVELS),
    *(f"askp_rsqn_icdc{i}" for i in LEVELS), *(f"bidp_rsqn_icdc{i}" for i in LEVELS),
    "total_askp_rsqn", "total_bidp_rsqn", "total_askp_rsqn_icdc", "total_bidp_rsqn_icdc", "ovtm_total_askp_icdc",
    "ovtm_total_bidp_icdc", "ovtm_total_askp_rsqn", "ovtm_total_bidp_rsqn", "ntby_aspr_rsqn", "new_mkop_cls_code",
]
BOOK_OUTPUT2_KEYS = ["antc_mkop_cls_code", "stck_prpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "stck_sdpr",
                     "antc_cnpr", "antc_cntg_vrss_sign", "antc_cntg_vrss", "antc_cntg_prdy_ctrt", "antc_vol",
                     "stck_shrn_iscd", "vi_cls_code"]
# Portal examples of the finance TRs.
FINANCE_KEYS = {
    "balance-sheet": ["stac_yymm", "cras", "fxas", "total_aset", "flow_lblt", "fix_lblt", "total_lblt", "cpfn",
                      "cfp_surp", "prfi_surp", "total_cptl"],
    "income-statement": ["stac_yymm", "sale_account", "sale_cost", "sale_totl_prfi", "depr_cost", "sell_mang",
                         "bsop_prti", "bsop_non_ernn", "bsop_non_expn", "op_prfi", "spec_prfi", "spec_loss",
                         "thtr_ntin"],
    "financial-ratio": ["stac_yymm", "grs", "bsop_prfi_inrt", "ntin_inrt", "roe_val", "eps", "sps", "bps",
                        "rsrv_rate", "lblt_rate"],
}
# Official COLUMN_MAPPING of FHKUP03500100 and the portal's 업종 examples.
INDEX_OUTPUT1_KEYS = ["bstp_nmix_prdy_vrss", "prdy_vrss_sign", "bstp_nmix_prdy_ctrt", "prdy_nmix", "acml_vol",
                      "acml_tr_pbmn", "hts_kor_isnm", "bstp_nmix_prpr", "bstp_cls_code", "prdy_vol",
                      "bstp_nmix_oprc", "bstp_nmix_hgpr", "bstp_nmix_lwpr", "futs_prdy_oprc", "futs_prdy_hgpr",
                      "futs_prdy_lwpr"]
INDEX_OUTPUT2_KEYS = ["stck_bsop_date", "bstp_nmix_prpr", "bstp_nmix_oprc", "bstp_nmix_hgpr", "bstp_nmix_lwpr",
                      "acml_vol", "acml_tr_pbmn", "mod_yn"]
ENVELOPE = ["rt_cd", "msg_cd", "msg1"]
MCA00124 = {"rt_cd": "1", "msg1": "해당 서비스를 찾을수 없습니다.", "msg_cd": "MCA00124"}


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 6, 11, 11, 3, 20, tzinfo=KST))  # mid-session


@pytest.fixture
def make_client(market: SimulatedMarket, clock: Clock) -> Callable[..., TestClient]:
    def build(**config: Any) -> TestClient:
        cfg = KisConfig(**{"rate_limit_per_sec": 1_000, **config})
        return TestClient(create_app(market, now=clock, kis_config=cfg, monotonic=lambda: 1_000.0))

    return build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


class Kis:
    """A minimal caller: one token per appkey, the sample headers, query names as given."""

    def __init__(self, client: TestClient, appkey: str = APPKEY) -> None:
        self.client = client
        self.appkey = appkey
        answer = client.post("/oauth2/tokenP", json={"grant_type": "client_credentials", "appkey": appkey,
                                                     "appsecret": APPSECRET})
        self.token = answer.json()["access_token"]

    def get(self, path: str, tr_id: str, params: dict[str, str], **headers: str) -> Any:
        h = {"content-type": "application/json; charset=utf-8", "authorization": f"Bearer {self.token}",
             "appkey": self.appkey, "appsecret": APPSECRET, "tr_id": tr_id, "custtype": "P", **headers}
        return self.client.get(path, headers=h, params=params)

    def today(self, hour: str = "153000", code: str = "005930", **extra: str) -> Any:
        return self.get(TODAY_MINUTES, "FHKST03010200", {
            "FID_ETC_CLS_CODE": "", "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code, "FID_INPUT_HOUR_1": hour,
            "FID_PW_DATA_INCU_YN": "Y", **extra})

    def past(self, day: str, hour: str = "153000", past: str = "N", code: str = "005930", tr_cont: str = "",
             **extra: str) -> Any:
        return self.get(PAST_MINUTES, "FHKST03010230", {
            "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code, "FID_INPUT_DATE_1": day, "FID_INPUT_HOUR_1": hour,
            "FID_PW_DATA_INCU_YN": past, "FID_FAKE_TICK_INCU_YN": "", **extra}, tr_cont=tr_cont)

    def book(self, code: str = "005930") -> Any:
        return self.get(ORDERBOOK, "FHKST01010200", {"fid_cond_mrkt_div_code": "J", "fid_input_iscd": code})

    def finance(self, name: str, division: str = "1", code: str = "005930", tr_cont: str = "", **extra: str) -> Any:
        return self.get(f"/uapi/domestic-stock/v1/finance/{name}", FINANCE[name], {
            "FID_DIV_CLS_CODE": division, "fid_cond_mrkt_div_code": "J", "fid_input_iscd": code, **extra},
            tr_cont=tr_cont)

    def index(self, start: str, end: str, code: str = "0001", period: str = "D", **extra: str) -> Any:
        return self.get(INDEX_CHART, "FHKUP03500100", {
            "fid_cond_mrkt_div_code": "U", "fid_input_iscd": code, "fid_input_date_1": start,
            "fid_input_date_2": end, "fid_period_div_code": period, **extra})

    def daily(self) -> Any:
        return self.get(DAILY_CHART, "FHKST03010100", {
            "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930", "FID_INPUT_DATE_1": "20240501",
            "FID_INPUT_DATE_2": "20240611", "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "0"})


@pytest.fixture
def kis(client: TestClient) -> Kis:
    return Kis(client)


def add_fault(client: TestClient, kind: str, path_contains: str, **extra: Any) -> None:
    r = client.post("/_sandbox/faults", json={"path_contains": path_contains, "kind": kind, **extra})
    assert r.status_code == 200, r.text


def stamp(row: dict[str, str]) -> str:
    return row["stck_bsop_date"] + row["stck_cntg_hour"]


# --- today's minute chart (FHKST03010200) ------------------------------------------------------

def test_today_minute_chart_matches_the_live_shape(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    r = kis.today("113000")  # later than now (11:03:20): means "up to now"
    assert r.status_code == 200 and r.headers["tr_id"] == "FHKST03010200" and r.headers["gt_uid"]
    body = r.json()
    assert list(body) == ["output1", "output2", *ENVELOPE] and body["rt_cd"] == "0"
    assert list(body["output1"]) == MINUTE_OUTPUT1_KEYS
    rows = body["output2"]
    assert len(rows) == 30 and all(list(row) == MINUTE_OUTPUT2_KEYS for row in rows)
    assert all(isinstance(v, str) for row in rows for v in row.values())
    bars = market.minute_bars("005930", date(2024, 6, 11), clock.now)
    assert rows[0]["stck_cntg_hour"] == "110200"  # the 11:03 minute is not complete yet
    for row, bar in zip(rows, reversed(bars), strict=False):
        assert row == {"stck_bsop_date": "20240611", "stck_cntg_hour": bar.time.strftime("%H%M%S"),
                       "stck_prpr": str(bar.close), "stck_oprc": str(bar.open), "stck_hgpr": str(bar.high),
                       "stck_lwpr": str(bar.low), "cntg_vol": str(bar.volume), "acml_tr_pbmn": str(bar.cum_value)}
    out1 = body["output1"]
    prev_close = market.previous_close("005930", date(2024, 6, 11))
    assert out1["stck_prpr"] == rows[0]["stck_prpr"] and out1["acml_tr_pbmn"] == rows[0]["acml_tr_pbmn"]
    assert out1["acml_vol"] == str(bars[-1].cum_volume) and out1["stck_prdy_clpr"] == str(prev_close)
    assert int(out1["prdy_vrss"]) == int(out1["stck_prpr"]) - prev_close and out1["hts_kor_isnm"] == "삼성전자"


def test_today_minute_chart_pages_back_by_time(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    clock.now = datetime(2024, 6, 11, 16, 0, tzinfo=KST)
    seen: list[dict[str, str]] = []
    hour, calls = "153000", 0
    while True:
        rows = kis.today(hour).json()["output2"]
        calls += 1
        if not rows:
            break
        assert len(rows) <= 30 and all(r["stck_cntg_hour"] <= hour for r in rows)
        seen += rows
        oldest = datetime.strptime(stamp(rows[-1]), "%Y%m%d%H%M%S")
        hour = (oldest - timedelta(minutes=1)).strftime("%H%M%S")
    bars = market.minute_bars("005930", date(2024, 6, 11), clock.now)
    assert [r["stck_cntg_hour"] for r in seen] == [b.time.strftime("%H%M%S") for b in reversed(bars)]
    assert calls == 14 and len(seen) == 381  # 13 pages of ≤ 30, then an empty answer before 09:00
    assert seen[0]["stck_cntg_hour"] == "153000" and seen[1]["stck_cntg_hour"] == "151900"
    assert sum(int(r["cntg_vol"]) for r in seen) == market.daily_bars("005930", date(2024, 6, 11),
                                                                      date(2024, 6, 11), now=clock.now)[0].volume


def test_today_minute_chart_outside_the_session(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    clock.now = datetime(2024, 6, 11, 8, 50, tzinfo=KST)
    body = kis.today().json()
    prev_close = str(market.previous_close("005930", date(2024, 6, 11)))
    assert body["rt_cd"] == "0" and body["output2"] == []
    assert (body["output1"]["stck_prpr"], body["output1"]["acml_vol"], body["output1"]["prdy_vrss_sign"]) == \
        (prev_close, "0", "3")
    clock.now = datetime(2024, 6, 9, 12, 0, tzinfo=KST)  # Sunday: no bars today; the quote is Friday's close
    body = kis.today().json()
    friday = market.daily_bars("005930", date(2024, 6, 7), date(2024, 6, 7), now=clock.now)[0]
    assert body["output2"] == [] and body["output1"]["stck_prpr"] == str(friday.close)
    assert body["output1"]["acml_vol"] == str(friday.volume)
    clock.now = datetime(2024, 6, 11, 11, 3, 20, tzinfo=KST)
    assert kis.today("085959").json()["output2"] == []  # before the first bar


@pytest.mark.parametrize(("change", "msg_cd", "needle"), [
    ({"FID_INPUT_HOUR_1": None}, "OPSQ2001", "[FID_INPUT_HOUR_1]"),
    ({"FID_ETC_CLS_CODE": None}, "OPSQ2001", "[FID_ETC_CLS_CODE]"),
    ({"FID_COND_MRKT_DIV_CODE": "U"}, "OPSQ2001", "MRKT_DIV_CODE"),
    ({"FID_INPUT_HOUR_1": "9300"}, "OPSQ2002", "FIELD_LENGTH"),
    ({"FID_INPUT_HOUR_1": "250000"}, "OPSQ2002", "FIELD_LENGTH"),
    ({"FID_PW_DATA_INCU_YN": "X"}, "OPSQ2002", "FIELD_LENGTH"),
])
def test_today_minute_chart_input_errors(kis: Kis, change: dict[str, str | None], msg_cd: str, needle: str) -> None:
    params = {"FID_ETC_CLS_CODE": "", "FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930",
              "FID_INPUT_HOUR_1": "110000", "FID_PW_DATA_INCU_YN": "Y", **change}
    r = kis.get(TODAY_MINUTES, "FHKST03010200", {k: v for k, v in params.items() if v is not None})
    assert r.status_code == 200 and r.json()["rt_cd"] == "2" and r.json()["msg_cd"] == msg_cd
    assert needle in r.json()["msg1"]


def test_today_minute_chart_for_paper_accounts_and_gone_codes(client: TestClient, kis: Kis) -> None:
    paper = Kis(client, PAPER_APPKEY)
    assert paper.today().json()["output2"] == kis.today().json()["output2"]
    gone = kis.today(code="000000").json()
    assert gone["rt_cd"] == "0" and gone["output2"] == [] and set(gone["output1"].values()) == {""}


# --- past sessions' minute chart (FHKST03010230) -----------------------------------------------

def test_past_minute_chart_120_rows_and_the_day_boundary(kis: Kis, market: SimulatedMarket) -> None:
    r = kis.past("20240610", "140000")
    assert r.status_code == 200 and r.headers["tr_id"] == "FHKST03010230"
    body = r.json()
    assert list(body) == ["output1", "output2", *ENVELOPE] and list(body["output1"]) == MINUTE_OUTPUT1_KEYS
    rows = body["output2"]
    # As the portal example: 140000 back to 120100 is 120 bars.
    assert len(rows) == 120 and rows[0]["stck_cntg_hour"] == "140000" and rows[-1]["stck_cntg_hour"] == "120100"
    assert all(list(row) == MINUTE_OUTPUT2_KEYS and row["stck_bsop_date"] == "20240610" for row in rows)
    assert r.headers["tr_cont"] == "M"
    # The output1 is today's quote, not the asked day's.
    assert body["output1"] == kis.today().json()["output1"]

    morning = kis.past("20240610", "093000")
    assert len(morning.json()["output2"]) == 31 and morning.headers["tr_cont"] == "D"  # stops at 09:00 with N
    crossing = kis.past("20240610", "093000", past="Y")
    rows = crossing.json()["output2"]
    assert len(rows) == 120 and rows[30]["stck_cntg_hour"] == "090000"
    assert rows[31]["stck_bsop_date"] == "20240607" and rows[31]["stck_cntg_hour"] == "153000"
    bars = market.minute_bars("005930", date(2024, 6, 7), datetime(2024, 6, 8, tzinfo=KST))
    assert rows[32]["stck_prpr"] == str(bars[-2].close)


def test_past_minute_chart_walks_a_day_by_time_or_by_tr_cont(kis: Kis, market: SimulatedMarket) -> None:
    expected = [b.time.strftime("%H%M%S") for b in reversed(
        market.minute_bars("005930", date(2024, 5, 3), datetime(2024, 6, 1, tzinfo=KST)))]
    by_time: list[str] = []
    hour = "153000"
    while True:
        rows = kis.past("20240503", hour).json()["output2"]
        if not rows:
            break
        by_time += [r["stck_cntg_hour"] for r in rows]
        hour = (datetime.strptime(rows[-1]["stck_cntg_hour"], "%H%M%S") - timedelta(minutes=1)).strftime("%H%M%S")
    assert by_time == expected

    by_tr_cont: list[str] = []
    answer = kis.past("20240503")
    headers = []
    while True:
        by_tr_cont += [r["stck_cntg_hour"] for r in answer.json()["output2"]]
        headers.append(answer.headers["tr_cont"])
        if answer.headers["tr_cont"] != "M":
            break
        answer = kis.past("20240503", tr_cont="N")
    assert by_tr_cont == expected and headers == ["M", "M", "M", "D"]


def test_past_minute_chart_keeps_about_a_year(kis: Kis) -> None:
    assert kis.past("20230612").json()["output2"]  # 364 days before 2024-06-11
    old = kis.past("20230609").json()  # more than a year ago
    assert old["rt_cd"] == "0" and old["output2"] == []
    assert kis.past("20240608").json()["output2"] == []  # a Saturday, without past data
    today = kis.past("20240611").json()["output2"]
    assert today[0]["stck_cntg_hour"] == "110200"  # only what has traded by now


def test_past_minute_chart_is_real_accounts_only(client: TestClient) -> None:
    paper = Kis(client, PAPER_APPKEY)
    r = paper.past("20240610")
    assert r.status_code == 500 and r.json() == MCA00124
    for name in FINANCE:
        r = paper.finance(name)
        assert r.status_code == 500 and r.json() == MCA00124
    assert paper.book().json()["rt_cd"] == "0" and paper.index("20240101", "20240611").json()["rt_cd"] == "0"
    stats = client.get("/_sandbox/stats").json()["kis"]
    assert stats["per_msg_cd"]["MCA00124"] == 4


# --- order book (FHKST01010200) ----------------------------------------------------------------

def test_orderbook_shape_and_invariants(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    r = kis.book()
    assert r.status_code == 200 and r.headers["tr_id"] == "FHKST01010200"
    body = r.json()
    assert list(body) == ["output1", "output2", *ENVELOPE]
    out1, out2 = body["output1"], body["output2"]
    assert list(out1) == BOOK_OUTPUT1_KEYS and list(out2) == BOOK_OUTPUT2_KEYS
    assert all(isinstance(v, str) and re.fullmatch(r"-?\d+(\.\d\d)?|[A-Z]", v) for v in (*out1.values(),
                                                                                         *out2.values()))
    asks = [int(out1[f"askp{i}"]) for i in LEVELS]
    bids = [int(out1[f"bidp{i}"]) for i in LEVELS]
    ask_qty = [int(out1[f"askp_rsqn{i}"]) for i in LEVELS]
    bid_qty = [int(out1[f"bidp_rsqn{i}"]) for i in LEVELS]
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True) and bids[0] < asks[0]
    assert int(out1["total_askp_rsqn"]) == sum(ask_qty) and int(out1["total_bidp_rsqn"]) == sum(bid_qty)
    assert int(out1["ntby_aspr_rsqn"]) == sum(bid_qty) - sum(ask_qty)
    assert out1["aspr_acpt_hour"] == "110300" and out1["new_mkop_cls_code"] == "20"
    snap = market.snapshot("005930", clock.now)
    assert out2["stck_prpr"] == str(snap.price) and bids[0] <= snap.price <= asks[0]
    assert out2["stck_sdpr"] == str(snap.prev_close) and out2["stck_shrn_iscd"] == "005930"
    assert out2["antc_cnpr"] == out2["stck_oprc"]  # until 15:20 the expected price is the opening call's
    assert int(out2["antc_cntg_vrss"]) == int(out2["antc_cnpr"]) - snap.prev_close
    clock.now += timedelta(seconds=30)
    assert kis.book().json() == body  # the same minute: the same book


def test_orderbook_after_the_close_and_before_the_open(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    clock.now = datetime(2024, 6, 11, 16, 0, tzinfo=KST)
    body = kis.book().json()
    day = market.daily_bars("005930", date(2024, 6, 11), date(2024, 6, 11), now=clock.now)[0]
    out1, out2 = body["output1"], body["output2"]
    # The 2024-06-11 16:00 capture: best bid at the close, stamped 160000, codes 31/112.
    assert (out1["aspr_acpt_hour"], out1["bidp1"], out1["new_mkop_cls_code"]) == ("160000", str(day.close), "31")
    assert (out2["antc_mkop_cls_code"], out2["antc_cnpr"], out2["stck_prpr"]) == ("112", str(day.close),
                                                                                  str(day.close))
    assert (out2["stck_oprc"], out2["stck_hgpr"], out2["stck_lwpr"]) == (str(day.open), str(day.high), str(day.low))
    clock.now = datetime(2024, 6, 11, 8, 45, tzinfo=KST)
    pre = kis.book().json()
    assert pre["output1"]["new_mkop_cls_code"] == "10" and pre["output2"]["antc_mkop_cls_code"] == "311"
    assert pre["output2"]["stck_oprc"] == "0" and pre["output2"]["antc_cnpr"] == str(day.open)


def test_orderbook_faults_and_gone_codes(client: TestClient, kis: Kis) -> None:
    clean = kis.book().json()["output1"]
    add_fault(client, "non_numeric_price", "asking-price")
    garbled = kis.book().json()["output1"]
    assert garbled["askp1"] != clean["askp1"] and garbled["askp1"].replace(",", "").replace("O", "0") == clean["askp1"]
    gone = kis.book("000000").json()
    assert gone["rt_cd"] == "0" and set(gone["output1"].values()) == set(gone["output2"].values()) == {""}


# --- finance (FHKST66430100/200/300) -----------------------------------------------------------

def _all_pages(kis: Kis, name: str, division: str = "1") -> tuple[list[dict[str, str]], list[str]]:
    rows: list[dict[str, str]] = []
    headers: list[str] = []
    tr_cont = ""
    for _ in range(20):
        r = kis.finance(name, division, tr_cont=tr_cont)
        assert r.status_code == 200 and r.json()["rt_cd"] == "0"
        rows += r.json()["output"]
        headers.append(r.headers["tr_cont"])
        if r.headers["tr_cont"] not in ("F", "M"):
            break
        tr_cont = "N"
    return rows, headers


@pytest.mark.parametrize("name", list(FINANCE))
def test_finance_pages_with_tr_cont(kis: Kis, market: SimulatedMarket, clock: Clock, name: str) -> None:
    rows, headers = _all_pages(kis, name)
    expected = market.financials("005930", quarterly=True, now=clock.now)
    assert [r["stac_yymm"] for r in rows] == [p.period for p in reversed(expected)]
    assert len(rows) == 137 and headers == ["F", "M", "M", "M", "E"]  # 30 + 30 + 30 + 30 + 17
    assert all(list(r) == FINANCE_KEYS[name] for r in rows)
    yearly, yearly_headers = _all_pages(kis, name, division="0")
    assert [r["stac_yymm"] for r in yearly] == [f"{y}12" for y in range(2023, 1989, -1)]
    assert yearly_headers == ["F", "E"]
    # tr_cont "" starts over; a further "N" after the end has nothing left.
    first = kis.finance(name)
    assert first.json()["output"] == rows[:30] and first.headers["tr_cont"] == "F"
    for _ in range(4):
        kis.finance(name, tr_cont="N")
    after_end = kis.finance(name, tr_cont="N")
    assert after_end.json()["output"] == [] and after_end.headers["tr_cont"] == "E"


def test_finance_single_page_is_d(kis: Kis, clock: Clock) -> None:
    clock.now = datetime(2019, 6, 1, tzinfo=KST)  # yearly periods 1990..2018: 29 rows
    r = kis.finance("balance-sheet", "0")
    assert len(r.json()["output"]) == 29 and r.headers["tr_cont"] == "D"


def test_finance_values_balance_and_copy_kis_formatting(kis: Kis) -> None:
    amount = re.compile(r"-?\d+\.00")
    for row in _all_pages(kis, "balance-sheet")[0]:
        assert all(amount.fullmatch(row[k]) for k in ("cras", "fxas", "total_aset", "flow_lblt", "fix_lblt",
                                                        "total_lblt", "total_cptl"))
        assert re.fullmatch(r"\d+", row["cpfn"]) and row["cfp_surp"] == row["prfi_surp"] == "99.99"
        v = {k: float(x) for k, x in row.items() if k != "stac_yymm"}
        assert v["total_aset"] == v["total_lblt"] + v["total_cptl"] == v["cras"] + v["fxas"]
        assert v["total_lblt"] == v["flow_lblt"] + v["fix_lblt"]
    for row in _all_pages(kis, "income-statement")[0]:
        assert re.fullmatch(r"-?\d+", row["sale_totl_prfi"]) and amount.fullmatch(row["sale_account"])
        assert float(row["sale_account"]) == float(row["sale_cost"]) + float(row["sale_totl_prfi"])
        assert {row[k] for k in ("depr_cost", "sell_mang", "bsop_non_ernn", "bsop_non_expn", "spec_prfi",
                                 "spec_loss")} == {"99.99"}
    for row in _all_pages(kis, "financial-ratio")[0]:
        assert all(re.fullmatch(r"-?\d+\.\d\d", row[k]) for k in ("grs", "bsop_prfi_inrt", "ntin_inrt", "roe_val",
                                                                  "eps", "bps", "rsrv_rate", "lblt_rate"))
        assert re.fullmatch(r"\d+", row["sps"]) and row["eps"].endswith(".00")


def test_finance_faults_and_input_errors(client: TestClient, kis: Kis) -> None:
    first = kis.finance("income-statement")
    add_fault(client, "tr_cont_loop", "income-statement", count=3)
    # The same page again and again with "M": a client that trusts "M" forever never stops.
    looped = [kis.finance("income-statement", tr_cont="N") for _ in range(3)]
    assert [r.headers["tr_cont"] for r in looped] == ["M"] * 3
    assert looped[0].json()["output"] == looped[1].json()["output"] == looped[2].json()["output"]
    second = kis.finance("income-statement", tr_cont="N")  # the fault is spent: the cursor moves again
    assert second.json()["output"] == looped[0].json()["output"]
    assert second.json()["output"][0]["stac_yymm"] < first.json()["output"][-1]["stac_yymm"]
    assert kis.finance("income-statement", tr_cont="N").json()["output"][0]["stac_yymm"] < \
        second.json()["output"][-1]["stac_yymm"]
    add_fault(client, "empty_output2", "balance-sheet")
    assert kis.finance("balance-sheet").json()["output"] == []
    add_fault(client, "non_numeric_price", "financial-ratio")
    assert not re.fullmatch(r"-?\d+\.\d\d", kis.finance("financial-ratio").json()["output"][0]["eps"])
    bad = kis.finance("balance-sheet", division="2").json()
    assert (bad["rt_cd"], bad["msg_cd"]) == ("2", "OPSQ2002")
    missing = kis.get("/uapi/domestic-stock/v1/finance/balance-sheet", "FHKST66430100",
                      {"fid_cond_mrkt_div_code": "J", "fid_input_iscd": "005930"}).json()
    assert missing["msg_cd"] == "OPSQ2001" and "[FID_DIV_CLS_CODE]" in missing["msg1"]
    assert kis.finance("balance-sheet", code="000000").json()["output"] == []
    assert kis.finance("balance-sheet", code="Q500001").json()["output"] == []


# --- index chart (FHKUP03500100) ---------------------------------------------------------------

def test_index_chart_shape_and_50_row_pages(kis: Kis, market: SimulatedMarket, clock: Clock) -> None:
    clock.now = datetime(2024, 6, 11, 17, 0, tzinfo=KST)
    r = kis.index("20240101", "20240611")
    assert r.status_code == 200 and r.headers["tr_id"] == "FHKUP03500100" and r.headers["tr_cont"] == "D"
    body = r.json()
    assert list(body) == ["output1", "output2", *ENVELOPE]
    assert list(body["output1"]) == INDEX_OUTPUT1_KEYS
    rows = body["output2"]
    assert len(rows) == 50 and all(list(row) == INDEX_OUTPUT2_KEYS for row in rows)
    assert all(re.fullmatch(r"\d+\.\d\d", row[k]) for row in rows
               for k in ("bstp_nmix_prpr", "bstp_nmix_oprc", "bstp_nmix_hgpr", "bstp_nmix_lwpr"))
    bars = market.index_bars("0001", date(2024, 1, 1), date(2024, 6, 11), now=clock.now)
    newest = bars[-1]
    assert rows[0] == {"stck_bsop_date": "20240611", "bstp_nmix_prpr": f"{newest.close:.2f}",
                       "bstp_nmix_oprc": f"{newest.open:.2f}", "bstp_nmix_hgpr": f"{newest.high:.2f}",
                       "bstp_nmix_lwpr": f"{newest.low:.2f}", "acml_vol": str(newest.volume),
                       "acml_tr_pbmn": str(newest.value), "mod_yn": "N"}
    out1 = body["output1"]
    assert (out1["hts_kor_isnm"], out1["bstp_cls_code"], out1["bstp_nmix_prpr"]) == ("종합", "0001",
                                                                                      rows[0]["bstp_nmix_prpr"])
    assert out1["prdy_nmix"] == rows[1]["bstp_nmix_prpr"] and out1["acml_vol"] == rows[0]["acml_vol"]
    assert out1["futs_prdy_oprc"] == rows[1]["bstp_nmix_oprc"] and out1["prdy_vol"] == rows[1]["acml_vol"]
    assert float(out1["bstp_nmix_prdy_vrss"]) == pytest.approx(newest.close - bars[-2].close, abs=0.005)

    # Page back by date like the daily chart: oldest date minus one day into FID_INPUT_DATE_2.
    seen: list[str] = []
    end = "20240611"
    for _ in range(10):
        page = kis.index("20230101", end).json()["output2"]
        if not page:
            break
        seen += [row["stck_bsop_date"] for row in page]
        oldest = datetime.strptime(page[-1]["stck_bsop_date"], "%Y%m%d").date()
        end = (oldest - timedelta(days=1)).strftime("%Y%m%d")
    expected = market.sessions(date(2023, 1, 1), date(2024, 6, 11))
    assert seen == [d.strftime("%Y%m%d") for d in reversed(expected)]


def test_index_chart_codes_periods_and_errors(kis: Kis, clock: Clock) -> None:
    kosdaq = kis.index("20240501", "20240611", code="1001").json()
    assert kosdaq["output1"]["hts_kor_isnm"] == "KOSDAQ" and float(kosdaq["output2"][0]["bstp_nmix_prpr"]) > 500
    assert kis.index("20240501", "20240611", code="2001").json()["output1"]["hts_kor_isnm"] == "KOSPI200"
    unknown = kis.index("20240501", "20240611", code="0002").json()
    assert unknown["rt_cd"] == "0" and unknown["output2"] == [] and set(unknown["output1"].values()) == {""}
    daily = kis.index("20240520", "20240531").json()["output2"]
    weekly = kis.index("20240520", "20240531", period="W").json()["output2"]
    assert [w["stck_bsop_date"] for w in weekly] == ["20240531", "20240524"]
    this_week = [d for d in daily if d["stck_bsop_date"] >= "20240527"]
    assert weekly[0]["bstp_nmix_oprc"] == this_week[-1]["bstp_nmix_oprc"]
    assert int(weekly[0]["acml_vol"]) == sum(int(d["acml_vol"]) for d in this_week)
    # Mid-session the quote is the pre-open picture (the day's bar does not exist yet).
    mid_session = kis.index("20240501", "20240611").json()
    out1, newest = mid_session["output1"], mid_session["output2"][0]
    assert newest["stck_bsop_date"] == "20240610"
    assert (out1["bstp_nmix_prdy_vrss"], out1["acml_vol"], out1["bstp_nmix_oprc"]) == ("0.00", "0", "0.00")
    assert out1["bstp_nmix_prpr"] == out1["prdy_nmix"] == newest["bstp_nmix_prpr"]
    assert out1["prdy_vol"] == newest["acml_vol"] and out1["futs_prdy_hgpr"] == newest["bstp_nmix_hgpr"]
    wrong_market = kis.index("20240501", "20240611", fid_cond_mrkt_div_code="J").json()
    assert (wrong_market["rt_cd"], wrong_market["msg_cd"]) == ("2", "OPSQ2001")
    bad_code = kis.index("20240501", "20240611", code="001").json()
    assert (bad_code["rt_cd"], bad_code["msg_cd"]) == ("2", "OPSQ2002")


# --- the shared gateway ------------------------------------------------------------------------

def test_all_uapi_calls_share_the_rate_limit(make_client: Callable[..., TestClient]) -> None:
    kis = Kis(make_client(rate_limit_per_sec=4))
    answers = [kis.daily(), kis.today(), kis.book(), kis.finance("balance-sheet"), kis.index("20240101", "20240611")]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 500]
    assert answers[-1].json()["msg_cd"] == "EGW00201"


@pytest.mark.parametrize(("path_contains", "call"), [
    ("itemchartprice", lambda k: k.today()),
    ("dailychartprice", lambda k: k.past("20240610")),
    ("asking-price", lambda k: k.book()),
    ("finance", lambda k: k.finance("income-statement")),
    ("indexchartprice", lambda k: k.index("20240101", "20240611")),
])
def test_gateway_rules_reach_every_tr(client: TestClient, kis: Kis, path_contains: str,
                                      call: Callable[[Kis], Any]) -> None:
    assert call(kis).json()["rt_cd"] == "0"
    add_fault(client, "html_error", path_contains)
    assert call(kis).status_code == 502
    add_fault(client, "expired_token", path_contains)
    assert call(kis).json()["msg_cd"] == "EGW00123"
    add_fault(client, "malformed_json", path_contains)
    with pytest.raises(ValueError):
        call(kis).json()
    wrong = copy.copy(kis)
    wrong.token = "not-a-token"
    assert call(wrong).json()["msg_cd"] == "EGW00121"


def test_wrong_tr_id_and_list_faults_on_new_trs(client: TestClient, kis: Kis) -> None:
    r = kis.get(ORDERBOOK, "FHKST03010200", {"fid_cond_mrkt_div_code": "J", "fid_input_iscd": "005930"})
    assert r.status_code == 500 and r.json()["msg_cd"] == "OPSQ0002"
    add_fault(client, "empty_trailing_row", "itemchartprice")
    rows = kis.today().json()["output2"]
    assert set(rows[-1].values()) == {""} and list(rows[-1]) == MINUTE_OUTPUT2_KEYS
    add_fault(client, "non_numeric_price", "indexchartprice")
    assert "O" in kis.index("20240101", "20240611").json()["output2"][0]["bstp_nmix_prpr"]
    add_fault(client, "empty_output2", "dailychartprice")
    assert kis.past("20240610").json()["output2"] == []
