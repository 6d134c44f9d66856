"""Naver Search API (news) client.

Protocol facts this code relies on (../shared/reference/sources.md section 3, wire-samples/naver_*):
- ``GET {base}/v1/search/news.json?query=&display=&start=&sort=date`` with the client id and secret in
  ``X-Naver-Client-Id`` / ``X-Naver-Client-Secret``. NAVER API HUB (from 2027) serves the same answer
  under another path and other header names, so the path and both header names are parameters.
- ``display`` ≤ 100 and ``start`` ≤ 1000 (SE02/SE03 otherwise): at most ~1,000 newest items a query.
- Items: ``title`` and ``description`` with ``<b>`` around query terms and HTML entities;
  ``originallink`` (publisher URL, may be empty) and ``link`` (Naver's copy or the same URL);
  ``pubDate`` in RFC 822 with ``+0900``.
- Errors: JSON ``{"errorMessage", "errorCode"}``. 429 ``012`` is the per-second limit (back off and
  retry); 429 ``010`` is the daily quota (stop everything for the day: the batch is *partial*);
  401 ``024`` is an authentication failure; 400 ``SE01``-``SE06`` are bad parameters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from stock_insights import clock
from stock_insights.clients.base_url import leading_dirs, service_root
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError, SourceTransportError
from stock_insights.text.clean import html_text, meaningful
from stock_insights.text.items import NewsBatch, NewsItem, SkipLog, is_future
from stock_insights.text.urls import InvalidUrl, naver_article_id

log = logging.getLogger(__name__)

SOURCE = "Naver"
NEWS_PATH = "/v1/search/news.json"
ID_HEADER = "X-Naver-Client-Id"
SECRET_HEADER = "X-Naver-Client-Secret"
MAX_DISPLAY = 100
MAX_START = 1000
RATE_LIMITED = "012"
DAILY_QUOTA = "010"


class NaverQuotaExceeded(SourceError):
    """429 errorCode 010: the daily quota is spent; nothing more today."""


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``window`` seconds; bursts allowed up to the limit.

    Unlike even spacing this keeps small runs fast while honouring per-minute budgets such as
    Reddit's 100 requests a minute.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._times and self._times[0] <= now - self.window:
                    self._times.popleft()
                if len(self._times) < self.limit:
                    self._times.append(now)
                    return
                wait = self._times[0] + self.window - now
            self._sleep(max(wait, 0.001))


class NaverPage(BaseModel):
    total: int
    start: int
    display: int
    raw_items: int
    items: list[NewsItem]


def parse_pub_date(text: str | None) -> datetime | None:
    """RFC 822 dates, tz-aware UTC. ``+09:00`` (Maeil) is normalised first: Python parses it naive."""
    if not text or not text.strip():
        return None
    value = text.strip()
    if value.endswith(" KST"):
        value = value[:-4] + " +0900"
    if len(value) > 6 and value[-6] in "+-" and value[-3] == ":":
        value = value[:-3] + value[-2:]
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def parse_search_page(payload: Any, *, fetched_at: datetime, query: str, skips: SkipLog) -> NaverPage:
    """Typed items of one ``news.json`` answer. A bad envelope raises; a bad item is skipped and counted."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise SourceDataError(SOURCE, f"query {query!r}: answer has no 'items' list")
    try:
        total = int(payload.get("total", 0))
        start = int(payload.get("start", 1))
        display = int(payload.get("display", len(payload["items"])))
    except (TypeError, ValueError):
        raise SourceDataError(SOURCE, f"query {query!r}: total/start/display are not numbers") from None
    items: list[NewsItem] = []
    for index, raw in enumerate(payload["items"]):
        where = f"{query!r} #{start + index}"
        if not isinstance(raw, dict):
            skips.skip("not_an_object", where)
            continue
        title = html_text(raw.get("title") if isinstance(raw.get("title"), str) else None)
        if not meaningful(title):
            skips.skip("empty_title", where)
            continue
        link = str(raw.get("link") or "").strip()
        original = str(raw.get("originallink") or "").strip()
        if not link and not original:
            skips.skip("no_link", where)
            continue
        published = parse_pub_date(raw.get("pubDate") if isinstance(raw.get("pubDate"), str) else None)
        if published is None:
            skips.skip("no_date" if not raw.get("pubDate") else "bad_date", f"{where} {raw.get('pubDate')!r}")
            continue
        if is_future(published, fetched_at):
            skips.skip("future_dated", f"{where} {published.isoformat()}")
            continue
        description = raw.get("description") if isinstance(raw.get("description"), str) else None
        try:
            items.append(
                NewsItem.build(
                    source="naver",
                    url=original or link,
                    source_url=link or original,
                    source_item_id=naver_article_id(link) if link else None,
                    title=title,
                    summary=html_text(description) or None,
                    published_at=published,
                    fetched_at=fetched_at,
                    channel=query,
                )
            )
        except InvalidUrl as exc:
            skips.skip("bad_link", f"{where} {exc}")
        except (ValidationError, ValueError) as exc:
            skips.skip("invalid_item", f"{where} {exc}")
    return NaverPage(total=total, start=start, display=display, raw_items=len(payload["items"]), items=items)


