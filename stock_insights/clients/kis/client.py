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
import logging
import math
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import httpx
from pydantic import SecretStr, ValidationError

from stock_insights import clock
from stock_insights.clients.base_url import service_root
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError
from stock_insights.clients.kis.rows import (
    DailyBarRow,
    DailyChart,
    FinancialRow,
    IndexBarRow,
    MinuteBarRow,
    OrderBook,
    Statement,
    parse_rows,
)
from stock_insights.clients.ratelimit import LocalWindowLimiter, RateLimiter, WindowLimiter
from stock_insights.clients.transport import (
    Backoff,
    Call,
    Repeat,
    Retry,
    Transport,
    UpstreamClient,
    is_html,
    json_object,
)
from stock_insights.clock import KST

log = logging.getLogger(__name__)

SOURCE = "KIS"
QUOTATIONS = "/uapi/domestic-stock/v1/quotations"
DAILY_CHART_PATH = f"{QUOTATIONS}/inquire-daily-itemchartprice"
TR_DAILY_CHART = "FHKST03010100"
DAILY_CHART_PAGE = 100
INDEX_CHART_PATH = f"{QUOTATIONS}/inquire-daily-indexchartprice"
TR_INDEX_CHART = "FHKUP03500100"
INDEX_CHART_PAGE = 50
MINUTE_CHART_PATH = f"{QUOTATIONS}/inquire-time-itemchartprice"
TR_MINUTE_CHART = "FHKST03010200"
MINUTE_CHART_PAGE = 30
PAST_MINUTE_CHART_PATH = f"{QUOTATIONS}/inquire-time-dailychartprice"
TR_PAST_MINUTE_CHART = "FHKST03010230"
PAST_MINUTE_CHART_PAGE = 120
ORDERBOOK_PATH = f"{QUOTATIONS}/inquire-asking-price-exp-ccn"
TR_ORDERBOOK = "FHKST01010200"
FINANCE_PATHS: dict[Statement, tuple[str, str]] = {
    "BS": ("/uapi/domestic-stock/v1/finance/balance-sheet", "FHKST66430100"),
    "IS": ("/uapi/domestic-stock/v1/finance/income-statement", "FHKST66430200"),
    "RATIO": ("/uapi/domestic-stock/v1/finance/financial-ratio", "FHKST66430300"),
}
# KIS index codes: 0001 is KOSPI, 1001 KOSDAQ (not the other way round).
INDEX_CODES = {"KOSPI": "0001", "KOSDAQ": "1001"}
MORE_PAGES = ("M", "F")
MAX_PAGES = 1000
SESSION_OPEN = time(9, 0)

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
# Client
# --------------------------------------------------------------------------------------------
def _kst_wall_clock(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST).astimezone(UTC)


