"""The KIS sandbox over HTTP (TestClient): tokens, the daily chart TR, gateway errors, faults."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stock_insights.sandbox.app import create_app
from stock_insights.sandbox.kis import KisConfig
from stock_insights.sandbox.market import KST, SimulatedMarket

PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
APPKEY = "PSsandboxAppKey00000000000000000000"
APPSECRET = "sandbox-secret"
# Keys of the live 2024-06-11 capture (wire-samples/kis_daily_itemchartprice_capture_2024-06-11.json).
OUTPUT1_KEYS = [
    "prdy_vrss", "prdy_vrss_sign", "prdy_ctrt", "stck_prdy_clpr", "acml_vol", "acml_tr_pbmn", "hts_kor_isnm",
    "stck_prpr", "stck_shrn_iscd", "prdy_vol", "stck_mxpr", "stck_llam", "stck_oprc", "stck_hgpr", "stck_lwpr",
    "stck_prdy_oprc", "stck_prdy_hgpr", "stck_prdy_lwpr", "askp", "bidp", "prdy_vrss_vol", "vol_tnrt",
    "stck_fcam", "lstn_stcn", "cpfn", "hts_avls", "per", "eps", "pbr", "itewhol_loan_rmnd_ratem name",
]
OUTPUT2_KEYS = [
    "stck_bsop_date", "stck_clpr", "stck_oprc", "stck_hgpr", "stck_lwpr", "acml_vol", "acml_tr_pbmn",
    "flng_cls_code", "prtt_rate", "mod_yn", "prdy_vrss_sign", "prdy_vrss", "revl_issu_reas",
]


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket()


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 6, 11, 17, 0, tzinfo=KST))  # after the close of a session


@pytest.fixture
def mono() -> list[float]:
    return [1_000.0]


@pytest.fixture
def make_client(market: SimulatedMarket, clock: Clock, mono: list[float]) -> Callable[..., TestClient]:
    def build(**config: Any) -> TestClient:
        cfg = KisConfig(**{"rate_limit_per_sec": 1_000, **config})
        return TestClient(create_app(market, now=clock, kis_config=cfg, monotonic=lambda: mono[0]))

    return build


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def issue(client: TestClient, appkey: str = APPKEY, appsecret: str = APPSECRET) -> Any:
    return client.post("/oauth2/tokenP",
                       json={"grant_type": "client_credentials", "appkey": appkey, "appsecret": appsecret})


def headers(token: str, **overrides: str | None) -> dict[str, str]:
    h: dict[str, str | None] = {"content-type": "application/json; charset=utf-8",
                                "authorization": f"Bearer {token}", "appkey": APPKEY, "appsecret": APPSECRET,
                                "tr_id": "FHKST03010100", "custtype": "P", **overrides}
    return {k: v for k, v in h.items() if v is not None}


def params(code: str = "005930", start: str = "20240101", end: str = "20240611", **extra: str) -> dict[str, str]:
    return {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code, "FID_INPUT_DATE_1": start,
            "FID_INPUT_DATE_2": end, "FID_PERIOD_DIV_CODE": "D", "FID_ORG_ADJ_PRC": "0", **extra}


@pytest.fixture
def token(client: TestClient) -> str:
    return issue(client).json()["access_token"]


def chart(client: TestClient, token: str, *, path: str = PATH, hdrs: dict[str, str] | None = None,
          **kw: str) -> Any:
    return client.get(path, headers=hdrs or headers(token), params=params(**kw))


# --- token -------------------------------------------------------------------------------------

def test_token_answer_shape(client: TestClient, clock: Clock) -> None:
    r = issue(client)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert list(body) == ["access_token", "access_token_token_expired", "token_type", "expires_in"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86_400
    assert body["access_token_token_expired"] == "2024-06-12 17:00:00"
    assert len(body["access_token"]) > 100


def test_token_once_per_minute_then_reused_for_six_hours(client: TestClient, clock: Clock) -> None:
    first = issue(client).json()
    clock.advance(seconds=30)
    r = issue(client)
    assert r.status_code == 403
    assert r.json() == {"error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
                        "error_code": "EGW00133"}
    assert issue(client, appkey="another-app").status_code == 200  # the limit is per appkey

    clock.advance(seconds=31)  # 61 s after the first answer; the refused call did not restart it
    again = issue(client).json()
    assert again["access_token"] == first["access_token"]
    assert again["access_token_token_expired"] == first["access_token_token_expired"]
    assert again["expires_in"] == 86_400 - 61

    clock.advance(hours=6)
    fresh = issue(client).json()
    assert fresh["access_token"] != first["access_token"]
    assert fresh["access_token_token_expired"] == "2024-06-12 23:01:01"
    # Both tokens stay usable until they expire.
    for tok in (first["access_token"], fresh["access_token"]):
        assert chart(client, tok).json()["rt_cd"] == "0"
    stats = client.get("/_sandbox/stats").json()["kis"]
    assert stats["per_appkey"][APPKEY]["tokens_issued"] == 2
    assert stats["per_appkey"][APPKEY]["tokens_reused"] == 1
    assert stats["per_msg_cd"]["EGW00133"] == 1


@pytest.mark.parametrize(("body", "code"), [
    (None, "EGW00101"),
    ({"appkey": APPKEY, "appsecret": APPSECRET}, "EGW00115"),
    ({"grant_type": "password", "appkey": APPKEY, "appsecret": APPSECRET}, "EGW00116"),
    ({"grant_type": "client_credentials", "appsecret": APPSECRET}, "EGW00102"),
    ({"grant_type": "client_credentials", "appkey": APPKEY}, "EGW00104"),
])
def test_token_request_errors(client: TestClient, body: Any, code: str) -> None:
    r = client.post("/oauth2/tokenP", content=b"" if body is None else json.dumps(body))
    assert r.status_code == 403
    assert r.json()["error_code"] == code and r.json()["error_description"]


def test_configured_credentials_are_enforced(make_client: Callable[..., TestClient]) -> None:
    client = make_client(credentials={APPKEY: APPSECRET})
    assert issue(client, appkey="unknown").json()["error_code"] == "EGW00103"
    assert issue(client, appsecret="wrong").json()["error_code"] == "EGW00105"
    assert issue(client).status_code == 200


def test_expired_tokens(client: TestClient, clock: Clock, token: str) -> None:
    clock.advance(hours=24)
    r = chart(client, token)
    assert r.status_code == 500
    assert r.json() == {"rt_cd": "1", "msg1": "기간이 만료된 token 입니다.", "msg_cd": "EGW00123"}


def test_sandbox_expire_tokens(client: TestClient, token: str) -> None:
    assert client.post("/_sandbox/expire_tokens").json() == {"expired": 1}
    assert chart(client, token).json()["msg_cd"] == "EGW00123"
    # As after a natural expiry, the client may re-issue at once and gets a new token.
    new = issue(client)
    assert new.status_code == 200 and new.json()["access_token"] != token
    assert chart(client, new.json()["access_token"]).json()["rt_cd"] == "0"


# --- gateway checks ----------------------------------------------------------------------------

@pytest.mark.parametrize(("overrides", "msg_cd", "msg1"), [
    ({"authorization": None}, "EGW00205", "credentials_type이 유효하지 않습니다.(Bearer)"),
    ({"authorization": "Basic abc"}, "EGW00205", None),
    ({"authorization": "Bearer not-a-token"}, "EGW00121", "유효하지 않은 token 입니다."),
    ({"authorization": "Bearer "}, "EGW00122", None),
    ({"appkey": None}, "EGW00102", None),
    ({"appsecret": None}, "EGW00104", None),
    ({"appkey": "PSsomeoneElse"}, "EGW00103", None),
    ({"appsecret": "wrong"}, "EGW00105", None),
    ({"custtype": "X"}, "EGW00208", None),
    ({"tr_id": None}, "OPSQ9999", None),
    ({"tr_id": "FHKST01010100"}, "OPSQ0002", "없는 서비스 코드 입니다."),
])
def test_header_checks(client: TestClient, token: str, overrides: dict[str, str | None], msg_cd: str,
                       msg1: str | None) -> None:
    r = chart(client, token, hdrs=headers(token, **overrides))
    assert r.status_code == 500
    body = r.json()
    assert list(body) == ["rt_cd", "msg1", "msg_cd"]
    assert body["rt_cd"] == "1" and body["msg_cd"] == msg_cd
    if msg1:
        assert body["msg1"] == msg1


def test_custtype_optional_unless_required(make_client: Callable[..., TestClient]) -> None:
    lenient = make_client()
    tok = issue(lenient).json()["access_token"]
    assert chart(lenient, tok, hdrs=headers(tok, custtype=None)).json()["rt_cd"] == "0"
    strict = make_client(require_custtype=True)
    tok = issue(strict).json()["access_token"]
    assert chart(strict, tok, hdrs=headers(tok, custtype=None)).json()["msg_cd"] == "EGW00208"
    assert chart(strict, tok, hdrs=headers(tok, custtype="B")).json()["rt_cd"] == "0"


def test_rate_limit_sliding_window(make_client: Callable[..., TestClient], mono: list[float]) -> None:
    client = make_client(rate_limit_per_sec=5)
    tok = issue(client).json()["access_token"]
    answers = []
    for _ in range(7):
        answers.append(chart(client, tok))
        mono[0] += 0.01
    assert [a.status_code for a in answers] == [200] * 5 + [500] * 2
    assert answers[5].json() == {"rt_cd": "1", "msg1": "초당 거래건수를 초과하였습니다.", "msg_cd": "EGW00201"}
    # Other appkeys have their own window; the token endpoint is not counted.
    other = issue(client, appkey="other-app", appsecret="s2").json()["access_token"]
    assert chart(client, other, hdrs=headers(other, appkey="other-app", appsecret="s2")).status_code == 200
    mono[0] += 0.95  # the first admitted request is now more than a second old
    assert chart(client, tok).status_code == 200
    stats = client.get("/_sandbox/stats").json()["kis"]
    assert stats["per_appkey"][APPKEY]["egw00201"] == 2
    assert stats["per_appkey"][APPKEY]["requests"] == 8
    assert stats["per_msg_cd"]["EGW00201"] == 2


def test_rate_limit_default_from_env() -> None:
    assert KisConfig.from_env({}).rate_limit_per_sec == 20
    assert KisConfig.from_env({"SANDBOX_KIS_RATE_LIMIT_PER_SEC": "7"}).rate_limit_per_sec == 7


# --- the daily chart ---------------------------------------------------------------------------

def test_daily_chart_matches_the_live_shape(client: TestClient, token: str, market: SimulatedMarket) -> None:
    r = chart(client, token, start="20240501", end="20240611")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["tr_id"] == "FHKST03010100" and r.headers["tr_cont"] in ("", "D") and r.headers["gt_uid"]
    body = r.json()
    assert list(body) == ["output1", "output2", "rt_cd", "msg_cd", "msg1"]
    assert (body["rt_cd"], body["msg_cd"], body["msg1"]) == ("0", "MCA00000", "정상처리 되었습니다.")
    out1 = body["output1"]
    assert list(out1) == OUTPUT1_KEYS
    assert all(isinstance(v, str) for v in out1.values())
    assert out1["hts_kor_isnm"] == "삼성전자" and out1["stck_shrn_iscd"] == "005930"
    rows = body["output2"]
    assert all(list(row) == OUTPUT2_KEYS and all(isinstance(v, str) for v in row.values()) for row in rows)
    assert {(r["mod_yn"], r["flng_cls_code"], r["prtt_rate"], r["revl_issu_reas"]) for r in rows} == \
        {("N", "00", "0.00", "")}
    bars = market.daily_bars("005930", date(2024, 5, 1), date(2024, 6, 11), now=datetime(2024, 6, 12, tzinfo=KST))
    assert [r["stck_bsop_date"] for r in rows] == [b.day.strftime("%Y%m%d") for b in reversed(bars)]
    assert rows[0]["stck_clpr"] == str(bars[-1].close) and rows[0]["acml_tr_pbmn"] == str(bars[-1].value)
    for newer, older in itertools.pairwise(rows):
        diff = int(newer["stck_clpr"]) - int(older["stck_clpr"])
        assert int(newer["prdy_vrss"]) == diff
        assert newer["prdy_vrss_sign"] == ("2" if diff > 0 else "5" if diff < 0 else "3")
    # output1 is today's quote after the close.
    assert out1["stck_prpr"] == rows[0]["stck_clpr"] and out1["acml_vol"] == rows[0]["acml_vol"]
    assert out1["stck_prdy_clpr"] == rows[1]["stck_clpr"]


def test_output1_before_the_close_is_the_pre_open_quote(client: TestClient, clock: Clock, token: str) -> None:
    clock.now = datetime(2024, 6, 11, 8, 0, tzinfo=KST)
    body = chart(client, token).json()
    out1, newest = body["output1"], body["output2"][0]
    assert newest["stck_bsop_date"] == "20240610"  # today's bar does not exist before 15:30
    assert out1["stck_prpr"] == out1["stck_prdy_clpr"] == newest["stck_clpr"]
    assert (out1["acml_vol"], out1["stck_oprc"], out1["prdy_vrss"], out1["prdy_vrss_sign"]) == ("0", "0", "0", "3")
    assert out1["prdy_vol"] == newest["acml_vol"]


def test_paging_100_rows_newest_first(client: TestClient, token: str, market: SimulatedMarket) -> None:
    expected = market.sessions(date(2023, 1, 1), date(2024, 6, 11))
    seen: list[str] = []
    end = "20240611"
    pages = 0
    while True:
        rows = chart(client, token, start="20230101", end=end).json()["output2"]
        if not rows:
            break
        pages += 1
        dates = [r["stck_bsop_date"] for r in rows]
        assert dates == sorted(dates, reverse=True) and len(rows) <= 100
        assert dates[-1] >= "20230101" and dates[0] <= end
        seen += dates
        if len(rows) < 100:
            break
        oldest = datetime.strptime(dates[-1], "%Y%m%d").date()
        end = (oldest - timedelta(days=1)).strftime("%Y%m%d")
    assert pages == -(-len(expected) // 100)
    assert seen == [d.strftime("%Y%m%d") for d in reversed(expected)]


def test_query_names_case_insensitive_double_slash_and_adjustment(client: TestClient, token: str) -> None:
    upper = chart(client, token).json()["output2"]
    lower = client.get(PATH, headers=headers(token), params={k.lower(): v for k, v in params().items()})
    assert lower.json()["output2"] == upper
    mixed = {"Fid_Cond_Mrkt_Div_Code": "UN", **{k: v for k, v in params().items() if k != "FID_COND_MRKT_DIV_CODE"}}
    assert client.get(PATH, headers=headers(token), params=mixed).json()["output2"] == upper
    slashed = client.get(f"http://testserver/{PATH}", headers=headers(token), params=params())
    assert slashed.status_code == 200 and slashed.json()["output2"] == upper
    raw = client.get(PATH, headers=headers(token), params=params(FID_ORG_ADJ_PRC="1"))
    assert raw.json()["output2"] == upper  # no corporate actions are simulated


def test_weekly_rows(client: TestClient, token: str) -> None:
    daily = chart(client, token, start="20240520", end="20240531").json()["output2"]
    weekly = chart(client, token, start="20240520", end="20240531", FID_PERIOD_DIV_CODE="W").json()["output2"]
    assert [w["stck_bsop_date"] for w in weekly] == ["20240531", "20240524"]
    this_week = [d for d in daily if d["stck_bsop_date"] >= "20240527"]
    assert weekly[0]["stck_clpr"] == this_week[0]["stck_clpr"]
    assert weekly[0]["stck_oprc"] == this_week[-1]["stck_oprc"]
    assert int(weekly[0]["acml_vol"]) == sum(int(d["acml_vol"]) for d in this_week)
    assert int(weekly[0]["stck_hgpr"]) == max(int(d["stck_hgpr"]) for d in this_week)


@pytest.mark.parametrize(("change", "msg_cd", "needle"), [
    ({"FID_INPUT_ISCD": None}, "OPSQ2001", "[FID_INPUT_ISCD]"),
    ({"FID_COND_MRKT_DIV_CODE": "X"}, "OPSQ2001", "MRKT_DIV_CODE"),
    ({"FID_INPUT_ISCD": "5930"}, "OPSQ2002", "FIELD_LENGTH"),
    ({"FID_INPUT_DATE_1": "2024-01-01"}, "OPSQ2002", "FIELD_LENGTH"),
    ({"FID_ORG_ADJ_PRC": "2"}, "OPSQ2002", "FIELD_LENGTH"),
])
def test_input_errors(client: TestClient, token: str, change: dict[str, str | None], msg_cd: str,
                      needle: str) -> None:
    query = {k: v for k, v in {**params(), **change}.items() if v is not None}
    r = client.get(PATH, headers=headers(token), params=query)
    assert r.status_code == 200
    body = r.json()
    assert body["rt_cd"] == "2" and body["msg_cd"] == msg_cd and needle in body["msg1"]


def test_unknown_and_nonexistent_codes(client: TestClient, token: str) -> None:
    unknown = chart(client, token, code="123456").json()
    assert unknown["rt_cd"] == "0" and unknown["output1"]["hts_kor_isnm"] == "종목123456" and unknown["output2"]
    gone = chart(client, token, code="000000").json()
    assert gone["rt_cd"] == "0" and gone["output2"] == []
    assert set(gone["output1"].values()) == {""}
    empty_range = chart(client, token, start="20240209", end="20240212").json()
    assert empty_range["rt_cd"] == "0" and empty_range["output2"] == []


# --- faults ------------------------------------------------------------------------------------

def add_fault(client: TestClient, kind: str, path_contains: str = "inquire-daily", **extra: Any) -> None:
    r = client.post("/_sandbox/faults", json={"path_contains": path_contains, "kind": kind, **extra})
    assert r.status_code == 200, r.text


def test_fault_malformed_json_applies_count_times(client: TestClient, token: str) -> None:
    add_fault(client, "malformed_json", count=2)
    for _ in range(2):
        r = chart(client, token)
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
    assert chart(client, token).json()["rt_cd"] == "0"
    assert client.get("/_sandbox/stats").json()["kis"]["faults_applied"] == {"malformed_json": 2}


def test_fault_html_error(client: TestClient, token: str) -> None:
    add_fault(client, "html_error")
    r = chart(client, token)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html")
    assert "<html>" in r.text


def test_fault_empty_output2_and_trailing_row(client: TestClient, token: str) -> None:
    add_fault(client, "empty_output2")
    body = chart(client, token).json()
    assert body["rt_cd"] == "0" and body["output2"] == [] and body["output1"]["stck_prpr"]
    add_fault(client, "empty_trailing_row")
    rows = chart(client, token).json()["output2"]
    assert set(rows[-1].values()) == {""} and rows[0]["stck_bsop_date"]


def test_fault_non_numeric_price(client: TestClient, token: str) -> None:
    clean = chart(client, token).json()["output2"]
    add_fault(client, "non_numeric_price")
    rows = chart(client, token).json()["output2"]
    assert not rows[0]["stck_clpr"].isdigit() and "," in rows[0]["stck_clpr"]
    assert rows[0]["stck_clpr"].replace(",", "").replace("O", "0") == clean[0]["stck_clpr"]
    assert rows[1:] == clean[1:]


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("expired_token", 500, "EGW00123"),
    ("rate_limit", 500, "EGW00201"),
    ("token_403", 403, "EGW00133"),
])
def test_fault_error_answers(client: TestClient, token: str, kind: str, status: int, code: str) -> None:
    add_fault(client, kind)
    r = chart(client, token)
    assert r.status_code == status
    body = r.json()
    assert body.get("msg_cd", body.get("error_code")) == code
    assert chart(client, token).json()["rt_cd"] == "0"  # the token itself is still fine


def test_fault_token_403_on_token_endpoint_only(client: TestClient, token: str) -> None:
    add_fault(client, "token_403", path_contains="/oauth2/tokenP")
    assert chart(client, token).json()["rt_cd"] == "0"
    r = issue(client, appkey="fresh-app")
    assert r.status_code == 403 and r.json()["error_code"] == "EGW00133"
    assert issue(client, appkey="fresh-app").status_code == 200


def test_fault_delay(client: TestClient, token: str) -> None:
    add_fault(client, "delay", seconds=0.2)
    start = time.perf_counter()
    r = chart(client, token)
    assert time.perf_counter() - start >= 0.2
    assert r.json()["rt_cd"] == "0"


def test_fault_admin(client: TestClient) -> None:
    assert client.post("/_sandbox/faults", json={"kind": "nonsense"}).status_code == 422
    add_fault(client, "html_error", count=3)
    assert client.get("/_sandbox/faults").json()["pending"][0]["remaining"] == 3
    assert client.delete("/_sandbox/faults").json() == {"cleared": 1}
    assert client.get("/_sandbox/faults").json()["pending"] == []


def test_health(client: TestClient) -> None:
    assert client.get("/_sandbox/health").json() == {"status": "ok", "data_mode": "simulated"}
