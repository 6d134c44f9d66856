"""KIS Open API (한국투자증권) as the sandbox serves it: token issuance and the daily chart TR.

Wire formats follow shared/reference/sources.md §2 and the wire samples; where KIS's behaviour was
not captured, the choice made here is written down next to the code. In short:

Token ``POST /oauth2/tokenP``
    * Errors use the token endpoint's own envelope ``{"error_description", "error_code"}`` with
      HTTP 403 (as EGW00133 does in the captures).
    * Rule order per appkey: first the issuance throttle — a call within 60 s of the previous
      *successful* answer (new or reused token) is refused with EGW00133 (real KIS refuses a second
      quick call even though it would only have handed back the same token); rejected calls do not
      restart the minute. Then the 6-hour rule: a still-valid token issued less than 6 h ago for the
      same appkey/appsecret is answered again, with its original expiry and the remaining
      ``expires_in``. Otherwise a new 24-hour token.
Gateway ``/uapi/...``
    * EGW errors: HTTP 500 ``{"rt_cd": "1", "msg1", "msg_cd"}``. Header checks, in order:
      ``authorization`` not ``Bearer …`` → EGW00205; ``appkey`` missing → EGW00102; ``appsecret``
      missing → EGW00104; empty token → EGW00122; unknown token → EGW00121; expired → EGW00123;
      token of another appkey → EGW00103; appsecret differs from the token's → EGW00105;
      ``custtype`` present but not P/B (or missing when ``require_custtype``) → EGW00208.
      ``tr_id`` missing → OPSQ9999 "JSON PARSING ERROR : tr_id not found", not the TR of the
      path → OPSQ0002 "없는 서비스 코드 입니다." (both HTTP 500, rt_cd "1").
    * Rate limit first (before auth): per appkey, at most ``rate_limit_per_sec`` admitted requests
      in any sliding one-second window, over every ``/uapi`` path; a refused request (EGW00201,
      HTTP 500) is not recorded in the window.
    * Input errors of the query server come as HTTP **200** with ``rt_cd "2"`` (seen for OPSQ2001
      in the wild): a missing parameter → OPSQ2001 "ERROR INPUT FIELD NOT FOUND [NAME]", a bad
      market code → OPSQ2001 "ERROR : INPUT INVALID_CHECK_MRKT_DIV_CODE", a malformed code/date/
      flag → OPSQ2002 "ERROR : INPUT INVALID_CHECK_FIELD_LENGTH". Clients must check ``rt_cd`` on
      every status.
    * Stock codes: any 6-character code of digits/capitals (or ``Q`` + 6 digits, ETN) exists in the
      simulated market, except ``000000``, which stands for a delisted/non-existent code and gets
      KIS's quiet answer: ``rt_cd "0"``, blank ``output1`` strings, empty ``output2``.
    * ``output1`` is the quote *now*: after a session's close it shows that session; on a session
      day before the close it shows the pre-open state of the 2024-06-11 capture (price = last
      close, today's volume/open/high/low "0") — the sandbox has no intraday prices.

All mutable state lives in one ``KisSandbox`` object held by the app, so tests build fresh apps.
Faults (``FaultQueue``) are shared with the app's ``/_sandbox/faults`` endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import os
import re
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stock_insights.sandbox.market import (
    KST,
    DailySeries,
    SimulatedMarket,
    kst_now,
    kst_wall_clock,
    price_limits,
    tick_size,
)

logger = logging.getLogger(__name__)

DAILY_CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
DAILY_CHART_TR_ID = "FHKST03010100"
TOKEN_PATH = "/oauth2/tokenP"
JSON_UTF8 = "application/json; charset=utf-8"

TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_REUSE_WINDOW = timedelta(hours=6)
TOKEN_ISSUE_INTERVAL = timedelta(seconds=60)
MAX_DAILY_ROWS = 100
DEFAULT_RATE_LIMIT_PER_SEC = 20.0
RATE_LIMIT_ENV = "SANDBOX_KIS_RATE_LIMIT_PER_SEC"
NONEXISTENT_CODES = frozenset({"000000"})

KIS_FAULT_KINDS = frozenset({
    "malformed_json",  # truncated JSON body, HTTP 200
    "html_error",  # an HTML 502 page, as a proxy in front of KIS would send
    "empty_output2",  # valid envelope, output2 []
    "empty_trailing_row",  # an all-blank row appended to output2 (seen in a real capture)
    "non_numeric_price",  # one row's stck_clpr like "7O,100"
    "token_403",  # the EGW00133 403
    "expired_token",  # EGW00123
    "rate_limit",  # EGW00201
    "delay",  # sleep ``seconds`` and then answer normally
})

# Messages of the KIS error tables (sources.md §2.4 and the portal's error-code list).
EGW_MESSAGES = {
    "EGW00101": "유효하지 않은 요청입니다.",
    "EGW00102": "AppKey는 필수입니다.",
    "EGW00103": "유효하지 않은 AppKey입니다.",
    "EGW00104": "AppSecret은 필수입니다.",
    "EGW00105": "유효하지 않은 AppSecret입니다.",
    "EGW00115": "권한부여 타입(grant_type)은 필수입니다.",
    "EGW00116": "지원하지 않는 권한부여 타입(grant_type)입니다.",
    "EGW00121": "유효하지 않은 token 입니다.",
    "EGW00122": "token을 찾을 수 없습니다.",
    "EGW00123": "기간이 만료된 token 입니다.",
    "EGW00133": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)",
    "EGW00201": "초당 거래건수를 초과하였습니다.",
    "EGW00205": "credentials_type이 유효하지 않습니다.(Bearer)",
    "EGW00208": "고객유형(custtype)이 유효하지 않습니다.",
    "OPSQ0002": "없는 서비스 코드 입니다.",
    "OPSQ9999": "JSON PARSING ERROR : tr_id not found",
}
SUCCESS_MSG_CD = "MCA00000"
SUCCESS_MSG = "정상처리 되었습니다."

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
_CODE_RE = re.compile(r"^(?:[0-9A-Z]{6}|Q\d{6})$")
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


# --- faults ------------------------------------------------------------------------------------

@dataclass
class Fault:
    path_contains: str
    kind: str
    remaining: int
    seconds: float = 5.0
    skip: int = 0  # matching requests to let through untouched before the fault starts

    def as_dict(self) -> dict[str, Any]:
        return {"path_contains": self.path_contains, "kind": self.kind, "remaining": self.remaining,
                "seconds": self.seconds, "skip": self.skip}


class FaultRequest(BaseModel):
    """Body of ``POST /_sandbox/faults``."""

    model_config = ConfigDict(extra="forbid")
    path_contains: str = ""
    kind: str
    count: int = Field(default=1, ge=1, le=100_000)
    seconds: float = Field(default=5.0, ge=0, le=600)
    skip: int = Field(default=0, ge=0, le=100_000)


class FaultQueue:
    """Queued faults for the next N requests whose path contains ``path_contains``.

    Shared by every sandbox router; each router declares the kinds it understands with ``allow``.
    A fault is consumed when a request matches it, whatever that request's answer would have been.
    """

    def __init__(self, kinds: Iterable[str] = ()) -> None:
        self.kinds: set[str] = set(kinds)
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def allow(self, kinds: Iterable[str]) -> None:
        self.kinds.update(kinds)

    def add(self, path_contains: str, kind: str, count: int = 1, seconds: float = 5.0, skip: int = 0) -> Fault:
        if kind not in self.kinds:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(self.kinds)}")
        fault = Fault(path_contains, kind, count, seconds, skip)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> int:
        with self._lock:
            n = len(self._faults)
            self._faults.clear()
        return n

    def take(self, path: str) -> Fault | None:
        """Consume one use of the oldest fault matching ``path``."""
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path:
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return Fault(fault.path_contains, fault.kind, 1, fault.seconds)
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]


# --- configuration and state -------------------------------------------------------------------

@dataclass(frozen=True)
class KisConfig:
    rate_limit_per_sec: float = DEFAULT_RATE_LIMIT_PER_SEC
    # The official Postman sample for this TR sends no custtype, so its absence is tolerated
    # unless a test wants the stricter portal rule.
    require_custtype: bool = False
    # appkey -> appsecret. None accepts any non-empty pair (the usual sandbox case).
    credentials: Mapping[str, str] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KisConfig:
        env = os.environ if environ is None else environ
        raw = env.get(RATE_LIMIT_ENV, "").strip()
        try:
            limit = float(raw) if raw else DEFAULT_RATE_LIMIT_PER_SEC
        except ValueError:
            logger.warning("%s=%r is not a number; using %s", RATE_LIMIT_ENV, raw, DEFAULT_RATE_LIMIT_PER_SEC)
            limit = DEFAULT_RATE_LIMIT_PER_SEC
        return cls(rate_limit_per_sec=limit if limit > 0 else DEFAULT_RATE_LIMIT_PER_SEC)


@dataclass
class IssuedToken:
    token: str
    appkey: str
    appsecret: str = field(repr=False)
    issued_at: datetime
    expires_at: datetime
    force_expired: bool = False

    def valid_at(self, moment: datetime) -> bool:
        return not self.force_expired and moment < self.expires_at


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    grant_type: str = ""
    appkey: str = ""
    appsecret: str = Field(default="", repr=False)


class _KisError(Exception):
    """An answer other than success, raised from deep inside a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def gateway_error(msg_cd: str, msg1: str | None = None, *, status: int = 500, rt_cd: str = "1") -> _KisError:
    # Key order as captured in python-kis#90.
    return _KisError(status, {"rt_cd": rt_cd, "msg1": msg1 or EGW_MESSAGES[msg_cd], "msg_cd": msg_cd})


