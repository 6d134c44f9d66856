"""Naver Search API (news) in the sandbox: ``GET /v1/search/news.json``.

Wire format as captured (wire-samples/naver_news_search.json, sources.md section 3): a JSON body
indented with newline + TAB, no space after ``:``, ``/`` escaped as ``\\/``, Korean unescaped; items
with ``title``, ``originallink``, ``link``, ``description``, ``pubDate`` in that order; ``<b>`` around
the query in title and description and HTML entities (``&quot;``, ``&amp;``, ``&lt;``) in the text.

Behaviour
    * Auth: ``X-Naver-Client-Id`` and ``X-Naver-Client-Secret`` are required (any non-empty pair, or
      exactly ``NaverConfig.credentials``); otherwise 401 with the captured ``024`` body.
    * ``query`` required (SE01), ``display`` 1..100 (SE02), ``start`` 1..1000 (SE03), ``sort`` sim|date
      (SE04). Matches are the newsroom's stories whose headline or text contains the query, published
      before the sandbox clock and within ``history_days``; newest first. Re-deliveries put a story
      on the list twice (see ``newsroom``).
    * Limits: more than ``per_second`` requests in a second → 429 ``012``; more than ``daily_quota``
      requests a day (per client id) → 429 ``010``.
    * Faults (``POST /_sandbox/faults`` with ``path_contains`` ``/v1/search/news``): ``rate_limit`` (012),
      ``daily_quota`` (010), ``auth_failure`` (401 024), ``malformed_json`` (truncated body),
      ``html_error`` (an HTML 502 page), ``bad_items`` (items with no date, an empty or entity-only
      title, no link, a future date, prepended to the page), ``delay``.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from stock_insights.sandbox.kis import FaultQueue
from stock_insights.sandbox.market import KST, kst_now
from stock_insights.sandbox.newsroom import NAVER_OID, Newsroom, Story

logger = logging.getLogger(__name__)

NEWS_PATH = "/v1/search/news.json"
JSON_CONTENT_TYPE = "application/json;charset=utf-8"
NAVER_FAULT_KINDS = frozenset(
    {"rate_limit", "daily_quota", "auth_failure", "malformed_json", "html_error", "bad_items", "delay"}
)
ERRORS = {
    "024": (401, "Scope Status Invalid : Authentication failed. (인증에 실패했습니다.)"),
    "012": (429, "Rate limit exceeded. (속도 제한을 초과했습니다.)"),
    "010": (429, "Query limit exceeded."),
    "SE01": (400, "Incorrect query request (잘못된 쿼리요청입니다.)"),
    "SE02": (400, "Invalid display value (부적절한 display 값입니다.)"),
    "SE03": (400, "Invalid start value (부적절한 start 값입니다.)"),
    "SE04": (400, "Invalid sort value (부적절한 sort 값입니다.)"),
}
_HTML_502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>" \
            "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"


@dataclass(frozen=True)
class NaverConfig:
    per_second: int = 10
    daily_quota: int = 25_000
    history_days: int = 90
    # client id -> secret; None accepts any non-empty pair.
    credentials: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Listed:
    """One entry of a result list: a story as Naver delivered it (maybe a re-delivery)."""

    story: Story
    pub: datetime  # Naver's pubDate (KST)


def rfc822(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%a, %d %b %Y %H:%M:%S +0900")


def naver_json(body: Any) -> str:
    """Naver's layout: TAB indentation, no space after ':', '/' escaped, Korean as is."""
    text = json.dumps(body, ensure_ascii=False, indent="\t", separators=(",", ":"))
    # A slash only ever appears inside JSON strings, so escaping every one is safe.
    return text.replace("/", "\\/")


def _highlight(text: str, query: str) -> str:
    """HTML-escape the text and wrap each occurrence of the query in <b>...</b>."""
    if not query:
        return html.escape(text, quote=True)
    parts = re.split(f"({re.escape(query)})", text, flags=re.IGNORECASE)
    return "".join(
        f"<b>{html.escape(p, quote=True)}</b>" if i % 2 else html.escape(p, quote=True) for i, p in enumerate(parts)
    )


def story_item(entry: Listed, query: str) -> dict[str, str]:
    story = entry.story
    original = story.url
    if story.naver_tracking:
        original += ("&" if "?" in original else "?") + "utm_source=naver&utm_medium=search&utm_campaign=news"
    oid = NAVER_OID.get(story.publisher, "001")
    link = f"https://n.news.naver.com/mnews/article/{oid}/{story.naver_aid:010d}?sid=101" if story.naver_hosted \
        else original
    description = story.body if len(story.body) <= 90 else story.body[:87] + "..."
    return {
        "title": _highlight(story.title, query),
        "originallink": original,
        "link": link,
        "description": _highlight(description, query) + " ",
        "pubDate": rfc822(entry.pub),
    }