class KisClient(UpstreamClient):
    """Synchronous KIS client. Thread-safe for concurrent calls that share one instance."""

    def __init__(
        self,
        base_url: str,
        app_key: SecretStr,
        app_secret: SecretStr,
        *,
        token_store: TokenStore | None = None,
        limiter: WindowLimiter | RateLimiter | None = None,
        rate_limit_per_sec: float = 20.0,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_rate_limit_retries: int = 20,
        customer_type: str = "P",
        sleep: Callable[[float], None] = _time.sleep,
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        if not app_key.get_secret_value() or not app_secret.get_secret_value():
            raise SourceAuthError(SOURCE, "KIS_APP_KEY and KIS_APP_SECRET must both be set")
        self.base_url = service_root(base_url, "uapi")
        self._app_key = app_key
        self._app_secret = app_secret
        self._tokens = token_store or MemoryTokenStore()
        self._max_rate_limit_retries = max_rate_limit_retries
        self._customer_type = customer_type
        self._sleep = sleep
        self._clock = clock
        self._token_lock = threading.Lock()
        self._token: CachedToken | None = None
        self.fingerprint = self.key_fingerprint(self.base_url, app_key)
        # A guard against an upstream whose tr_cont or cursor never ends.
        self.max_pages = MAX_PAGES
        # A window limiter: a request counts against the budget from its sending until a window after its answer.
        limiter = limiter or LocalWindowLimiter(max(1, math.floor(rate_limit_per_sec)))
        # Callers fetch from several threads (KIS_FETCH_CONCURRENCY): the transport counts under a lock.
        self._transport = Transport(SOURCE, http=http, timeout=timeout, limiter=limiter, max_attempts=max_attempts,
                                    sleep=sleep, counters=["rate_limited", "token_issued"])
        # Token issuance: outside the quotation budget and its counters, slower backoff (one a minute at most).
        self._token_transport = Transport(
            SOURCE, http=self._transport.http, max_attempts=max_attempts, backoff=Backoff(1.0, 10.0), sleep=sleep
        )

    @staticmethod
    def key_fingerprint(base_url: str, app_key: SecretStr) -> str:
        """Names an app key (and domain) in caches and budgets without revealing it."""
        material = f"{service_root(base_url, 'uapi')}|{app_key.get_secret_value()}"
        return hashlib.sha256(material.encode()).hexdigest()[:32]

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
        return self._token_transport.send(
            "POST",
            f"{self.base_url}/oauth2/tokenP",
            what="/oauth2/tokenP",
            classify=self._token_answer,
            json=body,
            headers={"content-type": "application/json"},
        )

    def _token_answer(self, response: httpx.Response, call: Call) -> CachedToken | Retry:
        payload = json_object(response)
        if payload is None:
            return Retry(f"answered a body that is not JSON with HTTP {response.status_code}")
        if response.status_code == 200 and payload.get("access_token"):
            self._transport.count("token_issued")
            return self._parse_token(payload)
        code = str(payload.get("error_code") or payload.get("msg_cd") or "")
        if code != TOKEN_THROTTLED:
            raise SourceAuthError(
                SOURCE,
                f"token refused: {payload.get('error_description') or payload.get('msg1')}",
                code=code or None,
                status=response.status_code,
            )
        # Another process issued one within the minute: it lands in the shared store as soon as
        # that process has its answer, usually within moments of ours.
        shared = self._await_shared_token()
        if shared is not None:
            return shared
        if call.last:
            raise KisError(
                SOURCE,
                "token issuance throttled (one a minute) and no shared token",
                code=code,
                status=response.status_code,
                retryable=True,
            )
        return Retry("token issuance throttled (EGW00133); waiting for the one-minute window", wait=61.0)

    def _await_shared_token(self, seconds: float = 5.0, step: float = 0.25) -> CachedToken | None:
        for _ in range(int(seconds / step) + 1):
            stored = self._tokens.load("kis", self.fingerprint)
            if self._usable(stored) and stored != self._token:
                return stored
            self._sleep(step)
        return None

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
        return self._transport.send(
            "GET",
            f"{self.base_url}{path}",
            what=f"{path} tr_id={tr_id}",
            classify=self._answer,
            prepare=lambda: {"headers": self._headers(tr_id, tr_cont)},
            params=params,
        )

    def _answer(self, response: httpx.Response, call: Call) -> tuple[dict[str, Any], str] | Retry | Repeat:
        """Gateway errors come as HTTP 500 with the JSON envelope: the body decides, whatever the status."""
        payload = json_object(response)
        if payload is None:
            kind = "an HTML page" if is_html(response) else "malformed JSON"
            return Retry(f"answered {kind} with HTTP {response.status_code}")
        rt_cd = str(payload.get("rt_cd", "0" if response.status_code == 200 else ""))
        if rt_cd == "0" and response.status_code == 200:
            return payload, response.headers.get("tr_cont", "")
        msg_cd = str(payload.get("msg_cd") or payload.get("error_code") or "")
        msg1 = str(payload.get("msg1") or payload.get("error_description") or "").strip()
        if msg_cd == RATE_LIMITED and call.counts["rate_limited"] < self._max_rate_limit_retries:
            self._transport.count("rate_limited")
            # Another process spent the budget; back off briefly and take a new slot.
            return Repeat(min(0.05 * 2 ** call.tally("rate_limited"), 2.0))
        if msg_cd in (TOKEN_EXPIRED, TOKEN_INVALID) and not call.counts["token_refreshed"]:
            call.tally("token_refreshed")
            log.info("KIS token %s; refreshing once", "expired" if msg_cd == TOKEN_EXPIRED else "refused")
            self.access_token(force_refresh=True)
            return Repeat()
        raise KisError(
            SOURCE,
            f"{call.what}: {msg1 or 'error'}",
            code=msg_cd or None,
            status=response.status_code,
            retryable=msg_cd == RATE_LIMITED,
        )

    # ---- endpoints ---------------------------------------------------------------------------
    @staticmethod
    def _check_code(code: str) -> None:
        if not (len(code) == 6 and code.isdigit()):
            raise ValueError(f"stock code must be 6 digits, got {code!r}")

    def _period_chart(
        self,
        what: str,
        path: str,
        tr_id: str,
        params: dict[str, str],
        start: date,
        end: date,
        parse: Callable[[dict[str, Any]], Any],
        page_size: int,
    ) -> tuple[dict[str, Any], list[Any]]:
        """Walk a period chart back from ``end`` by moving FID_INPUT_DATE_2 before the oldest row.

        A short page (fewer than ``page_size`` rows: 100 for stocks, 50 for indices) is the last one.
        """
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        rows: dict[date, Any] = {}
        output1: dict[str, Any] = {}
        cursor = end
        for _ in range(self.max_pages):
            if cursor < start:
                break
            page_params = {
                **params,
                "FID_INPUT_DATE_1": start.strftime("%Y%m%d"),
                "FID_INPUT_DATE_2": cursor.strftime("%Y%m%d"),
                "FID_PERIOD_DIV_CODE": "D",
            }
            payload, _ = self.get(path, tr_id, page_params)
            if isinstance(payload.get("output1"), dict):
                output1 = payload["output1"]
            raw = payload.get("output2")
            page = parse_rows(raw, parse, what)
            if not page:
                break
            for row in page:
                if start <= row.trading_date <= end:
                    rows[row.trading_date] = row
            oldest = min(row.trading_date for row in page)
            if len(page) < page_size or oldest <= start:
                break
            cursor = oldest - timedelta(days=1)
        return output1, [rows[d] for d in sorted(rows)]

    def daily_chart(self, code: str, start: date, end: date, *, adjusted: bool = True) -> DailyChart:
        """Daily bars for ``code`` in [start, end], oldest first, paging 100 rows at a time."""
        self._check_code(code)
        # For this TR 0 means adjusted (수정주가) and 1 raw (원주가).
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code, "FID_ORG_ADJ_PRC": "0" if adjusted else "1"}
        output1, bars = self._period_chart(
            f"daily chart for {code}",
            DAILY_CHART_PATH,
            TR_DAILY_CHART,
            params,
            start,
            end,
            DailyBarRow.from_wire,
            DAILY_CHART_PAGE,
        )
        name = str(output1.get("hts_kor_isnm") or "").strip() or None
        return DailyChart(code=code, name=name, adjusted=adjusted, bars=bars)

    def index_chart(self, index_code: str, start: date, end: date) -> list[IndexBarRow]:
        """Daily bars of a KIS index (0001 KOSPI, 1001 KOSDAQ) in [start, end], oldest first."""
        if not (len(index_code) == 4 and index_code.isdigit()):
            raise ValueError(f"index code must be 4 digits (0001 KOSPI, 1001 KOSDAQ), got {index_code!r}")
        params = {"FID_COND_MRKT_DIV_CODE": "U", "FID_INPUT_ISCD": index_code}
        _, bars = self._period_chart(
            f"index chart for {index_code}",
            INDEX_CHART_PATH,
            TR_INDEX_CHART,
            params,
            start,
            end,
            IndexBarRow.from_wire,
            INDEX_CHART_PAGE,
        )
        return bars

    def _minute_pages(
        self, what: str, path: str, tr_id: str, params: dict[str, str], page_size: int, until: time, since: time
    ) -> list[MinuteBarRow]:
        """Walk a minute chart back from ``until`` to ``since`` (inclusive) by moving FID_INPUT_HOUR_1."""
        bars: dict[datetime, MinuteBarRow] = {}
        cursor = until
        for _ in range(self.max_pages):
            payload, _ = self.get(path, tr_id, {**params, "FID_INPUT_HOUR_1": cursor.strftime("%H%M%S")})
            page = parse_rows(payload.get("output2"), MinuteBarRow.from_wire, what)
            if not page:
                break
            for bar in page:
                bars[bar.bar_time] = bar
            oldest = min(bar.bar_time for bar in page).astimezone(KST)
            if len(page) < page_size or oldest.time() <= since:
                break
            previous = oldest - timedelta(minutes=1)
            if previous.date() != oldest.date():
                break
            cursor = previous.time()
        kept = [bars[t] for t in sorted(bars) if bars[t].bar_time.astimezone(KST).time() >= since]
        return kept

    def minute_chart_today(
        self, code: str, *, since: time = SESSION_OPEN, until: time = time(15, 30)
    ) -> list[MinuteBarRow]:
        """Today's one-minute bars from ``since`` to ``until`` (KST), oldest first.

        ``since`` lets a schedule fetch only what is new: it stops paging at the last bar it has.
        """
        self._check_code(code)
        params = {
            "FID_ETC_CLS_CODE": "",
            "FID_COND_MRKT_DIV_CODE": "J",
            "FID_INPUT_ISCD": code,
            "FID_PW_DATA_INCU_YN": "N",
        }
        return self._minute_pages(
            f"minute chart for {code}", MINUTE_CHART_PATH, TR_MINUTE_CHART, params, MINUTE_CHART_PAGE, until, since
        )

    def minute_chart_day(
        self, code: str, day: date, *, since: time = SESSION_OPEN, until: time = time(15, 30)
    ) -> list[MinuteBarRow]:
        """A past session's one-minute bars (FHKST03010230; real accounts only, about a year kept)."""
        self._check_code(code)
        params = {
            "FID_COND_MRKT_DIV_CODE": "J",
            "FID_INPUT_ISCD": code,
            "FID_INPUT_DATE_1": day.strftime("%Y%m%d"),
            "FID_PW_DATA_INCU_YN": "N",
            "FID_FAKE_TICK_INCU_YN": "",
        }
        bars = self._minute_pages(
            f"minute chart for {code} on {day}",
            PAST_MINUTE_CHART_PATH,
            TR_PAST_MINUTE_CHART,
            params,
            PAST_MINUTE_CHART_PAGE,
            until,
            since,
        )
        return [bar for bar in bars if bar.trading_date == day]

    def orderbook(self, code: str, *, day: date | None = None) -> OrderBook:
        """The current ten-level book. ``day`` is the KST date the book's HHMMSS stamp belongs to."""
        self._check_code(code)
        payload, _ = self.get(ORDERBOOK_PATH, TR_ORDERBOOK, {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code})
        output1 = payload.get("output1")
        if not isinstance(output1, dict):
            raise SourceDataError(SOURCE, f"order book for {code}: output1 is missing or not an object")
        try:
            return OrderBook.from_wire(code, day or self._clock().astimezone(KST).date(), output1)
        except (ValueError, ValidationError) as exc:
            reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise SourceDataError(SOURCE, f"order book for {code}: {reason}") from None

    def financials(self, code: str, statement: Statement, *, quarterly: bool = True) -> list[FinancialRow]:
        """Every period KIS has for one statement, following ``tr_cont`` pages; newest first as sent."""
        self._check_code(code)
        path, tr_id = FINANCE_PATHS[statement]
        params = {"FID_DIV_CLS_CODE": "1" if quarterly else "0", "fid_cond_mrkt_div_code": "J", "fid_input_iscd": code}
        rows: list[FinancialRow] = []
        tr_cont = ""
        for _ in range(self.max_pages):
            payload, more = self.get(path, tr_id, params, tr_cont=tr_cont)
            output = payload.get("output")
            if isinstance(output, dict):  # some answers carry a single object, not a list
                output = [output]
            rows.extend(
                parse_rows(
                    output,
                    lambda r: FinancialRow.from_wire(statement, r),
                    f"{statement} statement for {code}",
                    key="stac_yymm",
                )
            )
            if more not in MORE_PAGES:
                break
            tr_cont = "N"
        else:
            raise SourceDataError(
                SOURCE, f"{statement} statement for {code}: more than {self.max_pages} pages (tr_cont never ended)"
            )
        unique = {row.period: row for row in rows}
        return [unique[p] for p in sorted(unique, reverse=True)]
