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

import logging
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from stock_insights import clock
from stock_insights.clients.base_url import leading_dirs, service_root
from stock_insights.clients.dates import parse_pub_date
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError
from stock_insights.clients.ratelimit import SlidingWindowLimiter
from stock_insights.clients.transport import (
    Call,
    Repeat,
    Retry,
    Transport,
    UpstreamClient,
    is_html,
    json_object,
)
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


class NaverPage(BaseModel):
    total: int
    start: int
    display: int
    raw_items: int
    items: list[NewsItem]


def parse_search_page(payload: Any, *, fetched_at: datetime, query: str, skips: SkipLog) -> NaverPage:
    """Typed items of one ``news.json`` answer. A bad envelope raises; a bad item is skipped and counted."""
    raw_items, total, start, display = _page_envelope(payload, query)
    items: list[NewsItem] = []
    for index, raw in enumerate(raw_items):
        item = _search_item(raw, f"{query!r} #{start + index}", fetched_at=fetched_at, query=query, skips=skips)
        if item is not None:
            items.append(item)
    return NaverPage(total=total, start=start, display=display, raw_items=len(raw_items), items=items)


def _page_envelope(payload: Any, query: str) -> tuple[list[Any], int, int, int]:
    """(items, total, start, display) of the answer. The envelope is checked whole because paging
    depends on ``total``/``start``: a page whose counters are unreadable cannot be trusted at all."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise SourceDataError(SOURCE, f"query {query!r}: answer has no 'items' list")
    try:
        total = int(payload.get("total", 0))
        start = int(payload.get("start", 1))
        display = int(payload.get("display", len(payload["items"])))
    except (TypeError, ValueError):
        raise SourceDataError(SOURCE, f"query {query!r}: total/start/display are not numbers") from None
    return payload["items"], total, start, display


class _ItemFields(NamedTuple):
    title: str
    link: str
    original: str
    published: datetime


def _item_fields(raw: Any, where: str, fetched_at: datetime, skips: SkipLog) -> _ItemFields | None:
    """The fields every stored item needs, or None (counted by reason in ``skips``) when one is
    missing or unusable, so one bad item costs only itself."""
    if not isinstance(raw, dict):
        skips.skip("not_an_object", where)
        return None
    title = html_text(raw.get("title") if isinstance(raw.get("title"), str) else None)
    if not meaningful(title):
        skips.skip("empty_title", where)
        return None
    link = str(raw.get("link") or "").strip()
    original = str(raw.get("originallink") or "").strip()
    if not link and not original:
        skips.skip("no_link", where)
        return None
    published = parse_pub_date(raw.get("pubDate") if isinstance(raw.get("pubDate"), str) else None)
    if published is None:
        skips.skip("no_date" if not raw.get("pubDate") else "bad_date", f"{where} {raw.get('pubDate')!r}")
        return None
    if is_future(published, fetched_at):
        skips.skip("future_dated", f"{where} {published.isoformat()}")
        return None
    return _ItemFields(title, link, original, published)


def _search_item(raw: Any, where: str, *, fetched_at: datetime, query: str, skips: SkipLog) -> NewsItem | None:
    """One item as a ``NewsItem``: the publisher's own URL (``originallink``) is the article's identity,
    Naver's link the source's. None (counted in ``skips``) when a field or the URL is unusable."""
    fields = _item_fields(raw, where, fetched_at, skips)
    if fields is None:
        return None
    title, link, original, published = fields
    description = raw.get("description") if isinstance(raw.get("description"), str) else None
    try:
        return NewsItem.build(
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
    except InvalidUrl as exc:
        skips.skip("bad_link", f"{where} {exc}")
    except (ValidationError, ValueError) as exc:
        skips.skip("invalid_item", f"{where} {exc}")
    return None


class NaverClient(UpstreamClient):
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
        self._max_rate_limit_retries = max_rate_limit_retries
        self._clock = clock
        limiter = SlidingWindowLimiter(requests_per_second, 1.0)
        self._transport = Transport(SOURCE, http=http, timeout=timeout, limiter=limiter, max_attempts=max_attempts,
                                    sleep=sleep, counters=["rate_limited"])

    # ---- one request -------------------------------------------------------------------------
    def _get(self, params: dict[str, str | int]) -> dict[str, Any]:
        headers = {
            self._id_header: self._client_id.get_secret_value(),
            self._secret_header: self._client_secret.get_secret_value(),
            "Accept": "application/json",
        }
        return self._transport.send(
            "GET", f"{self.base_url}{self.path}", what=self.path, classify=self._answer, params=params, headers=headers
        )

    def _answer(self, response: httpx.Response, call: Call) -> dict[str, Any] | Retry | Repeat:
        payload = json_object(response)
        if response.status_code == 200:
            return payload if payload is not None else Retry("answered malformed JSON with HTTP 200")
        if payload is not None and "errorCode" in payload:
            return self._error(response.status_code, payload, call)
        kind = "an HTML page" if is_html(response) else "no error body"
        return self._transport.refuse_or_retry(response, call, f"answered HTTP {response.status_code} with {kind}")

    def _error(self, status: int, payload: dict[str, Any], call: Call) -> Retry | Repeat:
        """Naver's ``{"errorCode", "errorMessage"}``: 429 012 is retried, 429 010 ends the day."""
        code = str(payload.get("errorCode") or "")
        message = str(payload.get("errorMessage") or "error")
        if status == 429 and code == DAILY_QUOTA:
            raise NaverQuotaExceeded(SOURCE, f"daily quota exceeded: {message}", code=code, status=status)
        if status == 429:
            rate_limited = call.tally("rate_limited")
            self._transport.count("rate_limited")
            if rate_limited > self._max_rate_limit_retries:
                raise SourceError(
                    SOURCE,
                    f"still rate limited after {rate_limited - 1} retries",
                    code=code,
                    status=status,
                    retryable=True,
                )
            # 012 is the per-second limit: a short exponential pause clears it.
            return Repeat(min(0.25 * 2**rate_limited, 4.0))
        if status in (401, 403):
            raise SourceAuthError(SOURCE, f"credentials refused: {message}", code=code, status=status)
        if status < 500:
            raise SourceError(SOURCE, f"request refused: {message}", code=code, status=status)
        return Retry(f"server error {code}: {message}")

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
