"""The KIS gateway as the sandbox plays it: faults, configuration, tokens, header and rate checks,
error envelopes and the plumbing every TR endpoint shares.

TR modules (``kis`` for the daily chart and the router, ``kis_minute``, ``kis_orderbook``,
``kis_finance``, ``kis_index``) build on this module; it imports none of them. The rules served here
are described in ``kis``'s module docstring.
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
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stock_insights.sandbox.market import KST, SimulatedMarket, kst_now, kst_wall_clock

logger = logging.getLogger(__name__)

TOKEN_PATH = "/oauth2/tokenP"
JSON_UTF8 = "application/json; charset=utf-8"

TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_REUSE_WINDOW = timedelta(hours=6)
TOKEN_ISSUE_INTERVAL = timedelta(seconds=60)
DEFAULT_RATE_LIMIT_PER_SEC = 20.0
RATE_LIMIT_ENV = "SANDBOX_KIS_RATE_LIMIT_PER_SEC"
NONEXISTENT_CODES = frozenset({"000000"})
# Sandbox convention (KIS keys carry no documented marker): app keys starting with "VT" belong to a
# paper (모의투자) account, every other key to a real one.
PAPER_APPKEY_PREFIX = "VT"

KIS_FAULT_KINDS = frozenset({
    "malformed_json",  # truncated JSON body, HTTP 200
    "html_error",  # an HTML 502 page, as a proxy in front of KIS would send
    "empty_output2",  # valid envelope, the row list ([] for output2, or output for finance TRs)
    "empty_trailing_row",  # an all-blank row appended to the row list (seen in a real capture)
    "non_numeric_price",  # one row's price like "7O,100" (the order book: askp1)
    "token_403",  # the EGW00133 403
    "expired_token",  # EGW00123
    "rate_limit",  # EGW00201
    "delay",  # sleep ``seconds`` and then answer normally
    "tr_cont_loop",  # tr_cont-paged TRs: answer "M" and serve the same page again (cursor not moved)
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
    # A paper account asking for a service the paper domain lacks (open-trading-api#17, verbatim).
    "MCA00124": "해당 서비스를 찾을수 없습니다.",
    "OPSQ0002": "없는 서비스 코드 입니다.",
    "OPSQ9999": "JSON PARSING ERROR : tr_id not found",
}
SUCCESS_MSG_CD = "MCA00000"
SUCCESS_MSG = "정상처리 되었습니다."

HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)
CODE_RE = re.compile(r"^(?:[0-9A-Z]{6}|Q\d{6})$")
STOCK_MARKET_CODES = ("J", "NX", "UN")


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


class KisError(Exception):
    """An answer other than success, raised from deep inside a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def gateway_error(msg_cd: str, msg1: str | None = None, *, status: int = 500, rt_cd: str = "1") -> KisError:
    # Key order as captured in python-kis#90.
    return KisError(status, {"rt_cd": rt_cd, "msg1": msg1 or EGW_MESSAGES[msg_cd], "msg_cd": msg_cd})


def input_error(msg_cd: str, msg1: str) -> KisError:
    return gateway_error(msg_cd, msg1, status=200, rt_cd="2")


def token_error(error_code: str) -> KisError:
    return KisError(403, {"error_description": EGW_MESSAGES[error_code], "error_code": error_code})


def mask_appkey(appkey: str) -> str:
    return f"{appkey[:4]}…({len(appkey)})" if appkey else "<none>"


