"""KIS Open API (한국투자증권) client: token, daily chart.

Protocol facts this code relies on (../shared/reference/sources.md section 2):
- ``POST /oauth2/tokenP`` issues a 24-hour token, at most once a minute per app key; a second
  issuance answers HTTP 403 ``{"error_code": "EGW00133", ...}``. The token is therefore cached in a
  ``TokenStore`` that every process shares (the SQL store in production).
- Every quotation call carries ``authorization``, ``appkey``, ``appsecret``, ``tr_id`` and
  ``custtype``. Gateway errors come as HTTP 500 *with* the JSON envelope (``rt_cd``, ``msg_cd``,
  ``msg1``), so the body is parsed whatever the status is.
- EGW00201 (per-second budget exceeded) is backed off and retried; EGW00123 (expired) and
  EGW00121 (invalid) refresh the token once and retry.
- All numbers arrive as strings; the daily chart returns at most 100 rows, newest first, and is
  paged by moving ``FID_INPUT_DATE_2`` to the day before the oldest row received.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator, model_validator

from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError, SourceTransportError
from stock_insights.clients.ratelimit import LocalRateLimiter, RateLimiter

log = logging.getLogger(__name__)

KST = ZoneInfo("Asia/Seoul")
SOURCE = "KIS"
DAILY_CHART_PATH = "/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"
TR_DAILY_CHART = "FHKST03010100"
DAILY_CHART_PAGE = 100

RATE_LIMITED = "EGW00201"
TOKEN_EXPIRED = "EGW00123"
TOKEN_INVALID = "EGW00121"
TOKEN_THROTTLED = "EGW00133"


class KisError(SourceError):
    """KIS answered with ``rt_cd`` other than "0"."""


# --------------------------------------------------------------------------------------------
# Token cache shared by processes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedToken:
    access_token: str
    expires_at: datetime
    issued_at: datetime

    def __repr__(self) -> str:  # the token is a credential
        return f"CachedToken(expires_at={self.expires_at.isoformat()}, issued_at={self.issued_at.isoformat()})"


class TokenStore(Protocol):
    def load(self, provider: str, fingerprint: str) -> CachedToken | None: ...

    def save(self, provider: str, fingerprint: str, token: CachedToken) -> None: ...


class MemoryTokenStore:
    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], CachedToken] = {}

    def load(self, provider: str, fingerprint: str) -> CachedToken | None:
        return self._tokens.get((provider, fingerprint))

    def save(self, provider: str, fingerprint: str, token: CachedToken) -> None:
        self._tokens[(provider, fingerprint)] = token


# --------------------------------------------------------------------------------------------
# Typed rows
# --------------------------------------------------------------------------------------------
def _number(value: Any, field: str) -> float:
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{field}={value!r} is not a number") from None


class DailyBarRow(BaseModel):
    """One ``output2`` row of FHKST03010100, converted from KIS's strings."""

    model_config = ConfigDict(frozen=True)

    trading_date: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_value: int
    revised: bool = False

    @classmethod
    def from_wire(cls, row: dict[str, Any]) -> DailyBarRow:
        try:
            day = datetime.strptime(str(row["stck_bsop_date"]), "%Y%m%d").date()
        except (KeyError, ValueError):
            raise ValueError(f"stck_bsop_date={row.get('stck_bsop_date')!r} is not a YYYYMMDD date") from None
        return cls(
            trading_date=day,
            open=_number(row.get("stck_oprc"), "stck_oprc"),
            high=_number(row.get("stck_hgpr"), "stck_hgpr"),
            low=_number(row.get("stck_lwpr"), "stck_lwpr"),
            close=_number(row.get("stck_clpr"), "stck_clpr"),
            volume=int(_number(row.get("acml_vol"), "acml_vol")),
            trade_value=int(_number(row.get("acml_tr_pbmn"), "acml_tr_pbmn")),
            revised=str(row.get("mod_yn", "N")).upper() == "Y",
        )

    @field_validator("open", "high", "low", "close")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError(f"price {value} is not positive")
        return value

    @model_validator(mode="after")
    def _ohlc_sane(self) -> DailyBarRow:
        if not (self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high):
            raise ValueError(
                f"OHLC breaks low <= open, close <= high (o={self.open} h={self.high} l={self.low} c={self.close})"
            )
        if self.volume < 0 or self.trade_value < 0:
            raise ValueError("negative volume or trade value")
        return self


class DailyChart(BaseModel):
    code: str
    name: str | None
    adjusted: bool
    bars: list[DailyBarRow]  # oldest first, one per session


# --------------------------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------------------------
def _kst_wall_clock(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST).astimezone(UTC)