class NaverClient:
    """News search over the Naver Search API. One instance per run; not shared across threads."""

    def __init__(
        self,
        base_url: str,
        client_id: SecretStr,
        client_secret: SecretStr,
        *,
        path: str = NEWS_PATH,
        id_header: str = ID_HEADER,
        secret_header: str = SECRET_HEADER,
        extra_params: dict[str, str] | None = None,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_rate_limit_retries: int = 6,
        requests_per_second: int = 9,  # Naver allows about 10; one spare absorbs clock jitter
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        if not client_id.get_secret_value() or not client_secret.get_secret_value():
            raise SourceAuthError(SOURCE, "NAVER_CLIENT_ID and NAVER_CLIENT_SECRET must both be set")
        # A base that already ends in the path's directories (https://openapi.naver.com/v1/) is accepted.
        self.base_url = service_root(base_url, *leading_dirs(path))
        self.path = path
        self._id_header = id_header
        self._secret_header = secret_header
        self._client_id = client_id
        self._client_secret = client_secret
        self._extra_params = dict(extra_params or {})
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._max_attempts = max_attempts
        self._max_rate_limit_retries = max_rate_limit_retries
        self._limiter = SlidingWindowLimiter(requests_per_second, 1.0)
        self._sleep = sleep
        self._clock = clock
        self.stats = {"requests": 0, "rate_limited": 0, "retries": 0}

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> NaverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one request -------------------------------------------------------------------------
    def _get(self, params: dict[str, str | int]) -> dict[str, Any]:
        headers = {
            self._id_header: self._client_id.get_secret_value(),
            self._secret_header: self._client_secret.get_secret_value(),
            "Accept": "application/json",
        }
        transport_failures = rate_limited = 0
        while True:
            self._limiter.acquire()
            self.stats["requests"] += 1
            try:
                response = self._http.get(f"{self.base_url}{self.path}", params=params, headers=headers)
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.HTTPError as exc:
                problem = f"request failed ({type(exc).__name__})"
            else:
                try:
                    payload = response.json()
                except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                    payload = None
                if response.status_code == 200:
                    if isinstance(payload, dict):
                        return payload
                    problem = "answered malformed JSON with HTTP 200"
                elif isinstance(payload, dict) and "errorCode" in payload:
                    code = str(payload.get("errorCode") or "")
                    message = str(payload.get("errorMessage") or "error")
                    status = response.status_code
                    if status == 429 and code == DAILY_QUOTA:
                        raise NaverQuotaExceeded(SOURCE, f"daily quota exceeded: {message}", code=code, status=status)
                    if status == 429:
                        rate_limited += 1
                        self.stats["rate_limited"] += 1
                        if rate_limited > self._max_rate_limit_retries:
                            raise SourceError(
                                SOURCE, f"still rate limited after {rate_limited - 1} retries", code=code, status=status
                            )
                        # 012 is the per-second limit: a short exponential pause clears it.
                        self._sleep(min(0.25 * 2**rate_limited, 4.0))
                        continue
                    if status in (401, 403):
                        raise SourceAuthError(SOURCE, f"credentials refused: {message}", code=code, status=status)
                    if status < 500:
                        raise SourceError(SOURCE, f"request refused: {message}", code=code, status=status)
                    problem = f"server error {code}: {message}"
                else:
                    kind = "an HTML page" if "html" in response.headers.get("content-type", "") else "no error body"
                    problem = f"answered HTTP {response.status_code} with {kind}"
                    if response.status_code in (401, 403):
                        raise SourceAuthError(SOURCE, problem, status=response.status_code)
                    if 400 <= response.status_code < 500 and response.status_code != 429:
                        raise SourceError(SOURCE, problem, status=response.status_code)
            transport_failures += 1
            self.stats["retries"] += 1
            if transport_failures >= self._max_attempts:
                raise SourceTransportError(SOURCE, f"{self.path} {problem} ({transport_failures} attempts)")
            log.warning("Naver %s; retrying (%d/%d)", problem, transport_failures, self._max_attempts)
            self._sleep(min(0.5 * 2**transport_failures, 8.0))

    def search_page(
        self,
        query: str,
        *,
        start: int = 1,
        display: int = MAX_DISPLAY,
        sort: str = "date",
        skips: SkipLog | None = None,
    ) -> NaverPage:
        if not 1 <= display <= MAX_DISPLAY:
            raise ValueError(f"display must be 1..{MAX_DISPLAY}, got {display}")
        if not 1 <= start <= MAX_START:
            raise ValueError(f"start must be 1..{MAX_START}, got {start}")
        params: dict[str, str | int] = {
            "query": query,
            "display": display,
            "start": start,
            "sort": sort,
            **self._extra_params,
        }
        payload = self._get(params)
        return parse_search_page(payload, fetched_at=self._clock(), query=query, skips=skips or SkipLog())

    # ---- a run ---------------------------------------------------------------------------------
    def search_news(
        self,
        queries: Sequence[str],
        *,
        known_urls: Collection[str] = (),
        since: datetime | None = None,
        max_items_per_query: int = MAX_START,
        display: int = MAX_DISPLAY,
    ) -> NewsBatch:
        """Newest items of each query, paging until an item we already have (``known_urls`` holds
        canonical URLs), an item older than ``since``, the last page or Naver's 1,000-item ceiling.

        A daily-quota answer (010) ends the run cleanly with ``status="partial"`` and everything
        fetched so far; an authentication failure raises; any other failure of one query is recorded
        in ``errors`` and the other queries go on (all of them failing raises).
        """
        batch = NewsBatch(source="naver")
        skips = SkipLog()
        failures: list[SourceError] = []
        unique = list(dict.fromkeys(q.strip() for q in queries if q.strip()))
        for query in unique:
            start = 1
            collected = 0
            try:
                while True:
                    page = self.search_page(query, start=start, display=display, skips=skips)
                    reached_known = reached_old = False
                    for item in page.items:
                        if item.canonical_url in known_urls:
                            reached_known = True
                            continue
                        if since is not None and item.published_at < since:
                            reached_old = True
                            continue
                        batch.items.append(item)
                        collected += 1
                    start += display
                    if (
                        reached_known
                        or reached_old
                        or page.raw_items < display
                        or start > min(MAX_START, page.total)
                        or collected >= max_items_per_query
                    ):
                        break
            except NaverQuotaExceeded as exc:
                batch.status = "partial"
                batch.message = f"daily quota (010) reached at query {query!r}; later queries not run: {exc}"
                log.warning("Naver daily quota reached; stopping the run as partial")
                break
            except SourceAuthError:
                raise
            except SourceError as exc:
                failures.append(exc)
                batch.errors.append(f"{query}: {exc}")
                log.warning("Naver query %r failed: %s", query, exc)
        batch.requests = self.stats["requests"]
        batch.absorb(skips)
        if unique and len(failures) == len(unique):
            raise failures[-1]
        return batch