def fake_jwt(appkey: str, issued_at: datetime, expires_at: datetime) -> str:
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
        self._cursors: dict[Hashable, Any] = {}

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
                    token=fake_jwt(req.appkey, moment, moment + TOKEN_LIFETIME), appkey=req.appkey,
                    appsecret=req.appsecret, issued_at=moment, expires_at=moment + TOKEN_LIFETIME,
                )
                self._tokens[issued.token] = issued
                self._latest_token[req.appkey] = issued
                self._per_appkey[req.appkey]["tokens_issued"] += 1
            self._last_token_answer[req.appkey] = moment
        logger.info("KIS sandbox token %s for appkey %s (expires %s KST)",
                    "reused" if reuse else "issued", mask_appkey(req.appkey), kst_wall_clock(issued.expires_at))
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

    # --- server-side paging state (tr_cont "N") --------------------------------------------------

    def cursor(self, key: Hashable) -> Any:
        """Where a tr_cont-paged TR stopped for ``key`` (None before the first page)."""
        with self._lock:
            return self._cursors.get(key)

    def set_cursor(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._cursors[key] = value


def is_paper_appkey(appkey: str) -> bool:
    return appkey.startswith(PAPER_APPKEY_PREFIX)


def paper_unsupported_error() -> KisError:
    return gateway_error("MCA00124")


def success() -> dict[str, str]:
    return {"rt_cd": "0", "msg_cd": SUCCESS_MSG_CD, "msg1": SUCCESS_MSG}


def parse_yyyymmdd(raw: str) -> date | None:
    raw = raw.strip()
    if len(raw) != 8 or not raw.isdigit():
        return None
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def require_params(params: Mapping[str, str], names: Iterable[str]) -> None:
    """OPSQ2001 for the first missing query parameter, in KIS's wording."""
    for name in names:
        if name not in params:
            raise input_error("OPSQ2001", f"ERROR INPUT FIELD NOT FOUND [{name}]")


def bad_market_code() -> KisError:
    return input_error("OPSQ2001", "ERROR : INPUT INVALID_CHECK_MRKT_DIV_CODE")


def bad_field() -> KisError:
    return input_error("OPSQ2002", "ERROR : INPUT INVALID_CHECK_FIELD_LENGTH")


def stock_code(params: Mapping[str, str]) -> str:
    """The FID_INPUT_ISCD of a stock TR, checked like the daily chart checks it."""
    if params["FID_COND_MRKT_DIV_CODE"].strip().upper() not in STOCK_MARKET_CODES:
        raise bad_market_code()
    code = params["FID_INPUT_ISCD"].strip().upper()
    if not CODE_RE.match(code):
        raise bad_field()
    return code


def price_sign(price: float, prev: float, lower: float | None, upper: float | None) -> str:
    """prdy_vrss_sign: 1 상한, 2 상승, 3 보합, 4 하한, 5 하락."""
    if upper is not None and price >= upper:
        return "1"
    if lower is not None and price <= lower:
        return "4"
    return "2" if price > prev else "5" if price < prev else "3"


def percent(diff: float, base: float) -> str:
    return f"{diff / base * 100:.2f}" if base else "0.00"


def period_groups(days: np.ndarray, period: str) -> list[tuple[int, int]]:
    """(first, last) indices of each day/week/month/year in ``days`` (datetime64[D]); a period row is
    dated by its last session (KIS's own convention for W/M/Y was not captured)."""
    if period == "D":
        return [(i, i) for i in range(len(days))]
    if period == "W":
        # Monday-based weeks: datetime64 day 0 (1970-01-01) was a Thursday.
        keys = (days.astype(np.int64) + 3) // 7
    elif period == "M":
        keys = days.astype("datetime64[M]").astype(np.int64)
    else:
        keys = days.astype("datetime64[Y]").astype(np.int64)
    if len(days) == 0:
        return []
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    ends = np.concatenate((starts[1:] - 1, [len(days) - 1]))
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


# --- TR endpoints ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrContext:
    appkey: str
    tr_cont: str  # the request's tr_cont header: "" first page, "N" next page
    loop: bool = False  # the tr_cont_loop fault is active for this request


@dataclass(frozen=True)
class TrAnswer:
    body: dict[str, Any]
    tr_cont: str = "D"  # response header; "F"/"M" more pages, "D"/"E" last


TrHandler = Callable[[KisSandbox, Mapping[str, str], TrContext], TrAnswer]


@dataclass(frozen=True)
class TrSpec:
    """One KIS TR endpoint: where it lives, who may call it and how body faults reach its rows."""

    path: str
    tr_id: str
    summary: str
    handler: TrHandler
    paper: bool  # False: real accounts only (모의투자 미지원)
    list_key: str | None = "output2"  # the row list faults act on (None: no row list)
    row_keys: tuple[str, ...] = ()  # keys of a row, for the blank trailing row
    price_key: str = "stck_prpr"  # garbled by non_numeric_price (in the first row, else in output1)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    # KIS sends Korean text unescaped.
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content=content, status_code=status, media_type=JSON_UTF8, headers=dict(headers or {}))