class KisClient:
    """Synchronous KIS client. Thread-safe for concurrent calls that share one instance."""

    def __init__(
        self,
        base_url: str,
        app_key: SecretStr,
        app_secret: SecretStr,
        *,
        token_store: TokenStore | None = None,
        limiter: RateLimiter | None = None,
        rate_limit_per_sec: float = 20.0,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_rate_limit_retries: int = 20,
        customer_type: str = "P",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if not app_key.get_secret_value() or not app_secret.get_secret_value():
            raise SourceAuthError(SOURCE, "KIS_APP_KEY and KIS_APP_SECRET must both be set")
        self.base_url = base_url.rstrip("/")
        self._app_key = app_key
        self._app_secret = app_secret
        self._tokens = token_store or MemoryTokenStore()
        self._limiter = limiter or LocalRateLimiter(rate_limit_per_sec)
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._max_attempts = max_attempts
        self._max_rate_limit_retries = max_rate_limit_retries
        self._customer_type = customer_type
        self._sleep = sleep
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: CachedToken | None = None
        self.fingerprint = hashlib.sha256(f"{self.base_url}|{app_key.get_secret_value()}".encode()).hexdigest()[:32]
        self.stats = {"requests": 0, "rate_limited": 0, "token_issued": 0, "retries": 0}

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> KisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- token ------------------------------------------------------------------------------
    def _usable(self, token: CachedToken | None) -> bool:
        # Refresh an hour early: a run that starts just before expiry must not fail halfway.
        return token is not None and token.expires_at - timedelta(hours=1) > self._clock()

    def access_token(self, *, force_refresh: bool = False) -> str:
        with self._token_lock:
            if not force_refresh and self._usable(self._token):
                return self._token.access_token  # type: ignore[union-attr]
            stored = self._tokens.load("kis", self.fingerprint)
            if self._usable(stored) and (not force_refresh or stored != self._token):
                self._token = stored
                return stored.access_token  # type: ignore[union-attr]
            self._token = self._issue_token()
            self._tokens.save("kis", self.fingerprint, self._token)
            return self._token.access_token

    def _issue_token(self) -> CachedToken:
        body = {
            "grant_type": "client_credentials",
            "appkey": self._app_key.get_secret_value(),
            "appsecret": self._app_secret.get_secret_value(),
        }
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._http.post(
                    f"{self.base_url}/oauth2/tokenP", json=body, headers={"content-type": "application/json"}
                )
            except httpx.HTTPError as exc:
                if attempt == self._max_attempts:
                    raise SourceTransportError(SOURCE, f"token request failed: {type(exc).__name__}") from None
                self._sleep(min(2.0**attempt, 10.0))
                continue
            payload = self._json(response, "/oauth2/tokenP")
            if payload is None:
                if attempt == self._max_attempts:
                    raise SourceTransportError(
                        SOURCE, "token endpoint answered a body that is not JSON", status=response.status_code
                    )
                self._sleep(min(2.0**attempt, 10.0))
                continue
            if response.status_code == 200 and payload.get("access_token"):
                self.stats["token_issued"] += 1
                return self._parse_token(payload)
            code = str(payload.get("error_code") or payload.get("msg_cd") or "")
            if code == TOKEN_THROTTLED:
                # Another process issued one within the minute: it is in the shared store by now.
                stored = self._tokens.load("kis", self.fingerprint)
                if self._usable(stored) and stored != self._token:
                    return stored  # type: ignore[return-value]
                if attempt == self._max_attempts:
                    raise KisError(
                        SOURCE,
                        "token issuance throttled (one a minute) and no shared token",
                        code=code,
                        status=response.status_code,
                    )
                log.warning("KIS token issuance throttled (EGW00133); waiting for the one-minute window")
                self._sleep(61.0)
                continue
            raise SourceAuthError(
                SOURCE,
                f"token refused: {payload.get('error_description') or payload.get('msg1')}",
                code=code or None,
                status=response.status_code,
            )
        raise AssertionError("unreachable")

    def _parse_token(self, payload: dict[str, Any]) -> CachedToken:
        now = self._clock()
        expires_at: datetime | None = None
        if payload.get("access_token_token_expired"):
            try:
                expires_at = _kst_wall_clock(str(payload["access_token_token_expired"]))
            except ValueError:
                expires_at = None
        if expires_at is None:
            try:
                expires_at = now + timedelta(seconds=int(payload.get("expires_in", 86400)))
            except (TypeError, ValueError):
                raise SourceDataError(SOURCE, "token answer has no usable expiry") from None
        return CachedToken(access_token=str(payload["access_token"]), expires_at=expires_at, issued_at=now)

    # ---- requests ---------------------------------------------------------------------------
    @staticmethod
    def _json(response: httpx.Response, path: str) -> dict[str, Any] | None:
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    def _headers(self, tr_id: str, tr_cont: str = "") -> dict[str, str]:
        return {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {self.access_token()}",
            "appkey": self._app_key.get_secret_value(),
            "appsecret": self._app_secret.get_secret_value(),
            "tr_id": tr_id,
            "custtype": self._customer_type,
            "tr_cont": tr_cont,
        }

    def get(self, path: str, tr_id: str, params: dict[str, str], *, tr_cont: str = "") -> tuple[dict[str, Any], str]:
        """One logical GET: budgeted, retried as KIS requires. Returns (body, response tr_cont)."""
        transport_failures = 0
        rate_limited = 0
        token_refreshed = False
        while True:
            self._limiter.acquire()
            self.stats["requests"] += 1
            try:
                response = self._http.get(
                    f"{self.base_url}{path}", params=params, headers=self._headers(tr_id, tr_cont)
                )
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.HTTPError as exc:
                problem = f"request failed ({type(exc).__name__})"
            else:
                payload = self._json(response, path)
                if payload is None:
                    kind = "an HTML page" if "html" in response.headers.get("content-type", "") else "malformed JSON"
                    problem = f"answered {kind} with HTTP {response.status_code}"
                else:
                    rt_cd = str(payload.get("rt_cd", "0" if response.status_code == 200 else ""))
                    if rt_cd == "0" and response.status_code == 200:
                        return payload, response.headers.get("tr_cont", "")
                    msg_cd = str(payload.get("msg_cd") or payload.get("error_code") or "")
                    msg1 = str(payload.get("msg1") or payload.get("error_description") or "").strip()
                    if msg_cd == RATE_LIMITED and rate_limited < self._max_rate_limit_retries:
                        rate_limited += 1
                        self.stats["rate_limited"] += 1
                        # Another process spent the budget; back off briefly and take a new slot.
                        self._sleep(min(0.05 * 2**rate_limited, 2.0))
                        continue
                    if msg_cd in (TOKEN_EXPIRED, TOKEN_INVALID) and not token_refreshed:
                        token_refreshed = True
                        log.info("KIS token %s; refreshing once", "expired" if msg_cd == TOKEN_EXPIRED else "refused")
                        self.access_token(force_refresh=True)
                        continue
                    raise KisError(
                        SOURCE,
                        f"{path} tr_id={tr_id}: {msg1 or 'error'}",
                        code=msg_cd or None,
                        status=response.status_code,
                    )
            transport_failures += 1
            self.stats["retries"] += 1
            if transport_failures >= self._max_attempts:
                raise SourceTransportError(SOURCE, f"{path} tr_id={tr_id} {problem} ({transport_failures} attempts)")
            log.warning("KIS %s %s; retrying (%d/%d)", path, problem, transport_failures, self._max_attempts)
            self._sleep(min(0.5 * 2**transport_failures, 8.0))

    # ---- endpoints ---------------------------------------------------------------------------
    def daily_chart(self, code: str, start: date, end: date, *, adjusted: bool = True) -> DailyChart:
        """Daily bars for ``code`` in [start, end], oldest first, paging 100 rows at a time."""
        if not (len(code) == 6 and code.isdigit()):
            raise ValueError(f"stock code must be 6 digits, got {code!r}")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        bars: dict[date, DailyBarRow] = {}
        name: str | None = None
        cursor = end
        while cursor >= start:
            params = {
                "FID_COND_MRKT_DIV_CODE": "J",
                "FID_INPUT_ISCD": code,
                "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                "FID_INPUT_DATE_2": cursor.strftime("%Y%m%d"),
                "FID_PERIOD_DIV_CODE": "D",
                # For this TR 0 means adjusted (수정주가) and 1 raw (원주가).
                "FID_ORG_ADJ_PRC": "0" if adjusted else "1",
            }
            payload, _ = self.get(DAILY_CHART_PATH, TR_DAILY_CHART, params)
            output1 = payload.get("output1")
            rows = payload.get("output2")
            if not isinstance(rows, list):
                raise SourceDataError(SOURCE, f"daily chart for {code}: output2 is missing or not a list")
            if isinstance(output1, dict):
                name = (output1.get("hts_kor_isnm") or name or "").strip() or name
            page = self._parse_rows(code, rows)
            if not page:
                break
            for bar in page:
                if start <= bar.trading_date <= end:
                    bars[bar.trading_date] = bar
            oldest = min(bar.trading_date for bar in page)
            if len(rows) < DAILY_CHART_PAGE or oldest <= start:
                break
            cursor = oldest - timedelta(days=1)
        return DailyChart(code=code, name=name, adjusted=adjusted, bars=[bars[d] for d in sorted(bars)])

    @staticmethod
    def _parse_rows(code: str, rows: list[Any]) -> list[DailyBarRow]:
        parsed: list[DailyBarRow] = []
        problems: list[str] = []
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                problems.append(f"row {index} is not an object")
                continue
            # KIS pads some answers with an all-empty trailing row: it is not data.
            if not str(row.get("stck_bsop_date", "")).strip():
                continue
            try:
                parsed.append(DailyBarRow.from_wire(row))
            except (ValueError, ValidationError) as exc:
                reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                problems.append(f"{row.get('stck_bsop_date')}: {reason}")
        if problems:
            raise SourceDataError(
                SOURCE, f"daily chart for {code} has {len(problems)} bad row(s): " + "; ".join(problems[:5])
            )
        return parsed
