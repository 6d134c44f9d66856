"""Reddit client: application-only OAuth, then ``/r/<sub>/new`` listings paged by ``after``.

Protocol facts this code relies on (../shared/reference/sources.md section 5):
- Unauthenticated JSON is blocked (403 HTML "whoa there, pardner!"), so without
  ``REDDIT_CLIENT_ID``/``REDDIT_CLIENT_SECRET`` the fetch is *skipped* with a clear message, not failed.
- Token: ``POST REDDIT_AUTH_URL`` with HTTP Basic ``client_id:client_secret`` and
  ``grant_type=client_credentials`` → ``{"access_token", "token_type": "bearer", "expires_in", "scope"}``.
- Listings: ``GET {REDDIT_BASE_URL}/r/<sub>/new?limit=100&after=<fullname>&raw_json=1`` with
  ``Authorization: bearer <token>``; ``data.after`` is null on the last page; ``created_utc`` is
  float epoch seconds (UTC); ``permalink`` is site-relative; ``raw_json=1`` returns ``& < >`` unescaped.
- Every request carries a User-Agent of the form ``<platform>:<app ID>:<version> (by /u/<name>)``;
  default library agents are throttled hard.
- Budget: 100 requests a minute per client id. ``X-Ratelimit-Remaining`` / ``X-Ratelimit-Reset``
  (seconds to the end of the window) are honoured: when the budget is spent the client waits for
  the reset if it is short, and otherwise stops with a *partial* batch. HTTP 429 is handled the same way.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr, ValidationError

from stock_insights import clock
from stock_insights.clients.base_url import service_root
from stock_insights.clients.errors import SourceAuthError, SourceDataError, SourceError, SourceTransportError
from stock_insights.clients.naver import SlidingWindowLimiter
from stock_insights.text.clean import meaningful, plain_body, plain_text
from stock_insights.text.items import NewsBatch, NewsItem, SkipLog, is_future
from stock_insights.text.urls import InvalidUrl

log = logging.getLogger(__name__)

SOURCE = "Reddit"
SITE = "https://www.reddit.com"
REQUESTS_PER_MINUTE = 100
LISTING_LIMIT = 100
MAX_PAGES = 10  # listings end around 1,000 items
USER_AGENT_FORMAT = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+ \(by /u/[A-Za-z0-9_-]+\)$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
_REMOVED = ("[deleted]", "[removed]")


class RateBudgetExhausted(SourceError):
    """The per-minute budget is spent and its reset is too far away to wait for."""


def parse_listing(
    payload: Any, *, subreddit: str, fetched_at: datetime, skips: SkipLog
) -> tuple[list[NewsItem], str | None, list[float]]:
    """(items, after, created_utc of every post) of one Listing. A bad envelope raises."""
    if not isinstance(payload, dict) or payload.get("kind") != "Listing" or not isinstance(payload.get("data"), dict):
        raise SourceDataError(SOURCE, f"r/{subreddit}: answer is not a Listing")
    data = payload["data"]
    children = data.get("children")
    if not isinstance(children, list):
        raise SourceDataError(SOURCE, f"r/{subreddit}: Listing has no children list")
    after = data.get("after")
    if after is not None and not isinstance(after, str):
        raise SourceDataError(SOURCE, f"r/{subreddit}: 'after' is not a string or null")
    items: list[NewsItem] = []
    created: list[float] = []
    for index, child in enumerate(children):
        where = f"r/{subreddit} #{index + 1}"
        post = child.get("data") if isinstance(child, dict) and child.get("kind") == "t3" else None
        if not isinstance(post, dict):
            skips.skip("not_a_post", where)
            continue
        name = str(post.get("name") or "")
        try:
            created_utc = float(post["created_utc"])
            published = datetime.fromtimestamp(created_utc, tz=UTC)
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            skips.skip("no_date", f"{where} {name}")
            continue
        created.append(created_utc)
        if post.get("removed_by_category") or post.get("selftext") in _REMOVED or post.get("author") == "[deleted]":
            # Reddit's terms: deleted content must not be kept.
            skips.skip("deleted", f"{where} {name}")
            continue
        # raw_json=1: the title and body are the author's text (a '<' is a '<'); nothing is unescaped or stripped.
        title = plain_text(post.get("title") if isinstance(post.get("title"), str) else None)
        if not meaningful(title):
            skips.skip("empty_title", f"{where} {name}")
            continue
        permalink = str(post.get("permalink") or "").strip()
        if not permalink.startswith("/r/") or not name.startswith("t3_"):
            skips.skip("no_link", f"{where} {name}")
            continue
        if is_future(published, fetched_at):
            skips.skip("future_dated", f"{where} {published.isoformat()}")
            continue
        post_url = f"{SITE}{permalink}"
        external = str(post.get("url") or "").strip()
        is_link_post = (
            not post.get("is_self")
            and external.startswith(("http://", "https://"))
            and ("reddit.com" not in external and "redd.it" not in external)
        )
        selftext = post.get("selftext") if isinstance(post.get("selftext"), str) else ""
        try:
            items.append(
                NewsItem.build(
                    source="reddit",
                    # A link post is about the linked article: it meets that article's other sources.
                    url=external if is_link_post else post_url,
                    source_url=post_url,
                    source_item_id=name,
                    title=title,
                    body=plain_body(selftext) or None,
                    published_at=published,
                    fetched_at=fetched_at,
                    channel=f"r/{subreddit}",
                )
            )
        except InvalidUrl as exc:
            skips.skip("bad_link", f"{where} {exc}")
        except (ValidationError, ValueError) as exc:
            skips.skip("invalid_item", f"{where} {exc}")
    return items, after, created


class RedditClient:
    """Application-only Reddit client. ``configured`` is False without credentials."""

    def __init__(
        self,
        auth_url: str,
        base_url: str,
        client_id: SecretStr,
        client_secret: SecretStr,
        user_agent: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        max_attempts: int = 3,
        requests_per_minute: int = REQUESTS_PER_MINUTE,
        max_wait_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = clock.now,
    ) -> None:
        self.auth_url = auth_url.strip()
        self.base_url = service_root(base_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self.user_agent = user_agent.strip()
        self._http = http or httpx.Client(timeout=timeout)
        self._owns_http = http is None
        self._max_attempts = max_attempts
        self._limiter = SlidingWindowLimiter(requests_per_minute, 60.0)
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._token_expires: float = 0.0
        self.rate_headers: dict[str, str] = {}
        self.stats = {"requests": 0, "rate_limited": 0, "retries": 0, "tokens": 0}

    @property
    def configured(self) -> bool:
        return bool(self._client_id.get_secret_value() and self._client_secret.get_secret_value())

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RedditClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- token ---------------------------------------------------------------------------------
    def _access_token(self, *, force: bool = False) -> str:
        if self._token and not force and time.monotonic() < self._token_expires - 60:
            return self._token
        if not self.configured:
            raise SourceAuthError(SOURCE, "REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET are not set")
        failures = 0
        while True:
            self._limiter.acquire()
            self.stats["requests"] += 1
            try:
                response = self._http.post(
                    self.auth_url,
                    data={"grant_type": "client_credentials"},
                    auth=(self._client_id.get_secret_value(), self._client_secret.get_secret_value()),
                    headers={"User-Agent": self.user_agent},
                )
            except httpx.HTTPError as exc:
                problem = f"token request failed ({type(exc).__name__})"
            else:
                if response.status_code in (400, 401, 403):
                    raise SourceAuthError(
                        SOURCE, "token request refused (check the client id and secret)", status=response.status_code
                    )
                try:
                    payload = response.json()
                except ValueError:
                    payload = None
                if response.status_code == 200 and isinstance(payload, dict):
                    if payload.get("error"):
                        raise SourceAuthError(SOURCE, f"token refused: {payload.get('error')}")
                    token = payload.get("access_token")
                    if not isinstance(token, str) or not token:
                        raise SourceDataError(SOURCE, "token answer has no access_token")
                    try:
                        lifetime = float(payload.get("expires_in", 3600))
                    except (TypeError, ValueError):
                        lifetime = 3600.0
                    self._token = token
                    self._token_expires = time.monotonic() + lifetime
                    self.stats["tokens"] += 1
                    return token
                problem = f"token endpoint answered HTTP {response.status_code}"
            failures += 1
            if failures >= self._max_attempts:
                raise SourceTransportError(SOURCE, f"{problem} ({failures} attempts)")
            self._sleep(min(0.5 * 2**failures, 8.0))

    # ---- listings --------------------------------------------------------------------------------
    def _respect_budget(self, response: httpx.Response) -> None:
        headers = {
            k: response.headers[k]
            for k in ("x-ratelimit-used", "x-ratelimit-remaining", "x-ratelimit-reset")
            if k in response.headers
        }
        self.rate_headers = headers
        try:
            remaining = float(headers.get("x-ratelimit-remaining", "nan"))
            reset = float(headers.get("x-ratelimit-reset", "0"))
        except ValueError:
            return
        if remaining == remaining and remaining < 1:  # not NaN and spent
            self._wait_for_reset(reset)

    def _wait_for_reset(self, reset: float) -> None:
        if reset > self._max_wait:
            raise RateBudgetExhausted(SOURCE, f"request budget spent; it resets in {reset:.0f} s")
        log.info("Reddit request budget spent; waiting %.0f s for the reset", reset)
        self._sleep(max(reset, 0.0) + 0.5)

    def _listing(self, subreddit: str, after: str | None, limit: int) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit, "raw_json": 1}
        if after:
            params["after"] = after
        url = f"{self.base_url}/r/{subreddit}/new"
        failures = rate_limited = 0
        refreshed = False
        while True:
            token = self._access_token()
            self._limiter.acquire()
            self.stats["requests"] += 1
            try:
                response = self._http.get(
                    url, params=params, headers={"Authorization": f"bearer {token}", "User-Agent": self.user_agent}
                )
            except httpx.HTTPError as exc:
                problem = f"request failed ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    self._respect_budget(response)
                    try:
                        return response.json()
                    except ValueError:
                        problem = "answered malformed JSON with HTTP 200"
                elif response.status_code == 429:
                    rate_limited += 1
                    self.stats["rate_limited"] += 1
                    try:
                        reset = float(response.headers.get("x-ratelimit-reset", "10"))
                    except ValueError:
                        reset = 10.0
                    if rate_limited > 3:
                        raise RateBudgetExhausted(SOURCE, "still rate limited (429) after 3 waits", status=429)
                    self._wait_for_reset(reset)
                    continue
                elif response.status_code == 401 and not refreshed:
                    refreshed = True
                    self._access_token(force=True)
                    continue
                elif response.status_code in (401, 403):
                    raise SourceAuthError(SOURCE, f"r/{subreddit} refused the request", status=response.status_code)
                elif response.status_code < 500:
                    raise SourceError(
                        SOURCE, f"r/{subreddit} answered HTTP {response.status_code}", status=response.status_code
                    )
                else:
                    problem = f"answered HTTP {response.status_code}"
            failures += 1
            self.stats["retries"] += 1
            if failures >= self._max_attempts:
                raise SourceTransportError(SOURCE, f"r/{subreddit} {problem} ({failures} attempts)")
            self._sleep(min(0.5 * 2**failures, 8.0))

    def fetch_new(
        self,
        subreddits: Sequence[str],
        *,
        known_ids: Collection[str] = (),
        since: datetime | None = None,
        max_pages: int = MAX_PAGES,
        limit: int = LISTING_LIMIT,
    ) -> NewsBatch:
        """Newest posts of each subreddit, paging by ``after`` until a post we already have
        (``known_ids`` holds fullnames), a post older than ``since``, ``after`` null or ``max_pages``."""
        batch = NewsBatch(source="reddit")
        if not self.configured:
            batch.status = "skipped"
            batch.message = "Reddit skipped: REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET are not set"
            return batch
        if not USER_AGENT_FORMAT.match(self.user_agent):
            raise SourceError(
                SOURCE,
                f"REDDIT_USER_AGENT {self.user_agent!r} is not of the form "
                "'<platform>:<app ID>:<version> (by /u/<name>)'",
            )
        skips = SkipLog()
        subs = list(dict.fromkeys(s.strip().removeprefix("r/") for s in subreddits if s.strip()))
        failures: list[SourceError] = []
        cutoff = since.timestamp() if since is not None else None
        for sub in subs:
            if not _SUBREDDIT.match(sub):
                batch.errors.append(f"r/{sub}: not a subreddit name")
                failures.append(SourceError(SOURCE, f"r/{sub}: not a subreddit name"))
                continue
            after: str | None = None
            try:
                for _page in range(max_pages):
                    payload = self._listing(sub, after, limit)
                    items, after, created = parse_listing(payload, subreddit=sub, fetched_at=self._clock(), skips=skips)
                    stop = False
                    for item in items:
                        if item.source_item_id in known_ids:
                            stop = True
                            continue
                        if cutoff is not None and item.published_at.timestamp() < cutoff:
                            stop = True
                            continue
                        batch.items.append(item)
                    if cutoff is not None and created and min(created) < cutoff:
                        stop = True
                    if stop or not after:
                        break
            except RateBudgetExhausted as exc:
                batch.status = "partial"
                batch.message = f"request budget spent at r/{sub}: {exc}"
                break
            except SourceAuthError:
                raise
            except SourceError as exc:
                failures.append(exc)
                batch.errors.append(str(exc))
                log.warning("%s", exc)
        batch.requests = self.stats["requests"]
        batch.absorb(skips)
        if subs and len(failures) == len(subs):
            raise failures[-1]
        return batch