def garble_price(value: str) -> str:
    """'71000' -> '71,O00': a thousands separator and a letter O where a zero was."""
    try:
        decimals = len(value.split(".", 1)[1]) if "." in value else 0
        text = f"{float(value):,.{decimals}f}"
    except ValueError:
        text = value
    return text.replace("0", "O", 1) if "0" in text else "O" + text[1:]


def apply_body_fault(kind: str, body: dict[str, Any], spec: TrSpec) -> dict[str, Any]:
    if body.get("rt_cd") != "0":
        return body
    rows = body.get(spec.list_key) if spec.list_key else None
    if kind == "empty_output2" and isinstance(rows, list):
        body[spec.list_key] = []  # type: ignore[index]
    elif kind == "empty_trailing_row" and isinstance(rows, list):
        rows.append(dict.fromkeys(spec.row_keys, ""))
    elif kind == "non_numeric_price":
        if isinstance(rows, list) and rows and spec.price_key in rows[0]:
            rows[0][spec.price_key] = garble_price(rows[0][spec.price_key])
        elif isinstance(body.get("output1"), dict) and spec.price_key in body["output1"]:
            body["output1"][spec.price_key] = garble_price(body["output1"][spec.price_key])
    return body


def render(status: int, body: dict[str, Any], headers: Mapping[str, str], fault: Fault | None,
           spec: TrSpec | None = None) -> Response:
    if fault is not None and fault.kind == "malformed_json":
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return Response(content=text[: max(1, len(text) // 2)], status_code=200, media_type=JSON_UTF8,
                        headers=dict(headers))
    if fault is not None and spec is not None:
        body = apply_body_fault(fault.kind, body, spec)
    return json_response(status, body, headers)


async def pre_fault(sandbox: KisSandbox, fault: Fault | None) -> tuple[Fault | None, KisError | Response | None]:
    """Handle faults that replace the answer outright; returns the fault still to apply later."""
    if fault is None:
        return None, None
    sandbox.count_fault(fault.kind)
    if fault.kind == "delay":
        await asyncio.sleep(fault.seconds)
        return None, None
    if fault.kind == "html_error":
        return None, Response(content=HTML_502, status_code=502, media_type="text/html")
    if fault.kind == "token_403":
        return None, token_error("EGW00133")
    if fault.kind == "expired_token":
        return None, gateway_error("EGW00123")
    if fault.kind == "rate_limit":
        return None, gateway_error("EGW00201")
    return fault, None


async def serve_tr(sandbox: KisSandbox, spec: TrSpec, request: Request) -> Response:
    """One TR request: faults, rate limit, auth, tr_id, paper-account check, then the handler."""
    appkey = request.headers.get("appkey", "")
    sandbox.count(appkey, "requests")
    headers = {"tr_id": request.headers.get("tr_id", ""), "tr_cont": "D", "gt_uid": uuid.uuid4().hex}
    fault, early = await pre_fault(sandbox, sandbox.faults.take(request.url.path))
    if isinstance(early, Response):
        return early
    try:
        if early is not None:
            raise early
        sandbox.admit(appkey)
        sandbox.authorize(request)
        sandbox.check_tr_id(request, spec.tr_id)
        if not spec.paper and is_paper_appkey(appkey):
            raise paper_unsupported_error()
        params = {k.upper(): v for k, v in request.query_params.multi_items()}
        ctx = TrContext(appkey=appkey, tr_cont=request.headers.get("tr_cont", "").strip().upper(),
                        loop=fault is not None and fault.kind == "tr_cont_loop")
        answer = spec.handler(sandbox, params, ctx)
        status, body = 200, answer.body
        headers["tr_cont"] = answer.tr_cont
    except KisError as err:
        status, body = err.status, err.body
    sandbox.count_answer(appkey, body)
    return render(status, body, headers, fault, spec)