class NaverSandbox:
    def __init__(self, newsroom: Newsroom, *, now: Callable[[], datetime] | None = None,
                 config: NaverConfig | None = None, faults: FaultQueue | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.newsroom = newsroom
        self._now = now or kst_now
        self.config = config or NaverConfig()
        self.faults = faults or FaultQueue()
        self.faults.allow(NAVER_FAULT_KINDS)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._daily: Counter[tuple[str, date]] = Counter()
        self.counters: Counter[str] = Counter()

    def now(self) -> datetime:
        moment = self._now()
        return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment.astimezone(KST)

    # --- checks -------------------------------------------------------------------------------
    def authorize(self, request: Request) -> str | None:
        """The client id, or None when the credentials are missing or wrong."""
        client_id = request.headers.get("x-naver-client-id", "")
        secret = request.headers.get("x-naver-client-secret", "")
        if not client_id or not secret:
            return None
        creds = self.config.credentials
        if creds is not None and creds.get(client_id) != secret:
            return None
        return client_id

    def admit(self, client_id: str) -> str | None:
        """None when within the limits, else the error code (012 per second, 010 per day)."""
        t = self._monotonic()
        today = self.now().date()
        with self._lock:
            if self._daily[(client_id, today)] >= self.config.daily_quota:
                return "010"
            window = self._windows[client_id]
            while window and window[0] <= t - 1.0:
                window.popleft()
            if len(window) >= self.config.per_second:
                return "012"
            window.append(t)
            self._daily[(client_id, today)] += 1
        return None

    # --- search -------------------------------------------------------------------------------
    def matches(self, query: str, moment: datetime) -> list[Listed]:
        needle = query.casefold()
        out: list[Listed] = []
        today = moment.date()
        for offset in range(self.config.history_days + 1):
            day = today - timedelta(days=offset)
            for story in self.newsroom.stories(day):
                if needle not in story.title.casefold() and needle not in story.body.casefold():
                    continue
                pub = story.published_at + timedelta(minutes=story.naver_delay_minutes)
                if pub <= moment:
                    out.append(Listed(story, pub))
                if story.redelivered_minutes is not None:
                    again = pub + timedelta(minutes=story.redelivered_minutes)
                    if again <= moment:
                        out.append(Listed(story, again))
        out.sort(key=lambda e: (e.pub, e.story.story_id), reverse=True)
        return out

    def search(self, params: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        query = params.get("query", "").strip()
        if not query:
            return self.error("SE01")
        try:
            display = int(params.get("display", "10"))
            start = int(params.get("start", "1"))
        except ValueError:
            return self.error("SE02")
        if not 1 <= display <= 100:
            return self.error("SE02")
        if not 1 <= start <= 1000:
            return self.error("SE03")
        sort = params.get("sort", "sim")
        if sort not in ("sim", "date"):
            return self.error("SE04")
        moment = self.now()
        found = self.matches(query, moment)
        page = found[start - 1 : start - 1 + display]
        return 200, {
            "lastBuildDate": rfc822(moment),
            "total": len(found),
            "start": start,
            "display": len(page),
            "items": [story_item(entry, query) for entry in page],
        }

    @staticmethod
    def error(code: str) -> tuple[int, dict[str, Any]]:
        status, message = ERRORS[code]
        return status, {"errorMessage": message, "errorCode": code}

    def bad_items(self, query: str) -> list[dict[str, str]]:
        """Items a client must skip (and count), one of each kind."""
        moment = self.now()
        base = {"originallink": "https://www.example-news.co.kr/news/articleView.html?idxno=1",
                "link": "https://www.example-news.co.kr/news/articleView.html?idxno=1",
                "description": "", "pubDate": rfc822(moment - timedelta(minutes=1))}
        return [
            {**base, "title": f"{query} 날짜 없는 기사", "pubDate": ""},
            {**base, "title": "<b></b>"},
            {**base, "title": "&quot;&quot; &nbsp;"},  # entities only: no letter once unescaped
            {**base, "title": f"{query} 링크 없는 기사", "originallink": "", "link": ""},
            {**base, "title": f"{query} 미래 기사", "pubDate": rfc822(moment + timedelta(days=2))},
            {**base, "title": f"{query} 깨진 링크", "originallink": "javascript:void(0)", "link": "not a url"},
        ]


def _response(status: int, body: Any) -> Response:
    if "errorCode" in body:
        # Error bodies are one compact line in every capture (wire-samples/naver_4*.json).
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return Response(content=text, status_code=status, media_type=JSON_CONTENT_TYPE)
    return Response(content=naver_json(body), status_code=status, media_type=JSON_CONTENT_TYPE)


def build_naver_router(sandbox: NaverSandbox) -> APIRouter:
    router = APIRouter()

    @router.get(NEWS_PATH, summary="Naver 뉴스 검색 (news.json)")
    async def news(request: Request) -> Response:
        sandbox.counters["requests"] += 1
        fault = sandbox.faults.take(request.url.path)
        if fault is not None:
            sandbox.counters[f"fault_{fault.kind}"] += 1
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
                fault = None
            elif fault.kind == "html_error":
                return Response(content=_HTML_502, status_code=502, media_type="text/html")
            elif fault.kind == "rate_limit":
                return _response(*sandbox.error("012"))
            elif fault.kind == "daily_quota":
                return _response(*sandbox.error("010"))
            elif fault.kind == "auth_failure":
                return _response(*sandbox.error("024"))
        client_id = sandbox.authorize(request)
        if client_id is None:
            sandbox.counters["auth_failures"] += 1
            return _response(*sandbox.error("024"))
        limited = sandbox.admit(client_id)
        if limited is not None:
            sandbox.counters[f"error_{limited}"] += 1
            return _response(*sandbox.error(limited))
        params = dict(request.query_params)
        status, body = await asyncio.to_thread(sandbox.search, params)
        if fault is not None and fault.kind == "malformed_json":
            text = naver_json(body)
            return Response(content=text[: max(1, len(text) // 2)], status_code=200, media_type=JSON_CONTENT_TYPE)
        if fault is not None and fault.kind == "bad_items" and status == 200:
            body["items"] = sandbox.bad_items(params.get("query", "")) + body["items"]
            body["display"] = len(body["items"])
        return _response(status, body)

    @router.get("/_sandbox/naver/stats", summary="Naver sandbox counters")
    async def stats() -> dict[str, int]:
        return dict(sandbox.counters)

    return router