def input_error(msg_cd: str, msg1: str) -> _KisError:
    return gateway_error(msg_cd, msg1, status=200, rt_cd="2")


def token_error(error_code: str) -> _KisError:
    return _KisError(403, {"error_description": EGW_MESSAGES[error_code], "error_code": error_code})


def _mask(appkey: str) -> str:
    return f"{appkey[:4]}…({len(appkey)})" if appkey else "<none>"


def _fake_jwt(appkey: str, issued_at: datetime, expires_at: datetime) -> str:
    """An opaque token shaped like KIS's (a JWT); nothing should ever decode it."""
    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64({"typ": "JWT", "alg": "HS512"})
    payload = b64({"sub": "token", "aud": str(uuid.uuid4()), "iss": "unogw",
                   "exp": int(expires_at.timestamp()), "iat": int(issued_at.timestamp()),
                   "jti": secrets.token_urlsafe(30)})
    return f"{header}.{payload}.{secrets.token_urlsafe(64)}"


class KisSandbox:
    """All KIS sandbox state: tokens, rate windows, counters. One per app."""

    def __init__(
        self,
        market: SimulatedMarket,
        *,
        now: Callable[[], datetime] | None = None,
        config: KisConfig | None = None,
        faults: FaultQueue | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.market = market
        self._now = now or kst_now
        self.config = config or KisConfig.from_env()
        self.faults = faults or FaultQueue()
        self.faults.allow(KIS_FAULT_KINDS)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self._latest_token: dict[str, IssuedToken] = {}
        self._last_token_answer: dict[str, datetime] = {}
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._per_appkey: dict[str, Counter[str]] = defaultdict(Counter)
        self._per_msg_cd: Counter[str] = Counter()
        self._faults_applied: Counter[str] = Counter()

    def now(self) -> datetime:
        moment = self._now()
        return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment

    # --- tokens --------------------------------------------------------------------------------

    def issue_token(self, raw_body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            payload = json.loads(raw_body or b"null")
            if not isinstance(payload, dict):
                raise token_error("EGW00101")
            req = TokenRequest.model_validate(payload)
        except (ValueError, ValidationError) as exc:
            raise token_error("EGW00101") from exc
        if not req.grant_type:
            raise token_error("EGW00115")
        if req.grant_type != "client_credentials":
            raise token_error("EGW00116")
        if not req.appkey:
            raise token_error("EGW00102")
        if not req.appsecret:
            raise token_error("EGW00104")
        creds = self.config.credentials
        if creds is not None:
            if req.appkey not in creds:
                raise token_error("EGW00103")
            if not secrets.compare_digest(creds[req.appkey], req.appsecret):
                raise token_error("EGW00105")

        moment = self.now()
        with self._lock:
            last = self._last_token_answer.get(req.appkey)
            if last is not None and moment - last < TOKEN_ISSUE_INTERVAL:
                raise token_error("EGW00133")
            latest = self._latest_token.get(req.appkey)
            reuse = (
                latest is not None
                and latest.valid_at(moment)
                and moment - latest.issued_at < TOKEN_REUSE_WINDOW
                and secrets.compare_digest(latest.appsecret, req.appsecret)
            )
            if reuse:
                assert latest is not None
                issued = latest
                self._per_appkey[req.appkey]["tokens_reused"] += 1
            else:
                issued = IssuedToken(
                    token=_fake_jwt(req.appkey, moment, moment + TOKEN_LIFETIME), appkey=req.appkey,
                    appsecret=req.appsecret, issued_at=moment, expires_at=moment + TOKEN_LIFETIME,
                )
                self._tokens[issued.token] = issued
                self._latest_token[req.appkey] = issued
                self._per_appkey[req.appkey]["tokens_issued"] += 1
            self._last_token_answer[req.appkey] = moment
        logger.info("KIS sandbox token %s for appkey %s (expires %s KST)",
                    "reused" if reuse else "issued", _mask(req.appkey), kst_wall_clock(issued.expires_at))
        return 200, {
            "access_token": issued.token,
            "access_token_token_expired": kst_wall_clock(issued.expires_at),
            "token_type": "Bearer",
            "expires_in": max(0, int((issued.expires_at - moment).total_seconds())),
        }

    def expire_all_tokens(self, *, reset_throttle: bool = True) -> int:
        """Expire every issued token. By default also forget the issuance minute, as a natural
        24-hour expiry would have: the client's re-issuance then succeeds at once."""
        with self._lock:
            for token in self._tokens.values():
                token.force_expired = True
            if reset_throttle:
                self._last_token_answer.clear()
            return len(self._tokens)

    # --- gateway checks ------------------------------------------------------------------------

    def admit(self, appkey: str) -> None:
        """Sliding one-second window per appkey; raises EGW00201 when it is full."""
        limit = max(1, math.floor(self.config.rate_limit_per_sec))
        t = self._monotonic()
        with self._lock:
            window = self._windows[appkey]
            while window and window[0] <= t - 1.0:
                window.popleft()
            if len(window) >= limit:
                raise gateway_error("EGW00201")
            window.append(t)

    def authorize(self, request: Request) -> IssuedToken:
        headers = request.headers
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer":
            raise gateway_error("EGW00205")
        appkey = headers.get("appkey", "")
        appsecret = headers.get("appsecret", "")
        if not appkey:
            raise gateway_error("EGW00102")
        if not appsecret:
            raise gateway_error("EGW00104")
        token = token.strip()
        if not token:
            raise gateway_error("EGW00122")
        issued = self._tokens.get(token)
        if issued is None:
            raise gateway_error("EGW00121")
        if not issued.valid_at(self.now()):
            raise gateway_error("EGW00123")
        if issued.appkey != appkey:
            raise gateway_error("EGW00103")
        if not secrets.compare_digest(issued.appsecret, appsecret):
            raise gateway_error("EGW00105")
        custtype = headers.get("custtype")
        if (custtype is None and self.config.require_custtype) or (
            custtype is not None and custtype not in ("P", "B")
        ):
            raise gateway_error("EGW00208")
        return issued

    @staticmethod
    def check_tr_id(request: Request, expected: str) -> None:
        tr_id = request.headers.get("tr_id")
        if not tr_id:
            raise gateway_error("OPSQ9999")
        if tr_id != expected:
            raise gateway_error("OPSQ0002")

    # --- counters ------------------------------------------------------------------------------

    def count(self, appkey: str, key: str) -> None:
        with self._lock:
            self._per_appkey[appkey][key] += 1

    def count_answer(self, appkey: str, body: Mapping[str, Any] | None) -> None:
        code = None
        if body is not None:
            code = body.get("msg_cd") or body.get("error_code")
        if not code:
            return
        with self._lock:
            self._per_msg_cd[code] += 1
            if code in ("EGW00201", "EGW00133", "EGW00123"):
                self._per_appkey[appkey][code.lower()] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults_applied[kind] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "per_appkey": {k: dict(v) for k, v in self._per_appkey.items()},
                "per_msg_cd": dict(self._per_msg_cd),
                "faults_applied": dict(self._faults_applied),
                "tokens_live": sum(1 for t in self._tokens.values() if t.valid_at(self.now())),
                "rate_limit_per_sec": self.config.rate_limit_per_sec,
            }

    # --- the daily chart TR --------------------------------------------------------------------

    def daily_chart(self, params: Mapping[str, str]) -> dict[str, Any]:
        for name in _DAILY_PARAMS:
            if name not in params:
                raise input_error("OPSQ2001", f"ERROR INPUT FIELD NOT FOUND [{name}]")
        if params["FID_COND_MRKT_DIV_CODE"].strip().upper() not in ("J", "NX", "UN"):
            raise input_error("OPSQ2001", "ERROR : INPUT INVALID_CHECK_MRKT_DIV_CODE")
        code = params["FID_INPUT_ISCD"].strip().upper()
        period = params["FID_PERIOD_DIV_CODE"].strip().upper()
        adj = params["FID_ORG_ADJ_PRC"].strip()
        start = _parse_yyyymmdd(params["FID_INPUT_DATE_1"])
        end = _parse_yyyymmdd(params["FID_INPUT_DATE_2"])
        if not _CODE_RE.match(code) or start is None or end is None or period not in ("D", "W", "M", "Y") \
                or adj not in ("0", "1"):
            raise input_error("OPSQ2002", "ERROR : INPUT INVALID_CHECK_FIELD_LENGTH")

        if code in NONEXISTENT_CODES:
            return {"output1": dict.fromkeys(_OUTPUT1_KEYS, ""), "output2": [], **_success()}
        moment = self.now()
        return {
            "output1": self._quote(code, moment),
            "output2": self._chart_rows(code, start, end, period, adjusted=adj == "0", moment=moment),
            **_success(),
        }

    def _chart_rows(self, code: str, start: date, end: date, period: str, *, adjusted: bool,
                    moment: datetime) -> list[dict[str, str]]:
        market = self.market
        series = market.daily_arrays(code, start, end, now=moment, adjusted=adjusted)
        if len(series) == 0:
            return []
        listing_market = market.listing_market(code)
        if period == "D":
            n = len(series)
            groups = [(i, i) for i in range(max(0, n - MAX_DAILY_ROWS), n)]
        else:
            groups = _period_groups(series, period)[-MAX_DAILY_ROWS:]
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
                sign = _sign(close, prev_close, lower, upper)
            else:
                sign = _sign(close, prev_close, None, None)
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

    def _quote(self, code: str, moment: datetime) -> dict[str, str]:
        """output1: the stock's quote as of ``moment`` (see the module docstring)."""
        market = self.market
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
            "prdy_vrss_sign": _sign(price, prev_close, lower, upper),
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


def _success() -> dict[str, str]:
    return {"rt_cd": "0", "msg_cd": SUCCESS_MSG_CD, "msg1": SUCCESS_MSG}


def _parse_yyyymmdd(raw: str) -> date | None:
    raw = raw.strip()
    if len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def _sign(price: int, prev: int, lower: int | None, upper: int | None) -> str:
    """prdy_vrss_sign: 1 상한, 2 상승, 3 보합, 4 하한, 5 하락."""
    if upper is not None and price >= upper:
        return "1"
    if lower is not None and price <= lower:
        return "4"
    return "2" if price > prev else "5" if price < prev else "3"


def _period_groups(series: DailySeries, period: str) -> list[tuple[int, int]]:
    """(first, last) indices of each week/month/year; a period row is dated by its last session
    (KIS's own convention for W/M/Y was not captured)."""
    days = series.days
    if period == "W":
        # Monday-based weeks: datetime64 day 0 (1970-01-01) was a Thursday.
        keys = (days.astype(np.int64) + 3) // 7
    elif period == "M":
        keys = days.astype("datetime64[M]").astype(np.int64)
    else:
        keys = days.astype("datetime64[Y]").astype(np.int64)
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.concatenate((starts[1:] - 1, [len(days) - 1]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


# --- HTTP layer --------------------------------------------------------------------------------

def _json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    # KIS sends Korean text unescaped.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content=content, status_code=status, media_type=JSON_UTF8, headers=dict(headers or {}))


def _garble_price(value: str) -> str:
    """'71000' -> '71,O00': a thousands separator and a letter O where a zero was."""
    try:
        text = f"{int(value):,}"
    except ValueError:
        text = value
    return text.replace("0", "O", 1) if "0" in text else "O" + text[1:]


def _apply_body_fault(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("rt_cd") != "0":
        return body
    rows = body.get("output2")
    if kind == "empty_output2" and isinstance(rows, list):
        body["output2"] = []
    elif kind == "empty_trailing_row" and isinstance(rows, list):
        rows.append(dict.fromkeys(_OUTPUT2_KEYS, ""))
    elif kind == "non_numeric_price":
        if isinstance(rows, list) and rows:
            rows[0]["stck_clpr"] = _garble_price(rows[0]["stck_clpr"])
        elif isinstance(body.get("output1"), dict):
            body["output1"]["stck_prpr"] = _garble_price(body["output1"].get("stck_prpr", "0"))
    return body


def _render(status: int, body: dict[str, Any], headers: Mapping[str, str], fault: Fault | None) -> Response:
    if fault is not None and fault.kind == "malformed_json":
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return Response(content=text[: max(1, len(text) // 2)], status_code=200, media_type=JSON_UTF8,
                        headers=dict(headers))
    if fault is not None:
        body = _apply_body_fault(fault.kind, body)
    return _json_response(status, body, headers)


async def _pre_fault(sandbox: KisSandbox, fault: Fault | None) -> tuple[Fault | None, _KisError | Response | None]:
    """Handle faults that replace the answer outright; returns the fault still to apply later."""
    if fault is None:
        return None, None
    sandbox.count_fault(fault.kind)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return None, None
    if fault.kind == "html_error":
        return None, Response(content=_HTML_502, status_code=502, media_type="text/html")
    if fault.kind == "token_403":
        return None, token_error("EGW00133")
    if fault.kind == "expired_token":
        return None, gateway_error("EGW00123")
    if fault.kind == "rate_limit":
        return None, gateway_error("EGW00201")
    return fault, None


def build_kis_router(sandbox: KisSandbox) -> APIRouter:
    """The KIS endpoints plus ``POST /_sandbox/expire_tokens``, all bound to ``sandbox``."""
    router = APIRouter()

    @router.post(TOKEN_PATH, include_in_schema=True, summary="KIS 접근토큰발급(P)")
    async def token_p(request: Request) -> Response:
        raw = await request.body()
        appkey = _peek_appkey(raw)
        sandbox.count(appkey, "token_requests")
        fault, early = await _pre_fault(sandbox, sandbox.faults.take(request.url.path))
        if isinstance(early, Response):
            return early
        try:
            if early is not None:
                raise early
            status, body = sandbox.issue_token(raw)
        except _KisError as err:
            status, body = err.status, err.body
        sandbox.count_answer(appkey, body)
        return _render(status, body, {}, fault)

    @router.get(DAILY_CHART_PATH, summary="국내주식기간별시세(일/주/월/년) FHKST03010100")
    async def daily_itemchartprice(request: Request) -> Response:
        appkey = request.headers.get("appkey", "")
        sandbox.count(appkey, "requests")
        headers = {"tr_id": request.headers.get("tr_id", ""), "tr_cont": "D", "gt_uid": uuid.uuid4().hex}
        fault, early = await _pre_fault(sandbox, sandbox.faults.take(request.url.path))
        if isinstance(early, Response):
            return early
        try:
            if early is not None:
                raise early
            sandbox.admit(appkey)
            sandbox.authorize(request)
            sandbox.check_tr_id(request, DAILY_CHART_TR_ID)
            params = {k.upper(): v for k, v in request.query_params.multi_items()}
            status, body = 200, sandbox.daily_chart(params)
        except _KisError as err:
            status, body = err.status, err.body
        sandbox.count_answer(appkey, body)
        return _render(status, body, headers, fault)

    @router.post("/_sandbox/expire_tokens", summary="Expire every issued KIS token")
    async def expire_tokens(reset_throttle: bool = True) -> dict[str, int]:
        return {"expired": sandbox.expire_all_tokens(reset_throttle=reset_throttle)}

    return router


def _peek_appkey(raw: bytes) -> str:
    """The appkey of a token request, for counters only (never the secret)."""
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        return ""
    return str(payload.get("appkey", "")) if isinstance(payload, dict) else ""
