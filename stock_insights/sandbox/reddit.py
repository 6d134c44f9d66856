"""Reddit's application-only OAuth and ``/r/<sub>/new`` listings in the sandbox.

* ``POST /api/v1/access_token``: HTTP Basic ``client_id:client_secret`` (any non-empty pair, or
  exactly ``RedditConfig.credentials``) and ``grant_type=client_credentials`` →
  ``{"access_token": ..., "token_type": "bearer", "expires_in": 86400, "scope": "*"}``; bad
  credentials → 401 ``{"message": "Unauthorized", "error": 401}``.
* ``GET /r/<sub>/new`` (and ``/new.json``) with ``Authorization: bearer <token>``: a Listing, newest
  first, ``limit`` ≤ 100, paged by ``after`` (a fullname), ``after`` null on the last page or at the
  1,000-item cap. JSON with Python-style ``", "``/``": "`` spacing as captured (sources.md 5.3).
  Without ``raw_json=1``, ``&``, ``<`` and ``>`` in text fields come HTML-escaped, as Reddit's legacy
  default does.
* No token, an unknown token, or a User-Agent not of the form ``<platform>:<app ID>:<version>
  (by /u/<name>)`` → 403 with the HTML "whoa there, pardner!" block page.
* Budget: ``per_minute`` requests per client id and fixed 60-second window; every answer carries
  ``X-Ratelimit-Used``, ``X-Ratelimit-Remaining`` and ``X-Ratelimit-Reset``; over budget → 429.
* Faults (``path_contains`` ``/r/`` or ``access_token``): ``rate_limit`` (a 429 whose reset is the
  fault's ``seconds``), ``malformed_json``, ``html_error`` (the 403 block page), ``server_error`` (500),
  ``bad_items`` (a post without ``created_utc``, a deleted one, an empty title), ``delay``.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response

from stock_insights.sandbox.kis import FaultQueue
from stock_insights.sandbox.market import KST, kst_now
from stock_insights.sandbox.newsroom import SUBREDDITS, Newsroom, RedditPost

TOKEN_PATH = "/api/v1/access_token"
REDDIT_FAULT_KINDS = frozenset({"rate_limit", "malformed_json", "html_error", "server_error", "bad_items", "delay"})
USER_AGENT_FORMAT = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+ \(by /u/[A-Za-z0-9_-]+\)$")
LISTING_CAP = 1000
BLOCK_PAGE = (
    "<!doctype html><html><head><title>Blocked</title></head><body>"
    "<h1>whoa there, pardner!</h1><p>Your request has been blocked due to a network policy.</p>"
    "<p>Try logging in or creating an account here to get back to browsing.</p></body></html>"
)


@dataclass(frozen=True)
class RedditConfig:
    per_minute: int = 100
    history_days: int = 60
    credentials: Mapping[str, str] | None = None  # client id -> secret; None accepts any pair


@dataclass
class _Token:
    client_id: str
    expires: float


def _post_data(post: RedditPost, raw_json: bool) -> dict[str, Any]:
    def text(value: str) -> str:
        return value if raw_json else html.escape(value, quote=False)

    permalink = f"/r/{post.subreddit}/comments/{post.post_id}/{re.sub(r'[^a-z0-9]+', '_', post.title.lower())[:50]}/"
    created = post.created.timestamp()
    return {
        "approved_at_utc": None,
        "subreddit": post.subreddit,
        "selftext": text(post.selftext),
        "author_fullname": f"t2_{post.author[-4:]}",
        "title": text(post.title),
        "subreddit_name_prefixed": f"r/{post.subreddit}",
        "name": post.fullname,
        "upvote_ratio": 0.9,
        "ups": 3,
        "score": 3,
        "domain": "self." + post.subreddit if post.url is None else post.url.split("/")[2],
        "is_self": post.url is None,
        "created": created,
        "removed_by_category": None,
        "id": post.post_id,
        "author": post.author,
        "num_comments": 2,
        "permalink": permalink,
        "stickied": False,
        "url": post.url or f"https://www.reddit.com{permalink}",
        "created_utc": created,
        "over_18": False,
    }


class RedditSandbox:
    def __init__(self, newsroom: Newsroom, *, now: Callable[[], datetime] | None = None,
                 config: RedditConfig | None = None, faults: FaultQueue | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.newsroom = newsroom
        self._now = now or kst_now
        self.config = config or RedditConfig()
        self.faults = faults or FaultQueue()
        self.faults.allow(REDDIT_FAULT_KINDS)
        self._monotonic = monotonic
        self._tokens: dict[str, _Token] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.requests_per_client: Counter[str] = Counter()

    def now(self) -> datetime:
        moment = self._now()
        return moment.replace(tzinfo=KST) if moment.tzinfo is None else moment.astimezone(KST)

    # --- auth ---------------------------------------------------------------------------------
    def issue(self, authorization: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        scheme, _, encoded = authorization.partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id = secret = ""
        creds = self.config.credentials
        if scheme.lower() != "basic" or not client_id or not secret or (
            creds is not None and creds.get(client_id) != secret
        ):
            return 401, {"message": "Unauthorized", "error": 401}
        if form.get("grant_type") != "client_credentials":
            return 200, {"error": "unsupported_grant_type"}
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = _Token(client_id, self._monotonic() + 86400)
        self.counters["tokens"] += 1
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 86400, "scope": "*"}

    def client_of(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None or issued.expires < self._monotonic():
            return None
        return issued.client_id

    def spend(self, client_id: str) -> tuple[bool, dict[str, str]]:
        """(admitted, rate-limit headers) for one request of ``client_id`` in fixed 60 s windows."""
        t = self._monotonic()
        with self._lock:
            start, used = self._windows.get(client_id, (t, 0))
            if t - start >= 60:
                start, used = t, 0
            admitted = used < self.config.per_minute
            if admitted:
                used += 1
            self._windows[client_id] = (start, used)
        reset = max(0, math.ceil(start + 60 - t))
        return admitted, {"x-ratelimit-used": str(used),
                          "x-ratelimit-remaining": f"{max(0, self.config.per_minute - used):.1f}",
                          "x-ratelimit-reset": str(reset)}

    # --- listings -----------------------------------------------------------------------------
    def posts(self, subreddit: str, moment: datetime) -> list[RedditPost]:
        out: list[RedditPost] = []
        wanted = subreddit.lower()
        for offset in range(self.config.history_days + 1):
            day = moment.date() - timedelta(days=offset)
            out.extend(p for p in self.newsroom.reddit_posts(day) if p.subreddit == wanted and p.created <= moment)
            if len(out) >= LISTING_CAP:
                break
        out.sort(key=lambda p: (p.created, p.post_id), reverse=True)
        return out[:LISTING_CAP]

    def listing(self, subreddit: str, params: Mapping[str, str], *, bad_items: bool = False) -> dict[str, Any]:
        try:
            limit = min(100, max(1, int(params.get("limit", "25"))))
        except ValueError:
            limit = 25
        raw_json = params.get("raw_json") == "1"
        posts = self.posts(subreddit, self.now()) if subreddit.lower() in SUBREDDITS else []
        start = 0
        after = params.get("after")
        if after:
            start = next((i + 1 for i, p in enumerate(posts) if p.fullname == after), len(posts))
        page = posts[start : start + limit]
        children: list[dict[str, Any]] = [{"kind": "t3", "data": _post_data(p, raw_json)} for p in page]
        if bad_items and children:
            first = children[0]["data"]
            no_date = {**first, "name": "t3_zzbad1", "id": "zzbad1"}
            del no_date["created_utc"]
            deleted = {**first, "name": "t3_zzbad2", "id": "zzbad2", "selftext": "[removed]",
                       "removed_by_category": "moderator"}
            untitled = {**first, "name": "t3_zzbad3", "id": "zzbad3", "title": "   "}
            children = [{"kind": "t3", "data": d} for d in (no_date, deleted, untitled)] + children
        more = start + limit < len(posts)
        return {"kind": "Listing", "data": {
            "after": page[-1].fullname if more and page else None,
            "dist": len(children), "modhash": "", "geo_filter": None, "children": children, "before": None,
        }}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(content=json.dumps(body, ensure_ascii=False), status_code=status,
                    media_type="application/json; charset=UTF-8", headers=dict(headers or {}))


def _blocked() -> Response:
    return Response(content=BLOCK_PAGE, status_code=403, media_type="text/html; charset=utf-8")


def build_reddit_router(sandbox: RedditSandbox) -> APIRouter:
    router = APIRouter()

    @router.post(TOKEN_PATH, summary="Reddit OAuth token (client credentials)")
    async def token(request: Request) -> Response:
        sandbox.counters["token_requests"] += 1
        fault = sandbox.faults.take(request.url.path)
        if fault is not None and fault.kind == "server_error":
            return _json(500, {"message": "Internal Server Error", "error": 500})
        form = dict(await request.form())
        status, body = sandbox.issue(request.headers.get("authorization", ""),
                                     {k: str(v) for k, v in form.items()})
        return _json(status, body)

    async def listing(request: Request, subreddit: str) -> Response:
        sandbox.counters["listing_requests"] += 1
        fault = sandbox.faults.take(request.url.path)
        if fault is not None:
            sandbox.counters[f"fault_{fault.kind}"] += 1
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
                fault = None
            elif fault.kind == "html_error":
                return _blocked()
            elif fault.kind == "server_error":
                return _json(500, {"message": "Internal Server Error", "error": 500})
        if not USER_AGENT_FORMAT.match(request.headers.get("user-agent", "")):
            sandbox.counters["blocked_user_agent"] += 1
            return _blocked()
        client_id = sandbox.client_of(request.headers.get("authorization", ""))
        if client_id is None:
            sandbox.counters["blocked_unauthenticated"] += 1
            return _blocked()
        sandbox.requests_per_client[client_id] += 1
        admitted, headers = sandbox.spend(client_id)
        if fault is not None and fault.kind == "rate_limit":
            headers = {**headers, "x-ratelimit-remaining": "0.0", "x-ratelimit-reset": str(int(fault.seconds))}
            return _json(429, {"message": "Too Many Requests", "error": 429}, headers)
        if not admitted:
            sandbox.counters["rate_limited"] += 1
            return _json(429, {"message": "Too Many Requests", "error": 429}, headers)
        body = await asyncio.to_thread(sandbox.listing, subreddit, dict(request.query_params),
                                       bad_items=fault is not None and fault.kind == "bad_items")
        if fault is not None and fault.kind == "malformed_json":
            text = json.dumps(body, ensure_ascii=False)
            return Response(content=text[: len(text) // 2], status_code=200, media_type="application/json",
                            headers=headers)
        return _json(200, body, headers)

    @router.get("/r/{subreddit}/new", summary="Reddit /r/<sub>/new listing")
    async def new(request: Request, subreddit: str) -> Response:
        return await listing(request, subreddit)

    @router.get("/r/{subreddit}/new.json", summary="Reddit /r/<sub>/new listing (.json)")
    async def new_json(request: Request, subreddit: str) -> Response:
        return await listing(request, subreddit)

    @router.get("/_sandbox/reddit/stats", summary="Reddit sandbox counters")
    async def stats() -> dict[str, Any]:
        return {**sandbox.counters, "per_client": dict(sandbox.requests_per_client)}

    return router

